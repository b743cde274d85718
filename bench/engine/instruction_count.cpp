// bench/engine/instruction_count.cpp — `corq_engine_count`: a deterministic run of the engine's hot
// path for counting instructions per message under callgrind (perf/instructions.sh).
//
// One thread publishes and consumes in lock step, so the run has no waits, no spinning and no
// scheduling in it: the same binary and arguments execute the same instructions every time, which
// is what makes callgrind's totals comparable between commits. (Cross-core cache-line traffic is
// not in these counts; the throughput benchmarks measure that.)
//
//   corq_engine_count single N   N × { corq_producer_send(1), corq_consume(1), corq_ack }
//   corq_engine_count batch N    N/64 × { corq_producer_send(64), corq_consume(64),
//                                         corq_ack_upto(last) }
//   corq_engine_count publish N  N × { corq_publish(1) } then consume and ack as `single`
//
// Transient queue, prefetch 256, 8-byte payloads (the engine benchmark's setting). The per-message
// cost is the difference of two runs (N and 2N messages) divided by N: start-up and shutdown
// cancel.
#include <corq/corq.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int fail(const char *what, int rc) {
  std::fprintf(stderr, "corq_engine_count: %s failed: %s (%s)\n", what, corq_strerror(rc),
               corq_last_error());
  return 1;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: corq_engine_count single|batch|publish MESSAGES\n");
    return 2;
  }
  const std::string mode = argv[1];
  const std::uint64_t messages = std::strtoull(argv[2], nullptr, 10);
  constexpr std::size_t batch = 64;
  if ((mode != "single" && mode != "batch" && mode != "publish") || messages == 0 ||
      (mode == "batch" && messages % batch != 0)) {
    std::fprintf(stderr, "corq_engine_count: bad arguments (batch needs a multiple of 64)\n");
    return 2;
  }
  corq_engine *engine = nullptr;
  if (int rc = corq_open(nullptr, nullptr, &engine); rc != CORQ_OK) return fail("corq_open", rc);
  if (int rc = corq_queue_declare(engine, "count", nullptr); rc != CORQ_OK)
    return fail("corq_queue_declare", rc);
  corq_producer *producer = nullptr;
  corq_consumer *consumer = nullptr;
  if (int rc = corq_producer_open(engine, "count", &producer); rc != CORQ_OK)
    return fail("corq_producer_open", rc);
  if (int rc = corq_consumer_open(engine, "count", 256, &consumer); rc != CORQ_OK)
    return fail("corq_consumer_open", rc);

  std::uint64_t payloads[batch];
  corq_message msgs[batch];
  for (std::size_t i = 0; i < batch; ++i) {
    std::memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].data = &payloads[i];
    msgs[i].len = sizeof payloads[i];
  }
  corq_delivery deliveries[batch];
  std::uint64_t checksum = 0;
  const std::size_t per_round = mode == "batch" ? batch : 1;
  const bool through_publish = mode == "publish";  // decided once: the loop is the engine's cost
  for (std::uint64_t sent = 0; sent < messages; sent += per_round) {
    for (std::size_t i = 0; i < per_round; ++i) payloads[i] = sent + i;
    int rc = through_publish ? corq_publish(engine, "count", &msgs[0], nullptr, nullptr)
                             : corq_producer_send(producer, msgs, per_round, nullptr, nullptr);
    if (rc != CORQ_OK) return fail("publish", rc);
    const int n = corq_consume(consumer, deliveries, per_round, 0);
    if (n != static_cast<int>(per_round)) return fail("corq_consume", n < 0 ? n : CORQ_ESTATE);
    for (int i = 0; i < n; ++i) {
      std::uint64_t v;
      std::memcpy(&v, deliveries[i].data, sizeof v);
      checksum += v;
    }
    rc = per_round == 1 ? corq_ack(consumer, deliveries[0].tag)
                        : corq_ack_upto(consumer, deliveries[n - 1].tag);
    if (rc != CORQ_OK) return fail("ack", rc);
  }
  if (checksum != messages * (messages - 1) / 2) {
    std::fprintf(stderr, "corq_engine_count: payloads came back wrong\n");
    return 1;
  }
  corq_consumer_close(consumer);
  corq_producer_close(producer);
  corq_close(engine);
  std::printf("corq_engine_count: %s %llu messages\n", mode.c_str(),
              static_cast<unsigned long long>(messages));
  return 0;
}
