// corq-bridge end to end against a real 3-node JetStream cluster (TLS, user and password), and its
// faults: the stream's leader SIGKILLed, the bridge process SIGKILLed and restarted (outbound and
// inbound), the whole cluster down for a while, and two bridges on one directory. Each test checks
// the same two things at the end: the JetStream stream holds every message exactly once (its
// duplicate window dropped the resends), and the far queue got every message exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "bridge_fixture.hpp"
#include "bridge_process.hpp"

namespace corq::test {
namespace {

/// An engine on a directory; closed by the destructor.
struct OpenEngine {
  corq_engine *engine = nullptr;
  explicit OpenEngine(const std::string &dir, const char *sync = "always") {
    corq_config *options = corq_config_new();
    corq_config_set(options, "sync", sync);
    EXPECT_EQ(corq_open(dir.c_str(), options, &engine), CORQ_OK) << corq_last_error();
    corq_config_free(options);
  }
  ~OpenEngine() { close(); }
  void close() {
    if (engine != nullptr) corq_close(engine);
    engine = nullptr;
  }
  std::string id() const {
    char out[37];
    corq_engine_id(engine, out);
    return out;
  }
};

/// The far side: an engine in this process (its own directory) with an inbound bridge from
/// `stream` (durable consumer `durable`) into its queue "far".
struct FarSide {
  TempDir dir;
  std::unique_ptr<OpenEngine> engine;
  corq_bridge *bridge = nullptr;
  FarSide(const std::string &nats, const std::string &stream, const std::string &durable) {
    engine = std::make_unique<OpenEngine>(dir.data());
    EXPECT_EQ(corq_queue_declare(engine->engine, "far", nullptr), CORQ_OK);
    const std::string config = nats + "[inbound back]\njetstream = " + stream +
                               "\ndurable = " + durable + "\nqueue = far\nack_wait_ms = 2000\n";
    EXPECT_EQ(corq_bridge_start(engine->engine, config.c_str(), &bridge), CORQ_OK)
        << corq_bridge_last_error();
  }
  ~FarSide() { stop(); }
  void stop() {
    if (bridge != nullptr) {
      EXPECT_EQ(corq_bridge_stop(bridge, 10000), CORQ_OK);
    }
    bridge = nullptr;
  }
  std::uint64_t ready() { return queue_stats(engine->engine, "far").ready; }
};

class BridgeFlow : public ClusterSuite {
 protected:
  /// A directory with the durable queue "out" holding numbered messages [0, count).
  std::string prepare_outbox(TempDir &dir, std::uint64_t count, std::string &engine_id,
                             const char *queue_options = nullptr) {
    OpenEngine e(dir.data());
    corq_config *options = corq_config_new();
    if (queue_options != nullptr) {
      // "key=value,key=value"
      std::string list = queue_options;
      std::size_t start = 0;
      while (start < list.size()) {
        const std::size_t comma = list.find(',', start);
        const std::string item =
            list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const std::size_t eq = item.find('=');
        corq_config_set(options, item.substr(0, eq).c_str(), item.substr(eq + 1).c_str());
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    EXPECT_EQ(corq_queue_declare(e.engine, "out", options), CORQ_OK) << corq_last_error();
    corq_config_free(options);
    publish_numbered(e.engine, "out", 0, count);
    engine_id = e.id();
    return dir.data();
  }
  /// Writes a corq-bridge config file with an outbound rule "out" -> `subject`.
  std::string outbound_config_file(TempDir &dir, const std::string &subject) {
    const std::string path = dir.path() + "/bridge.conf";
    std::ofstream(path) << nats_section(dir.path())
                        << "[outbound orders]\nqueue = out\nsubject = " << subject
                        << "\nmax_in_flight = 256\npublish_timeout_ms = 2000\n";
    return path;
  }
  std::unique_ptr<BridgeProcess> start_tool(TempDir &dir, const std::string &config,
                                            const std::string &log_name,
                                            std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--dir",   dir.data(),          "--config", config,
                                  "--quiet", "--standby-poll-ms", "100"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<BridgeProcess>(CORQ_BRIDGE_TOOL, args, dir.path() + "/" + log_name);
  }
  /// Fills the JetStream `stream` with numbered messages [0, count) on `subject`, through an
  /// outbound bridge in this process.
  void fill_stream(const std::string &stream, const std::string &subject, std::uint64_t count) {
    TempDir source;
    OpenEngine e(source.data());
    ASSERT_EQ(corq_queue_declare(e.engine, "out", nullptr), CORQ_OK);
    publish_numbered(e.engine, "out", 0, count);
    corq_bridge *bridge = nullptr;
    const std::string config =
        nats_section(source.path()) + "[outbound fill]\nqueue = out\nsubject = " + subject + "\n";
    ASSERT_EQ(corq_bridge_start(e.engine, config.c_str(), &bridge), CORQ_OK)
        << corq_bridge_last_error();
    ASSERT_TRUE(
        wait_until([&] { return cluster_->stream_message_count(stream) >= count; }, 120000));
    EXPECT_EQ(corq_bridge_stop(bridge, 10000), CORQ_OK);
  }
  /// Once the far side has everything: stops the tool (SIGTERM, exit 0), then checks the JetStream
  /// stream holds `count` messages, the far queue each number once and the outbox is drained.
  void finish(BridgeProcess &tool, FarSide &far, const std::string &stream, std::uint64_t count,
              TempDir &outbox) {
    ASSERT_TRUE(wait_until([&] { return far.ready() >= count; }, 120000))
        << "far queue has " << far.ready() << "\n"
        << tool.output();
    tool.signal(SIGTERM);
    EXPECT_EQ(tool.wait(30000), 0) << tool.output();
    EXPECT_EQ(cluster_->stream_message_count(stream), count);
    far.stop();
    expect_each_number_once(far.engine->engine, "far", count);
    expect_outbox_drained(outbox);
  }
  /// After the bridge process stopped: the outbox directory's queue is empty and nothing is out.
  void expect_outbox_drained(TempDir &dir) {
    OpenEngine e(dir.data());
    const corq_queue_stats st = queue_stats(e.engine, "out");
    EXPECT_EQ(st.ready, 0u);
    EXPECT_EQ(st.in_flight, 0u);
    EXPECT_EQ(st.dead_lettered, 0u);
  }
};

TEST_F(BridgeFlow, hundred_thousand_messages_out_and_back_exactly_once) {
  constexpr std::uint64_t count = 100000;
  const std::string stream = make_stream("E2E");
  TempDir outbox;
  std::string engine_id;
  prepare_outbox(outbox, count, engine_id);
  auto tool = start_tool(outbox, outbound_config_file(outbox, "E2E.orders"), "bridge.log");
  FarSide far(nats_section(outbox.path()), stream, "far");
  ASSERT_TRUE(wait_until([&] { return far.ready() >= count; }, 180000))
      << "far queue has " << far.ready() << "\n"
      << tool->output();
  tool->signal(SIGTERM);
  EXPECT_EQ(tool->wait(30000), 0) << tool->output();
  EXPECT_EQ(cluster_->stream_message_count(stream), count);
  far.stop();
  const std::string prefix = engine_id + "/out/";
  std::uint64_t with_id = 0;
  expect_each_number_once(far.engine->engine, "far", count, [&](const corq_delivery &d) {
    for (std::size_t i = 0; i < d.header_count; ++i) {
      if (std::string(d.headers[i].key) == "Nats-Msg-Id" &&
          std::string(static_cast<const char *>(d.headers[i].value), d.headers[i].value_len)
                  .rfind(prefix, 0) == 0)
        ++with_id;
    }
  });
  EXPECT_EQ(with_id, count);  // each carries <engine id>/out/<message id>
  expect_outbox_drained(outbox);
}

TEST_F(BridgeFlow, sigkill_of_the_stream_leader_mid_flow_loses_and_doubles_nothing) {
  constexpr std::uint64_t count = 30000;
  const std::string stream = make_stream("LEADERKILL");
  TempDir outbox;
  std::string engine_id;
  prepare_outbox(outbox, count, engine_id);
  // Both sides run through the election: the outbound publishes and the inbound fetches fail for a
  // while and are retried.
  FarSide far(nats_section(outbox.path()), stream, "far");
  auto tool = start_tool(outbox, outbound_config_file(outbox, "LEADERKILL.orders"), "bridge.log");
  ASSERT_TRUE(
      wait_until([&] { return cluster_->stream_message_count(stream) >= count / 3; }, 60000));
  const std::string leader = cluster_->stream_leader(stream);
  ASSERT_FALSE(leader.empty());
  const int node = cluster_->node_index_of(leader);
  cluster_->kill_node(node, SIGKILL);
  // nats-server 2.9 elects after a 4-9 s timeout; a loaded 2-core machine adds to it.
  EXPECT_FALSE(cluster_->wait_for_leader(stream, 45000, leader).empty());
  finish(*tool, far, stream, count, outbox);
  cluster_->restart_node(node);
  EXPECT_TRUE(cluster_->wait_for_replicas_current(stream, 30000));
}

TEST_F(BridgeFlow, sigkill_of_the_outbound_bridge_then_restart_resends_only_duplicates) {
  constexpr std::uint64_t count = 30000;
  const std::string stream = make_stream("OUTKILL");
  TempDir outbox;
  std::string engine_id;
  prepare_outbox(outbox, count, engine_id);
  const std::string config = outbound_config_file(outbox, "OUTKILL.orders");
  auto first = start_tool(outbox, config, "bridge1.log");
  ASSERT_TRUE(
      wait_until([&] { return cluster_->stream_message_count(stream) >= count / 3; }, 60000));
  first->kill_hard();
  const std::uint64_t at_kill = cluster_->stream_message_count(stream);
  EXPECT_LT(at_kill, count) << "the kill came too late to test anything";
  auto second = start_tool(outbox, config, "bridge2.log");
  FarSide far(nats_section(outbox.path()), stream, "far");
  finish(*second, far, stream, count, outbox);
}

TEST_F(BridgeFlow, sigkill_of_the_inbound_bridge_then_restart_commits_each_message_once) {
  constexpr std::uint64_t count = 30000;
  const std::string stream = make_stream("INKILL");
  // The stream filled by an outbound bridge in this process.
  fill_stream(stream, "INKILL.orders", count);
  // The far side as a corq-bridge process, SIGKILLed after about a third.
  TempDir far;
  {
    OpenEngine e(far.data());
    ASSERT_EQ(corq_queue_declare(e.engine, "far", nullptr), CORQ_OK);
  }
  const std::string config = far.path() + "/bridge.conf";
  std::ofstream(config) << nats_section(far.path())
                        << "[inbound back]\njetstream = INKILL\ndurable = far\nqueue = far\n"
                           "batch = 128\nack_wait_ms = 2000\n";
  const std::string metrics = far.path() + "/metrics.prom";
  auto forwarded = [&]() -> std::uint64_t {
    std::ifstream in(metrics);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("corq_bridge_forwarded_total{", 0) == 0)
        return std::strtoull(line.substr(line.rfind(' ') + 1).c_str(), nullptr, 10);
    }
    return 0;
  };
  auto first = std::make_unique<BridgeProcess>(
      CORQ_BRIDGE_TOOL,
      std::vector<std::string>{"--dir", far.data(), "--config", config, "--quiet", "--metrics-file",
                               metrics, "--metrics-interval-ms", "100"},
      far.path() + "/bridge1.log");
  ASSERT_TRUE(wait_until([&] { return forwarded() >= count / 3; }, 60000)) << first->output();
  first->kill_hard();
  auto second = std::make_unique<BridgeProcess>(
      CORQ_BRIDGE_TOOL,
      std::vector<std::string>{"--dir", far.data(), "--config", config, "--quiet"},
      far.path() + "/bridge2.log");
  // Done when JetStream has nothing pending or unacked for the consumer.
  ASSERT_TRUE(wait_until(
      [&] {
        const auto [unacked, pending] = consumer_backlog("INKILL", "far");
        return unacked == 0 && pending == 0;
      },
      120000))
      << second->output();
  second->signal(SIGTERM);
  EXPECT_EQ(second->wait(30000), 0) << second->output();
  OpenEngine e(far.data());
  expect_each_number_once(e.engine, "far", count);
}

TEST_F(BridgeFlow, the_whole_cluster_down_for_a_while_dead_letters_nothing_and_drains_after) {
  constexpr std::uint64_t before = 5000, during = 5000;
  const std::string stream = make_stream("OUTAGE");
  TempDir outbox;
  OpenEngine e(outbox.data());
  // Short leases and one attempt: a delivery whose lease the bridge did not extend would be
  // dead-lettered at once.
  corq_config *options = corq_config_new();
  corq_config_set(options, "lease_ms", "1000");
  corq_config_set(options, "max_attempts", "1");
  ASSERT_EQ(corq_queue_declare(e.engine, "out", options), CORQ_OK);
  corq_config_free(options);
  corq_bridge *bridge = nullptr;
  const std::string config = nats_section(outbox.path()) +
                             "[outbound orders]\nqueue = out\nsubject = OUTAGE.orders\n"
                             "publish_timeout_ms = 1000\nretry_backoff_max_ms = 500\n";
  ASSERT_EQ(corq_bridge_start(e.engine, config.c_str(), &bridge), CORQ_OK)
      << corq_bridge_last_error();
  publish_numbered(e.engine, "out", 0, before);
  ASSERT_TRUE(wait_until([&] { return cluster_->stream_message_count(stream) >= before; }, 60000));
  for (int i = 0; i < cluster_->node_count(); ++i) cluster_->kill_node(i, SIGKILL);
  // The local queue takes the backlog while nothing can be forwarded, for longer than a lease.
  publish_numbered(e.engine, "out", before, during);
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  char *json = nullptr;
  ASSERT_EQ(corq_bridge_stats_json(bridge, &json), CORQ_OK);
  const std::string stats = json;
  corq_free(json);
  EXPECT_NE(stats.find("\"connected\":false"), std::string::npos) << stats;
  EXPECT_EQ(queue_stats(e.engine, "out").dead_lettered, 0u);
  cluster_->restart_all_nodes();
  ASSERT_TRUE(wait_until(
      [&] {
        const corq_queue_stats st = queue_stats(e.engine, "out");
        return st.ready == 0 && st.in_flight == 0;
      },
      120000));
  EXPECT_EQ(corq_bridge_stop(bridge, 10000), CORQ_OK) << corq_bridge_last_error();
  EXPECT_EQ(queue_stats(e.engine, "out").dead_lettered, 0u);
  EXPECT_EQ(cluster_->stream_message_count(stream), before + during);
  FarSide far(nats_section(outbox.path()), stream, "far");
  ASSERT_TRUE(wait_until([&] { return far.ready() >= before + during; }, 60000));
  far.stop();
  expect_each_number_once(far.engine->engine, "far", before + during);
}

TEST_F(BridgeFlow, a_second_bridge_on_the_directory_is_a_standby_until_the_first_dies) {
  constexpr std::uint64_t count = 20000;
  const std::string stream = make_stream("STANDBY");
  TempDir outbox;
  std::string engine_id;
  prepare_outbox(outbox, count, engine_id);
  const std::string config = outbound_config_file(outbox, "STANDBY.orders");
  auto active = start_tool(outbox, config, "active.log");
  ASSERT_TRUE(active->wait_for_output("running", 30000)) << active->output();
  auto standby = start_tool(outbox, config, "standby.log");
  ASSERT_TRUE(standby->wait_for_output("standby", 30000)) << standby->output();
  ASSERT_TRUE(
      wait_until([&] { return cluster_->stream_message_count(stream) >= count / 4; }, 60000));
  EXPECT_EQ(standby->output().find("running"), std::string::npos);  // it forwards nothing
  active->kill_hard();
  EXPECT_TRUE(standby->wait_for_output("took over", 30000)) << standby->output();
  FarSide far(nats_section(outbox.path()), stream, "far");
  finish(*standby, far, stream, count, outbox);
}

TEST_F(BridgeFlow, a_stream_goes_out_through_a_group_and_comes_back_into_a_stream_in_order) {
  constexpr std::uint64_t count = 20000;
  constexpr std::uint32_t partitions = 3;
  const std::string stream = make_stream("STREAMS");
  TempDir source;
  OpenEngine a(source.data());
  corq_config *options = corq_config_new();
  corq_config_set(options, "partitions", std::to_string(partitions).c_str());
  ASSERT_EQ(corq_stream_declare(a.engine, "events", options), CORQ_OK) << corq_last_error();
  // Appended before the bridge starts; the group starts at the earliest record.
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string payload = numbered_payload(i);
    const std::string key = "k" + std::to_string(i % 50);
    const corq_message m{payload.data(), payload.size(), nullptr, 0, nullptr};
    corq_publish_options nowait{};
    nowait.struct_size = sizeof nowait;
    nowait.flags = CORQ_PUBLISH_NOWAIT;
    ASSERT_EQ(corq_stream_append(a.engine, "events", key.data(), key.size(), &m, &nowait, nullptr,
                                 nullptr),
              CORQ_OK);
  }
  ASSERT_EQ(corq_sync(a.engine, 30000), CORQ_OK);
  corq_bridge *out = nullptr;
  const std::string out_config = nats_section(source.path()) +
                                 "[outbound events]\nstream = events\nsubject = STREAMS.events\n";
  ASSERT_EQ(corq_bridge_start(a.engine, out_config.c_str(), &out), CORQ_OK)
      << corq_bridge_last_error();

