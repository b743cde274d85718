// tests/stream/group_test.cpp — consumer groups through the ordinary consumer calls (DESIGN.md §7
// "Consumer groups"), one test per rule: the three modes, partition assignment and hand-over,
// retries before newer records, leases, dead letters with their x-stream-* headers, committed
// offsets and lag, start positions, seek, delete, and bad input.
#include "stream/stream_helpers.hpp"

#include <atomic>
#include <map>
#include <set>
#include <thread>

namespace corq::test {
namespace {

std::uint32_t partition_of(const corq_delivery &d) {
  return static_cast<std::uint32_t>(std::stoul(header_value(d, "x-stream-partition").value()));
}

/// Appends `n` records "<prefix><i>" with `key` (nullptr: round robin).
void append_n(corq_engine *e, const char *stream, int n, const std::string &prefix = "r",
              const char *key = nullptr) {
  for (int i = 0; i < n; ++i) append(e, stream, prefix + std::to_string(i), key);
}

TEST(Groups, a_member_gets_every_record_once_with_its_offset_and_x_stream_headers) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "2"}});
  const Placed keyed = append(e.get(), "s", "with-key", "order-7");
  append(e.get(), "s", "no-key");
  ConsumerPtr m = open_member(e.get(), "s", "g");
  const std::vector<corq_delivery> got = consume(m.get(), 10);
  ASSERT_EQ(got.size(), 2u);
  std::set<std::string> payloads_seen;
  for (const corq_delivery &d : got) {
    payloads_seen.insert(payload(d));
    EXPECT_EQ(d.delivery_count, 1u);
    EXPECT_EQ(header_value(d, "x-stream-offset"), std::to_string(d.message_id));
    if (payload(d) == "with-key") {
      EXPECT_EQ(partition_of(d), keyed.partition);
      EXPECT_EQ(d.message_id, keyed.offset);  // the record's offset, not an engine id
      EXPECT_EQ(header_value(d, "x-stream-key"), "order-7");
    } else {
      EXPECT_EQ(header_count_of(d, "x-stream-key"), 0u);
    }
    must(corq_ack(m.get(), d.tag), "ack");
  }
  EXPECT_EQ(payloads_seen, (std::set<std::string>{"with-key", "no-key"}));
  EXPECT_TRUE(consume(m.get(), 10).empty());
  const corq_group_stats s = group_stats(e.get(), "s", "g");
  EXPECT_EQ(s.members, 1u);
  EXPECT_EQ(s.delivered, 2u);
  EXPECT_EQ(s.acked, 2u);
  EXPECT_EQ(s.lag, 0u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(stream_stats(e.get(), "s").groups, 1u);
  char *json = nullptr;
  must(corq_stats_json(e.get(), &json), "stats_json");
  const std::string text = json;
  corq_free(json);
  EXPECT_TRUE(is_valid_json(text)) << text;
  EXPECT_NE(text.find("\"groups\":{\"g\":{\"mode\":\"ordered\",\"members\":1,\"lag\":0"),
            std::string::npos)
      << text;
}

TEST(Groups, ordered_members_share_partitions_evenly_and_each_partition_has_one_reader) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "4"}});
  append_n(e.get(), "s", 40);  // round robin: 10 per partition
  ConsumerPtr a = open_member(e.get(), "s", "g");
  ConsumerPtr b = open_member(e.get(), "s", "g");
  std::map<std::uint32_t, std::set<int>> readers;  // partition -> which member read it
  for (int round = 0; round < 10; ++round) {
    for (auto [member, id] : {std::pair{a.get(), 0}, std::pair{b.get(), 1}}) {
      for (const corq_delivery &d : consume(member, 64)) {
        readers[partition_of(d)].insert(id);
        must(corq_ack(member, d.tag), "ack");
      }
    }
  }
  ASSERT_EQ(readers.size(), 4u);
  int read_by_a = 0;
  for (const auto &[p, who] : readers) {
    EXPECT_EQ(who.size(), 1u) << "partition " << p << " was read by both";
    read_by_a += who.count(0) ? 1 : 0;
  }
  EXPECT_EQ(read_by_a, 2);
  EXPECT_EQ(group_stats(e.get(), "s", "g").lag, 0u);
}

