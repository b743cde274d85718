/*
 * event_log.c — an order-events stream read by two consumer groups, one of which replays from a
 * point in time after a bug fix.
 *
 * The shop appends every order event once to the stream "order-events" (4 partitions), keyed by
 * order id, so all events of one order land in one partition, in order — where a Kafka producer
 * would put them (Kafka's murmur2 partitioner). Unlike a queue, the stream keeps the events after
 * they are read: two consumer groups read all of it, each at its own pace, with retries and a
 * dead-letter queue of their own:
 *   shipping  ordered mode: each partition read in order by one member; ships placed orders.
 *   billing   key_ordered mode: any member, but one event per order at a time, in order. Its first
 *             version had a bug: it charged "order.cancelled" events instead of refunding them.
 * After the bug is fixed (here: a flag), billing seeks back to the time the buggy version started
 * and replays from there — the events are still in the stream, shipping is not affected, and the
 * group's committed offsets say exactly how far each partition has been processed (lag 0 at the
 * end). One event is poison (an unparseable amount): billing nacks it until max_attempts and it
 * lands in "order-events.billing.dlq" with its x-stream-* headers, while the partition moves on.
 *
 * The stream and the groups are durable (the engine has a data directory): at the end the program
 * closes the engine and opens the directory again, as after a restart — the events, the offsets
 * and both groups' committed offsets are all still there, and a new event is the only thing
 * shipping gets.
 *
 * The groups run one after the other on this thread to keep the output deterministic; in a real
 * program each member is its own thread or process.
 *
 * Build and run: cmake --build build/release --target example_event_log &&
 * build/release/examples/example_event_log [DIR]. Without DIR it works in a fresh temporary
 * directory and removes it at the end. Exit status 0 when every outcome is as expected.
 */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */
#include <corq/corq.h>

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { orders = 12, batch_max = 32, billing_max_attempts = 2 };

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s (%s)\n", what, corq_strerror(rc), corq_last_error());
    exit(1);
  }
}

static void expect(int condition, const char *what) {
  if (!condition) {
    fprintf(stderr, "unexpected: %s\n", what);
    exit(1);
  }
}

static corq_config *config(const char *const *pairs) {
  corq_config *c = corq_config_new();
  expect(c != NULL, "corq_config_new");
  for (; pairs[0] != NULL; pairs += 2) check(corq_config_set(c, pairs[0], pairs[1]), pairs[0]);
  return c;
}

/* The value of header `key` of a delivery, copied into `out` ("" if absent). */
static void header(const corq_delivery *d, const char *key, char *out, size_t capacity) {
  out[0] = '\0';
  for (size_t i = 0; i < d->header_count; ++i) {
    if (strcmp(d->headers[i].key, key) == 0) {
      size_t n = d->headers[i].value_len < capacity - 1 ? d->headers[i].value_len : capacity - 1;
      memcpy(out, d->headers[i].value, n);
      out[n] = '\0';
      return;
    }
  }
}

/* Appends "<type> <amount>" for an order, keyed by its id. */
static void append_event(corq_engine *engine, int order, const char *type, const char *amount) {
  char key[32], body[64];
  snprintf(key, sizeof key, "order-%d", order);
  snprintf(body, sizeof body, "%s %s", type, amount);
  corq_message m = {body, strlen(body), NULL, 0, NULL};
  check(corq_stream_append(engine, "order-events", key, strlen(key), &m, NULL, NULL, NULL),
        "corq_stream_append");
}

/* What billing did, per run. */
struct Ledger {
  long charged, refunded;
  int events, poison_nacks;
};

