// tests/stream/group_concurrency_test.cpp — a consumer group under concurrent appenders and members
// (run under TSan too), in each mode: every record is acked exactly once; in ordered mode no two
// members ever hold deliveries of one partition at once; in key_ordered mode no key ever has two
// records out and each key's records are acked in offset order (in ordered mode a member may ack a
// window's later records before it retries an earlier one: only delivery order is promised).
// Members nack some first deliveries, so retries interleave with new records.
#include "stream/stream_helpers.hpp"
#include "support/sanitizers.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace corq::test {
namespace {

class GroupConcurrency : public ::testing::TestWithParam<const char *> {};

TEST_P(GroupConcurrency, every_record_is_acked_once_and_the_modes_rules_hold) {
  const std::string mode = GetParam();
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "4"}});
  const int per_appender = static_cast<int>(scaled(3'000));
  constexpr int appenders = 2, members = 3, keys = 16;
  std::atomic<int> appenders_done{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;  // guards everything below
  std::string first_failure;
  std::set<std::pair<std::uint64_t, std::uint64_t>> acked;  // (partition, offset)
  std::map<std::uint32_t, std::pair<int, int>> holders;     // partition -> (member, deliveries)
  std::map<std::string, int> keys_out;                      // key -> records out
  std::map<std::string, std::uint64_t> last_acked_offset;   // key -> offset
  auto fail = [&](const std::string &what) {
    if (first_failure.empty()) first_failure = what;
    failed = true;
  };

  std::vector<std::thread> threads;
  for (int a = 0; a < appenders; ++a) {
    threads.emplace_back([&, a] {
      for (int i = 0; i < per_appender; ++i) {
        const std::string key = "k" + std::to_string((i * appenders + a) % keys);
        if (try_append(e.get(), "s", key + ":" + std::to_string(i), key.c_str()) != CORQ_OK) {
          std::lock_guard lock(mutex);
          fail("append failed");
        }
      }
      appenders_done.fetch_add(1);
    });
  }
  for (int m = 0; m < members; ++m) {
    threads.emplace_back([&, m] {
      corq_consumer *raw = nullptr;
      ConfigPtr config = make_config({{"mode", mode}, {"prefetch", "16"}, {"max_attempts", "0"}});
      if (corq_group_consumer_open(e.get(), "s", "g", config.get(), &raw) != CORQ_OK) {
        std::lock_guard lock(mutex);
        return fail("open failed: " + last_error());
      }
      ConsumerPtr member(raw);
      for (;;) {
        std::vector<corq_delivery> got = consume(member.get(), 16, 10);
        if (got.empty()) {
          if (appenders_done.load() != appenders) continue;
          corq_group_stats s{};
          s.struct_size = sizeof s;
          must(corq_group_stats_get(e.get(), "s", "g", &s), "group_stats");
          if (s.lag == 0 && s.in_flight == 0) break;
          continue;
        }
        for (const corq_delivery &d : got) {
          const auto partition =
              static_cast<std::uint32_t>(std::stoul(header_value(d, "x-stream-partition").value()));
          const std::string key = header_value(d, "x-stream-key").value();
          {
            std::lock_guard lock(mutex);
            auto &[holder, count] = holders[partition];
            if (mode == "ordered" && count != 0 && holder != m)
              fail("two members hold a partition");
            holder = m;
            ++count;
            if (mode == "key_ordered" && keys_out[key]++ != 0) fail("two records of a key out");
          }
          // Nack about one first delivery in five: it comes back before newer ones.
          const bool nack = d.delivery_count == 1 && d.message_id % 5 == 0;
          {
            std::lock_guard lock(mutex);
            --holders[partition].second;
            if (mode == "key_ordered") --keys_out[key];
            if (!nack) {
              if (!acked.insert({partition, d.message_id}).second) fail("acked twice");
              if (mode == "key_ordered") {
                auto [it, fresh] = last_acked_offset.try_emplace(key, d.message_id);
                if (!fresh && it->second > d.message_id) fail("a key's records acked out of order");
                it->second = d.message_id;
              }
            }
          }
          // Settled under no lock of ours: the group decides; its answer must be OK.
          const int rc = nack ? corq_nack(member.get(), d.tag, 0) : corq_ack(member.get(), d.tag);
          if (rc != CORQ_OK) {
            std::lock_guard lock(mutex);
            fail("settle failed: " + last_error());
          }
        }
      }
    });
  }
  for (std::thread &t : threads) t.join();
  EXPECT_FALSE(failed.load()) << first_failure;
  EXPECT_EQ(acked.size(), static_cast<std::size_t>(appenders * per_appender));
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.appended, static_cast<std::uint64_t>(appenders * per_appender));
}

INSTANTIATE_TEST_SUITE_P(Modes, GroupConcurrency,
                         ::testing::Values("ordered", "shared", "key_ordered"));

}  // namespace
}  // namespace corq::test
