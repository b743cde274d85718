// bench/routing/peers_topic.cpp — corq_routing_peers: the topic scenario of corq_routing_bench
// (the same 10,000 bindings and keys, 64-byte messages) on corq and on RabbitMQ's topic exchange,
// one system per run, printed as one JSON line (bench/routing/peers.sh runs the rounds,
// perf/report_routing.py --peers makes the table).
//
//   corq_routing_peers --system corq|rabbitmq --durable 0|1 [--port P] [--dir DIR]
//                      [--publishes N] [--batch B]
//
// One publishing thread sends N messages through the topic exchange, the keys in turn, in batches
// of B whose confirms are awaited before the next batch: RabbitMQ — confirm.select, every basic.ack
// of the batch read (durable: durable queues and delivery_mode 2, confirmed after the queue's
// fsync; transient: non-durable queues, delivery_mode 1, confirmed once enqueued); corq durable —
// a disk engine with sync=always and durable queues, corq_exchange_publish with
// CORQ_PUBLISH_NOWAIT, then corq_wait_durable of the batch's last message id; corq transient —
// an in-memory engine, corq_exchange_publish returns once the message is in its queue. No consumer:
// the 4 target queues hold the N messages at the end, which is checked (queue message counts:
// all N in the targets, none in the 8 filler queues), as is `routed` on every corq publish.
#include "routing_harness.hpp"

#ifdef CORQ_ROUTING_WITH_RABBITMQ
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using corq::bench::routing::TopicSet;

struct Options {
  std::string system;
  bool durable = false;
  int port = 5672;
  std::string dir;
  std::uint64_t publishes = 100'000;
  std::uint64_t batch = 100;
};

struct Result {
  double setup_seconds = 0;  // declaring and binding
  double seconds = 0;        // the N publishes, confirms included
  std::uint64_t in_targets = 0, in_filler = 0;
};

std::vector<std::string> queue_names(const TopicSet &set, const char *prefix, bool filler) {
  std::vector<std::string> names;
  const std::size_t n = filler ? set.filler_queues : set.hot_queues;
  for (std::size_t i = 0; i < n; ++i)
    names.push_back(std::string(prefix) + (filler ? "filler-" : "") + std::to_string(i));
  return names;
}

// ---- corq ---------------------------------------------------------------------------------------

void check(int rc, const char *what) {
  if (rc != CORQ_OK)
    throw std::runtime_error(std::string(what) + ": " + corq_strerror(rc) + " (" +
                             corq_last_error() + ")");
}

