// bench/cli/latency_histogram.hpp — a log-bucketed latency histogram (HdrHistogram-like, two
// significant digits) and the lock-free recorder that one thread writes while another reads it.
//
// Buckets: values below 2 × sub_bucket_count (256) each have a bucket of their own (exact). Above,
// every power of two [2^e, 2^(e+1)) is split into sub_bucket_count (128) equal buckets of width
// 2^(e-7), so a bucket's width is at most 1/128 of any value in it: a value read back from the
// histogram (the highest value of its bucket) is within 0.79 % of the recorded one, better than
// two significant digits. Every uint64_t value has a bucket (7424 buckets, 58 KiB), so recording
// never clamps and never fails.
//
// LatencyRecorder is the concurrent side: exactly one thread records (relaxed load + store per
// bucket, no read-modify-write, no lock), any thread may take a snapshot. Counts only grow, so the
// difference of two snapshots is the histogram of what was recorded between them — the reporter
// gets each second's histogram without ever resetting (and racing) the writer.
#ifndef CORQ_BENCH_CLI_LATENCY_HISTOGRAM_HPP
#define CORQ_BENCH_CLI_LATENCY_HISTOGRAM_HPP

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace corq::perf {

/// Sub-buckets per power of two (2^7): the relative bucket width is at most 1/128.
inline constexpr unsigned sub_bucket_bits = 7;
inline constexpr std::uint64_t sub_bucket_count = std::uint64_t{1} << sub_bucket_bits;
/// Values below this get a bucket each (exact).
inline constexpr std::uint64_t exact_limit = 2 * sub_bucket_count;
/// Buckets for every uint64_t: 256 exact ones, then 128 per power of two from 2^8 to 2^63.
inline constexpr std::size_t bucket_count =
    exact_limit + (64 - sub_bucket_bits - 1) * sub_bucket_count;

/// Index of the bucket that holds value.
std::size_t bucket_index(std::uint64_t value) noexcept;
/// The smallest and the largest value that fall into bucket `index`.
std::uint64_t bucket_lowest(std::size_t index) noexcept;
std::uint64_t bucket_highest(std::size_t index) noexcept;

/// The rank (1-based) of the value at `percentile` among `total` sorted values: ceil(p/100 ×
/// total), at least 1, where a product within 1e-6 of a whole number counts as that number (99.9 %
/// of 10000 is 9990, not the 9991 that floating-point rounding would give).
std::uint64_t percentile_rank(double percentile, std::uint64_t total) noexcept;

/// A plain histogram: one thread at a time. Values are unitless (corq-perf records nanoseconds).
class LatencyHistogram {
 public:
  LatencyHistogram();

  void record(std::uint64_t value) noexcept { record_n(value, 1); }
  void record_n(std::uint64_t value, std::uint64_t count) noexcept;
  /// Adds every count of other (merging per-thread histograms).
  void add(const LatencyHistogram &other) noexcept;
  /// Subtracts an earlier snapshot of the same growing histogram (precondition: every count of
  /// earlier is <= this one's; asserted).
  void subtract(const LatencyHistogram &earlier) noexcept;
  void clear() noexcept;

  std::uint64_t count() const noexcept { return total_; }
  /// The highest value of the bucket holding the value at `percentile` (0-100] of the recorded
  /// values — HdrHistogram's convention: the true value is at most this and within one bucket
  /// width below. 0 when empty.
  std::uint64_t value_at_percentile(double percentile) const noexcept;
  /// Highest value of the highest non-empty bucket (0 when empty).
  std::uint64_t max() const noexcept;
  /// Lowest value of the lowest non-empty bucket (0 when empty).
  std::uint64_t min() const noexcept;
  /// Mean of the bucket midpoints (0 when empty).
  double mean() const noexcept;

  std::uint64_t count_at_index(std::size_t index) const noexcept { return (*counts_)[index]; }
  void set_count_at_index(std::size_t index, std::uint64_t count) noexcept;

 private:
  // On the heap: 58 KiB is too much for the stacks of the threads that hold one.
  std::unique_ptr<std::array<std::uint64_t, bucket_count>> counts_;
  std::uint64_t total_ = 0;
};

/// A growing histogram with one writer thread and any number of snapshot readers.
class LatencyRecorder {
 public:
  LatencyRecorder();

  /// Writer thread only: no read-modify-write, so nothing on the hot path but a load and a store.
  void record(std::uint64_t value) noexcept {
    std::atomic<std::uint64_t> &slot = (*counts_)[bucket_index(value)];
    slot.store(slot.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  /// Any thread: copies the counts into out (each bucket as of some moment during the call).
  void snapshot(LatencyHistogram &out) const noexcept;

 private:
  std::unique_ptr<std::array<std::atomic<std::uint64_t>, bucket_count>> counts_;
};

}  // namespace corq::perf

#endif  // CORQ_BENCH_CLI_LATENCY_HISTOGRAM_HPP
