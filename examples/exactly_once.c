/*
 * exactly_once.c — exactly-once consume-transform-produce with a transaction (DESIGN §8).
 *
 * A payments service. Payments arrive on the stream "payments" (4 partitions, keyed by payment
 * id). The consumer group "ledger-writer" reads them, and for each payment
 *   1. appends a ledger record to the stream "ledger" (keyed by the payment id, so all of a
 *      payment's records would land in one partition),
 *   2. publishes a "payment.received" notification through the topic exchange "notifications",
 *      which routes it to the queue "emails" (bound with "payment.*"), and
 *   3. acks the payment's delivery,
 * all three in ONE transaction: corq_txn_commit applies them together, durably, or not at all —
 * also when the process is SIGKILLed in the middle of the commit. That is what makes the service
 * exactly-once without any deduplication downstream:
 *   - acking after the outputs, without a transaction, writes them twice when the process dies
 *     between the outputs and the ack (the payment is delivered again and processed again);
 *   - acking first loses the payment when it dies before the outputs;
 *   - with the transaction a payment is either committed (its ledger record and its notification
 *     exist, its delivery is settled and never comes back) or not (nothing of it exists, and the
 *     group delivers the payment again after the restart, so it is processed again — once).
 * The outputs carry no dedup_id on purpose: `check` counts them, so any duplicate would show.
 *
 * Usage (DIR: a data directory, created if missing):
 *   exactly_once DIR produce N  appends payments 0..N-1 to "payments"; safe to repeat after a
 *                               crash: each carries a dedup_id, and the stream's dedup window
 *                               survives restarts, so none is appended twice
 *   exactly_once DIR process    processes payments until the group has none left (lag 0)
 *   exactly_once DIR check N    reads "ledger" from the start and browses "emails" without acking
 *                               (nothing else consumes it, so every notification ever committed
 *                               is still there); exit 0 when each payment 0..N-1 has exactly one
 *                               ledger record and exactly one notification
 *   exactly_once                a demo in a temporary directory: produce, process some, stop
 *                               with a transaction built but not committed (a "crash"), restart,
 *                               process the rest, check; exit 0 on success
 * tests/crash/exactly_once_kill_test.cpp runs `process` and SIGKILLs it at random moments, again
 * and again, then runs `check`.
 *
 * Build and run: cmake --build build/release --target example_exactly_once &&
 * build/release/examples/example_exactly_once
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, nanosleep */
#include <corq/corq.h>

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  payments_max = 50000,         /* check browses all notifications in one consumer window */
  browse_window = 65536,        /* that window: corq's largest prefetch */
  batch_max = 32,               /* the group member's prefetch window, and one consume's batch */
  consume_wait_ms = 100,        /* one consume waits at most this long */
  commit_timeout_ms = 10000,    /* bounds a commit's wait for durability */
  process_seconds_max = 600,    /* `process` gives up (exit 1) after this long */
  retry_pause_ms = 50,          /* pause after a commit refused for a full "emails" queue */
  text_max = 96,                /* payloads, keys and header values of this example */
  demo_payments = 40,           /* the demo's payments */
  demo_commits_before_stop = 15 /* the demo's first run commits this many, then "crashes" */
};

/* ---- helpers --------------------------------------------------------------------------------- */

/* Stops the program on any failure it does not handle, with corq's name and detail message. */
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

/* A config from NULL-terminated key/value pairs. */
static corq_config *config(const char *const *pairs) {
  corq_config *c = corq_config_new();
  expect(c != NULL, "corq_config_new");
  for (; pairs[0] != NULL; pairs += 2) check(corq_config_set(c, pairs[0], pairs[1]), pairs[0]);
  return c;
}

/* Copies header `key` into out[text_max] as text; returns 0 when the headers have no such key. */
static int header(const corq_header *headers, size_t count, const char *key, char *out) {
  for (size_t i = 0; i < count; i++) {
    if (strcmp(headers[i].key, key) != 0) continue;
    size_t n = headers[i].value_len < text_max - 1 ? headers[i].value_len : text_max - 1;
    memcpy(out, headers[i].value, n);
    out[n] = '\0';
    return 1;
  }
  out[0] = '\0';
  return 0;
}

/* Copies a payload into out[text_max] as text. */
static void text(const void *data, size_t len, char *out) {
  size_t n = len < text_max - 1 ? len : text_max - 1;
  memcpy(out, data, n);
  out[n] = '\0';
}

