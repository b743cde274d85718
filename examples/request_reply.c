/*
 * request_reply.c — a service asks another and waits for the answer (RPC over queues).
 *
 * A price service consumes requests from its queue "prices", bound to the direct exchange
 * "services" with the key "price"; a client asks it with corq_request, which adds the headers
 * x-reply-to and x-correlation-id and waits for the response. The service answers with
 * corq_respond: the response goes to the requester's private reply queue and the request is acked,
 * in that order. Three things a caller must handle are shown too:
 *   - nobody serves the key: corq_request fails at once with CORQ_EUNROUTABLE (no responder);
 *   - the service does not answer in time: CORQ_ETIMEDOUT; its answer, if it comes later, is
 *     dropped and counted, never handed to a later request;
 *   - a later request gets its own answer, not the late one.
 *
 * The service runs on its own thread. Build and run: cmake --build build/release --target
 * example_request_reply && build/release/examples/example_request_reply. Exit status 0 when every
 * outcome is as expected.
 */
#include <corq/corq.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { answer_max = 64, serve_rounds_max = 500 };

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

struct service {
  corq_consumer *consumer;
  int requests_to_answer; /* then it stops */
};

/* Answers "price of <item>" with "<item>: 42.00 EUR". */
static void *serve(void *arg) {
  struct service *s = arg;
  for (int round = 0; round < serve_rounds_max && s->requests_to_answer > 0; round++) {
    corq_delivery d;
    int n = corq_consume(s->consumer, &d, 1, 20);
    check(n, "consume a request");
    if (n == 0) continue;
    char answer[answer_max];
    int len = snprintf(answer, sizeof answer, "%.*s: 42.00 EUR", (int)d.len, (const char *)d.data);
    corq_message response = {.data = answer, .len = (size_t)len};
    check(corq_respond(s->consumer, d.tag, &response), "respond");
    s->requests_to_answer--;
  }
  return NULL;
}

/* The text of a reply, for printing and checking. */
static void reply_text(const corq_reply *r, char *out, size_t capacity) {
  size_t n = r->len < capacity - 1 ? r->len : capacity - 1;
  memcpy(out, r->data, n);
  out[n] = '\0';
}

int main(void) {
  corq_engine *engine;
  check(corq_open(NULL, NULL, &engine), "open");
  check(corq_exchange_declare(engine, "services", "direct", NULL), "declare exchange");
  check(corq_queue_declare(engine, "prices", NULL), "declare queue");
  check(corq_bind(engine, "services", "prices", "price", NULL, 0), "bind");

  /* Nobody serves "stock": no responder, at once. */
  corq_message ask_stock = {.data = "widget", .len = 6};
  corq_reply *reply = NULL;
  int rc = corq_request(engine, "services", "stock", &ask_stock, 1000, &reply);
  expect(rc == CORQ_EUNROUTABLE && reply == NULL, "a request nobody serves is unroutable");
  printf("stock:   %s\n", corq_strerror(rc));

  /* The service is not running yet: the request times out. */
  corq_message ask_early = {.data = "gadget", .len = 6};
  rc = corq_request(engine, "services", "price", &ask_early, 100, &reply);
  expect(rc == CORQ_ETIMEDOUT && reply == NULL, "an unanswered request times out");
  printf("gadget:  %s\n", corq_strerror(rc));

  /* Now it runs: it answers the stale "gadget" request (dropped) and then "widget". */
  struct service s = {.requests_to_answer = 2};
  check(corq_consumer_open(engine, "prices", 8, &s.consumer), "open the service's consumer");
  pthread_t thread;
  expect(pthread_create(&thread, NULL, serve, &s) == 0, "start the service");
  corq_message ask = {.data = "widget", .len = 6};
  check(corq_request(engine, "services", "price", &ask, 5000, &reply), "request the price");
  char text[answer_max];
  reply_text(reply, text, sizeof text);
  printf("widget:  %s\n", text);
  expect(strcmp(text, "widget: 42.00 EUR") == 0, "the answer is the widget's, not the gadget's");
  corq_reply_free(reply);
  pthread_join(thread, NULL);

  char *json;
  check(corq_stats_json(engine, &json), "stats");
  expect(strstr(json, "\"late_replies_dropped\":1") != NULL, "the late answer was counted");
  expect(strstr(json, "\"replied\":1") != NULL, "one request was answered");
  corq_free(json);
  check(corq_consumer_close(s.consumer), "close the service");
  check(corq_close(engine), "close");
  printf("request-reply: all outcomes as expected\n");
  return 0;
}
