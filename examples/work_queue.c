/*
 * work_queue.c — a work queue with retries, backoff and a dead-letter queue.
 *
 * A producer publishes ten jobs; a worker processes them. Some jobs fail once and then succeed
 * (a flaky dependency): the worker nacks them, corq retries them after the queue's backoff. Some
 * jobs always fail (poison): after max_attempts failed attempts corq dead-letters them to
 * "jobs.dlq" with x-death-* headers, where an operator (here: the end of main) inspects them.
 *
 * Build and run: cmake --build build/release --target example_work_queue &&
 * build/release/examples/example_work_queue. Exit status 0 when every outcome is as expected.
 */
#include <corq/corq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rounds_max bounds the worker's loop: 200 consume waits of 50 ms, far more than the retries need.
 */
enum { job_count = 10, max_attempts = 3, batch_max = 16, rounds_max = 200 };

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

/* The "work": job n % 5 == 4 is poison (always fails); job n % 5 == 1 fails its first attempt. */
static int process(int job, uint32_t delivery_count) {
  if (job % 5 == 4) return -1;
  if (job % 5 == 1 && delivery_count == 1) return -1;
  return 0;
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

static int job_number(const corq_delivery *d) {
  char text[16] = {0};
  memcpy(text, d->data, d->len < 15 ? d->len : 15);
  return atoi(text + 4); /* "job-N" */
}

static void publish_jobs(corq_engine *engine) {
  for (int n = 0; n < job_count; n++) {
    char text[16];
    int len = snprintf(text, sizeof text, "job-%d", n);
    corq_message message = {.data = text, .len = (size_t)len};
    check(corq_publish(engine, "jobs", &message, NULL, NULL), "corq_publish");
  }
}

/* Works until every job is acked or dead-lettered — each job ends in exactly one of the two — or
 * rounds_max rounds have passed; returns how many jobs were acked. */
static int work(corq_engine *engine) {
  corq_consumer *consumer;
  check(corq_consumer_open(engine, "jobs", batch_max, &consumer), "corq_consumer_open");
  int acked = 0, failed_attempts = 0;
  corq_queue_stats stats = {.struct_size = sizeof stats};
  for (int round = 0; round < rounds_max && acked + (int)stats.dead_lettered < job_count; round++) {
    corq_delivery batch[batch_max];
    int n = corq_consume(consumer, batch, batch_max, /*timeout_ms=*/50);
    check(n, "corq_consume");
    for (int i = 0; i < n; i++) {
      int job = job_number(&batch[i]);
      if (process(job, batch[i].delivery_count) == 0) {
        check(corq_ack(consumer, batch[i].tag), "corq_ack");
        acked++;
      } else {
        /* -1: retry after the queue's backoff (10 ms, 20 ms, ...), or dead-letter at the limit. */
        check(corq_nack(consumer, batch[i].tag, -1), "corq_nack");
        failed_attempts++;
      }
    }
    check(corq_queue_stats_get(engine, "jobs", &stats), "corq_queue_stats_get");
  }
  printf("worker: %d acked, %d failed attempts\n", acked, failed_attempts);
  check(corq_consumer_close(consumer), "corq_consumer_close");
  return acked;
}

/* Reads the dead letters; returns how many there were. */
static int read_dead_letters(corq_engine *engine) {
  corq_consumer *consumer;
  check(corq_consumer_open(engine, "jobs.dlq", batch_max, &consumer), "corq_consumer_open");
  corq_delivery batch[batch_max];
  int n = corq_consume(consumer, batch, batch_max, /*timeout_ms=*/1000);
  check(n, "corq_consume");
  for (int i = 0; i < n; i++) {
    char reason[64], queue[64], count[64];
    printf("dead letter: %.*s  x-death-reason=%s x-death-queue=%s x-death-count=%s\n",
           (int)batch[i].len, (const char *)batch[i].data,
           header(&batch[i], "x-death-reason", reason), header(&batch[i], "x-death-queue", queue),
           header(&batch[i], "x-death-count", count));
    expect(job_number(&batch[i]) % 5 == 4, "only poison jobs are dead-lettered");
    expect(strcmp(reason, "max_attempts") == 0, "x-death-reason is max_attempts");
    expect(strcmp(queue, "jobs") == 0, "x-death-queue is jobs");
    check(corq_ack(consumer, batch[i].tag), "corq_ack"); /* handled: logged above */
  }
  check(corq_consumer_close(consumer), "corq_consumer_close");
  return n;
}

int main(void) {
  corq_engine *engine;
  check(corq_open(NULL, NULL, &engine), "corq_open"); /* in memory */

  /* Three attempts per job; retries after 10 ms, then 20 ms (backoff 2.0). The dead-letter queue
   * "jobs.dlq" is declared with it. */
  corq_config *options = corq_config_new();
  expect(options != NULL, "corq_config_new");
  check(corq_config_set(options, "max_attempts", "3"), "corq_config_set");
  check(corq_config_set(options, "retry_delay_ms", "10"), "corq_config_set");
  check(corq_config_set(options, "retry_backoff", "2.0"), "corq_config_set");
  check(corq_queue_declare(engine, "jobs", options), "corq_queue_declare");
  corq_config_free(options);

  publish_jobs(engine);
  int acked = work(engine);
  int dead = read_dead_letters(engine);

  corq_queue_stats stats = {.struct_size = sizeof stats};
  check(corq_queue_stats_get(engine, "jobs", &stats), "corq_queue_stats_get");
  expect(acked == 8 && stats.acked == 8, "8 jobs acked");
  expect(dead == 2 && stats.dead_lettered == 2, "2 poison jobs dead-lettered");
  /* jobs 1 and 6 failed once; 4 and 9 failed max_attempts times each. */
  expect(stats.nacked == 2 + 2 * max_attempts, "failed attempts counted");
  check(corq_close(engine), "corq_close");
  printf("work_queue: ok\n");
  return 0;
}
