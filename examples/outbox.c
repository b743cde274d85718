/*
 * outbox.c — a transactional outbox: a durable local queue drained by a forwarder thread.
 *
 * The application takes orders. For each it writes the order record and its "order.placed" event
 * in one step: one publish to the durable queue "outbox" in a local data directory (sync=always,
 * so the call returns once the message is on disk). The payload is the record; the headers say
 * what event it is and carry its dedup key. Nothing else has to succeed for the order to be taken:
 * the remote system may be down.
 *
 * A forwarder thread drains the outbox and sends each event to a remote system (simulated here:
 * every third call fails, like a timeout or a 503). A failed send is nacked and corq retries it
 * with the queue's backoff; a sent event is acked only after the send succeeded. So delivery to the
 * remote is at-least-once, and the remote makes it exactly-once in effect by remembering the dedup
 * keys it has seen.
 *
 * Half-way, the process "stops": the forwarder has sent an event but not yet acked it, and the
 * engine is closed without closing the consumer first. The directory is opened again: every event
 * not acked is still there (the one sent but not acked too, so it is sent twice and the remote
 * drops the duplicate); the application's retry of a write it was unsure about is swallowed by
 * the queue's dedup window (dedup_id), which survives the reopen. The program checks all of this
 * and exits 0 on success.
 *
 * Build and run: cmake --build build/release --target example_outbox &&
 * build/release/examples/example_outbox
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#include <corq/corq.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  orders_before_stop = 12, /* orders taken before the restart */
  orders_after_stop = 8,   /* orders taken after it */
  order_count = orders_before_stop + orders_after_stop,
  sends_before_stop = 5, /* the forwarder stops after this many successful sends, unacked */
  remote_fail_every = 3, /* every third call to the remote fails */
  batch_max = 8,         /* the forwarder's prefetch window and batch */
  consume_wait_ms = 50,
  rounds_max = 1000, /* bounds the forwarder's loop: 1000 waits of at most 50 ms */
  key_bytes_max = 32,
  record_bytes_max = 96,
};

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

/* ---- the remote system (simulated) ---------------------------------------------------------- */

/* Accepts events, fails every remote_fail_every-th call, and drops events whose dedup key it has
 * already accepted (its own idempotency table: the order number of "order-N"). */
struct remote {
  pthread_mutex_t lock;
  unsigned calls, failures, duplicates;
  unsigned accepted[order_count]; /* how many times each order's event was accepted: 0 or 1 */
  char records[order_count][record_bytes_max];
};

/* Returns 0 when the remote has the event (new or a duplicate), -1 when the call failed. */
static int remote_send(struct remote *r, const char *dedup_key, const void *data, size_t len) {
  int order = -1;
  expect(sscanf(dedup_key, "order-%d", &order) == 1 && order >= 0 && order < order_count,
         "every event carries an order-N dedup key");
  pthread_mutex_lock(&r->lock);
  int rc = 0;
  if (++r->calls % remote_fail_every == 0) {
    r->failures++;
    rc = -1;
  } else if (r->accepted[order] > 0) {
    r->duplicates++; /* seen before: acknowledged, not applied again */
  } else {
    r->accepted[order] = 1;
    size_t n = len < record_bytes_max - 1 ? len : record_bytes_max - 1;
    memcpy(r->records[order], data, n);
    r->records[order][n] = '\0';
  }
  pthread_mutex_unlock(&r->lock);
  return rc;
}

/* ---- the application ------------------------------------------------------------------------ */

static corq_engine *open_outbox(const char *dir) {
  corq_config *engine_options = corq_config_new();
  expect(engine_options != NULL, "corq_config_new");
  check(corq_config_set(engine_options, "sync", "always"), "corq_config_set");
  corq_engine *engine;
  check(corq_open(dir, engine_options, &engine), "corq_open");
  corq_config_free(engine_options);

  /* No attempt limit: an outbox never gives up on an event. The dedup window lets the application
   * repeat a write it is unsure of. Short retry delays keep the example quick. */
  corq_config *queue_options = corq_config_new();
  expect(queue_options != NULL, "corq_config_new");
  check(corq_config_set(queue_options, "max_attempts", "0"), "corq_config_set");
  check(corq_config_set(queue_options, "dedup_window_ms", "3600000"), "corq_config_set");
  check(corq_config_set(queue_options, "retry_delay_ms", "2"), "corq_config_set");
  check(corq_config_set(queue_options, "retry_delay_max_ms", "50"), "corq_config_set");
  check(corq_queue_declare(engine, "outbox", queue_options), "corq_queue_declare");
  corq_config_free(queue_options);
  return engine;
}