TEST(Groups, ordered_delivers_a_partition_in_offset_order_and_a_retry_before_anything_newer) {
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s");
  append_n(e.get(), "s", 3);
  ConsumerPtr m = open_member(e.get(), "s", "g", {{"prefetch", "1"}});
  corq_delivery d = must_consume_one(m.get());
  ASSERT_EQ(payload(d), "r0");
  must(corq_nack(m.get(), d.tag, 100), "nack");
  EXPECT_TRUE(consume(m.get(), 1).empty());  // r1 must not overtake r0's retry
  advance(e.get(), 100);
  d = must_consume_one(m.get());
  EXPECT_EQ(payload(d), "r0");
  EXPECT_EQ(d.delivery_count, 2u);
  must(corq_ack(m.get(), d.tag), "ack");
  EXPECT_EQ(payload(must_consume_one(m.get())), "r1");
}

TEST(Groups, a_partition_moves_to_a_new_member_only_after_its_deliveries_settle) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "2"}});
  append_n(e.get(), "s", 4);  // two per partition
  ConsumerPtr a = open_member(e.get(), "s", "g");
  const std::vector<corq_delivery> held = consume(a.get(), 10);
  ASSERT_EQ(held.size(), 4u);  // a owns both partitions for now
  ConsumerPtr b = open_member(e.get(), "s", "g");
  append_n(e.get(), "s", 4, "later");
  // b's partition is still busy with a's deliveries: b gets nothing, a gets only its own one.
  EXPECT_TRUE(consume(b.get(), 10).empty());
  std::vector<corq_delivery> more = consume(a.get(), 10);
  ASSERT_EQ(more.size(), 2u);
  const std::uint32_t kept = partition_of(more[0]);  // read before the ack ends the delivery
  for (const corq_delivery &d : more) must(corq_ack(a.get(), d.tag), "ack");
  for (const corq_delivery &d : held) must(corq_ack(a.get(), d.tag), "ack");
  // Settled: the partition moves, and b reads it from where the group stands.
  const std::vector<corq_delivery> moved = consume(b.get(), 10);
  ASSERT_EQ(moved.size(), 2u);
  const std::uint32_t p = partition_of(moved[0]);
  for (const corq_delivery &d : moved) {
    EXPECT_EQ(partition_of(d), p);
    EXPECT_EQ(payload(d).rfind("later", 0), 0u);
  }
  EXPECT_NE(kept, p);
}

TEST(Groups, shared_members_all_read_one_partition_and_each_record_goes_to_one_of_them) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  append_n(e.get(), "s", 10);
  ConsumerPtr a = open_member(e.get(), "s", "g", {{"mode", "shared"}, {"prefetch", "4"}});
  ConsumerPtr b = open_member(e.get(), "s", "g", {{"mode", "shared"}, {"prefetch", "4"}});
  const std::vector<corq_delivery> from_a = consume(a.get(), 10);
  const std::vector<corq_delivery> from_b = consume(b.get(), 10);
  EXPECT_EQ(from_a.size(), 4u);
  EXPECT_EQ(from_b.size(), 4u);
  std::set<std::uint64_t> offsets;
  for (const auto *batch : {&from_a, &from_b})
    for (const corq_delivery &d : *batch) EXPECT_TRUE(offsets.insert(d.message_id).second);
  // Acked out of order: the committed offset stops at the first unsettled record.
  must(corq_ack(b.get(), from_b.back().tag), "ack");
  EXPECT_EQ(group_stats(e.get(), "s", "g").lag, 10u);
  for (const corq_delivery &d : from_a) must(corq_ack(a.get(), d.tag), "ack");
  EXPECT_EQ(group_stats(e.get(), "s", "g").lag, 6u);
}

