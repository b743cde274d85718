// tests/stream/murmur2_test.cpp — the key partitioner against the values Kafka's own tests use
// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java#testMurmur2, and the
// librdkafka cases its Java-compatible partitioner is checked with).
#include "stream/murmur2.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using corq::core::stream::murmur2;
using corq::core::stream::partition_for_key;

std::int32_t hash(const std::string &s) { return murmur2(s.data(), s.size()); }

TEST(Murmur2, matches_kafkas_utils_test_values) {
  EXPECT_EQ(hash("21"), -973932308);
  EXPECT_EQ(hash("foobar"), -790332482);
  EXPECT_EQ(hash("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(hash("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(hash("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(hash("abc"), 479470107);
}

TEST(Murmur2, covers_every_tail_length) {
  // Lengths 24..27: no tail, and tails of one, two and three bytes.
  EXPECT_EQ(hash("string-f-24-chars-length"), 124730809);
  EXPECT_EQ(hash("string-fo-25-chars-length"), 1269511650);
  EXPECT_EQ(hash("string-foo-26-chars-length"), 119165628);
  EXPECT_EQ(hash("string-last-27-chars-length"), 1089971754);
}

TEST(Murmur2, partition_is_the_positive_hash_modulo_the_partition_count) {
  // Kafka: Utils.toPositive(Utils.murmur2(key)) % numPartitions.
  for (const std::string key : {"21", "foobar", "abc", "a-little-bit-long-string"}) {
    const auto positive = static_cast<std::uint32_t>(hash(key)) & 0x7fffffffu;
    for (std::uint32_t partitions : {1u, 2u, 3u, 7u, 12u, 1024u})
      EXPECT_EQ(partition_for_key(key.data(), key.size(), partitions), positive % partitions);
  }
  // -973932308 & 0x7fffffff = 1173551340: the explicit value for one key.
  EXPECT_EQ(partition_for_key("21", 2, 1000), 1173551340u % 1000);
}

TEST(Murmur2, the_empty_key_is_hashed_too) {
  // The seed mixed with length 0 and the final avalanche only: stable, and not Kafka's "no key".
  EXPECT_EQ(hash(""), murmur2("x", 0));
  EXPECT_EQ(partition_for_key("", 0, 5), partition_for_key("y", 0, 5));
}

}  // namespace