/* Takes order n: its record and its event, in one durable write. Returns the message id. */
static uint64_t take_order(corq_engine *engine, int n) {
  char record[record_bytes_max], key[key_bytes_max];
  int len = snprintf(record, sizeof record, "order %d: %d x widget, %d.00 EUR", n, n % 3 + 1,
                     (n % 3 + 1) * 7);
  snprintf(key, sizeof key, "order-%d", n);
  const corq_header headers[] = {
      {.key = "event-type", .value = "order.placed", .value_len = strlen("order.placed")},
      {.key = "dedup-key", .value = key, .value_len = strlen(key)},
  };
  corq_message message = {
      .data = record, .len = (size_t)len, .headers = headers, .header_count = 2, .dedup_id = key};
  uint64_t id = 0;
  check(corq_publish(engine, "outbox", &message, NULL, &id), "corq_publish");
  return id;
}

/* ---- the forwarder -------------------------------------------------------------------------- */

struct forwarder {
  corq_engine *engine;
  struct remote *remote;
  unsigned stop_after_sends; /* > 0: stop after this many sends, leaving the last one unacked */
  unsigned ack_target;       /* stop once this many events are acked */
  unsigned sends, acked, nacked;
  int stopped_unacked;     /* stopped with a sent event not acked */
  corq_consumer *consumer; /* left open when stopped_unacked (the process "died") */
};

/* The value of header `key` as a NUL-terminated string in text[key_bytes_max], or "". */
static const char *header(const corq_delivery *d, const char *key, char text[key_bytes_max]) {
  text[0] = '\0';
  for (size_t i = 0; i < d->header_count; i++) {
    if (strcmp(d->headers[i].key, key) == 0) {
      size_t n =
          d->headers[i].value_len < key_bytes_max - 1 ? d->headers[i].value_len : key_bytes_max - 1;
      memcpy(text, d->headers[i].value, n);
      text[n] = '\0';
    }
  }
  return text;
}

/* Sends one delivery; returns 1 when the forwarder must stop now (simulated stop, unacked). */
static int forward_one(struct forwarder *f, const corq_delivery *d) {
  char key[key_bytes_max];
  if (remote_send(f->remote, header(d, "dedup-key", key), d->data, d->len) != 0) {
    check(corq_nack(f->consumer, d->tag, -1), "corq_nack"); /* retry after the backoff */
    f->nacked++;
    return 0;
  }
  f->sends++;
  if (f->stop_after_sends > 0 && f->sends == f->stop_after_sends) {
    f->stopped_unacked = 1; /* sent, but the process stops before the ack */
    return 1;
  }
  check(corq_ack(f->consumer, d->tag), "corq_ack"); /* only after the remote has it */
  f->acked++;
  return 0;
}

static void *forward(void *arg) {
  struct forwarder *f = arg;
  check(corq_consumer_open(f->engine, "outbox", batch_max, &f->consumer), "corq_consumer_open");
  for (int round = 0; round < rounds_max && f->acked < f->ack_target; round++) {
    corq_delivery batch[batch_max];
    int n = corq_consume(f->consumer, batch, batch_max, consume_wait_ms);
    check(n, "corq_consume");
    for (int i = 0; i < n; i++) {
      if (forward_one(f, &batch[i])) return NULL; /* the rest of the batch stays unsent */
    }
  }
  check(corq_consumer_close(f->consumer), "corq_consumer_close");
  f->consumer = NULL;
  return NULL;
}

static void run_forwarder(struct forwarder *f) {
  pthread_t thread;
  expect(pthread_create(&thread, NULL, forward, f) == 0, "pthread_create");
  expect(pthread_join(thread, NULL) == 0, "pthread_join");
}

/* ---- main ----------------------------------------------------------------------------------- */

