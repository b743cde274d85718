/* c_bench.c — the C baseline of the bindings benchmark (bench/bindings/README.md): the workload
 * every binding's bench program runs, written against corq.h directly, so that a binding's cost per
 * message is its time minus this one's, measured in the same round.
 *
 * One thread, an in-memory engine, the transient queue "bench" declared with max_length 8192, a
 * consumer with prefetch 256, 64-byte messages, N/64 rounds of:
 *   single: 64 x corq_publish, then 64 x (corq_consume of 1 with timeout 0, corq_ack);
 *   batch:  one corq_producer_send of 64, corq_consume of up to 64 until 64 were taken, one
 *           corq_ack_upto of the last tag.
 * After an untimed warm-up of min(N/10, 10000) messages, prints one JSON line per mode:
 *   {"binding":"c","mode":"single","messages":N,"seconds":S}
 * Usage: corq_bindings_c_bench [--mode single|batch|both] [--messages N]   (N a multiple of 64)
 * Exit status: 0, 1 on a corq error (named on stderr), 2 on a bad argument. */
#define _POSIX_C_SOURCE 200809L
#include <corq/corq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUND = 64, PREFETCH = 256, PAYLOAD_BYTES = 64 };

static unsigned char payload[PAYLOAD_BYTES];

/* Prints what failed and exits 1: a benchmark that hits an error has no number to give. */
static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "c_bench: %s: %s (%s)\n", what, corq_strerror(rc), corq_last_error());
    exit(1);
  }
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void run_single(corq_engine *engine, corq_consumer *consumer, size_t messages) {
  corq_message message = {.data = payload, .len = sizeof payload};
  corq_delivery delivery;
  for (size_t r = 0; r < messages / ROUND; r++) {
    for (int i = 0; i < ROUND; i++)
      check(corq_publish(engine, "bench", &message, NULL, NULL), "corq_publish");
    for (int i = 0; i < ROUND; i++) {
      int n = corq_consume(consumer, &delivery, 1, 0);
      check(n, "corq_consume");
      if (n != 1) {
        fprintf(stderr, "c_bench: a published message was not ready\n");
        exit(1);
      }
      check(corq_ack(consumer, delivery.tag), "corq_ack");
    }
  }
}

static void run_batch(corq_producer *producer, corq_consumer *consumer, size_t messages) {
  corq_message batch[ROUND];
  corq_delivery deliveries[ROUND];
  for (int i = 0; i < ROUND; i++) batch[i] = (corq_message){.data = payload, .len = sizeof payload};
  for (size_t r = 0; r < messages / ROUND; r++) {
    check(corq_producer_send(producer, batch, ROUND, NULL, NULL), "corq_producer_send");
    int taken = 0;
    uint64_t last = 0;
    while (taken < ROUND) {
      int n = corq_consume(consumer, deliveries, (size_t)(ROUND - taken), 0);
      check(n, "corq_consume");
      if (n == 0) {
        fprintf(stderr, "c_bench: published messages were not ready\n");
        exit(1);
      }
      taken += n;
      last = deliveries[n - 1].tag;
    }
    check(corq_ack_upto(consumer, last), "corq_ack_upto");
  }
}

static int usage(const char *flag, const char *value) {
  fprintf(stderr,
          "c_bench: bad argument '%s %s' (usage: --mode single|batch|both --messages N, N a "
          "positive multiple of 64)\n",
          flag, value);
  return 2;
}

int main(int argc, char **argv) {
  const char *mode = "both";
  size_t messages = 200000;
  for (int i = 1; i < argc; i += 2) {
    const char *value = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(argv[i], "--mode") == 0 &&
        (strcmp(value, "single") == 0 || strcmp(value, "batch") == 0 ||
         strcmp(value, "both") == 0)) {
      mode = value;
    } else if (strcmp(argv[i], "--messages") == 0) {
      char *end = NULL;
      unsigned long long n = strtoull(value, &end, 10);
      if (end == value || *end != '\0' || n == 0 || n % ROUND != 0) return usage(argv[i], value);
      messages = (size_t)n;
    } else {
      return usage(argv[i], value);
    }
  }
  memset(payload, 'x', sizeof payload);
  corq_engine *engine = NULL;
  corq_consumer *consumer = NULL;
  corq_producer *producer = NULL;
  check(corq_open(NULL, NULL, &engine), "corq_open");
  /* max_length sizes the queue's ready ring. With the default (1M entries, 16 MiB) the ring's first
   * lap page-faults its fresh memory, which costs 3-4x per message for the first million messages;
   * 8,192 entries (128 KiB) are faulted in within the warm-up, and never limit this workload (at
   * most 64 messages are ready at a time). */
  corq_config *queue_options = corq_config_new();
  if (queue_options == NULL) check(CORQ_ENOMEM, "corq_config_new");
  check(corq_config_set(queue_options, "max_length", "8192"), "corq_config_set");
  check(corq_queue_declare(engine, "bench", queue_options), "corq_queue_declare");
  corq_config_free(queue_options);
  check(corq_consumer_open(engine, "bench", PREFETCH, &consumer), "corq_consumer_open");
  check(corq_producer_open(engine, "bench", &producer), "corq_producer_open");
  size_t warm_up = (messages / 10 < 10000 ? messages / 10 : 10000) / ROUND * ROUND;
  const char *modes[2] = {"single", "batch"};
  for (int m = 0; m < 2; m++) {
    if (strcmp(mode, "both") != 0 && strcmp(mode, modes[m]) != 0) continue;
    for (int timed = 0; timed < 2; timed++) {
      size_t n = timed ? messages : warm_up;
      double start = now_s();
      if (m == 0) {
        run_single(engine, consumer, n);
      } else {
        run_batch(producer, consumer, n);
      }
      double seconds = now_s() - start;
      if (timed) {
        printf("{\"binding\":\"c\",\"mode\":\"%s\",\"messages\":%zu,\"seconds\":%.6f}\n", modes[m],
               messages, seconds);
      }
    }
  }
  corq_producer_close(producer);
  check(corq_consumer_close(consumer), "corq_consumer_close");
  check(corq_close(engine), "corq_close");
  return 0;
}