static void pause_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* Payment `id` is for this many cents (made up, but fixed, so `check` can verify every record). */
static long amount_cents(unsigned long id) { return 100 + (long)((id * 7919UL) % 100000UL); }

/* ---- the topology ---------------------------------------------------------------------------- */

/* Opens the engine on DIR and declares everything (each declaration is a no-op when it exists with
 * the same options, so every mode and every restart runs this). sync=always: a commit returns once
 * the transaction is on disk. */
static corq_engine *open_engine(const char *dir) {
  corq_config *options = config((const char *[]){"sync", "always", NULL});
  corq_engine *engine = NULL;
  check(corq_open(dir, options, &engine), "corq_open");
  corq_config_free(options);

  /* The input: a dedup window of a week makes `produce` safe to repeat after a crash. */
  corq_config *payments =
      config((const char *[]){"partitions", "4", "dedup_window_ms", "604800000", NULL});
  check(corq_stream_declare(engine, "payments", payments), "corq_stream_declare payments");
  corq_config_free(payments);
  corq_config *ledger = config((const char *[]){"partitions", "4", NULL});
  check(corq_stream_declare(engine, "ledger", ledger), "corq_stream_declare ledger");
  corq_config_free(ledger);

  check(corq_exchange_declare(engine, "notifications", "topic", NULL), "corq_exchange_declare");
  check(corq_queue_declare(engine, "emails", NULL), "corq_queue_declare emails");
  check(corq_bind(engine, "notifications", "emails", "payment.*", NULL, 0), "corq_bind");
  return engine;
}

/* A member of the group "ledger-writer" (ordered mode: each partition in offset order). No attempt
 * limit: a payment whose lease ran out (a stalled process) is delivered again, never dead-lettered
 * for being slow. Every member must open the group with the same options. */
static corq_consumer *open_member(corq_engine *engine) {
  corq_config *options = config((const char *[]){"mode", "ordered", "prefetch", "32",
                                                 "max_attempts", "0", "lease_ms", "30000", NULL});
  corq_consumer *member = NULL;
  check(corq_group_consumer_open(engine, "payments", "ledger-writer", options, &member),
        "corq_group_consumer_open");
  corq_config_free(options);
  return member;
}

static corq_group_stats group_stats(corq_engine *engine) {
  corq_group_stats stats = {.struct_size = sizeof stats};
  check(corq_group_stats_get(engine, "payments", "ledger-writer", &stats), "corq_group_stats_get");
  return stats;
}

static corq_stream_stats stream_stats(corq_engine *engine, const char *stream) {
  corq_stream_stats stats = {.struct_size = sizeof stats};
  check(corq_stream_stats_get(engine, stream, &stats), "corq_stream_stats_get");
  return stats;
}

/* ---- produce --------------------------------------------------------------------------------- */

/* Appends payments 0..n-1, each keyed "payment-<id>" with the same text as its dedup_id. NOWAIT
 * appends and one corq_sync at the end: one disk flush for the lot. Killed half-way, a repeat
 * appends only what is missing. */
static void produce(corq_engine *engine, unsigned long n) {
  const corq_publish_options nowait = {
      .struct_size = sizeof nowait, .flags = CORQ_PUBLISH_NOWAIT, .timeout_ms = 30000};
  for (unsigned long id = 0; id < n; id++) {
    char key[text_max], body[text_max];
    snprintf(key, sizeof key, "payment-%lu", id);
    int len = snprintf(body, sizeof body, "payment %lu amount %ld", id, amount_cents(id));
    const corq_message message = {.data = body, .len = (size_t)len, .dedup_id = key};
    check(corq_stream_append(engine, "payments", key, strlen(key), &message, &nowait, NULL, NULL),
          "corq_stream_append");
  }
  fprintf(stderr, "produce: %lu appends made, syncing\n", n);
  check(corq_sync(engine, 30000), "corq_sync");
  corq_stream_stats stats = stream_stats(engine, "payments");
  printf("produce: payments 0..%lu: %llu appended, %llu were there already (deduplicated)\n", n - 1,
         (unsigned long long)stats.appended, (unsigned long long)stats.deduplicated);
}

/* ---- process: one payment, one transaction --------------------------------------------------- */