Result run_corq(const Options &o, const TopicSet &set) {
  Result result;
  const auto setup_start = std::chrono::steady_clock::now();
  corq_config *engine_options = corq_config_new();
  if (o.durable) check(corq_config_set(engine_options, "sync", "always"), "corq_config_set");
  corq_engine *engine = nullptr;
  const int open_rc = corq_open(o.durable ? o.dir.c_str() : nullptr, engine_options, &engine);
  corq_config_free(engine_options);
  check(open_rc, "corq_open");
  try {
    corq_config *queue_options = corq_config_new();
    check(corq_config_set(queue_options, "durable", o.durable ? "true" : "false"), "config");
    check(corq_config_set(queue_options, "dead_letter_queue", ""), "config");
    check(corq_config_set(queue_options, "max_length", std::to_string(o.publishes).c_str()),
          "config");
    const std::vector<std::string> targets = queue_names(set, "topic-", false);
    const std::vector<std::string> filler = queue_names(set, "topic-", true);
    for (const auto *names : {&targets, &filler})
      for (const std::string &q : *names)
        check(corq_queue_declare(engine, q.c_str(), queue_options), "corq_queue_declare");
    corq_config_free(queue_options);
    check(corq_exchange_declare(engine, "bench.topic", "topic", nullptr), "corq_exchange_declare");
    for (std::size_t i = 0; i < set.hot.size(); ++i)
      check(corq_bind(engine, "bench.topic", targets[set.hot_queue[i]].c_str(), set.hot[i].c_str(),
                      nullptr, 0),
            "corq_bind");
    for (std::size_t i = 0; i < set.filler.size(); ++i)
      check(corq_bind(engine, "bench.topic", filler[i % filler.size()].c_str(),
                      set.filler[i].c_str(), nullptr, 0),
            "corq_bind");
    result.setup_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();

    unsigned char payload[corq::bench::routing::payload_bytes];
    std::memset(payload, 0xab, sizeof(payload));
    const corq_message message{payload, sizeof(payload), nullptr, 0, nullptr};
    corq_publish_options publish_options{};
    publish_options.struct_size = sizeof(publish_options);
    publish_options.flags = CORQ_PUBLISH_NOWAIT;
    std::size_t key = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t seq = 0; seq < o.publishes;) {
      std::uint64_t last_id = 0;
      for (std::uint64_t i = 0; i < o.batch && seq < o.publishes; ++i, ++seq) {
        std::memcpy(payload, &seq, sizeof(seq));
        std::uint32_t routed = 0;
        check(corq_exchange_publish(engine, "bench.topic", set.keys[key].c_str(), &message,
                                    o.durable ? &publish_options : nullptr, &last_id, &routed),
              "corq_exchange_publish");
        if (routed != 1)
          throw std::runtime_error("a publish was routed to " + std::to_string(routed) +
                                   " queues, not 1");
        if (++key == set.keys.size()) key = 0;
      }
      if (o.durable) check(corq_wait_durable(engine, last_id, 60'000), "corq_wait_durable");
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto *names : {&targets, &filler}) {
      for (const std::string &q : *names) {
        corq_queue_stats stats{};
        stats.struct_size = sizeof(stats);
        check(corq_queue_stats_get(engine, q.c_str(), &stats), "corq_queue_stats_get");
        (names == &targets ? result.in_targets : result.in_filler) += stats.ready;
      }
    }
  } catch (...) {
    corq_close(engine);
    throw;
  }
  corq_close(engine);
  return result;
}

// ---- RabbitMQ -----------------------------------------------------------------------------------

#ifdef CORQ_ROUTING_WITH_RABBITMQ
constexpr amqp_channel_t channel = 1;

void check_reply(amqp_rpc_reply_t reply, const char *what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
    throw std::runtime_error(std::string(what) + ": " + amqp_error_string2(reply.library_error));
  throw std::runtime_error(std::string(what) + ": server exception or no reply");
}

void check_status(int status, const char *what) {
  if (status < 0) throw std::runtime_error(std::string(what) + ": " + amqp_error_string2(status));
}

/// Reads frames until every publish tag in [first, end) is confirmed (basic.ack, one by one or
/// `multiple`); a basic.nack or a closed channel fails the run.
void wait_confirms(amqp_connection_state_t conn, std::uint64_t first, std::uint64_t end) {
  std::vector<bool> confirmed(end - first, false);
  std::size_t outstanding = end - first;
  while (outstanding > 0) {
    amqp_frame_t frame;
    timeval tv{60, 0};
    const int status = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
    if (status == AMQP_STATUS_TIMEOUT) throw std::runtime_error("publisher confirms timed out");
    check_status(status, "amqp_simple_wait_frame");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    const amqp_method_number_t id = frame.payload.method.id;
    if (id == AMQP_BASIC_NACK_METHOD) throw std::runtime_error("the broker nacked a publish");
    if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD)
      throw std::runtime_error("the broker closed the channel while publishing");
    if (id != AMQP_BASIC_ACK_METHOD) continue;
    const auto *ack = static_cast<amqp_basic_ack_t *>(frame.payload.method.decoded);
    const std::uint64_t low = ack->multiple ? first : ack->delivery_tag;
    for (std::uint64_t t = std::max(low, first); t <= ack->delivery_tag && t < end; ++t) {
      if (!confirmed[t - first]) {
        confirmed[t - first] = true;
        --outstanding;
      }
    }
  }
  amqp_maybe_release_buffers(conn);
}

std::uint64_t declare_queue(amqp_connection_state_t conn, const std::string &name, bool durable,
                            bool passive) {
  amqp_queue_declare_ok_t *ok =
      amqp_queue_declare(conn, channel, amqp_cstring_bytes(name.c_str()), passive ? 1 : 0,
                         durable ? 1 : 0, 0, 0, amqp_empty_table);
  check_reply(amqp_get_rpc_reply(conn), "amqp_queue_declare");
  return ok == nullptr ? 0 : ok->message_count;
}