  TempDir far;
  OpenEngine b(far.data());
  ASSERT_EQ(corq_stream_declare(b.engine, "copy", options), CORQ_OK);
  corq_config_free(options);
  corq_bridge *in = nullptr;
  const std::string in_config =
      nats_section(far.path()) +
      "[inbound back]\njetstream = STREAMS\ndurable = copy\nstream = copy\n"
      "key = subject\n";
  ASSERT_EQ(corq_bridge_start(b.engine, in_config.c_str(), &in), CORQ_OK)
      << corq_bridge_last_error();
  auto records = [&] {
    corq_stream_stats st{};
    st.struct_size = sizeof st;
    corq_stream_stats_get(b.engine, "copy", &st);
    return st.records;
  };
  ASSERT_TRUE(wait_until([&] { return records() >= count; }, 120000)) << records();
  EXPECT_EQ(corq_bridge_stop(out, 10000), CORQ_OK);
  EXPECT_EQ(corq_bridge_stop(in, 10000), CORQ_OK);
  EXPECT_EQ(cluster_->stream_message_count(stream), count);
  corq_group_stats group{};
  group.struct_size = sizeof group;
  ASSERT_EQ(corq_group_stats_get(a.engine, "events", "corq-bridge.events", &group), CORQ_OK);
  EXPECT_EQ(group.lag, 0u);  // the group's committed offsets are the bridge's progress