TEST(Groups, key_ordered_keeps_one_record_per_key_out_and_each_keys_order) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  append(e.get(), "s", "a0", "a");
  append(e.get(), "s", "a1", "a");
  append(e.get(), "s", "b0", "b");
  append(e.get(), "s", "a2", "a");
  append(e.get(), "s", "none");  // no key: no constraint
  ConsumerPtr m = open_member(e.get(), "s", "g", {{"mode", "key_ordered"}});
  std::vector<corq_delivery> got = consume(m.get(), 10);
  std::vector<std::string> names;
  for (const corq_delivery &d : got) names.push_back(payload(d));
  EXPECT_EQ(names, (std::vector<std::string>{"a0", "b0", "none"}));
  must(corq_ack(m.get(), got[0].tag), "ack a0");
  got = consume(m.get(), 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(payload(got[0]), "a1");
  must(corq_nack(m.get(), got[0].tag, 0), "nack a1");  // a1 again before a2
  got = consume(m.get(), 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(payload(got[0]), "a1");
  must(corq_ack(m.get(), got[0].tag), "ack a1");
  EXPECT_EQ(payload(must_consume_one(m.get())), "a2");
}

TEST(Groups, a_record_past_max_attempts_is_dead_lettered_with_its_stream_headers) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  const Placed p = append(e.get(), "s", "poison", "k1");
  append(e.get(), "s", "fine");
  ConsumerPtr m = open_member(e.get(), "s", "g", {{"max_attempts", "2"}, {"prefetch", "1"}});
  for (int attempt = 0; attempt < 2; ++attempt) {
    const corq_delivery d = must_consume_one(m.get());
    ASSERT_EQ(payload(d), "poison");
    must(corq_nack(m.get(), d.tag, 0), "nack");
  }
  // Dead-lettered: the partition moves on.
  const corq_delivery next = must_consume_one(m.get());
  EXPECT_EQ(payload(next), "fine");
  must(corq_ack(m.get(), next.tag), "ack");
  ConsumerPtr dlq = open_consumer(e.get(), "s.g.dlq");
  const corq_delivery dead = must_consume_one(dlq.get());
  EXPECT_EQ(payload(dead), "poison");
  EXPECT_EQ(header_value(dead, "x-death-reason"), "max_attempts");
  EXPECT_EQ(header_value(dead, "x-stream-offset"), std::to_string(p.offset));
  EXPECT_EQ(header_value(dead, "x-stream-partition"), std::to_string(p.partition));
  EXPECT_EQ(header_value(dead, "x-stream-key"), "k1");
  EXPECT_NE(dead.message_id, p.offset);  // an engine id in the dead-letter queue
  const corq_group_stats s = group_stats(e.get(), "s", "g");
  EXPECT_EQ(s.dead_lettered, 1u);
  EXPECT_EQ(s.nacked, 2u);
  EXPECT_EQ(s.lag, 0u);
}

TEST(Groups, reject_dead_letters_at_once_with_the_reason_as_detail) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  append(e.get(), "s", "bad");
  ConsumerPtr m = open_member(e.get(), "s", "g", {{"dead_letter_queue", "poison"}});
  const corq_delivery d = must_consume_one(m.get());
  must(corq_reject(m.get(), d.tag, "unparseable"), "reject");
  ConsumerPtr dlq = open_consumer(e.get(), "poison");
  const corq_delivery dead = must_consume_one(dlq.get());
  EXPECT_EQ(header_value(dead, "x-death-reason"), "rejected");
  EXPECT_EQ(header_value(dead, "x-death-detail"), "unparseable");
  EXPECT_EQ(group_stats(e.get(), "s", "g").lag, 0u);
}

TEST(Groups, release_hands_a_record_back_without_a_failed_attempt) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  append(e.get(), "s", "x");
  ConsumerPtr m = open_member(e.get(), "s", "g", {{"max_attempts", "1"}});
  corq_delivery d = must_consume_one(m.get());
  must(corq_release(m.get(), d.tag), "release");
  d = must_consume_one(m.get());
  EXPECT_EQ(d.delivery_count, 2u);
  EXPECT_EQ(group_stats(e.get(), "s", "g").nacked, 0u);
  EXPECT_EQ(CORQ_ESTATE, corq_ack(m.get(), d.tag - 1));  // the released delivery's tag is gone
  must(corq_ack(m.get(), d.tag), "ack");
}

TEST(Groups, an_expired_lease_is_a_failed_attempt_and_the_record_comes_again) {
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s");
  append(e.get(), "s", "slow");
  ConsumerPtr m = open_member(e.get(), "s", "g", {{"lease_ms", "100"}, {"retry_delay_ms", "0"}});
  const corq_delivery first = must_consume_one(m.get());
  advance(e.get(), 100);
  EXPECT_EQ(CORQ_ESTATE, corq_ack(m.get(), first.tag));
  const corq_delivery again = must_consume_one(m.get());
  EXPECT_EQ(payload(again), "slow");
  EXPECT_EQ(again.delivery_count, 2u);
  EXPECT_EQ(group_stats(e.get(), "s", "g").nacked, 1u);
  must(corq_extend(m.get(), again.tag, 1000), "extend");
  advance(e.get(), 500);
  must(corq_ack(m.get(), again.tag), "ack after extend");
}