/* Reads "payment <id> amount <cents>"; returns 0 if the payload is not that. */
static int parse_payment(const void *data, size_t len, unsigned long *id, long *cents) {
  char body[text_max];
  char rest;
  text(data, len, body);
  return sscanf(body, "payment %lu amount %ld%c", id, cents, &rest) == 2;
}

/* Builds the transaction of one payment: the ledger record, the notification and the ack.
 * Returns 0 with *out ready to commit, or the code of the step that was refused (the transaction
 * is then aborted): CORQ_ESTATE from corq_txn_ack means the delivery is no longer ours (its lease
 * ran out: the group delivers it again). */
static int build_transaction(corq_engine *engine, corq_consumer *member, const corq_delivery *d,
                             unsigned long id, long cents, corq_txn **out) {
  char key[text_max], id_text[text_max], entry[text_max], note[text_max];
  snprintf(key, sizeof key, "payment-%lu", id);
  snprintf(id_text, sizeof id_text, "%lu", id);
  char partition[text_max];
  header(d->headers, d->header_count, "x-stream-partition", partition);
  int entry_len =
      snprintf(entry, sizeof entry, "credit %ld cents for payment %lu (payments %s:%llu)", cents,
               id, partition, (unsigned long long)d->message_id);
  int note_len = snprintf(note, sizeof note, "We received your payment %lu of %ld.%02ld EUR", id,
                          cents / 100, cents % 100);
  const corq_header headers[] = {
      {.key = "payment-id", .value = id_text, .value_len = strlen(id_text)}};
  const corq_message ledger_record = {
      .data = entry, .len = (size_t)entry_len, .headers = headers, .header_count = 1};
  const corq_message notification = {
      .data = note, .len = (size_t)note_len, .headers = headers, .header_count = 1};
  /* Mandatory: if nothing were bound to the key, the commit fails (CORQ_EUNROUTABLE) instead of
   * dropping the notification. */
  const corq_publish_options mandatory = {
      .struct_size = sizeof mandatory, .flags = CORQ_PUBLISH_MANDATORY, .timeout_ms = 30000};

  corq_txn *txn = NULL;
  check(corq_txn_begin(engine, &txn), "corq_txn_begin");
  /* Nothing below is visible to anyone until the commit: no record, no message, no ack. */
  int rc = corq_txn_append(txn, "ledger", key, strlen(key), &ledger_record, NULL);
  if (rc == CORQ_OK) {
    rc = corq_txn_publish(txn, "notifications", "payment.received", &notification, &mandatory);
  }
  if (rc == CORQ_OK) rc = corq_txn_ack(txn, member, d->tag);
  if (rc != CORQ_OK) {
    corq_txn_abort(txn);
    return rc;
  }
  *out = txn;
  return CORQ_OK;
}

/* What became of one delivery. */
struct tally {
  unsigned long committed; /* its transaction is applied, durably */
  unsigned long came_back; /* not applied: the group delivers the payment again */
  unsigned long in_doubt;  /* applied here, durability unknown: after a crash all or nothing */
  unsigned long rejected;  /* not a payment: dead-lettered for a human to look at */
};

/* Processes one delivery of the group: every return code of the commit is handled. */
static void process_payment(corq_engine *engine, corq_consumer *member, const corq_delivery *d,
                            struct tally *tally) {
  unsigned long id = 0;
  long cents = 0;
  if (!parse_payment(d->data, d->len, &id, &cents)) {
    /* Poison: retrying cannot help. Dead-lettered to payments.ledger-writer.dlq at once. */
    check(corq_reject(member, d->tag, "not a payment"), "corq_reject");
    tally->rejected++;
    return;
  }
  corq_txn *txn = NULL;
  int rc = build_transaction(engine, member, d, id, cents, &txn);
  if (rc == CORQ_OK) rc = corq_txn_commit(txn, commit_timeout_ms); /* frees txn, whatever it says */
  switch (rc) {
    case CORQ_OK: tally->committed++; return;
    case CORQ_ESTATE:
      /* The delivery's lease ran out before the commit claimed it: nothing was applied, and the
       * group delivers the payment again (to us or another member). Just go on. */
      tally->came_back++;
      return;
    case CORQ_EFULL:
      /* "emails" is full (overflow=block, and no room within the commit's timeout): nothing was
       * applied, the delivery is still ours. Hand it back, unprocessed, and slow down. */
      rc = corq_release(member, d->tag);
      if (rc != CORQ_ESTATE) check(rc, "corq_release"); /* ESTATE: its lease ran out meanwhile */
      tally->came_back++;
      pause_ms(retry_pause_ms);
      return;
    case CORQ_ETIMEDOUT:
      /* Applied in this process but not yet known durable: after a crash it is wholly there or
       * wholly absent (and then the payment is delivered again). Never partial. */
      tally->in_doubt++;
      return;
    default:
      /* CORQ_EFAILED: the log failed and the engine is fail-stopped; whether the transaction got
       * to the disk is decided at the restart, all or nothing. CORQ_ENOENT, CORQ_EUNROUTABLE: the
       * topology is broken, nothing was applied. Neither is for this loop to fix: stop. */
      check(rc, "processing a payment");
  }
}