  // Every record once; each names its source as <engine id>/events/<partition>/<offset>, and
  // each source partition's offsets arrive in order.
  const std::string prefix = a.id() + "/events/";
  std::vector<std::uint32_t> seen(count, 0);
  std::vector<long long> last_offset(partitions, -1);
  std::uint64_t total = 0, bad_ids = 0, out_of_order = 0;
  for (std::uint32_t p = 0; p < partitions; ++p) {
    corq_stream_reader *reader = nullptr;
    ASSERT_EQ(corq_stream_reader_open(b.engine, "copy", p, "earliest", &reader), CORQ_OK);
    corq_stream_record r[256];
    int n;
    while ((n = corq_stream_read(reader, r, 256, 0)) > 0) {
      for (int i = 0; i < n; ++i) {
        ++total;
        const long long number = number_of(r[i].data, r[i].len);
        if (number >= 0 && static_cast<std::uint64_t>(number) < count) ++seen[number];
        std::string id;
        for (std::size_t h = 0; h < r[i].header_count; ++h) {
          if (std::string(r[i].headers[h].key) == "Nats-Msg-Id")
            id.assign(static_cast<const char *>(r[i].headers[h].value), r[i].headers[h].value_len);
        }
        if (id.rfind(prefix, 0) != 0) {
          ++bad_ids;
          continue;
        }
        const std::string rest = id.substr(prefix.size());  // "<partition>/<offset>"
        const std::size_t slash = rest.find('/');
        const auto source_partition = std::stoul(rest.substr(0, slash));
        const long long offset = std::stoll(rest.substr(slash + 1));
        if (source_partition >= partitions) {
          ++bad_ids;
        } else {
          if (offset <= last_offset[source_partition]) ++out_of_order;
          last_offset[source_partition] = offset;
        }
      }
    }
    corq_stream_reader_close(reader);
  }
  EXPECT_EQ(total, count);
  EXPECT_EQ(bad_ids, 0u);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u), static_cast<long>(count));
}

