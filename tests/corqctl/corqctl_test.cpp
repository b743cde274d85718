// tests/corqctl/corqctl_test.cpp — corqctl end to end. Each test builds a data directory with the
// C API (a durable engine on a temporary directory), runs the real corqctl binary on it as a child
// process (stdin, stdout and stderr through files), and checks the exit code, the output and —
// for the commands that change the directory — the effect, read back through the C API.
//
// The standard directory (CorqctlDir): queue "orders" (max_attempts=3), five messages published
// ("order 0".."order 4", header user=ada), two delivered: the first rejected (now in orders.dlq
// with x-death-* headers), the second never settled (in flight as far as the log knows), and one
// more published with a one-hour delay. So: orders 3 ready, 1 in flight, 1 delayed; orders.dlq 1.
#include "corqctl_run.hpp"

#include <regex>

namespace {

using namespace corqctl_test;

class CorqctlDir : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.root().empty()) << "mkdtemp: " << std::strerror(errno);
    dir_ = scratch_.root() / "data";
    corq_engine *engine = open_engine(dir_);
    ASSERT_NE(engine, nullptr);
    corq_config *options = corq_config_new();
    corq_config_set(options, "max_attempts", "3");
    ASSERT_EQ(corq_queue_declare(engine, "orders", options), CORQ_OK) << corq_last_error();
    corq_config_free(options);
    for (int i = 0; i < 5; ++i) publish(engine, "orders", "order " + std::to_string(i));
    corq_consumer *consumer = nullptr;
    ASSERT_EQ(corq_consumer_open(engine, "orders", 2, &consumer), CORQ_OK);
    corq_delivery deliveries[2];
    ASSERT_EQ(corq_consume(consumer, deliveries, 2, 1000), 2);
    ASSERT_EQ(corq_reject(consumer, deliveries[0].tag, "bad order"), CORQ_OK);
    // deliveries[1] stays unsettled: closing releases it, which the log does not record.
    corq_consumer_close(consumer);
    publish(engine, "orders", "later", 3'600'000);
    ASSERT_EQ(corq_close(engine), CORQ_OK);
  }

  Outcome run(const std::vector<std::string> &args, const std::string &input = {}) {
    return corqctl(scratch_.root(), args, input);
  }
  std::string dir() const { return dir_.string(); }

  Scratch scratch_;
  fs::path dir_;
};

// ---- help and usage ----------------------------------------------------------------------------

TEST(Corqctl, help_on_every_level_exits_zero_and_lists_exit_codes_and_the_lock) {
  Scratch scratch;
  const std::vector<std::vector<std::string>> helps = {{"--help"},
                                                       {"-h"},
                                                       {"help"},
                                                       {"inspect", "--help"},
                                                       {"verify", "-h"},
                                                       {"dump", "--help"},
                                                       {"stats", "--help"},
                                                       {"dlq", "--help"},
                                                       {"dlq", "list", "--help"},
                                                       {"dlq", "redrive", "--help"},
                                                       {"purge", "--help"},
                                                       {"publish", "--help"},
                                                       {"consume", "--help"}};
  for (const auto &args : helps) {
    const Outcome r = corqctl(scratch.root(), args);
    EXPECT_EQ(r.exit_code, exit_ok) << args[0] << "\n" << describe(r);
    EXPECT_TRUE(contains(r.out, "Exit codes: 0 ok; 1 corrupt log")) << describe(r);
    EXPECT_TRUE(contains(r.out, "4 directory locked")) << describe(r);
  }
  const Outcome top = corqctl(scratch.root(), {"--help"});
  for (const char *command : {"inspect", "verify", "dump", "stats", "dlq", "purge", "publish",
                              "consume", "take no lock", "take"})
    EXPECT_TRUE(contains(top.out, command)) << command << "\n" << describe(top);
  EXPECT_TRUE(contains(corqctl(scratch.root(), {"purge", "--help"}).out, "needs the lock"));
  EXPECT_TRUE(
      contains(corqctl(scratch.root(), {"dlq", "list", "--help"}).out, "reads without the lock"));
  EXPECT_TRUE(contains(corqctl(scratch.root(), {"dlq", "redrive", "--help"}).out, "--to"));
  const Outcome version = corqctl(scratch.root(), {"--version"});
  EXPECT_EQ(version.exit_code, exit_ok) << describe(version);
  EXPECT_EQ(version.out, std::string("corqctl ") + corq_version_string() + "\n");
}

