// bench/cli/latency_histogram_test.cpp — the histogram's buckets, percentiles of known
// distributions (compared with the exact percentile of the sorted samples), merging and snapshots.
#include "latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace corq::perf {
namespace {

/// The exact value at a percentile, with the histogram's rank rule (ceil, at least 1).
std::uint64_t exact_percentile(std::vector<std::uint64_t> sorted, double percentile) {
  std::sort(sorted.begin(), sorted.end());
  return sorted[percentile_rank(percentile, sorted.size()) - 1];
}

/// The histogram answers at most one bucket above the exact value, and never below it.
void expect_within_bucket(std::uint64_t answer, std::uint64_t exact) {
  EXPECT_GE(answer, exact);
  EXPECT_EQ(bucket_index(answer), bucket_index(exact)) << "answer " << answer << " exact " << exact;
  EXPECT_LE(static_cast<double>(answer - exact), static_cast<double>(exact) / 128.0 + 1.0);
}

void expect_percentiles_match(const std::vector<std::uint64_t> &samples) {
  LatencyHistogram histogram;
  for (std::uint64_t v : samples) histogram.record(v);
  ASSERT_EQ(histogram.count(), samples.size());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    SCOPED_TRACE(p);
    expect_within_bucket(histogram.value_at_percentile(p), exact_percentile(samples, p));
  }
  expect_within_bucket(histogram.max(), *std::max_element(samples.begin(), samples.end()));
  const std::uint64_t min = *std::min_element(samples.begin(), samples.end());
  EXPECT_LE(histogram.min(), min);
  EXPECT_EQ(bucket_index(histogram.min()), bucket_index(min));
}

TEST(LatencyHistogram, every_value_falls_into_a_bucket_whose_bounds_hold_it) {
  std::mt19937_64 random(1);
  std::vector<std::uint64_t> values = {0,
                                       1,
                                       255,
                                       256,
                                       257,
                                       511,
                                       512,
                                       1000,
                                       65535,
                                       65536,
                                       UINT64_MAX,
                                       UINT64_MAX - 1,
                                       std::uint64_t{1} << 63};
  for (int i = 0; i < 100000; ++i) values.push_back(random() >> (random() % 64));
  for (std::uint64_t v : values) {
    const std::size_t index = bucket_index(v);
    ASSERT_LT(index, bucket_count);
    ASSERT_LE(bucket_lowest(index), v);
    ASSERT_GE(bucket_highest(index), v);
    // Two significant digits: the bucket is at most 1/128 of its lowest value wide.
    if (v >= exact_limit) {
      ASSERT_LE(bucket_highest(index) - bucket_lowest(index) + 1, bucket_lowest(index) / 128);
    }
  }
  EXPECT_EQ(bucket_index(UINT64_MAX), bucket_count - 1);
  EXPECT_EQ(bucket_highest(bucket_count - 1), UINT64_MAX);
}

TEST(LatencyHistogram, buckets_are_contiguous_and_increasing) {
  for (std::size_t i = 1; i < bucket_count; ++i) {
    ASSERT_EQ(bucket_lowest(i), bucket_highest(i - 1) + 1) << i;
    ASSERT_EQ(bucket_index(bucket_lowest(i)), i);
    ASSERT_EQ(bucket_index(bucket_highest(i)), i);
  }
}

