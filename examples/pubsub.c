/*
 * pubsub.c — one order event, three services: publish/subscribe through a topic exchange.
 *
 * The shop publishes each order event once, to the topic exchange "orders", with a routing key
 * such as "order.placed". Every service that subscribes has its own queue, bound to the exchange
 * with a pattern, and its own retries and dead-letter queue ("<name>.dlq", declared with it):
 *   inventory  order.*       reserves stock
 *   email      order.placed  mails a confirmation (its mail server is down today)
 *   analytics  order.#       counts everything about orders
 * One publish puts a copy into each matching queue, all or none, with one message id. Each
 * service settles its own copy: inventory and analytics ack theirs, email nacks until the
 * queue's max_attempts and its copy dead-letters to email.dlq — the other two copies are not
 * affected. An event nobody subscribes to is refused (CORQ_PUBLISH_MANDATORY) rather than lost.
 *
 * The services run one after the other here to keep the output deterministic; in a real program
 * each is its own thread or process, since nothing but the engine connects them.
 *
 * Build and run: cmake --build build/release --target example_pubsub &&
 * build/release/examples/example_pubsub. Exit status 0 when every outcome is as expected.
 */
#include <corq/corq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rounds_max bounds a service's loop: 100 consume waits of 20 ms, far more than the retries need.
 */
enum { email_max_attempts = 3, batch_max = 16, rounds_max = 100 };

/* Stops the example on any unexpected failure, with corq's name and detail message. */
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

/* The value of header `key` of a delivery as text (at most 63 bytes), or "" when absent. */
static const char *header(const corq_delivery *d, const char *key, char text[64]) {
  text[0] = '\0';
  for (size_t i = 0; i < d->header_count; i++) {
    if (strcmp(d->headers[i].key, key) == 0) {
      size_t n = d->headers[i].value_len < 63 ? d->headers[i].value_len : 63;
      memcpy(text, d->headers[i].value, n);
      text[n] = '\0';
    }
  }
  return text;
}

static corq_queue_stats queue_stats(corq_engine *engine, const char *queue) {
  corq_queue_stats stats = {.struct_size = sizeof stats};
  check(corq_queue_stats_get(engine, queue, &stats), "corq_queue_stats_get");
  return stats;
}

/* A subscriber: its queue (with retries and a dead-letter queue) bound to "orders" by a pattern.
 */
static void subscribe(corq_engine *engine, const char *queue, const char *pattern,
                      const corq_config *options) {
  check(corq_queue_declare(engine, queue, options), "corq_queue_declare");
  check(corq_bind(engine, "orders", queue, pattern, NULL, 0), "corq_bind");
}

/* Publishes one event through the exchange; returns how many queues took it (or a CORQ_E* code);
 * *message_id (may be NULL) gets its id. Mandatory: if no service subscribes to the key, the shop
 * hears of it instead of losing it. */
static int publish_event(corq_engine *engine, const char *routing_key, const char *payload,
                         uint64_t *message_id) {
  const corq_header headers[] = {
      {.key = "content-type", .value = "application/json", .value_len = 16},
  };
  const corq_message message = {
      .data = payload, .len = strlen(payload), .headers = headers, .header_count = 1};
  const corq_publish_options options = {.struct_size = sizeof options,
                                        .flags = CORQ_PUBLISH_MANDATORY,
                                        .timeout_ms = 30000 /* corq's default */};
  uint32_t routed = 0;
  int rc =
      corq_exchange_publish(engine, "orders", routing_key, &message, &options, message_id, &routed);
  printf("shop: published %-16s -> %u queue(s)%s\n", routing_key, (unsigned)routed,
         rc == CORQ_EUNROUTABLE ? " (unroutable: refused)" : "");
  return rc < 0 ? rc : (int)routed;
}

/* Runs a service until its queue has nothing left to deliver (ready, delayed for a retry, or in
 * flight). A working service acks each event; a failing one nacks it (retried after the queue's
 * backoff, dead-lettered at max_attempts). Returns how many events it acked. Every copy of the
 * order.placed event must carry placed_id: one message id, however many queues took it. */
static int serve(corq_engine *engine, const char *queue, int failing, uint64_t placed_id) {
  corq_consumer *consumer;
  check(corq_consumer_open(engine, queue, batch_max, &consumer), "corq_consumer_open");
  int acked = 0;
  for (int round = 0; round < rounds_max; round++) {
    corq_queue_stats stats = queue_stats(engine, queue);
    if (stats.ready + stats.delayed + stats.in_flight == 0) break;
    corq_delivery batch[batch_max];
    int n = corq_consume(consumer, batch, batch_max, /*timeout_ms=*/20);
    check(n, "corq_consume");
    for (int i = 0; i < n; i++) {
      char key[64];
      printf("%-9s attempt %u of %s (message %llu): %s\n", queue, (unsigned)batch[i].delivery_count,
             header(&batch[i], "x-routing-key", key), (unsigned long long)batch[i].message_id,
             failing ? "failed, nack" : "done, ack");
      expect(strcmp(key, "order.placed") != 0 || batch[i].message_id == placed_id,
             "each service's copy of order.placed has the id the publish returned");
      if (failing) {
        check(corq_nack(consumer, batch[i].tag, -1), "corq_nack");
      } else {
        check(corq_ack(consumer, batch[i].tag), "corq_ack");
        acked++;
      }
    }
  }
  check(corq_consumer_close(consumer), "corq_consumer_close");
  return acked;
}