TEST_F(BridgeFlow, a_full_local_queue_slows_the_inbound_pull_and_loses_nothing) {
  constexpr std::uint64_t count = 10000;
  const std::string stream = make_stream("BACKPRESSURE");
  // The JetStream stream filled first.
  fill_stream(stream, "BACKPRESSURE.orders", count);
  // The far queue holds at most 1,000 and refuses more: the bridge must wait, not drop or buffer.
  TempDir far;
  OpenEngine b(far.data());
  corq_config *options = corq_config_new();
  corq_config_set(options, "max_length", "1000");
  corq_config_set(options, "overflow", "reject");
  ASSERT_EQ(corq_queue_declare(b.engine, "far", options), CORQ_OK);
  corq_config_free(options);
  corq_bridge *in = nullptr;
  const std::string config =
      nats_section(far.path()) +
      "[inbound back]\njetstream = BACKPRESSURE\ndurable = far\nqueue = far\n"
      "batch = 200\nretry_backoff_ms = 5\nretry_backoff_max_ms = 50\n";
  ASSERT_EQ(corq_bridge_start(b.engine, config.c_str(), &in), CORQ_OK) << corq_bridge_last_error();
  // A slow consumer (at most 200 messages per 100 ms, 2,000/s: well below what the bridge brings)
  // until everything came.
  corq_consumer *consumer = nullptr;
  ASSERT_EQ(corq_consumer_open(b.engine, "far", 500, &consumer), CORQ_OK);
  std::vector<std::uint32_t> seen(count, 0);
  std::uint64_t total = 0, most_held = 0, most_ready = 0;
  corq_delivery d[500];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (total < count && std::chrono::steady_clock::now() < deadline) {
    const corq_queue_stats st = queue_stats(b.engine, "far");
    most_ready = std::max(most_ready, st.ready + st.in_flight);
    char *json = nullptr;
    ASSERT_EQ(corq_bridge_stats_json(in, &json), CORQ_OK);
    const std::string stats = json;
    corq_free(json);
    const auto at = stats.find("\"in_flight\":");
    most_held =
        std::max<std::uint64_t>(most_held, std::strtoull(stats.c_str() + at + 12, nullptr, 10));
    const int n = corq_consume(consumer, d, 200, 100);
    ASSERT_GE(n, 0);
    for (int k = 0; k < n; ++k) {
      const long long number = number_of(d[k].data, d[k].len);
      if (number >= 0 && static_cast<std::uint64_t>(number) < count) ++seen[number];
      ++total;
    }
    if (n > 0) {
      ASSERT_EQ(corq_ack_upto(consumer, d[n - 1].tag), CORQ_OK);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  corq_consumer_close(consumer);
  char *json = nullptr;
  ASSERT_EQ(corq_bridge_stats_json(in, &json), CORQ_OK);
  const std::string stats = json;
  corq_free(json);
  EXPECT_EQ(corq_bridge_stop(in, 10000), CORQ_OK);
  EXPECT_EQ(total, count);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u), static_cast<long>(count));
  EXPECT_LE(most_ready, 1000u);  // the queue's limit held
  EXPECT_LE(most_held, 4u * 200u) << "the bridge buffered past the consumer's MaxAckPending";
  EXPECT_EQ(stats.find("\"retried\":0,"), std::string::npos) << "never pushed back? " << stats;
  EXPECT_EQ(queue_stats(b.engine, "far").dropped, 0u);
}

}  // namespace
}  // namespace corq::test
