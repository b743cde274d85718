// tests/corqctl/corqctl_stream_test.cpp — corqctl on a directory with durable streams and consumer
// groups (DESIGN.md §7): the reading commands show the streams, their partitions and their groups'
// committed offsets and lag as the next corq_open recovers them, `stream read` replays records
// from a position, `group seek` moves a group (taking the lock), and bad input — a missing stream
// or group, a bad start position, a partition or offset the stream does not have — gets its exit
// code and a clear message. As corqctl_test.cpp: the directory is built with the C API, the real
// corqctl runs as a child process, effects are read back through the C API.
//
// The streams directory (CorqctlStreams), every stream durable unless said (64 KiB segments):
//   events   2 partitions; e0..e4 appended without a key, 10 ms apart (distinct timestamps: the
//            engine's clock is CLOCK_MONOTONIC_COARSE, 1-4 ms a tick), so round robin puts e0, e2,
//            e4 at offsets 0-2 of partition 0 and e1, e3 at offsets 0-1 of partition 1
//            group billing (ordered): offsets 0 and 1 of partition 0 acked, the rest released —
//              committed 2 / 0, lag 1 + 2 = 3
//            group tail (shared, start=latest): created after the appends — committed 3 / 2, lag 0
//   audit    1 partition, retention_records=3; group replay (ordered) created before five records
//            a0..a4 with keys k0..k4, a header "user: ada" and a quote and a \x01 in the payload:
//            retention keeps offsets 2-4, so replay's committed offset moves up to 2 (lag 3)
//   scratch  transient (durable=false): not in the log
//   gone     declared, appended to, deleted: not in the log
#include "corqctl_run.hpp"

#include <atomic>
#include <chrono>
#include <regex>
#include <thread>

