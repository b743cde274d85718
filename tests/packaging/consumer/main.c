/*
 * An out-of-tree program built against an installed corq (tests/packaging): checks that the header
 * and the library it linked agree on the version, and that a message goes round through them.
 * Exit status 0 on success.
 */
#include <corq/corq.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc) {
  fprintf(stderr, "%s: %s (%s)\n", what, corq_strerror(rc), corq_last_error());
  return 1;
}

int main(void) {
  printf("header %d (%s), library %u (%s)\n", CORQ_VERSION, CORQ_VERSION_STRING, corq_version(),
         corq_version_string());
  if (corq_version() != CORQ_VERSION || strcmp(corq_version_string(), CORQ_VERSION_STRING) != 0) {
    fprintf(stderr, "corq_version() != CORQ_VERSION\n");
    return 1;
  }
  corq_engine *engine;
  int rc = corq_open(NULL, NULL, &engine);
  if (rc != CORQ_OK) return fail("corq_open", rc);
  if ((rc = corq_queue_declare(engine, "installed", NULL)) != CORQ_OK) return fail("declare", rc);
  corq_message message = {.data = "ping", .len = 4};
  if ((rc = corq_publish(engine, "installed", &message, NULL, NULL)) != CORQ_OK)
    return fail("corq_publish", rc);
  corq_consumer *consumer;
  if ((rc = corq_consumer_open(engine, "installed", 1, &consumer)) != CORQ_OK)
    return fail("corq_consumer_open", rc);
  corq_delivery delivery;
  rc = corq_consume(consumer, &delivery, 1, 10000);
  if (rc != 1) return fail("corq_consume", rc);
  if (delivery.len != 4 || memcmp(delivery.data, "ping", 4) != 0) {
    fprintf(stderr, "the message did not come back intact\n");
    return 1;
  }
  if ((rc = corq_ack(consumer, delivery.tag)) != CORQ_OK) return fail("corq_ack", rc);
  if ((rc = corq_consumer_close(consumer)) != CORQ_OK) return fail("corq_consumer_close", rc);
  if ((rc = corq_close(engine)) != CORQ_OK) return fail("corq_close", rc);
  printf("installed corq works\n");
  return 0;
}