TEST(Groups, closing_a_member_releases_its_deliveries_to_the_others) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  append_n(e.get(), "s", 2);
  ConsumerPtr a = open_member(e.get(), "s", "g", {{"mode", "shared"}});
  ConsumerPtr b = open_member(e.get(), "s", "g", {{"mode", "shared"}});
  ASSERT_EQ(consume(a.get(), 10).size(), 2u);
  EXPECT_TRUE(consume(b.get(), 10).empty());
  a.reset();
  const std::vector<corq_delivery> got = consume(b.get(), 10);
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(group_stats(e.get(), "s", "g").members, 1u);
}

TEST(Groups, a_new_group_starts_at_earliest_by_default_or_at_latest_or_a_time) {
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s");
  append(e.get(), "s", "old");
  advance(e.get(), 50);
  append(e.get(), "s", "newer");
  ConsumerPtr all = open_member(e.get(), "s", "all");
  ConsumerPtr latest = open_member(e.get(), "s", "latest", {{"start", "latest"}});
  ConsumerPtr none = open_member(e.get(), "s", "none", {{"start", "time:1"}});
  EXPECT_EQ(consume(all.get(), 10).size(), 2u);
  EXPECT_TRUE(consume(latest.get(), 10).empty());
  EXPECT_EQ(consume(none.get(), 10).size(), 2u);  // every record is after unix ms 1
  append(e.get(), "s", "newest");
  EXPECT_EQ(payload(must_consume_one(latest.get())), "newest");
  EXPECT_EQ(group_stats(e.get(), "s", "latest").lag, 1u);
}

TEST(Groups, seek_replays_and_makes_deliveries_out_stale) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  append_n(e.get(), "s", 3);
  ConsumerPtr m = open_member(e.get(), "s", "g");
  std::vector<corq_delivery> got = consume(m.get(), 10);
  ASSERT_EQ(got.size(), 3u);
  must(corq_ack(m.get(), got[0].tag), "ack");
  must(corq_group_seek(e.get(), "s", "g", -1, "earliest"), "seek");
  EXPECT_EQ(CORQ_ESTATE, corq_ack(m.get(), got[1].tag));
  EXPECT_NE(last_error().find("stale"), std::string::npos) << last_error();
  EXPECT_EQ(CORQ_ESTATE, corq_ack(m.get(), got[2].tag));
  got = consume(m.get(), 10);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(payload(got[0]), "r0");
  EXPECT_EQ(group_stats(e.get(), "s", "g").lag, 3u);
  must(corq_group_seek(e.get(), "s", "g", 0, "offset:3"), "seek to the end");
  EXPECT_EQ(group_stats(e.get(), "s", "g").lag, 0u);
  EXPECT_EQ(CORQ_EINVAL, corq_group_seek(e.get(), "s", "g", 0, "offset:4"));  // past the end
  EXPECT_EQ(CORQ_EINVAL, corq_group_seek(e.get(), "s", "g", 1, "earliest"));  // no partition 1
  EXPECT_EQ(CORQ_EINVAL, corq_group_seek(e.get(), "s", "g", 0, "soon"));
  EXPECT_EQ(CORQ_ENOENT, corq_group_seek(e.get(), "s", "nope", 0, "earliest"));
}

TEST(Groups, retention_passing_a_group_counts_skipped_and_keeps_lag_defined) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_records", "5"}});
  ConsumerPtr m = open_member(e.get(), "s", "g");
  append_n(e.get(), "s", 12);
  const corq_group_stats before = group_stats(e.get(), "s", "g");
  EXPECT_EQ(before.lag, 5u);
  EXPECT_EQ(before.skipped, 7u);
  EXPECT_EQ(consume(m.get(), 20).size(), 5u);
}