namespace {

using namespace corqctl_test;

constexpr const char *segment_bytes = "65536";

class CorqctlStreams : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.root().empty()) << "mkdtemp: " << std::strerror(errno);
    dir_ = scratch_.root() / "data";
    corq_engine *engine = open_engine(dir_);
    ASSERT_NE(engine, nullptr);
    declare(engine, "events", {{"partitions", "2"}});
    for (int i = 0; i < 5; ++i) {
      uint32_t partition = 0;
      append(engine, "events", nullptr, "e" + std::to_string(i), &partition);
      ASSERT_EQ(partition, static_cast<uint32_t>(i % 2));
      // Distinct timestamps: more than one tick of the engine's coarse clock apart.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    settle_billing(engine);
    close_member(open_member(engine, "events", "tail", {{"mode", "shared"}, {"start", "latest"}}));

    declare(engine, "audit", {{"retention_records", "3"}});
    close_member(open_member(engine, "audit", "replay", {}));
    for (int i = 0; i < 5; ++i) {
      const std::string key = "k" + std::to_string(i);
      append(engine, "audit", &key, "a" + std::to_string(i) + " \"q\" \x01");
    }

    declare(engine, "scratch", {{"durable", "false"}});
    append(engine, "scratch", nullptr, "s0");
    declare(engine, "gone", {});
    append(engine, "gone", nullptr, "g0");
    ASSERT_EQ(corq_stream_delete(engine, "gone"), CORQ_OK) << corq_last_error();
    ASSERT_EQ(corq_close(engine), CORQ_OK);
  }

  static void declare(corq_engine *engine, const char *name,
                      const std::vector<std::pair<const char *, const char *>> &options) {
    corq_config *config = corq_config_new();
    corq_config_set(config, "partition_segment_bytes", segment_bytes);
    for (const auto &[key, value] : options) corq_config_set(config, key, value);
    ASSERT_EQ(corq_stream_declare(engine, name, config), CORQ_OK) << corq_last_error();
    corq_config_free(config);
  }

  /// Appends one record (header user=ada) with `key` (nullptr: none).
  static void append(corq_engine *engine, const char *stream, const std::string *key,
                     const std::string &data, uint32_t *partition = nullptr) {
    static const char user[] = "ada";
    const corq_header header{"user", user, 3};
    const corq_message message{data.data(), data.size(), &header, 1, nullptr};
    ASSERT_EQ(
        corq_stream_append(engine, stream, key == nullptr ? nullptr : key->data(),
                           key == nullptr ? 0 : key->size(), &message, nullptr, partition, nullptr),
        CORQ_OK)
        << corq_last_error();
  }

  static corq_consumer *open_member(
      corq_engine *engine, const char *stream, const char *group,
      const std::vector<std::pair<const char *, const char *>> &options) {
    corq_config *config = corq_config_new();
    for (const auto &[key, value] : options) corq_config_set(config, key, value);
    corq_consumer *member = nullptr;
    EXPECT_EQ(corq_group_consumer_open(engine, stream, group, config, &member), CORQ_OK)
        << corq_last_error();
    corq_config_free(config);
    return member;
  }
  static void close_member(corq_consumer *member) {
    if (member != nullptr) {
      EXPECT_EQ(corq_consumer_close(member), CORQ_OK);
    }
  }

  /// The offset of partition 0 or 1 a delivery of `events` carries.
  static std::string header_of(const corq_delivery &d, const char *key) {
    for (size_t i = 0; i < d.header_count; ++i) {
      if (std::strcmp(d.headers[i].key, key) == 0)
        return std::string(static_cast<const char *>(d.headers[i].value), d.headers[i].value_len);
    }
    return {};
  }

  /// billing: every record delivered, offsets 0 and 1 of partition 0 acked, the rest released.
  static void settle_billing(corq_engine *engine) {
    corq_consumer *member = open_member(engine, "events", "billing", {});
    ASSERT_NE(member, nullptr);
    std::vector<corq_delivery> got(5);
    size_t taken = 0;
    for (int round = 0; round < 50 && taken < got.size(); ++round) {
      const int n = corq_consume(member, got.data() + taken, got.size() - taken, 100);
      ASSERT_GE(n, 0) << corq_last_error();
      taken += static_cast<size_t>(n);
    }
    ASSERT_EQ(taken, 5u);
    for (const corq_delivery &d : got) {
      if (header_of(d, "x-stream-partition") == "0" && d.message_id < 2) {
        ASSERT_EQ(corq_ack(member, d.tag), CORQ_OK) << corq_last_error();
      }
    }
    close_member(member);  // releases the other three
  }

  Outcome run(const std::vector<std::string> &args) { return corqctl(scratch_.root(), args); }
  std::string dir() const { return dir_.string(); }

  corq_group_stats group_stats(corq_engine *engine, const char *stream, const char *group) {
    corq_group_stats stats{};
    stats.struct_size = sizeof stats;
    EXPECT_EQ(corq_group_stats_get(engine, stream, group, &stats), CORQ_OK) << corq_last_error();
    return stats;
  }

  /// The offsets a new member of `group` on `stream` is given first (all it can take in 300 ms),
  /// as "partition:offset", released again when it closes.
  std::vector<std::string> next_deliveries(corq_engine *engine, const char *stream,
                                           const char *group) {
    corq_consumer *member = open_member(engine, stream, group, {});
    std::vector<std::string> out;
    if (member == nullptr) return out;
    std::vector<corq_delivery> got(16);
    const int n = corq_consume(member, got.data(), got.size(), 300);
    for (int i = 0; i < n; ++i)
      out.push_back(header_of(got[i], "x-stream-partition") + ":" +
                    std::to_string(got[i].message_id));
    std::sort(out.begin(), out.end());
    close_member(member);
    return out;
  }

  Scratch scratch_;
  fs::path dir_;
};

// ---- inspect, stats, verify ---------------------------------------------------------------------