/* Processes payments until the group has none left (lag 0), or until `stop_after` (> 0) have
 * been committed. Closing the member at the end hands back what it held unprocessed. */
static void process(corq_engine *engine, unsigned long stop_after, struct tally *tally) {
  corq_consumer *member = open_member(engine);
  /* After a crash the payments not committed are back: lag counts every one not settled. */
  printf("process: %llu payments to process\n", (unsigned long long)group_stats(engine).lag);
  fflush(stdout); /* the kill test waits for this line */
  const time_t deadline = time(NULL) + process_seconds_max;
  while (stop_after == 0 || tally->committed < stop_after) {
    expect(time(NULL) < deadline, "process finished within process_seconds_max");
    corq_delivery batch[batch_max];
    int n = corq_consume(member, batch, batch_max, consume_wait_ms);
    check(n, "corq_consume");
    if (n == 0 && group_stats(engine).lag == 0) break; /* every payment is settled */
    for (int i = 0; i < n && (stop_after == 0 || tally->committed < stop_after); i++) {
      process_payment(engine, member, &batch[i], tally);
    }
  }
  check(corq_consumer_close(member), "corq_consumer_close");
}

static void print_tally(const char *who, const struct tally *t) {
  printf("%s: %lu committed, %lu came back, %lu in doubt, %lu rejected\n", who, t->committed,
         t->came_back, t->in_doubt, t->rejected);
}

/* ---- check ----------------------------------------------------------------------------------- */

/* One kind of output (ledger records, or notifications) as `check` found it. */
struct output_counts {
  uint32_t *per_id;    /* per payment id: how many carry it */
  unsigned long total; /* how many there are */
  unsigned long bad;   /* how many name no payment 0..n-1, or have the wrong text */
};

/* The text a ledger record (or a notification) of payment `id` must contain. */
static void expected_text(int ledger, unsigned long id, char *want) {
  long cents = amount_cents(id);
  if (ledger) {
    snprintf(want, text_max, "credit %ld cents for payment %lu ", cents, id);
  } else {
    snprintf(want, text_max, "payment %lu of %ld.%02ld EUR", id, cents / 100, cents % 100);
  }
}

/* Counts one output of payments 0..n-1 into `out`: its payment-id header must name one of them
 * and its text must be that payment's. */
static void count_output(struct output_counts *out, int ledger, unsigned long n,
                         const corq_header *headers, size_t header_count, const void *data,
                         size_t len) {
  char id_text[text_max], body[text_max], want[text_max];
  char *end = NULL;
  header(headers, header_count, "payment-id", id_text);
  unsigned long id = strtoul(id_text, &end, 10);
  out->total++;
  if (id_text[0] == '\0' || *end != '\0' || id >= n) {
    out->bad++;
    return;
  }
  text(data, len, body);
  expected_text(ledger, id, want);
  if (strstr(body, want) == NULL) out->bad++;
  out->per_id[id]++;
}

/* Reads every partition of "ledger" from its first record. */
static void read_ledger(corq_engine *engine, unsigned long n, struct output_counts *ledger) {
  corq_stream_stats stats = stream_stats(engine, "ledger");
  for (uint32_t p = 0; p < stats.partitions; p++) {
    corq_stream_reader *reader = NULL;
    check(corq_stream_reader_open(engine, "ledger", p, "earliest", &reader), "reader_open");
    corq_stream_record records[batch_max];
    for (int got; (got = corq_stream_read(reader, records, batch_max, 0)) != 0;) {
      check(got, "corq_stream_read");
      for (int i = 0; i < got; i++) {
        count_output(ledger, 1, n, records[i].headers, records[i].header_count, records[i].data,
                     records[i].len);
      }
    }
    check(corq_stream_reader_close(reader), "corq_stream_reader_close");
  }
  expect(ledger->total == stats.records, "the readers returned every retained ledger record");
}