TEST(Corqctl, bad_usage_exits_2_with_a_message) {
  Scratch scratch;
  const std::string d = scratch.root().string();
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"frobnicate"},
      {"inspect"},
      {"inspect", d, "extra"},
      {"dlq"},
      {"dlq", "list", d},
      {"dlq", "redrive", d, "q.dlq", "--max", "lots"},
      {"stats", d, "--json", "--prometheus"},
      {"consume", d, "q", "--max", "0"},
      {"consume", d, "q", "--max", "65537"},
      {"consume", d, "q", "--ack", "--release"},
      {"publish", d, "q", "x", "--delay-ms", "-5"},
      {"dump", d, "--queue"}};
  for (const auto &args : bad) {
    const Outcome r = corqctl(scratch.root(), args);
    EXPECT_EQ(r.exit_code, exit_usage) << (args.empty() ? "(none)" : args[0]) << "\n"
                                       << describe(r);
    EXPECT_FALSE(r.err.empty()) << describe(r);
  }
}

// ---- directories that cannot be used ------------------------------------------------------------

TEST(Corqctl, missing_directory_exits_3_for_every_command_and_is_not_created) {
  Scratch scratch;
  const std::string missing = (scratch.root() / "nope").string();
  const std::vector<std::vector<std::string>> commands = {{"inspect", missing},
                                                          {"verify", missing},
                                                          {"dump", missing},
                                                          {"stats", missing, "--json"},
                                                          {"dlq", "list", missing, "q"},
                                                          {"dlq", "redrive", missing, "q.dlq"},
                                                          {"purge", missing, "q"},
                                                          {"publish", missing, "q", "x"},
                                                          {"consume", missing, "q"}};
  for (const auto &args : commands) {
    const Outcome r = corqctl(scratch.root(), args);
    EXPECT_EQ(r.exit_code, exit_unreadable) << args[0] << "\n" << describe(r);
    EXPECT_TRUE(contains(r.err, "no such directory")) << describe(r);
  }
  EXPECT_FALSE(fs::exists(missing));
}

TEST(Corqctl, writing_commands_refuse_a_directory_that_is_not_a_data_directory) {
  Scratch scratch;
  const fs::path plain = scratch.root() / "plain";
  fs::create_directory(plain);
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"purge", plain.string(), "q"}, {"publish", plain.string(), "q", "--declare", "x"}}) {
    const Outcome r = corqctl(scratch.root(), args);
    EXPECT_EQ(r.exit_code, exit_unreadable) << describe(r);
    EXPECT_TRUE(contains(r.err, "not a corq data directory")) << describe(r);
  }
  EXPECT_TRUE(fs::is_empty(plain)) << "corqctl must not turn it into a data directory";
}

TEST_F(CorqctlDir, writing_commands_exit_4_while_another_process_holds_the_lock_reads_still_work) {
  corq_engine *holder = open_engine(dir_);  // the "running service"
  ASSERT_NE(holder, nullptr);
  const std::vector<std::vector<std::string>> writers = {{"purge", dir(), "orders"},
                                                         {"publish", dir(), "orders", "x"},
                                                         {"consume", dir(), "orders"},
                                                         {"dlq", "redrive", dir(), "orders.dlq"}};
  for (const auto &args : writers) {
    const Outcome r = run(args);
    EXPECT_EQ(r.exit_code, exit_locked) << args[0] << "\n" << describe(r);
    EXPECT_TRUE(contains(r.err, "locked")) << describe(r);
  }
  const Outcome inspect = run({"inspect", dir()});
  EXPECT_EQ(inspect.exit_code, exit_ok) << describe(inspect);
  EXPECT_TRUE(contains(inspect.out, "queue orders\n")) << describe(inspect);
  EXPECT_EQ(run({"verify", dir()}).exit_code, exit_ok);
  EXPECT_EQ(run({"stats", dir(), "--prometheus"}).exit_code, exit_ok);
  EXPECT_EQ(run({"dlq", "list", dir(), "orders.dlq"}).exit_code, exit_ok);
  // Nothing was purged behind the holder's back.
  corq_queue_stats stats{};
  stats.struct_size = sizeof stats;
  ASSERT_EQ(corq_queue_stats_get(holder, "orders", &stats), CORQ_OK);
  EXPECT_EQ(stats.ready + stats.delayed, 5u);
  corq_close(holder);
}