/* Billing: charges placed orders, refunds cancelled ones (or, with the bug, charges them). */
static void run_billing(corq_consumer *member, int buggy, struct Ledger *ledger) {
  corq_delivery out[batch_max];
  for (;;) {
    int n = corq_consume(member, out, batch_max, 50);
    check(n, "corq_consume (billing)");
    if (n == 0) return;
    for (int i = 0; i < n; ++i) {
      char text[64], type[32], amount_text[32], *end = NULL;
      size_t len = out[i].len < sizeof text - 1 ? out[i].len : sizeof text - 1;
      memcpy(text, out[i].data, len);
      text[len] = '\0';
      long amount = 0;
      int fields = sscanf(text, "%31s %31s", type, amount_text);
      if (fields == 2) amount = strtol(amount_text, &end, 10);
      if (fields != 2 || end == amount_text || *end != '\0') {
        ++ledger->poison_nacks; /* unparseable: a failed attempt, dead-lettered at the limit */
        check(corq_nack(member, out[i].tag, 0), "corq_nack");
        continue;
      }
      ++ledger->events;
      if (strcmp(type, "order.placed") == 0 || buggy) {
        ledger->charged += amount;
      } else if (strcmp(type, "order.cancelled") == 0) {
        ledger->refunded += amount;
      }
      check(corq_ack(member, out[i].tag), "corq_ack");
    }
  }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int main(int argc, char **argv) {
  char temporary[] = "/tmp/corq-event-log-XXXXXX";
  const char *dir = argc > 1 ? argv[1] : mkdtemp(temporary);
  expect(dir != NULL, "a temporary directory");
  corq_engine *engine = NULL;
  check(corq_open(dir, NULL, &engine), "corq_open"); /* streams are durable on a disk engine */
  corq_config *stream_options = config((const char *[]){"partitions", "4", NULL});
  check(corq_stream_declare(engine, "order-events", stream_options), "corq_stream_declare");
  corq_config_free(stream_options);

  /* Every order is placed; every third is cancelled; one event has a corrupt amount. */
  int cancelled = 0;
  for (int order = 1; order <= orders; ++order) {
    append_event(engine, order, "order.placed", "100");
    if (order % 3 == 0) {
      append_event(engine, order, "order.cancelled", "100");
      ++cancelled;
    }
  }
  append_event(engine, 99, "order.placed", "1O0"); /* a letter O: unparseable */
  corq_stream_stats stats = {.struct_size = sizeof stats};
  check(corq_stream_stats_get(engine, "order-events", &stats), "corq_stream_stats_get");
  printf("appended %llu events to %u partitions\n", (unsigned long long)stats.appended,
         stats.partitions);

  /* shipping: ordered; ships each placed order once. */
  corq_consumer *shipping = NULL;
  check(corq_group_consumer_open(engine, "order-events", "shipping", NULL, &shipping),
        "corq_group_consumer_open (shipping)");
  int shipped = 0;
  corq_delivery out[batch_max];
  for (int n; (n = corq_consume(shipping, out, batch_max, 50)) > 0;) {
    for (int i = 0; i < n; ++i) {
      if (out[i].len >= 12 && memcmp(out[i].data, "order.placed", 12) == 0) ++shipped;
    }
    check(corq_ack_upto(shipping, out[n - 1].tag), "corq_ack_upto");
  }
  expect(shipped == orders + 1, "shipping ships every placed order once");

  /* billing, the buggy version: key_ordered, two attempts before a dead letter. */
  corq_config *billing_options = config(
      (const char *[]){"mode", "key_ordered", "max_attempts", "2", "retry_delay_ms", "0", NULL});
  corq_consumer *billing = NULL;
  check(corq_group_consumer_open(engine, "order-events", "billing", billing_options, &billing),
        "corq_group_consumer_open (billing)");
  struct Ledger buggy = {0, 0, 0, 0};
  run_billing(billing, /*buggy=*/1, &buggy);
  printf("billing (buggy): charged %ld, refunded %ld over %d events\n", buggy.charged,
         buggy.refunded, buggy.events);
  expect(buggy.refunded == 0 && buggy.charged == 100L * (orders + cancelled),
         "the bug charges cancellations");

  /* The fix ships: billing replays the whole stream (the bug was there from the start: time 0
   * is before every record; a real fix would give the deploy time of the buggy version). */
  check(corq_group_seek(engine, "order-events", "billing", -1, "time:0"), "corq_group_seek");
  corq_group_stats group = {.struct_size = sizeof group};
  check(corq_group_stats_get(engine, "order-events", "billing", &group), "corq_group_stats_get");
  printf("billing after seek: lag %llu\n", (unsigned long long)group.lag);
  struct Ledger fixed = {0, 0, 0, 0};
  run_billing(billing, /*buggy=*/0, &fixed);
  printf("billing (fixed, replayed): charged %ld, refunded %ld over %d events\n", fixed.charged,
         fixed.refunded, fixed.events);
  expect(fixed.charged == 100L * orders && fixed.refunded == 100L * cancelled,
         "the replay refunds every cancellation");

  check(corq_group_stats_get(engine, "order-events", "billing", &group), "corq_group_stats_get");
  expect(group.lag == 0 && group.in_flight == 0, "billing has processed everything");
  expect(group.dead_lettered == 2, "the poison event was dead-lettered once per run");

  /* The poison event, with where it came from. */
  corq_consumer *dlq = NULL;
  check(corq_consumer_open(engine, "order-events.billing.dlq", 8, &dlq), "corq_consumer_open");
  int dead = corq_consume(dlq, out, batch_max, 0);
  check(dead, "corq_consume (dlq)");
  expect(dead == 2, "two dead letters (the buggy run and the replay)");
  char reason[32], partition[16], offset[24], key[32];
  header(&out[0], "x-death-reason", reason, sizeof reason);
  header(&out[0], "x-stream-partition", partition, sizeof partition);
  header(&out[0], "x-stream-offset", offset, sizeof offset);
  header(&out[0], "x-stream-key", key, sizeof key);
  printf("dead letter: %.*s (reason %s, %s at partition %s offset %s)\n", (int)out[0].len,
         (const char *)out[0].data, reason, key, partition, offset);
  expect(strcmp(reason, "max_attempts") == 0 && strcmp(key, "order-99") == 0,
         "the dead letter names its record");
  check(corq_ack_upto(dlq, out[dead - 1].tag), "corq_ack_upto (dlq)");

  corq_group_stats shipping_stats = {.struct_size = sizeof shipping_stats};
  check(corq_group_stats_get(engine, "order-events", "shipping", &shipping_stats),
        "corq_group_stats_get (shipping)");
  expect(shipping_stats.lag == 0, "shipping was not affected by billing's replay");

  check(corq_consumer_close(dlq), "close");
  check(corq_consumer_close(billing), "close");
  check(corq_consumer_close(shipping), "close");
  corq_config_free(billing_options);
  check(corq_close(engine), "corq_close");

  /* A restart: the same directory, a new engine. Nothing of the stream or its groups is lost,
   * nothing settled comes back. */
  check(corq_open(dir, NULL, &engine), "corq_open (restart)");
  corq_stream_stats after = {.struct_size = sizeof after};
  check(corq_stream_stats_get(engine, "order-events", &after), "corq_stream_stats_get");
  printf("after a restart: %llu events retained\n", (unsigned long long)after.records);
  expect(after.records == stats.appended, "every event survived the restart");
  check(corq_group_stats_get(engine, "order-events", "billing", &group), "corq_group_stats_get");
  expect(group.lag == 0, "billing's committed offsets survived the restart");
  append_event(engine, orders + 1, "order.placed", "100");
  check(corq_group_consumer_open(engine, "order-events", "shipping", NULL, &shipping),
        "corq_group_consumer_open (shipping, restarted)");
  int n = corq_consume(shipping, out, batch_max, 1000);
  check(n, "corq_consume (shipping, restarted)");
  printf("shipping after the restart: %d new event\n", n);
  expect(n == 1, "shipping resumes after the last event it acked");
  check(corq_ack(shipping, out[0].tag), "corq_ack");
  check(corq_consumer_close(shipping), "close");
  check(corq_close(engine), "corq_close");
  if (argc <= 1) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  printf("ok\n");
  return 0;
}