Result run_rabbitmq(const Options &o, const TopicSet &set) {
  Result result;
  amqp_connection_state_t conn = amqp_new_connection();
  if (conn == nullptr) throw std::runtime_error("amqp_new_connection: out of memory");
  try {
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (socket == nullptr) throw std::runtime_error("amqp_tcp_socket_new failed");
    timeval tv{10, 0};
    check_status(amqp_socket_open_noblock(socket, "127.0.0.1", o.port, &tv), "amqp_socket_open");
    check_reply(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
                "amqp_login");
    amqp_channel_open(conn, channel);
    check_reply(amqp_get_rpc_reply(conn), "amqp_channel_open");
    const auto setup_start = std::chrono::steady_clock::now();
    const char *exchange = o.durable ? "bench.topic.durable" : "bench.topic.transient";
    amqp_exchange_declare(conn, channel, amqp_cstring_bytes(exchange), amqp_cstring_bytes("topic"),
                          0, o.durable ? 1 : 0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "amqp_exchange_declare");
    const std::string prefix = o.durable ? "durable-topic-" : "transient-topic-";
    const std::vector<std::string> targets = queue_names(set, prefix.c_str(), false);
    const std::vector<std::string> filler = queue_names(set, prefix.c_str(), true);
    for (const auto *names : {&targets, &filler}) {
      for (const std::string &q : *names) {
        declare_queue(conn, q, o.durable, false);
        amqp_queue_purge(conn, channel, amqp_cstring_bytes(q.c_str()));
        check_reply(amqp_get_rpc_reply(conn), "amqp_queue_purge");
      }
    }
    auto bind = [&](const std::string &q, const std::string &pattern) {
      amqp_queue_bind(conn, channel, amqp_cstring_bytes(q.c_str()), amqp_cstring_bytes(exchange),
                      amqp_cstring_bytes(pattern.c_str()), amqp_empty_table);
      check_reply(amqp_get_rpc_reply(conn), "amqp_queue_bind");
    };
    for (std::size_t i = 0; i < set.hot.size(); ++i) bind(targets[set.hot_queue[i]], set.hot[i]);
    for (std::size_t i = 0; i < set.filler.size(); ++i)
      bind(filler[i % filler.size()], set.filler[i]);
    amqp_confirm_select(conn, channel);
    check_reply(amqp_get_rpc_reply(conn), "amqp_confirm_select");
    result.setup_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();

    unsigned char payload[corq::bench::routing::payload_bytes];
    std::memset(payload, 0xab, sizeof(payload));
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = o.durable ? 2 : 1;
    std::uint64_t next_tag = 1;
    std::size_t key = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t seq = 0; seq < o.publishes;) {
      const std::uint64_t first = next_tag;
      for (std::uint64_t i = 0; i < o.batch && seq < o.publishes; ++i, ++seq, ++next_tag) {
        std::memcpy(payload, &seq, sizeof(seq));
        amqp_bytes_t body{sizeof(payload), payload};
        check_status(
            amqp_basic_publish(conn, channel, amqp_cstring_bytes(exchange),
                               amqp_cstring_bytes(set.keys[key].c_str()), 0, 0, &props, body),
            "amqp_basic_publish");
        if (++key == set.keys.size()) key = 0;
      }
      wait_confirms(conn, first, next_tag);
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const std::string &q : targets)
      result.in_targets += declare_queue(conn, q, o.durable, true);
    for (const std::string &q : filler) result.in_filler += declare_queue(conn, q, o.durable, true);
    for (const auto *names : {&targets, &filler}) {
      for (const std::string &q : *names) {
        amqp_queue_delete(conn, channel, amqp_cstring_bytes(q.c_str()), 0, 0);
        check_reply(amqp_get_rpc_reply(conn), "amqp_queue_delete");
      }
    }
    amqp_exchange_delete(conn, channel, amqp_cstring_bytes(exchange), 0);
    check_reply(amqp_get_rpc_reply(conn), "amqp_exchange_delete");
    amqp_channel_close(conn, channel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  } catch (...) {
    amqp_destroy_connection(conn);
    throw;
  }
  amqp_destroy_connection(conn);
  return result;
}
#endif

int usage() {
  std::fprintf(stderr,
               "usage: corq_routing_peers --system corq|rabbitmq --durable 0|1 [--port P] "
               "[--dir DIR] [--publishes N] [--batch B]\n");
  return 2;
}

}  // namespace

int main(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string value = argv[++i];
    if (flag == "--system") {
      o.system = value;
    } else if (flag == "--durable") {
      o.durable = value == "1";
    } else if (flag == "--port") {
      o.port = std::atoi(value.c_str());
    } else if (flag == "--dir") {
      o.dir = value;
    } else if (flag == "--publishes") {
      o.publishes = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--batch") {
      o.batch = std::strtoull(value.c_str(), nullptr, 10);
    } else {
      return usage();
    }
  }
  if ((o.system != "corq" && o.system != "rabbitmq") || o.publishes == 0 || o.batch == 0 ||
      (o.system == "corq" && o.durable && o.dir.empty()))
    return usage();
  try {
    const TopicSet set = corq::bench::routing::make_topic_set(10'000);
    Result r;
    if (o.system == "corq") {
      r = run_corq(o, set);
    } else {
#ifdef CORQ_ROUTING_WITH_RABBITMQ
      r = run_rabbitmq(o, set);
#else
      std::fprintf(stderr, "corq_routing_peers: built without librabbitmq\n");
      return 3;
#endif
    }
    if (r.in_targets != o.publishes || r.in_filler != 0) {
      std::fprintf(stderr,
                   "corq_routing_peers: %llu messages in the target queues and %llu in the filler "
                   "queues, expected %llu and 0\n",
                   static_cast<unsigned long long>(r.in_targets),
                   static_cast<unsigned long long>(r.in_filler),
                   static_cast<unsigned long long>(o.publishes));
      return 1;
    }
    std::printf(
        "{\"system\": \"%s\", \"durable\": %s, \"bindings\": %zu, \"publishes\": %llu, "
        "\"batch\": %llu, \"setup_s\": %.3f, \"seconds\": %.6f, \"publishes_per_s\": %.1f}\n",
        o.system.c_str(), o.durable ? "true" : "false", set.hot.size() + set.filler.size(),
        static_cast<unsigned long long>(o.publishes), static_cast<unsigned long long>(o.batch),
        r.setup_seconds, r.seconds, static_cast<double>(o.publishes) / r.seconds);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "corq_routing_peers: %s\n", e.what());
    return 1;
  }
  return 0;
}