TEST(Groups, a_waiting_consume_returns_when_a_record_is_appended) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  ConsumerPtr m = open_member(e.get(), "s", "g");
  std::vector<corq_delivery> got;
  std::thread waiter([&] { got = consume(m.get(), 4, 30'000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  append(e.get(), "s", "arrived");
  waiter.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(payload(got[0]), "arrived");
}

TEST(Groups, wakeup_ends_a_waiting_consume_with_eclosed) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  ConsumerPtr m = open_member(e.get(), "s", "g");
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    corq_delivery d{};
    rc = corq_consume(m.get(), &d, 1, -1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  must(corq_consumer_wakeup(m.get()), "wakeup");
  waiter.join();
  EXPECT_EQ(rc.load(), CORQ_ECLOSED);
}

TEST(Groups, deleting_the_group_or_its_stream_ends_its_members_with_enoent) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  must_declare_stream(e.get(), "t");
  ConsumerPtr m = open_member(e.get(), "s", "g");
  ConsumerPtr n = open_member(e.get(), "t", "g");
  must(corq_group_delete(e.get(), "s", "g"), "group_delete");
  corq_delivery d{};
  EXPECT_EQ(CORQ_ENOENT, corq_consume(m.get(), &d, 1, 0));
  EXPECT_EQ(CORQ_ENOENT, corq_group_delete(e.get(), "s", "g"));
  corq_group_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(CORQ_ENOENT, corq_group_stats_get(e.get(), "s", "g", &s));
  must(corq_stream_delete(e.get(), "t"), "stream_delete");
  EXPECT_EQ(CORQ_ENOENT, corq_consume(n.get(), &d, 1, 0));
}

TEST(Groups, the_first_members_options_define_the_group) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  ConsumerPtr a = open_member(e.get(), "s", "g", {{"mode", "shared"}, {"prefetch", "8"}});
  ConsumerPtr b = open_member(e.get(), "s", "g", {{"mode", "shared"}, {"prefetch", "64"}});
  corq_consumer *c = nullptr;
  EXPECT_EQ(CORQ_EEXIST, try_open_member(e.get(), "s", "g", {{"mode", "ordered"}}, &c));
  EXPECT_EQ(CORQ_EEXIST, try_open_member(e.get(), "s", "g", {}, &c));
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(group_stats(e.get(), "s", "g").members, 2u);
}

TEST(Groups, bad_group_input_is_refused_with_a_detail) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  corq_consumer *c = nullptr;
  EXPECT_EQ(CORQ_EINVAL, try_open_member(e.get(), "s", "g", {{"mode", "fifo"}}, &c));
  EXPECT_EQ(CORQ_EINVAL, try_open_member(e.get(), "s", "g", {{"prefetch", "0"}}, &c));
  EXPECT_EQ(CORQ_EINVAL, try_open_member(e.get(), "s", "g", {{"start", "offset:3"}}, &c));
  EXPECT_EQ(CORQ_EINVAL, try_open_member(e.get(), "s", "g", {{"max_length", "3"}}, &c));
  EXPECT_NE(last_error().find("not a group option"), std::string::npos) << last_error();
  EXPECT_EQ(CORQ_EINVAL, corq_group_consumer_open(e.get(), "s", "bad name", nullptr, &c));
  EXPECT_EQ(CORQ_EINVAL, corq_group_consumer_open(e.get(), "s", nullptr, nullptr, &c));
  EXPECT_EQ(CORQ_EINVAL, corq_group_consumer_open(e.get(), "s", "g", nullptr, nullptr));
  EXPECT_EQ(CORQ_ENOENT, corq_group_consumer_open(e.get(), "nope", "g", nullptr, &c));
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(CORQ_EINVAL, corq_group_seek(e.get(), "s", "g", 0, nullptr));
  corq_group_stats small{};
  small.struct_size = 4;
  EXPECT_EQ(CORQ_EINVAL, corq_group_stats_get(e.get(), "s", "g", &small));
  ConsumerPtr m = open_member(e.get(), "s", "g");
  append(e.get(), "s", "x");
  const corq_delivery d = must_consume_one(m.get());
  const corq_message response = message("r");
  EXPECT_EQ(CORQ_EINVAL, corq_respond(m.get(), d.tag, &response));
  EXPECT_EQ(CORQ_EINVAL, corq_nack(m.get(), d.tag, -2));
  EXPECT_EQ(CORQ_EINVAL, corq_extend(m.get(), d.tag, 0));
  EXPECT_EQ(CORQ_ESTATE, corq_ack(m.get(), d.tag + 100));
  EXPECT_EQ(CORQ_ESTATE, corq_ack_upto(m.get(), 0));
  must(corq_ack_upto(m.get(), d.tag), "ack_upto");
}

}  // namespace
}  // namespace corq::test