static void queue_stats(corq_engine *engine, const char *queue, corq_queue_stats *stats) {
  memset(stats, 0, sizeof *stats);
  stats->struct_size = sizeof *stats;
  check(corq_queue_stats_get(engine, queue, stats), "corq_queue_stats_get");
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int main(void) {
  static struct remote remote = {.lock = PTHREAD_MUTEX_INITIALIZER};
  char dir[] = "/tmp/corq-outbox-XXXXXX";
  expect(mkdtemp(dir) != NULL, "mkdtemp");

  /* Run 1: take orders, forward some, then stop with one event sent but not acked. */
  corq_engine *engine = open_outbox(dir);
  uint64_t ids[order_count];
  for (int n = 0; n < orders_before_stop; n++) ids[n] = take_order(engine, n);
  struct forwarder first = {.engine = engine,
                            .remote = &remote,
                            .stop_after_sends = sends_before_stop,
                            .ack_target = order_count};
  run_forwarder(&first);
  expect(first.stopped_unacked, "the first forwarder stopped with an event sent but not acked");
  check(corq_close(engine), "corq_close"); /* the consumer was never closed: the process "died" */
  check(corq_consumer_close(first.consumer), "corq_consumer_close"); /* frees the handle only */
  printf("run 1: %u orders taken, %u sent, %u acked, %u sends failed (nacked), then stopped\n",
         (unsigned)orders_before_stop, first.sends, first.acked, first.nacked);

  /* Run 2: reopen. Every event not acked is back (ready, or delayed for its retry). */
  engine = open_outbox(dir);
  corq_queue_stats stats;
  queue_stats(engine, "outbox", &stats);
  unsigned pending = (unsigned)(stats.ready + stats.delayed + stats.in_flight);
  printf("run 2: reopened with %u events pending\n", pending);
  expect(pending == orders_before_stop - first.acked, "every event not acked survived the stop");
  /* The application repeats a write it was unsure of: the dedup window swallows it. */
  expect(take_order(engine, orders_before_stop - 1) == ids[orders_before_stop - 1],
         "a repeated write returns the original message id");
  queue_stats(engine, "outbox", &stats);
  expect(stats.deduplicated == 1, "the repeated write was deduplicated");
  for (int n = orders_before_stop; n < order_count; n++) ids[n] = take_order(engine, n);
  struct forwarder second = {
      .engine = engine, .remote = &remote, .ack_target = pending + orders_after_stop};
  run_forwarder(&second);
  expect(second.acked == second.ack_target, "the second forwarder acked every pending event");
  check(corq_close(engine), "corq_close");
  printf("run 2: %u orders taken, %u sent, %u acked, %u sends failed (nacked)\n",
         (unsigned)orders_after_stop, second.sends, second.acked, second.nacked);

  /* Run 3: nothing is left, nothing was dead-lettered. */
  engine = open_outbox(dir);
  queue_stats(engine, "outbox", &stats);
  expect(stats.ready + stats.delayed + stats.in_flight == 0, "the outbox is empty after a reopen");
  queue_stats(engine, "outbox.dlq", &stats);
  expect(stats.ready == 0, "no event was dead-lettered");
  check(corq_close(engine), "corq_close");

  /* The remote has every order exactly once, with its record, and dropped the one duplicate. */
  for (int n = 0; n < order_count; n++) {
    char want[record_bytes_max];
    snprintf(want, sizeof want, "order %d: %d x widget, %d.00 EUR", n, n % 3 + 1, (n % 3 + 1) * 7);
    expect(remote.accepted[n] == 1, "the remote accepted every order once");
    expect(strcmp(remote.records[n], want) == 0, "the remote has each order's record");
  }
  printf("remote: %u calls, %u failed, %u duplicates dropped, %d orders accepted once each\n",
         remote.calls, remote.failures, remote.duplicates, (int)order_count);
  expect(remote.duplicates == 1, "the event sent before the stop was sent again and dropped");
  expect(remote.failures == first.nacked + second.nacked, "every failed send was nacked");
  expect(remote.failures > 0, "the remote failed some sends");

  expect(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0, "removing the data directory");
  printf("outbox: nothing lost, nothing applied twice\n");
  return 0;
}