/* Browses "emails": takes every notification without acking it, then closes the consumer, which
 * hands them all back. Nothing else consumes "emails" in this example, so every notification ever
 * committed is there. Returns how many are left that did not fit the window (0 unless far too
 * many). */
static uint64_t browse_emails(corq_engine *engine, unsigned long n, struct output_counts *emails) {
  corq_consumer *consumer = NULL;
  check(corq_consumer_open(engine, "emails", browse_window, &consumer), "corq_consumer_open");
  corq_delivery batch[batch_max];
  for (int got; (got = corq_consume(consumer, batch, batch_max, consume_wait_ms)) != 0;) {
    check(got, "corq_consume emails");
    for (int i = 0; i < got; i++) {
      count_output(emails, 0, n, batch[i].headers, batch[i].header_count, batch[i].data,
                   batch[i].len);
    }
  }
  corq_queue_stats stats = {.struct_size = sizeof stats};
  check(corq_queue_stats_get(engine, "emails", &stats), "corq_queue_stats_get");
  check(corq_consumer_close(consumer), "corq_consumer_close"); /* releases them all */
  return stats.ready + stats.delayed;
}

/* Prints the payments with no output or more than one of a kind (the first few, and how many);
 * returns how many there are. */
static unsigned long report(const char *what, const struct output_counts *out, unsigned long n) {
  unsigned long missing = 0, doubled = 0;
  for (unsigned long id = 0; id < n; id++) {
    if (out->per_id[id] == 1) continue;
    if (missing + doubled < 10) printf("  payment %lu: %u %s\n", id, out->per_id[id], what);
    if (out->per_id[id] == 0) {
      missing++;
    } else {
      doubled++;
    }
  }
  if (missing + doubled > 0) {
    printf("  %s: %lu payments without one, %lu with more than one\n", what, missing, doubled);
  }
  if (out->bad > 0)
    printf("  %lu %s name no payment 0..%lu or have a wrong text\n", out->bad, what, n - 1);
  return missing + doubled + out->bad;
}

/* Returns 1 when every payment 0..n-1 has exactly one ledger record and one notification, every
 * payment is in the stream and settled, and nothing else is there. */
static int check_exactly_once(corq_engine *engine, unsigned long n) {
  struct output_counts ledger = {calloc(n, sizeof(uint32_t)), 0, 0};
  struct output_counts emails = {calloc(n, sizeof(uint32_t)), 0, 0};
  expect(ledger.per_id != NULL && emails.per_id != NULL, "memory for the counts");
  read_ledger(engine, n, &ledger);
  uint64_t unbrowsed = browse_emails(engine, n, &emails);
  corq_stream_stats payments = stream_stats(engine, "payments");
  /* Before the first `process` there is no group (nor its dead-letter queue): nothing settled. */
  corq_group_stats group = {.struct_size = sizeof group};
  int rc = corq_group_stats_get(engine, "payments", "ledger-writer", &group);
  if (rc != CORQ_ENOENT) check(rc, "corq_group_stats_get");
  if (rc == CORQ_ENOENT) group.lag = payments.records;
  corq_queue_stats dead = {.struct_size = sizeof dead};
  rc = corq_queue_stats_get(engine, "payments.ledger-writer.dlq", &dead);
  if (rc != CORQ_ENOENT) check(rc, "corq_queue_stats_get dlq");

  printf("check: %llu payments in the stream, group lag %llu; %lu ledger records, %lu emails\n",
         (unsigned long long)payments.records, (unsigned long long)group.lag, ledger.total,
         emails.total);
  unsigned long problems =
      report("ledger records", &ledger, n) + report("notifications", &emails, n);
  if (unbrowsed > 0) {
    printf("  %llu notifications did not fit the browse\n", (unsigned long long)unbrowsed);
    problems++;
  }
  if (dead.ready + dead.delayed > 0) {
    printf("  payments were dead-lettered\n");
    problems++;
  }
  if (payments.records != n || group.lag != 0) {
    printf("  expected %lu payments, all processed (lag 0)\n", n);
    problems++;
  }
  free(ledger.per_id);
  free(emails.per_id);
  if (problems == 0) printf("check: every payment has one ledger record and one notification\n");
  return problems == 0;
}