TEST_F(CorqctlStreams, inspect_lists_durable_streams_with_partitions_and_groups) {
  const Outcome r = run({"inspect", dir()});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(contains(r.out, "streams: 2\n")) << describe(r);
  EXPECT_TRUE(contains(r.out,
                       "stream events\n  options: dedup_window_ms=0 discard=old durable=true "
                       "partition_segment_bytes=65536 partitions=2 retention_bytes=0 "
                       "retention_ms=0 retention_records=0\n"))
      << describe(r);
  EXPECT_TRUE(contains(r.out,
                       "  partition 0: first offset 0, end offset 3, 3 records, 27 bytes\n"
                       "  partition 1: first offset 0, end offset 2, 2 records, 18 bytes\n"
                       "  groups: 2\n"
                       "  group billing\n    mode: ordered\n"))
      << describe(r);
  EXPECT_TRUE(contains(r.out,
                       "    dead-letter queue: events.billing.dlq\n"
                       "    members: 0 (the log has none: members exist only in a running "
                       "engine)\n"
                       "    lag: 3\n"
                       "    partition 0: committed offset 2, lag 1\n"
                       "    partition 1: committed offset 0, lag 2\n"))
      << describe(r);
  EXPECT_TRUE(contains(r.out,
                       "  group tail\n    mode: shared\n    options: lease_ms=30000 "
                       "max_attempts=10 prefetch=256 retry_backoff=2 retry_delay_max_ms=60000 "
                       "retry_delay_ms=100 start=latest\n"))
      << describe(r);
  EXPECT_TRUE(contains(r.out,
                       "    lag: 0\n    partition 0: committed offset 3, lag 0\n"
                       "    partition 1: committed offset 2, lag 0\n"))
      << describe(r);
  // Retention applied to what the log holds, and the group caught up with it.
  EXPECT_TRUE(contains(r.out, "retention_records=3\n  records: 3 (")) << describe(r);
  EXPECT_TRUE(contains(r.out, "  partition 0: first offset 2, end offset 5, 3 records, "))
      << describe(r);
  EXPECT_TRUE(contains(r.out, "  group replay\n    mode: ordered\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "    lag: 3\n    partition 0: committed offset 2, lag 3\n"))
      << describe(r);
  EXPECT_FALSE(contains(r.out, "scratch")) << describe(r);
  EXPECT_FALSE(contains(r.out, "stream gone")) << describe(r);
}

TEST_F(CorqctlStreams, inspect_shows_what_corq_open_recovers) {
  const Outcome json = run({"stats", dir(), "--json"});
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  corq_engine *engine = open_engine(dir_);
  ASSERT_NE(engine, nullptr);
  corq_stream_stats stats{};
  stats.struct_size = sizeof stats;
  ASSERT_EQ(corq_stream_stats_get(engine, "events", &stats), CORQ_OK) << corq_last_error();
  EXPECT_TRUE(contains(json.out, "\"events\":{\"options\":{\"partitions\":2,") &&
              contains(json.out, ",\"records\":" + std::to_string(stats.records) +
                                     ",\"bytes\":" + std::to_string(stats.bytes) + ",\"log\":"))
      << describe(json);
  ASSERT_EQ(corq_stream_stats_get(engine, "audit", &stats), CORQ_OK) << corq_last_error();
  EXPECT_EQ(stats.records, 3u);
  EXPECT_TRUE(contains(json.out, "\"audit\":{\"options\":{\"partitions\":1,") &&
              contains(json.out, ",\"records\":3,\"bytes\":" + std::to_string(stats.bytes)))
      << describe(json);
  for (const auto &[stream, group] : {std::pair{"events", "billing"}, std::pair{"events", "tail"},
                                      std::pair{"audit", "replay"}}) {
    const corq_group_stats g = group_stats(engine, stream, group);
    EXPECT_EQ(g.members, 0u);
    EXPECT_TRUE(contains(json.out, "\"" + std::string(group) + "\":{\"mode\":") &&
                std::regex_search(json.out, std::regex("\"" + std::string(group) +
                                                       "\":\\{\"mode\":\"[a-z_]+\",\"members\":0,"
                                                       "\"lag\":" +
                                                       std::to_string(g.lag) + ",")))
        << group << " lag " << g.lag << "\n"
        << describe(json);
  }
  // The committed offsets: where a member starts.
  EXPECT_EQ(next_deliveries(engine, "events", "billing"),
            (std::vector<std::string>{"0:2", "1:0", "1:1"}));
  EXPECT_EQ(next_deliveries(engine, "audit", "replay"),
            (std::vector<std::string>{"0:2", "0:3", "0:4"}));
  EXPECT_EQ(corq_stream_stats_get(engine, "scratch", &stats), CORQ_ENOENT);
  EXPECT_EQ(corq_stream_stats_get(engine, "gone", &stats), CORQ_ENOENT);
  corq_close(engine);
}

TEST_F(CorqctlStreams, stats_table_json_and_prometheus_show_streams_and_group_lag) {
  const Outcome text = run({"stats", dir()});
  ASSERT_EQ(text.exit_code, exit_ok) << describe(text);
  EXPECT_TRUE(std::regex_search(
      text.out,
      std::regex("\nstream +partition +first_offset +end_offset +records +bytes\n"
                 "audit +0 +2 +5 +3 +[0-9]+\nevents +0 +0 +3 +3 +27\nevents +1 +0 +2 +2 +18\n")))
      << describe(text);
  EXPECT_TRUE(std::regex_search(
      text.out, std::regex("\ngroup +stream +mode +members +partition +committed +lag\n"
                           "replay +audit +ordered +0 +0 +2 +3\n"
                           "billing +events +ordered +0 +0 +2 +1\n"
                           "billing +events +ordered +0 +1 +0 +2\n"
                           "tail +events +shared +0 +0 +3 +0\n")))
      << describe(text);

  const Outcome json = run({"stats", dir(), "--json"});
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  EXPECT_TRUE(contains(json.out,
                       "\"partitions\":[{\"partition\":0,\"first_offset\":0,\"end_offset\":3,"
                       "\"records\":3,\"bytes\":27},{\"partition\":1,\"first_offset\":0,"
                       "\"end_offset\":2,\"records\":2,\"bytes\":18}],\"groups\":{"))
      << describe(json);
  EXPECT_TRUE(contains(json.out,
                       "\"billing\":{\"mode\":\"ordered\",\"members\":0,\"lag\":3,"
                       "\"dead_letter_queue\":\"events.billing.dlq\",\"options\":{\"prefetch\":256,"
                       "\"start\":\"earliest\",\"max_attempts\":10,\"retry_delay_ms\":100,"
                       "\"retry_backoff\":2,\"retry_delay_max_ms\":60000,\"lease_ms\":30000},"
                       "\"partitions\":[{\"partition\":0,\"committed_offset\":2,\"lag\":1},"
                       "{\"partition\":1,\"committed_offset\":0,\"lag\":2}]}"))
      << describe(json);
  EXPECT_TRUE(contains(json.out,
                       "\"options\":{\"partitions\":1,\"durable\":true,\"retention_ms\":0,"
                       "\"retention_bytes\":0,\"retention_records\":3,\"discard\":\"old\","
                       "\"dedup_window_ms\":0,\"partition_segment_bytes\":65536}"))
      << describe(json);
  EXPECT_TRUE(std::regex_search(json.out, std::regex("\\],\"streams\\\":\\{\"audit\":.*\\}\\}\n$")))
      << describe(json);
  EXPECT_FALSE(contains(json.out, "scratch")) << describe(json);

  const Outcome prom = run({"stats", dir(), "--prometheus"});
  ASSERT_EQ(prom.exit_code, exit_ok) << describe(prom);
  for (const char *line :
       {"# TYPE corq_stream_partition_end_offset gauge\n",
        "corq_stream_partition_first_offset{stream=\"audit\",partition=\"0\"} 2\n",
        "corq_stream_partition_end_offset{stream=\"events\",partition=\"1\"} 2\n",
        "corq_stream_partition_records{stream=\"events\",partition=\"0\"} 3\n",
        "corq_stream_partition_bytes{stream=\"events\",partition=\"0\"} 27\n",
        "corq_stream_group_lag{stream=\"events\",group=\"billing\",mode=\"ordered\"} 3\n",
        "corq_stream_group_lag{stream=\"events\",group=\"tail\",mode=\"shared\"} 0\n",
        "corq_stream_group_committed_offset{stream=\"events\",group=\"billing\",partition=\"0\"} "
        "2\n",
        "corq_stream_group_partition_lag{stream=\"events\",group=\"billing\",partition=\"1\"} 2\n"})
    EXPECT_TRUE(contains(prom.out, line)) << line << describe(prom);
  const std::regex line_format(
      R"re((# HELP [a-z_]+ .+)|(# TYPE [a-z_]+ gauge)|([a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+(\.[0-9]+)?))re");
  std::istringstream lines(prom.out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(std::regex_match(line, line_format)) << line;
}

TEST_F(CorqctlStreams, verify_checks_the_streams_logs_and_reports_their_corruption) {
  const Outcome ok = run({"verify", dir()});
  ASSERT_EQ(ok.exit_code, exit_ok) << describe(ok);
  EXPECT_TRUE(contains(ok.out, ", 2 streams (their logs checked too), 8 stream records"))
      << describe(ok);

  // A byte of events' first record (each append was its own frame: later frames are valid).
  fs::path segment;
  for (const auto &entry : fs::directory_iterator(dir_ / "streams")) {
    const fs::path candidate = entry.path() / "00000000000000000001.wal";
    if (fs::exists(candidate) && read_file(candidate).find("e4") != std::string::npos)
      segment = candidate;
  }
  ASSERT_FALSE(segment.empty());
  std::string bytes = read_file(segment);
  const size_t at = bytes.find("e0");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'X';
  std::ofstream(segment, std::ios::binary | std::ios::in) << bytes;

  const Outcome bad = run({"verify", dir()});
  EXPECT_EQ(bad.exit_code, exit_corrupt) << describe(bad);
  EXPECT_TRUE(contains(bad.err, "stream 'events' (")) << describe(bad);
  EXPECT_TRUE(contains(bad.err, "CORRUPT: ")) << describe(bad);
  EXPECT_EQ(run({"inspect", dir()}).exit_code, exit_corrupt);
  EXPECT_EQ(run({"stream", "read", dir(), "events"}).exit_code, exit_corrupt);
  // Another stream's log is not needed to read this one.
  EXPECT_EQ(run({"stream", "read", dir(), "audit"}).exit_code, exit_ok);
}

// ---- stream read --------------------------------------------------------------------------------

TEST_F(CorqctlStreams, stream_read_from_earliest_merges_partitions_by_timestamp) {
  const Outcome r = run({"stream", "read", dir(), "events"});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(contains(r.out,
                       "stream events: 2 partitions, 5 records retained; every partition (by "
                       "timestamp) from earliest: showing 5\n"))
      << describe(r);
  const std::regex order(
      "record partition=0 offset=0 timestamp_ms=[0-9]+ bytes=2 key=none\n  user: ada\n"
      "  data: \"e0\"\n"
      "record partition=1 offset=0 [^\n]*\n  user: ada\n  data: \"e1\"\n"
      "record partition=0 offset=1 [^\n]*\n  user: ada\n  data: \"e2\"\n"
      "record partition=1 offset=1 [^\n]*\n  user: ada\n  data: \"e3\"\n"
      "record partition=0 offset=2 [^\n]*\n  user: ada\n  data: \"e4\"\n$");
  EXPECT_TRUE(std::regex_search(r.out, order)) << describe(r);

  const Outcome two = run({"stream", "read", dir(), "events", "--max", "2"});
  ASSERT_EQ(two.exit_code, exit_ok) << describe(two);
  EXPECT_TRUE(contains(two.out, "showing 2\n")) << describe(two);
  EXPECT_TRUE(contains(two.out, "data: \"e1\"\n")) << describe(two);
  EXPECT_FALSE(contains(two.out, "data: \"e2\"")) << describe(two);

  // Reading consumes nothing: the groups are where they were.
  const Outcome again = run({"inspect", dir()});
  EXPECT_TRUE(contains(again.out, "    partition 0: committed offset 2, lag 1\n"))
      << describe(again);
}

TEST_F(CorqctlStreams, stream_read_one_partition_from_an_offset_or_a_time) {
  const Outcome offset = run({"stream", "read", dir(), "events", "-p", "0", "--from", "offset:1"});
  ASSERT_EQ(offset.exit_code, exit_ok) << describe(offset);
  EXPECT_TRUE(contains(offset.out, "partition 0 from offset:1: showing 2\n")) << describe(offset);
  EXPECT_TRUE(contains(offset.out, "data: \"e2\"\n")) << describe(offset);
  EXPECT_TRUE(contains(offset.out, "data: \"e4\"\n")) << describe(offset);
  EXPECT_FALSE(contains(offset.out, "partition=1")) << describe(offset);

  // time:MS of e3's timestamp: e3 and e4 (e4 came 10 ms later), from every partition.
  const Outcome e3 = run({"stream", "read", dir(), "events", "-p", "1", "--from", "offset:1"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(e3.out, m, std::regex("timestamp_ms=([0-9]+)"))) << describe(e3);
  const Outcome time = run({"stream", "read", dir(), "events", "--from", "time:" + m[1].str()});
  ASSERT_EQ(time.exit_code, exit_ok) << describe(time);
  EXPECT_TRUE(contains(time.out, "showing 2\n")) << describe(time);
  const size_t e3_at = time.out.find("data: \"e3\"\n"), e4_at = time.out.find("data: \"e4\"\n");
  EXPECT_TRUE(e3_at != std::string::npos && e4_at != std::string::npos && e3_at < e4_at)
      << describe(time);

  const Outcome latest = run({"stream", "read", dir(), "events", "--from", "latest"});
  ASSERT_EQ(latest.exit_code, exit_ok) << describe(latest);
  EXPECT_TRUE(contains(latest.out, "showing 0\n")) << describe(latest);

  // Below the first retained offset: from there, and said so.
  const Outcome below = run({"stream", "read", dir(), "audit", "--from", "offset:0"});
  ASSERT_EQ(below.exit_code, exit_ok) << describe(below);
  EXPECT_TRUE(contains(below.out,
                       "showing 3\n(2 records before the first retained offset were "
                       "deleted by retention)\nrecord partition=0 offset=2 "))
      << describe(below);
}

TEST_F(CorqctlStreams, stream_read_prints_keys_headers_and_escaped_payloads_as_text_and_json) {
  const Outcome r = run({"stream", "read", dir(), "audit", "--max", "1"});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("record partition=0 offset=2 timestamp_ms=[0-9]+ bytes=8 key=\"k2\"\n"
                        "  user: ada\n  data: \"a2 \\\\x22q\\\\x22 \\\\x01\"\n")))
      << describe(r);
  const Outcome cut = run({"stream", "read", dir(), "audit", "--max", "1", "--preview-bytes", "2"});
  EXPECT_TRUE(contains(cut.out, "  data: \"a2...\"\n")) << describe(cut);

  const Outcome json = run({"stream", "read", dir(), "audit", "--json", "--max", "2"});
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  EXPECT_TRUE(std::regex_match(
      json.out,
      std::regex("\\{\"stream\":\"audit\",\"partitions\":1,\"from\":\"earliest\",\"skipped\":0,"
                 "\"records\":\\[\\{\"partition\":0,\"offset\":2,\"timestamp_ms\":[0-9]+,"
                 "\"key\":\"k2\",\"headers\":\\[\\{\"key\":\"user\",\"value\":\"ada\"\\}\\],"
                 "\"bytes\":8,\"data\":\"a2 \\\\\\\\x22q\\\\\\\\x22 \\\\\\\\x01\"\\},"
                 "\\{\"partition\":0,\"offset\":3,[^\n]*\\}\\]\\}\n")))
      << describe(json);
}

TEST_F(CorqctlStreams, stream_read_works_while_a_service_holds_the_directory) {
  corq_engine *service = open_engine(dir_);
  ASSERT_NE(service, nullptr);
  const std::string key = "k5";
  append(service, "audit", &key, "a5");
  const Outcome r = run({"stream", "read", dir(), "audit", "--from", "offset:5"});
  EXPECT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(contains(r.out, "key=\"k5\"\n  user: ada\n  data: \"a5\"\n")) << describe(r);
  corq_close(service);
}

TEST_F(CorqctlStreams, reading_a_stream_a_service_appends_to_and_releases_never_fails) {
  // 64 KiB segments behind retention_records=100 of 1 KiB records (sync=none: fast appends, a
  // frame per group commit): the service releases segments (at most every 100 ms) while the
  // reading commands scan the stream's log, and writes frames they may meet half-written.
  corq_engine *service = open_engine(dir_, "none");
  ASSERT_NE(service, nullptr);
  declare(service, "busy", {{"retention_records", "100"}});
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appended{0};
  std::thread appender([&] {
    const std::string data(1024, 'b');
    const corq_message message{data.data(), data.size(), nullptr, 0, nullptr};
    constexpr uint64_t appended_max = 1'000'000;  // bounded, should the readers be very slow
    while (!stop.load() && appended.load() < appended_max) {
      if (corq_stream_append(service, "busy", nullptr, 0, &message, nullptr, nullptr, nullptr) !=
          CORQ_OK)
        break;
      appended.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // a steady flow, no flood
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (appended.load() < 300 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // retention at work first
  for (int i = 0; i < 5; ++i) {
    const Outcome inspect = run({"inspect", dir()});
    EXPECT_EQ(inspect.exit_code, exit_ok) << describe(inspect);
    EXPECT_TRUE(std::regex_search(
        inspect.out, std::regex("stream busy\\n.*\\n  records: 100 \\(102400 bytes\\)")))
        << describe(inspect);
    const Outcome read = run({"stream", "read", dir(), "busy", "--max", "3"});
    EXPECT_EQ(read.exit_code, exit_ok) << describe(read);
    EXPECT_TRUE(contains(read.out, "stream busy: 1 partitions, 100 records retained; "))
        << describe(read);
    EXPECT_TRUE(contains(read.out, "showing 3\n")) << describe(read);
  }
  stop.store(true);
  appender.join();
  EXPECT_GE(appended.load(), 300u);
  corq_close(service);
}

TEST_F(CorqctlStreams, stream_read_of_a_stream_not_in_the_log_exits_5) {
  for (const char *stream : {"nope", "scratch", "gone"}) {
    const Outcome r = run({"stream", "read", dir(), stream});
    EXPECT_EQ(r.exit_code, exit_no_queue) << describe(r);
    EXPECT_TRUE(contains(r.err, "no stream '" + std::string(stream) + "' in the log"))
        << describe(r);
    EXPECT_TRUE(r.out.empty()) << describe(r);
  }
}

TEST_F(CorqctlStreams, stream_read_bad_start_partition_or_offset_is_bad_usage) {
  for (const char *start : {"yesterday", "offset:", "offset:-1", "offset:1x", "time:soon",
                            "time:99999999999999999999", "Earliest"}) {
    const Outcome r = run({"stream", "read", dir(), "events", "--from", start});
    EXPECT_EQ(r.exit_code, exit_usage) << start << "\n" << describe(r);
    EXPECT_TRUE(contains(r.err, "bad start")) << describe(r);
    EXPECT_TRUE(contains(r.err, "expected earliest, latest, offset:N or time:MS")) << describe(r);
  }
  const Outcome past = run({"stream", "read", dir(), "events", "-p", "1", "--from", "offset:3"});
  EXPECT_EQ(past.exit_code, exit_usage) << describe(past);
  EXPECT_TRUE(contains(past.err, "offset 3 is past the end of partition 1 (2)")) << describe(past);
  const Outcome partition = run({"stream", "read", dir(), "events", "--partition", "2"});
  EXPECT_EQ(partition.exit_code, exit_usage) << describe(partition);
  EXPECT_TRUE(contains(partition.err, "stream 'events' has 2 partitions: no partition 2"))
      << describe(partition);
  const Outcome which = run({"stream", "read", dir(), "events", "--from", "offset:1"});
  EXPECT_EQ(which.exit_code, exit_usage) << describe(which);
  EXPECT_TRUE(contains(which.err, "give --partition")) << describe(which);
  const Outcome missing = run({"stream", "read", (scratch_.root() / "nowhere").string(), "events"});
  EXPECT_EQ(missing.exit_code, exit_unreadable) << describe(missing);
}

// ---- group seek ---------------------------------------------------------------------------------

TEST_F(CorqctlStreams, group_seek_moves_every_partition_and_the_next_open_delivers_from_there) {
  const Outcome r = run({"group", "seek", dir(), "events", "billing", "earliest"});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_EQ(r.out,
            "group billing of stream events: every partition moved to earliest; lag 5 (was 3)\n");
  const Outcome seen = run({"inspect", dir()});
  EXPECT_TRUE(contains(seen.out,
                       "    lag: 5\n    partition 0: committed offset 0, lag 3\n"
                       "    partition 1: committed offset 0, lag 2\n"))
      << describe(seen);

  corq_engine *engine = open_engine(dir_);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(group_stats(engine, "events", "billing").lag, 5u);
  EXPECT_EQ(next_deliveries(engine, "events", "billing"),
            (std::vector<std::string>{"0:0", "0:1", "0:2", "1:0", "1:1"}));
  corq_close(engine);
}

TEST_F(CorqctlStreams, group_seek_one_partition_to_an_offset_leaves_the_others) {
  const Outcome r =
      run({"group", "seek", dir(), "events", "billing", "offset:3", "--partition", "0"});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_EQ(r.out,
            "group billing of stream events: partition 0 moved to offset:3; lag 2 (was 3)\n");
  corq_engine *engine = open_engine(dir_);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(next_deliveries(engine, "events", "billing"), (std::vector<std::string>{"1:0", "1:1"}));
  corq_close(engine);
  const Outcome seen = run({"stats", dir()});
  EXPECT_TRUE(std::regex_search(seen.out, std::regex("\nbilling +events +ordered +0 +0 +3 +0\n")))
      << describe(seen);
}

TEST_F(CorqctlStreams, group_seek_to_a_missing_stream_or_group_exits_5) {
  const Outcome stream = run({"group", "seek", dir(), "nope", "billing", "earliest"});
  EXPECT_EQ(stream.exit_code, exit_no_queue) << describe(stream);
  EXPECT_TRUE(contains(stream.err, "no stream 'nope'")) << describe(stream);
  const Outcome group = run({"group", "seek", dir(), "events", "nobody", "earliest"});
  EXPECT_EQ(group.exit_code, exit_no_queue) << describe(group);
  EXPECT_TRUE(contains(group.err, "no group 'nobody' on stream 'events'")) << describe(group);
  // A group of another stream is not this stream's.
  EXPECT_EQ(run({"group", "seek", dir(), "events", "replay", "earliest"}).exit_code, exit_no_queue);
}

TEST_F(CorqctlStreams, group_seek_bad_start_partition_or_offset_is_bad_usage_and_moves_nothing) {
  const Outcome bad = run({"group", "seek", dir(), "events", "billing", "offset:two"});
  EXPECT_EQ(bad.exit_code, exit_usage) << describe(bad);
  EXPECT_TRUE(contains(bad.err, "bad start 'offset:two'")) << describe(bad);
  const Outcome past = run({"group", "seek", dir(), "events", "billing", "offset:3"});
  EXPECT_EQ(past.exit_code, exit_usage) << describe(past);
  EXPECT_TRUE(contains(past.err, "offset 3 is past the end of partition 1 (2)")) << describe(past);
  const Outcome partition =
      run({"group", "seek", dir(), "events", "billing", "earliest", "-p", "7"});
  EXPECT_EQ(partition.exit_code, exit_usage) << describe(partition);
  EXPECT_TRUE(contains(partition.err, "has 2 partitions: no partition 7")) << describe(partition);
  EXPECT_EQ(run({"group", "seek", dir(), "events", "billing"}).exit_code, exit_usage);

  // Nothing moved (partition 0 could have taken offset:3; the seek is all or nothing).
  const Outcome seen = run({"inspect", dir()});
  EXPECT_TRUE(contains(seen.out,
                       "    lag: 3\n    partition 0: committed offset 2, lag 1\n"
                       "    partition 1: committed offset 0, lag 2\n"))
      << describe(seen);
}

TEST_F(CorqctlStreams, group_seek_on_a_directory_a_service_holds_exits_4) {
  corq_engine *service = open_engine(dir_);
  ASSERT_NE(service, nullptr);
  const Outcome r = run({"group", "seek", dir(), "events", "billing", "earliest"});
  EXPECT_EQ(r.exit_code, exit_locked) << describe(r);
  EXPECT_TRUE(contains(r.err, "locked")) << describe(r);
  EXPECT_TRUE(contains(r.err, "stream read) work without the lock")) << describe(r);
  EXPECT_EQ(group_stats(service, "events", "billing").lag, 3u);
  corq_close(service);
}

// ---- help ---------------------------------------------------------------------------------------

TEST_F(CorqctlStreams, help_lists_the_stream_commands_and_their_exit_codes) {
  const Outcome top = run({"--help"});
  ASSERT_EQ(top.exit_code, exit_ok) << describe(top);
  EXPECT_TRUE(contains(top.out, "stream")) << describe(top);
  EXPECT_TRUE(contains(top.out, "group")) << describe(top);
  EXPECT_TRUE(contains(top.out, "5 no such queue or exchange (or stream, or consumer group)"))
      << describe(top);
  const Outcome read = run({"stream", "read", "--help"});
  ASSERT_EQ(read.exit_code, exit_ok) << describe(read);
  for (const char *text : {"--from", "--partition", "--max", "--json", "offset:N", "time:MS",
                           "[reads without the lock]", "Exit codes"})
    EXPECT_TRUE(contains(read.out, text)) << text << "\n" << describe(read);
  const Outcome seek = run({"group", "seek", "--help"});
  ASSERT_EQ(seek.exit_code, exit_ok) << describe(seek);
  for (const char *text :
       {"START", "--partition", "[needs the lock", "Exit codes", "a bad start position"})
    EXPECT_TRUE(contains(seek.out, text)) << text << "\n" << describe(seek);
  EXPECT_EQ(run({"stream"}).exit_code, exit_usage);
  EXPECT_EQ(run({"group"}).exit_code, exit_usage);
}

}  // namespace
