/*
 * fan_out.c — one event, several queues.
 *
 * Fan-out by hand: the publisher publishes the event to each subscriber's queue (pubsub.c does it
 * with one atomic publish through an exchange instead). Each queue then has its own consumers,
 * pace, retries and dead letters — a slow "email" service never holds back "billing". The event
 * carries its id as dedup_id, and each queue has a dedup window: if the publisher crashes half-way
 * through the fan-out and publishes the event again, the queues that already have it keep one copy.
 *
 * Build and run: cmake --build build/release --target example_fan_out &&
 * build/release/examples/example_fan_out. Exit status 0 when every outcome is as expected.
 */
#include <corq/corq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const subscribers[] = {"billing", "email", "audit"};
enum { subscriber_count = sizeof subscribers / sizeof subscribers[0] };

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s (%s)\n", what, corq_strerror(rc), corq_last_error());
    exit(1);
  }
}

static void expect(int condition, const char *what) {
  if (!condition) {
    fprintf(stderr, "unexpected outcome: %s\n", what);
    exit(1);
  }
}

/* Publishes the event to every subscriber's queue (up to `count` of them: a crash after that). */
static void fan_out(corq_engine *engine, const char *event_id, const char *payload, int count) {
  const corq_header headers[] = {
      {.key = "event-type", .value = "order.created", .value_len = strlen("order.created")},
      {.key = "event-id", .value = event_id, .value_len = strlen(event_id)},
  };
  const corq_message message = {.data = payload,
                                .len = strlen(payload),
                                .headers = headers,
                                .header_count = 2,
                                .dedup_id = event_id};
  for (int i = 0; i < count; i++) {
    check(corq_publish(engine, subscribers[i], &message, NULL, NULL), "corq_publish");
  }
}

/* A subscriber takes everything from its queue; returns how many events it got. */
static int drain(corq_engine *engine, const char *queue) {
  corq_consumer *consumer;
  check(corq_consumer_open(engine, queue, 16, &consumer), "corq_consumer_open");
  corq_delivery batch[16];
  int n = corq_consume(consumer, batch, 16, /*timeout_ms=*/0);
  check(n, "corq_consume");
  for (int i = 0; i < n; i++) {
    printf("%-8s got %.*s\n", queue, (int)batch[i].len, (const char *)batch[i].data);
    check(corq_ack(consumer, batch[i].tag), "corq_ack");
  }
  check(corq_consumer_close(consumer), "corq_consumer_close");
  return n;
}

int main(void) {
  corq_engine *engine;
  check(corq_open(NULL, NULL, &engine), "corq_open");

  /* Every subscriber's queue remembers event ids for ten minutes. */
  corq_config *options = corq_config_new();
  expect(options != NULL, "corq_config_new");
  check(corq_config_set(options, "dedup_window_ms", "600000"), "corq_config_set");
  for (int i = 0; i < subscriber_count; i++) {
    check(corq_queue_declare(engine, subscribers[i], options), "corq_queue_declare");
  }
  corq_config_free(options);

  /* Event 1 reaches every queue. Event 2's first fan-out "crashes" after the first queue; the
   * retry publishes it to all three, and dedup keeps billing at one copy. */
  fan_out(engine, "evt-1", "{\"order\": 1, \"total\": 42}", subscriber_count);
  fan_out(engine, "evt-2", "{\"order\": 2, \"total\": 7}", 1);
  fan_out(engine, "evt-2", "{\"order\": 2, \"total\": 7}", subscriber_count);

  for (int i = 0; i < subscriber_count; i++) {
    expect(drain(engine, subscribers[i]) == 2, "each subscriber gets each event once");
  }
  corq_queue_stats stats = {.struct_size = sizeof stats};
  check(corq_queue_stats_get(engine, "billing", &stats), "corq_queue_stats_get");
  expect(stats.deduplicated == 1 && stats.acked == 2, "billing swallowed the repeated evt-2");
  check(corq_close(engine), "corq_close");
  printf("fan_out: ok\n");
  return 0;
}