/* ---- the demo -------------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int demo(void) {
  char dir[] = "/tmp/corq-exactly-once-XXXXXX";
  expect(mkdtemp(dir) != NULL, "mkdtemp");

  /* Run 1 commits some payments and stops (its member's unprocessed deliveries go back). */
  corq_engine *engine = open_engine(dir);
  produce(engine, demo_payments);
  struct tally first = {0, 0, 0, 0};
  process(engine, demo_commits_before_stop, &first);
  print_tally("run 1", &first);

  /* Run 2 takes the next payment, builds its transaction — and dies before corq_txn_commit: the
   * engine closes under the open transaction and the member, as a SIGKILL would leave them
   * (corq_close aborts the transaction; then only the handles are freed). */
  corq_consumer *member = open_member(engine);
  corq_delivery next;
  int n = corq_consume(member, &next, 1, 1000);
  check(n, "corq_consume");
  expect(n == 1, "a payment left to process");
  unsigned long id = 0;
  long cents = 0;
  expect(parse_payment(next.data, next.len, &id, &cents), "a payment");
  corq_txn *txn = NULL;
  check(build_transaction(engine, member, &next, id, cents, &txn), "build_transaction");
  check(corq_close(engine), "corq_close");
  corq_txn_abort(txn);
  check(corq_consumer_close(member), "corq_consumer_close");
  printf("run 2: stopped with the transaction of payment %lu built, not committed\n", id);

  /* Run 3, a restart: the uncommitted transaction left nothing — the ledger and "emails" hold run
   * 1's payments only — and its payment is delivered again, with the others. */
  engine = open_engine(dir);
  produce(engine, demo_payments); /* a repeat after an unsure stop: nothing new is appended */
  expect(stream_stats(engine, "payments").records == demo_payments, "no payment appended twice");
  expect(stream_stats(engine, "ledger").records == first.committed,
         "the ledger holds the committed payments only");
  corq_queue_stats emails = {.struct_size = sizeof emails};
  check(corq_queue_stats_get(engine, "emails", &emails), "corq_queue_stats_get");
  expect(emails.ready == first.committed, "emails holds the committed payments' notifications");
  struct tally third = {0, 0, 0, 0};
  process(engine, 0, &third);
  print_tally("run 3", &third);
  expect(first.committed + third.committed == demo_payments, "every payment committed once");

  int ok = check_exactly_once(engine, demo_payments);
  check(corq_close(engine), "corq_close");
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return ok ? 0 : 1;
}

/* ---- main ------------------------------------------------------------------------------------ */

static unsigned long payment_count(const char *arg) {
  char *end = NULL;
  unsigned long n = strtoul(arg, &end, 10);
  if (*arg == '\0' || *end != '\0' || n == 0 || n > payments_max) {
    fprintf(stderr, "N must be 1..%d\n", (int)payments_max);
    exit(2);
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc == 1) return demo();
  const char *mode = argc > 2 ? argv[2] : "";
  int with_count = strcmp(mode, "produce") == 0 || strcmp(mode, "check") == 0;
  if ((with_count && argc != 4) || (!with_count && (strcmp(mode, "process") != 0 || argc != 3))) {
    fprintf(stderr, "usage: %s [DIR produce N | DIR process | DIR check N]\n", argv[0]);
    return 2;
  }
  unsigned long n = with_count ? payment_count(argv[3]) : 0;
  /* The phases on stderr: the SIGKILL test keeps them in its children's log, so a run that hangs
   * says where (opening: recovery; the work; closing). */
  fprintf(stderr, "%s: opening %s\n", mode, argv[1]);
  corq_engine *engine = open_engine(argv[1]);
  fprintf(stderr, "%s: open\n", mode);
  int status = 0;
  if (strcmp(mode, "produce") == 0) {
    produce(engine, n);
  } else if (strcmp(mode, "process") == 0) {
    struct tally tally = {0, 0, 0, 0};
    process(engine, 0, &tally);
    print_tally("process", &tally);
  } else {
    status = check_exactly_once(engine, n) ? 0 : 1;
  }
  fprintf(stderr, "%s: closing\n", mode);
  check(corq_close(engine), "corq_close");
  fprintf(stderr, "%s: closed\n", mode);
  return status;
}