// ---- corruption ---------------------------------------------------------------------------------

TEST_F(CorqctlDir, flipped_byte_in_a_segment_exits_1_naming_the_file_and_offset) {
  const Outcome dump = run({"dump", dir()});
  ASSERT_EQ(dump.exit_code, exit_ok) << describe(dump);
  std::smatch first_frame;
  ASSERT_TRUE(std::regex_search(dump.out, first_frame,
                                std::regex("frame segment=1 offset=([0-9]+) bytes=([0-9]+)")));
  const long offset = std::stol(first_frame[1]);
  ASSERT_GT(std::stol(first_frame[2]), 64);
  const fs::path segment = dir_ / "00000000000000000001.wal";
  {
    std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.good());
    file.seekg(offset + 64);
    const char byte = static_cast<char>(file.get());
    file.seekp(offset + 64);
    file.put(static_cast<char>(byte ^ 0x5a));
    ASSERT_TRUE(file.good());
  }
  const std::string where =
      "00000000000000000001.wal: corrupt frame at offset " + std::to_string(offset);
  for (const auto &args : std::vector<std::vector<std::string>>{{"verify", dir()},
                                                                {"inspect", dir()},
                                                                {"dump", dir()},
                                                                {"stats", dir(), "--json"},
                                                                {"purge", dir(), "orders"}}) {
    const Outcome r = run(args);
    EXPECT_EQ(r.exit_code, exit_corrupt) << args[0] << "\n" << describe(r);
    EXPECT_TRUE(contains(r.err, "CORRUPT")) << describe(r);
    EXPECT_TRUE(contains(r.err, where)) << describe(r);
  }
}

TEST_F(CorqctlDir, verify_checks_every_record_of_a_sound_log) {
  const Outcome r = run({"verify", dir()});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex(": ok: 1 segments, [0-9]+ frames, [0-9]+ records")))
      << describe(r);
  EXPECT_TRUE(contains(r.out, "2 queues, 6 live messages")) << describe(r);
}

// ---- reading commands ---------------------------------------------------------------------------