/* Reads email's dead letter and checks it is the order.placed event that every service got. */
static void inspect_dead_letter(corq_engine *engine, uint64_t placed_id) {
  corq_consumer *consumer;
  check(corq_consumer_open(engine, "email.dlq", batch_max, &consumer), "corq_consumer_open");
  corq_delivery batch[batch_max];
  int n = corq_consume(consumer, batch, batch_max, /*timeout_ms=*/1000);
  check(n, "corq_consume");
  expect(n == 1, "email.dlq holds one dead letter");
  char reason[64], queue[64], exchange[64], key[64];
  printf(
      "email.dlq: message %llu %.*s  x-death-reason=%s x-death-queue=%s x-exchange=%s "
      "x-routing-key=%s\n",
      (unsigned long long)batch[0].message_id, (int)batch[0].len, (const char *)batch[0].data,
      header(&batch[0], "x-death-reason", reason), header(&batch[0], "x-death-queue", queue),
      header(&batch[0], "x-exchange", exchange), header(&batch[0], "x-routing-key", key));
  expect(batch[0].message_id == placed_id, "the dead letter has the event's message id");
  expect(strcmp(reason, "max_attempts") == 0, "x-death-reason is max_attempts");
  expect(strcmp(queue, "email") == 0, "x-death-queue is email");
  /* The routing headers travel with the copy, so an operator sees where it came from. */
  expect(strcmp(exchange, "orders") == 0, "x-exchange is orders");
  expect(strcmp(key, "order.placed") == 0, "x-routing-key is order.placed");
  check(corq_ack(consumer, batch[0].tag), "corq_ack"); /* handled: logged above */
  check(corq_consumer_close(consumer), "corq_consumer_close");
}

int main(void) {
  corq_engine *engine;
  check(corq_open(NULL, NULL, &engine), "corq_open"); /* in memory */
  check(corq_exchange_declare(engine, "orders", "topic", NULL), "corq_exchange_declare");

  /* Default queue options for inventory and analytics; email retries quickly (5 ms, no backoff
   * growth) so that the example does not wait, and gives up after three attempts. */
  corq_config *email_options = corq_config_new();
  expect(email_options != NULL, "corq_config_new");
  check(corq_config_set(email_options, "max_attempts", "3"), "corq_config_set");
  check(corq_config_set(email_options, "retry_delay_ms", "5"), "corq_config_set");
  check(corq_config_set(email_options, "retry_backoff", "1.0"), "corq_config_set");
  subscribe(engine, "inventory", "order.*", NULL);
  subscribe(engine, "email", "order.placed", email_options);
  subscribe(engine, "analytics", "order.#", NULL);
  corq_config_free(email_options);

  uint64_t placed_id = 0;
  expect(
      publish_event(engine, "order.placed", "{\"order\": 1042, \"total\": 99.5}", &placed_id) == 3,
      "order.placed reaches inventory, email and analytics");
  expect(publish_event(engine, "order.shipped", "{\"order\": 1042}", NULL) == 2,
         "order.shipped reaches inventory and analytics only");
  expect(publish_event(engine, "payment.refunded", "{\"order\": 1041}", NULL) == CORQ_EUNROUTABLE,
         "an event no service subscribes to is refused under CORQ_PUBLISH_MANDATORY");

  int inventory = serve(engine, "inventory", /*failing=*/0, placed_id);
  int email = serve(engine, "email", /*failing=*/1, placed_id);
  int analytics = serve(engine, "analytics", /*failing=*/0, placed_id);
  inspect_dead_letter(engine, placed_id);

  /* Each copy was settled by its own queue: two acked copies per working service, and email's
   * failure moved only email's copy. */
  const corq_queue_stats email_stats = queue_stats(engine, "email");
  expect(inventory == 2 && queue_stats(engine, "inventory").acked == 2, "inventory acked both");
  expect(analytics == 2 && queue_stats(engine, "analytics").acked == 2, "analytics acked both");
  expect(email == 0 && email_stats.acked == 0, "email acked nothing");
  expect(email_stats.nacked == email_max_attempts && email_stats.dead_lettered == 1,
         "email failed max_attempts times, then dead-lettered its copy");
  expect(queue_stats(engine, "inventory.dlq").published == 0 &&
             queue_stats(engine, "analytics.dlq").published == 0,
         "no dead letters for the services that worked");

  corq_exchange_stats x = {.struct_size = sizeof x};
  check(corq_exchange_stats_get(engine, "orders", &x), "corq_exchange_stats_get");
  printf("exchange orders: %llu bindings, %llu published, %llu copies routed, %llu unroutable\n",
         (unsigned long long)x.bindings, (unsigned long long)x.published,
         (unsigned long long)x.routed, (unsigned long long)x.unroutable);
  expect(x.bindings == 3 && x.published == 3 && x.routed == 5 && x.unroutable == 1,
         "exchange stats count 3 publishes, 5 copies and the refused event");
  check(corq_close(engine), "corq_close");
  printf("pubsub: ok\n");
  return 0;
}