TEST(LatencyHistogram, percentile_rank_is_exact_on_whole_products) {
  EXPECT_EQ(percentile_rank(99.9, 10'000), 9'990u);
  EXPECT_EQ(percentile_rank(99.9, 10'001), 9'991u);  // 9990.999 rounds up
  EXPECT_EQ(percentile_rank(50, 3), 2u);
  EXPECT_EQ(percentile_rank(0, 5), 1u);
  EXPECT_EQ(percentile_rank(100, 5), 5u);
  EXPECT_EQ(percentile_rank(150, 5), 5u);
}

TEST(LatencyHistogram, small_values_are_exact) {
  LatencyHistogram histogram;
  for (std::uint64_t v = 1; v <= 200; ++v) histogram.record(v);
  EXPECT_EQ(histogram.value_at_percentile(50), 100u);
  EXPECT_EQ(histogram.value_at_percentile(99), 198u);
  EXPECT_EQ(histogram.value_at_percentile(100), 200u);
  EXPECT_EQ(histogram.min(), 1u);
  EXPECT_EQ(histogram.max(), 200u);
  EXPECT_DOUBLE_EQ(histogram.mean(), 100.5);
}

TEST(LatencyHistogram, empty_histogram_answers_zero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.value_at_percentile(99), 0u);
  EXPECT_EQ(histogram.max(), 0u);
  EXPECT_EQ(histogram.min(), 0u);
  EXPECT_EQ(histogram.mean(), 0.0);
}

TEST(LatencyHistogram, uniform_distribution_percentiles_within_bucket_error) {
  std::mt19937_64 random(2);
  std::uniform_int_distribution<std::uint64_t> uniform(1'000, 10'000'000);
  std::vector<std::uint64_t> samples(200'000);
  for (auto &v : samples) v = uniform(random);
  expect_percentiles_match(samples);
  // And against the distribution itself: the median of U(1e3, 1e7) is about 5.0e6.
  LatencyHistogram histogram;
  for (std::uint64_t v : samples) histogram.record(v);
  EXPECT_NEAR(static_cast<double>(histogram.value_at_percentile(50)), 5'000'500.0,
              5'000'500.0 * 0.02);
  EXPECT_NEAR(static_cast<double>(histogram.value_at_percentile(90)), 9'000'100.0,
              9'000'100.0 * 0.02);
}

TEST(LatencyHistogram, exponential_distribution_percentiles_within_bucket_error) {
  std::mt19937_64 random(3);
  std::exponential_distribution<double> exponential(1.0 / 20'000.0);  // mean 20 µs in ns
  std::vector<std::uint64_t> samples(200'000);
  for (auto &v : samples) v = static_cast<std::uint64_t>(exponential(random));
  expect_percentiles_match(samples);
  // p99 of Exp(mean m) is m × ln(100) ≈ 92103 ns.
  LatencyHistogram histogram;
  for (std::uint64_t v : samples) histogram.record(v);
  EXPECT_NEAR(static_cast<double>(histogram.value_at_percentile(99)), 92'103.0, 92'103.0 * 0.05);
  EXPECT_NEAR(histogram.mean(), 20'000.0, 20'000.0 * 0.02);
}

TEST(LatencyHistogram, long_tail_is_kept) {
  // 9990 fast samples and 10 slow ones: p99.9 and max must see the tail.
  std::vector<std::uint64_t> samples(9'990, 5'000);
  samples.insert(samples.end(), 10, 80'000'000);
  expect_percentiles_match(samples);
  LatencyHistogram histogram;
  for (std::uint64_t v : samples) histogram.record(v);
  EXPECT_LT(histogram.value_at_percentile(99.9), 5'100u);
  EXPECT_GE(histogram.value_at_percentile(99.95), 80'000'000u);
}

TEST(LatencyHistogram, merging_equals_recording_everything_in_one) {
  std::mt19937_64 random(4);
  LatencyHistogram a, b, both;
  for (int i = 0; i < 50'000; ++i) {
    const std::uint64_t v = random() % 1'000'000'000;
    (i % 3 == 0 ? a : b).record(v);
    both.record(v);
  }
  a.add(b);
  ASSERT_EQ(a.count(), both.count());
  for (std::size_t i = 0; i < bucket_count; ++i)
    ASSERT_EQ(a.count_at_index(i), both.count_at_index(i));
  EXPECT_EQ(a.value_at_percentile(99.9), both.value_at_percentile(99.9));
}

TEST(LatencyRecorder, difference_of_snapshots_is_what_was_recorded_between_them) {
  LatencyRecorder recorder;
  for (std::uint64_t v = 0; v < 1000; ++v) recorder.record(1'000'000 + v);
  LatencyHistogram first, second;
  recorder.snapshot(first);
  EXPECT_EQ(first.count(), 1000u);
  for (int i = 0; i < 500; ++i) recorder.record(7);
  recorder.snapshot(second);
  second.subtract(first);
  EXPECT_EQ(second.count(), 500u);
  EXPECT_EQ(second.value_at_percentile(100), 7u);
}

TEST(LatencyRecorder, snapshots_taken_while_recording_never_go_backwards) {
  LatencyRecorder recorder;
  constexpr std::uint64_t recorded_total = 2'000'000;
  std::thread writer([&] {
    for (std::uint64_t i = 0; i < recorded_total; ++i) recorder.record(i % 5'000);
  });
  LatencyHistogram previous, current;
  for (int i = 0; i < 50; ++i) {
    recorder.snapshot(current);
    for (std::size_t b = 0; b < bucket_count; ++b) {
      ASSERT_GE(current.count_at_index(b), previous.count_at_index(b));
    }
    recorder.snapshot(previous);
  }
  writer.join();
  recorder.snapshot(current);
  EXPECT_EQ(current.count(), recorded_total);
}

}  // namespace
}  // namespace corq::perf
