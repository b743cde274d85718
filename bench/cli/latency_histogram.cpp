// bench/cli/latency_histogram.cpp — bucket arithmetic, percentiles, merging, snapshots.
#include "latency_histogram.hpp"

#include <bit>
#include <cassert>
#include <cmath>

namespace corq::perf {

std::size_t bucket_index(std::uint64_t value) noexcept {
  if (value < exact_limit) return static_cast<std::size_t>(value);
  const unsigned exponent = 63u - static_cast<unsigned>(std::countl_zero(value));  // >= 8
  const std::uint64_t sub = value >> (exponent - sub_bucket_bits);                 // in [128, 256)
  const std::size_t index = static_cast<std::size_t>(
      exact_limit + (exponent - sub_bucket_bits - 1) * sub_bucket_count + (sub - sub_bucket_count));
  assert(index < bucket_count);
  return index;
}

std::uint64_t bucket_lowest(std::size_t index) noexcept {
  assert(index < bucket_count);
  if (index < exact_limit) return index;
  const std::uint64_t above = index - exact_limit;
  const unsigned exponent = static_cast<unsigned>(above / sub_bucket_count) + sub_bucket_bits + 1;
  const std::uint64_t sub = sub_bucket_count + above % sub_bucket_count;
  return sub << (exponent - sub_bucket_bits);
}

std::uint64_t bucket_highest(std::size_t index) noexcept {
  if (index < exact_limit) return index;
  const std::uint64_t above = index - exact_limit;
  const unsigned exponent = static_cast<unsigned>(above / sub_bucket_count) + sub_bucket_bits + 1;
  const std::uint64_t width = std::uint64_t{1} << (exponent - sub_bucket_bits);
  return bucket_lowest(index) + (width - 1);  // the last bucket ends exactly at 2^64 - 1
}

std::uint64_t percentile_rank(double percentile, std::uint64_t total) noexcept {
  const double clamped = std::fmin(std::fmax(percentile, 0.0), 100.0);
  const double exact = clamped / 100.0 * static_cast<double>(total);
  const double nearest = std::round(exact);
  const double rank = std::fabs(exact - nearest) < 1e-6 ? nearest : std::ceil(exact);
  return rank < 1 ? 1 : static_cast<std::uint64_t>(rank);
}

LatencyHistogram::LatencyHistogram()
    : counts_(std::make_unique<std::array<std::uint64_t, bucket_count>>()) {
  counts_->fill(0);
}

void LatencyHistogram::record_n(std::uint64_t value, std::uint64_t count) noexcept {
  (*counts_)[bucket_index(value)] += count;
  total_ += count;
}

void LatencyHistogram::add(const LatencyHistogram &other) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) (*counts_)[i] += (*other.counts_)[i];
  total_ += other.total_;
}

void LatencyHistogram::subtract(const LatencyHistogram &earlier) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) {
    assert((*counts_)[i] >= (*earlier.counts_)[i]);
    (*counts_)[i] -= (*earlier.counts_)[i];
  }
  assert(total_ >= earlier.total_);
  total_ -= earlier.total_;
}

void LatencyHistogram::clear() noexcept {
  counts_->fill(0);
  total_ = 0;
}

void LatencyHistogram::set_count_at_index(std::size_t index, std::uint64_t count) noexcept {
  total_ = total_ - (*counts_)[index] + count;
  (*counts_)[index] = count;
}

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const noexcept {
  if (total_ == 0) return 0;
  const std::uint64_t rank = percentile_rank(percentile, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += (*counts_)[i];
    if (seen >= rank) return bucket_highest(i);
  }
  return max();  // not reached: the counts sum to total_
}

std::uint64_t LatencyHistogram::max() const noexcept {
  for (std::size_t i = bucket_count; i-- > 0;) {
    if ((*counts_)[i] != 0) return bucket_highest(i);
  }
  return 0;
}

std::uint64_t LatencyHistogram::min() const noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) {
    if ((*counts_)[i] != 0) return bucket_lowest(i);
  }
  return 0;
}

double LatencyHistogram::mean() const noexcept {
  if (total_ == 0) return 0;
  double sum = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    if ((*counts_)[i] == 0) continue;
    const double mid =
        (static_cast<double>(bucket_lowest(i)) + static_cast<double>(bucket_highest(i))) / 2;
    sum += mid * static_cast<double>((*counts_)[i]);
  }
  return sum / static_cast<double>(total_);
}

LatencyRecorder::LatencyRecorder()
    : counts_(std::make_unique<std::array<std::atomic<std::uint64_t>, bucket_count>>()) {
  for (auto &slot : *counts_) slot.store(0, std::memory_order_relaxed);
}

void LatencyRecorder::snapshot(LatencyHistogram &out) const noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) {
    out.set_count_at_index(i, (*counts_)[i].load(std::memory_order_relaxed));
  }
}

}  // namespace corq::perf