TEST_F(CorqctlDir, inspect_shows_options_counts_dead_letter_depth_and_segments) {
  const Outcome r = run({"inspect", dir()});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(contains(r.out, "queues: 2\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "queue orders\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "max_attempts=3")) << describe(r);
  EXPECT_TRUE(contains(r.out, "messages: 3 ready (21 bytes), 1 in flight, 1 delayed"))
      << describe(r);
  EXPECT_TRUE(contains(r.out, "dead-letter queue: orders.dlq (1 messages)")) << describe(r);
  EXPECT_TRUE(contains(r.out, "queue orders.dlq\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "messages: 1 ready (7 bytes), 0 in flight, 0 delayed"))
      << describe(r);
  EXPECT_TRUE(contains(r.out, "log: 1 segment files, 1048576 bytes on disk")) << describe(r);
  // Reading took no lock and changed nothing: the directory opens with the same state.
  const corq_queue_stats stats = stats_of(dir_, "orders");
  EXPECT_EQ(stats.ready, 4u);  // the in-flight one is ready again after an open
  EXPECT_EQ(stats.delayed, 1u);
}

TEST_F(CorqctlDir, stats_table_json_and_prometheus_agree) {
  const Outcome text = run({"stats", dir()});
  ASSERT_EQ(text.exit_code, exit_ok) << describe(text);
  EXPECT_TRUE(std::regex_search(text.out, std::regex("orders +3 +1 +1 +21 +1 "))) << describe(text);

  const Outcome json = run({"stats", dir(), "--json"});
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  EXPECT_TRUE(contains(json.out,
                       "\"orders\":{\"ready\":3,\"in_flight\":1,\"delayed\":1,"
                       "\"bytes_ready\":21"))
      << describe(json);
  EXPECT_TRUE(contains(json.out, "\"dead_letter_queue\":\"orders.dlq\",\"dead_letter_depth\":1"))
      << describe(json);
  EXPECT_TRUE(contains(json.out, "\"max_attempts\":3")) << describe(json);
  EXPECT_TRUE(contains(json.out, "\"segment_files\":1,\"bytes_on_disk\":1048576"))
      << describe(json);

  const Outcome prom = run({"stats", dir(), "--prometheus"});
  ASSERT_EQ(prom.exit_code, exit_ok) << describe(prom);
  for (const char *sample :
       {"# TYPE corq_queue_ready gauge\n", "corq_queue_ready{queue=\"orders\"} 3\n",
        "corq_queue_in_flight{queue=\"orders\"} 1\n", "corq_queue_delayed{queue=\"orders\"} 1\n",
        "corq_queue_dead_letter_depth{queue=\"orders\"} 1\n",
        "corq_queue_ready{queue=\"orders.dlq\"} 1\n", "corq_log_disk_bytes 1048576\n"})
    EXPECT_TRUE(contains(prom.out, sample)) << sample << "\n" << describe(prom);
  // Every line is a HELP, a TYPE or a sample of the text exposition format.
  const std::regex line_format(
      R"((# HELP [a-z_]+ .+)|(# TYPE [a-z_]+ gauge)|([a-z_]+(\{queue="[^"]*"\})? [0-9]+(\.[0-9]+)?))");
  std::istringstream lines(prom.out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(std::regex_match(line, line_format)) << line;
}

TEST_F(CorqctlDir, dlq_list_browses_without_consuming_and_shows_x_death_headers) {
  for (int pass = 0; pass < 2; ++pass) {
    const Outcome r = run({"dlq", "list", dir(), "orders.dlq"});
    ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
    EXPECT_TRUE(contains(r.out, "queue orders.dlq: 1 messages")) << describe(r);
    EXPECT_TRUE(contains(r.out, "message id=1 bytes=7 delivery_count=0")) << describe(r);
    EXPECT_TRUE(contains(r.out, "  x-death-reason: rejected\n")) << describe(r);
    EXPECT_TRUE(contains(r.out, "  x-death-queue: orders\n")) << describe(r);
    EXPECT_TRUE(contains(r.out, "  x-death-count: 1\n")) << describe(r);
    EXPECT_TRUE(contains(r.out, "  x-death-time-ms: ")) << describe(r);
    EXPECT_TRUE(contains(r.out, "  x-death-detail: bad order\n")) << describe(r);
    EXPECT_TRUE(contains(r.out, "  user: ada\n")) << describe(r);
    EXPECT_TRUE(contains(r.out, "  data: \"order 0\"\n")) << describe(r);
  }
  const Outcome preview =
      run({"dlq", "list", dir(), "orders", "--max", "2", "--preview-bytes", "3"});
  ASSERT_EQ(preview.exit_code, exit_ok) << describe(preview);
  EXPECT_TRUE(contains(preview.out, "showing 2\n")) << describe(preview);
  EXPECT_TRUE(contains(preview.out, "data: \"ord...\"")) << describe(preview);
  EXPECT_FALSE(contains(preview.out, "order 3")) << describe(preview);
  EXPECT_EQ(stats_of(dir_, "orders.dlq").ready, 1u);
}

TEST_F(CorqctlDir, dump_prints_records_and_filters_by_queue) {
  const Outcome all = run({"dump", dir()});
  ASSERT_EQ(all.exit_code, exit_ok) << describe(all);
  EXPECT_TRUE(contains(all.out, "name=orders ")) << describe(all);
  EXPECT_TRUE(contains(all.out, "name=orders.dlq ")) << describe(all);
  EXPECT_TRUE(contains(all.out, " publish ")) << describe(all);
  EXPECT_TRUE(contains(all.out, " dead_letter ")) << describe(all);
  EXPECT_TRUE(contains(all.out, "end: last lsn ")) << describe(all);

  const Outcome dlq = run({"dump", dir(), "--queue", "orders.dlq"});
  ASSERT_EQ(dlq.exit_code, exit_ok) << describe(dlq);
  EXPECT_TRUE(contains(dlq.out, "name=orders.dlq ")) << describe(dlq);
  EXPECT_TRUE(contains(dlq.out, " dead_letter ")) << describe(dlq);
  EXPECT_FALSE(contains(dlq.out, "name=orders ")) << describe(dlq);
  EXPECT_FALSE(contains(dlq.out, " publish ")) << describe(dlq);  // orders' own publishes
  EXPECT_LT(dlq.out.size(), all.out.size());
}

TEST_F(CorqctlDir, missing_queue_exits_5) {
  for (const auto &args : std::vector<std::vector<std::string>>{
           {"dlq", "list", dir(), "nope.dlq"},
           {"dump", dir(), "--queue", "nope"},
           {"purge", dir(), "nope"},
           {"publish", dir(), "nope", "x"},
           {"consume", dir(), "nope"},
           {"dlq", "redrive", dir(), "nope.dlq"},
           {"dlq", "redrive", dir(), "orders.dlq", "--to", "nope"}}) {
    const Outcome r = run(args);
    EXPECT_EQ(r.exit_code, exit_no_queue) << args[0] << " " << args.back() << "\n" << describe(r);
    EXPECT_TRUE(contains(r.err, "no queue 'nope")) << describe(r);
  }
  EXPECT_EQ(stats_of(dir_, "orders.dlq").ready, 1u);  // the failed redrive moved nothing
}

// ---- writing commands ---------------------------------------------------------------------------

TEST_F(CorqctlDir, publish_from_argument_and_stdin_with_headers) {
  const Outcome arg =
      run({"publish", dir(), "orders", "-H", "k=v", "--header", "trace=abc", "hello"});
  ASSERT_EQ(arg.exit_code, exit_ok) << describe(arg);
  EXPECT_TRUE(contains(arg.out, "(5 bytes) to orders")) << describe(arg);
  const std::string binary("bin\0ary\n", 8);
  const Outcome in = run({"publish", dir(), "orders", "-"}, binary);
  ASSERT_EQ(in.exit_code, exit_ok) << describe(in);
  EXPECT_TRUE(contains(in.out, "(8 bytes) to orders")) << describe(in);
  const Outcome fresh =
      run({"publish", dir(), "audit", "--declare", "-o", "segment_bytes=1048576"}, "created");
  ASSERT_EQ(fresh.exit_code, exit_ok) << describe(fresh);
  EXPECT_EQ(stats_of(dir_, "orders").ready, 6u);  // 3 + the in-flight one again + 2
  EXPECT_EQ(stats_of(dir_, "audit").ready, 1u);

  const Outcome list = run({"dlq", "list", dir(), "orders"});
  EXPECT_TRUE(contains(list.out, "  k: v\n  trace: abc\n  data: \"hello\"")) << describe(list);
  EXPECT_TRUE(contains(list.out, "data: \"bin\\x00ary\\x0a\"")) << describe(list);

  EXPECT_EQ(run({"publish", dir(), "orders", "-H", "novalue", "x"}).exit_code, exit_usage);
  EXPECT_EQ(run({"publish", dir(), "orders", "-o", "no_such_option=1", "x"}).exit_code, exit_usage);
  EXPECT_EQ(run({"publish", dir(), "bad name!", "--declare", "x"}).exit_code, exit_usage);
}

TEST_F(CorqctlDir, consume_releases_by_default_and_acks_when_asked) {
  const Outcome peek = run({"consume", dir(), "orders", "--max", "2"});
  ASSERT_EQ(peek.exit_code, exit_ok) << describe(peek);
  EXPECT_TRUE(contains(peek.out, "  data: \"order 1\"")) << describe(peek);
  EXPECT_TRUE(contains(peek.out, "  data: \"order 2\"")) << describe(peek);
  EXPECT_TRUE(contains(peek.out, "  user: ada\n")) << describe(peek);
  EXPECT_TRUE(contains(peek.out, "2 messages released")) << describe(peek);
  EXPECT_EQ(stats_of(dir_, "orders").ready, 4u);  // released: still there

  const Outcome taken = run({"consume", dir(), "orders", "--max", "10", "--ack", "--raw"});
  ASSERT_EQ(taken.exit_code, exit_ok) << describe(taken);
  EXPECT_EQ(taken.out, "order 1\norder 2\norder 3\norder 4\n");  // the delayed one is not due
  const corq_queue_stats after = stats_of(dir_, "orders");
  EXPECT_EQ(after.ready, 0u);
  EXPECT_EQ(after.delayed, 1u);

  const Outcome empty = run({"consume", dir(), "orders"});
  EXPECT_EQ(empty.exit_code, exit_ok) << describe(empty);
  EXPECT_TRUE(contains(empty.out, "0 messages")) << describe(empty);
}

TEST_F(CorqctlDir, purge_drops_the_ready_messages) {
  const Outcome r = run({"purge", dir(), "orders"});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(contains(r.out, "purged 4 messages from orders")) << describe(r);
  const Outcome inspect = run({"inspect", dir()});
  EXPECT_TRUE(contains(inspect.out, "messages: 0 ready (0 bytes), 0 in flight, 1 delayed"))
      << describe(inspect);
  EXPECT_EQ(stats_of(dir_, "orders.dlq").ready, 1u);  // other queues untouched
}

TEST_F(CorqctlDir, dlq_redrive_moves_to_origin_or_to_a_given_queue_within_max) {
  {  // two more dead letters: three in all
    corq_engine *engine = open_engine(dir_);
    ASSERT_NE(engine, nullptr);
    corq_consumer *consumer = nullptr;
    ASSERT_EQ(corq_consumer_open(engine, "orders", 2, &consumer), CORQ_OK);
    corq_delivery d[2];
    ASSERT_EQ(corq_consume(consumer, d, 2, 1000), 2);
    for (const auto &delivery : d) ASSERT_EQ(corq_reject(consumer, delivery.tag, nullptr), CORQ_OK);
    corq_consumer_close(consumer);
    ASSERT_EQ(corq_queue_declare(engine, "triage", nullptr), CORQ_OK);
    ASSERT_EQ(corq_close(engine), CORQ_OK);
  }
  const Outcome one = run({"dlq", "redrive", dir(), "orders.dlq", "--max", "1"});
  ASSERT_EQ(one.exit_code, exit_ok) << describe(one);
  EXPECT_TRUE(contains(one.out, "moved 1 messages from orders.dlq to their origin queues"))
      << describe(one);
  const Outcome rest = run({"dlq", "redrive", dir(), "orders.dlq", "--to", "triage"});
  ASSERT_EQ(rest.exit_code, exit_ok) << describe(rest);
  EXPECT_TRUE(contains(rest.out, "moved 2 messages from orders.dlq to triage")) << describe(rest);
  EXPECT_EQ(stats_of(dir_, "orders.dlq").ready, 0u);
  EXPECT_EQ(stats_of(dir_, "orders").ready, 3u);  // 2 left + 1 redriven
  EXPECT_EQ(stats_of(dir_, "triage").ready, 2u);
  const Outcome list = run({"dlq", "list", dir(), "triage"});
  EXPECT_TRUE(contains(list.out, "x-death-queue: orders")) << describe(list);  // headers kept
}

}  // namespace
