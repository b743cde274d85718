/* glue.c — the wrappers declared in glue.h (what they are for is said there). */
#include "glue.h"

#include "_cgo_export.h"

#include <stdlib.h>
#include <string.h>

/* Messages and headers of one call live on the C stack up to these counts, on the heap above. */
enum { GQ_LOCAL_MESSAGES = 64, GQ_LOCAL_HEADERS = 128, GQ_TEMP_NAME_BYTES = 64 };

static char *gq_copy(const char *text) {
  size_t n = strlen(text) + 1;
  char *copy = malloc(n);
  if (copy != NULL) memcpy(copy, text, n);
  return copy;
}

/* The result of a corq call that returned rc, read on the thread that made it. */
static gq_result gq_done(int rc) {
  gq_result r = {rc, 0, 0, NULL, NULL};
  if (rc < 0) r.detail = gq_copy(corq_last_error());
  return r;
}

/* A failure of the glue itself (no corq call made): its own detail. */
static gq_result gq_fail(int rc, const char *detail) {
  gq_result r = {rc, 0, 0, NULL, gq_copy(detail)};
  return r;
}

static const char *gq_str(const char *buf, int64_t offset) {
  return offset < 0 ? NULL : buf + offset;
}

/* ---- packed messages ---------------------------------------------------------------------- */

typedef struct gq_messages {
  corq_message *messages;
  corq_header *headers;
  corq_message local_messages[GQ_LOCAL_MESSAGES];
  corq_header local_headers[GQ_LOCAL_HEADERS];
} gq_messages;

static void gq_messages_free(gq_messages *m) {
  if (m->messages != m->local_messages) free(m->messages);
  if (m->headers != m->local_headers) free(m->headers);
}

/* Builds the headers (hdr_count) alone: binding arguments, and the headers of messages. */
static int gq_headers_build(gq_messages *m, const char *buf, const int64_t *hdrs,
                            size_t hdr_count) {
  m->messages = m->local_messages;
  m->headers = m->local_headers;
  if (hdr_count > GQ_LOCAL_HEADERS) {
    m->headers = malloc(hdr_count * sizeof *m->headers);
    if (m->headers == NULL) return CORQ_ENOMEM;
  }
  for (size_t h = 0; h < hdr_count; h++) {
    const int64_t *d = hdrs + h * GQ_HDR_FIELDS;
    m->headers[h].key = buf + d[0];
    m->headers[h].value = gq_str(buf, d[1]);
    m->headers[h].value_len = (size_t)d[2];
  }
  return CORQ_OK;
}

static int gq_messages_build(gq_messages *m, const char *buf, const int64_t *msgs, size_t count,
                             const int64_t *hdrs, size_t hdr_count, const void *ext) {
  if (gq_headers_build(m, buf, hdrs, hdr_count) != CORQ_OK) return CORQ_ENOMEM;
  if (count > GQ_LOCAL_MESSAGES) {
    m->messages = malloc(count * sizeof *m->messages);
    if (m->messages == NULL) {
      gq_messages_free(m);
      return CORQ_ENOMEM;
    }
  }
  for (size_t i = 0; i < count; i++) {
    const int64_t *d = msgs + i * GQ_MSG_FIELDS;
    corq_message *out = &m->messages[i];
    out->data = d[0] < 0 ? ext : buf + d[0];
    out->len = (size_t)d[1];
    out->headers = d[3] == 0 ? NULL : m->headers + d[2];
    out->header_count = (size_t)d[3];
    out->dedup_id = gq_str(buf, d[4]);
  }
  return CORQ_OK;
}

#define GQ_BUILD(m, buf, msgs, count, hdrs, hdr_count, ext)                     \
  gq_messages m;                                                                \
  if (gq_messages_build(&m, buf, msgs, count, hdrs, hdr_count, ext) != CORQ_OK) \
    return gq_fail(CORQ_ENOMEM, "corq-go: out of memory building the messages");

/* ---- config and engine -------------------------------------------------------------------- */

gq_result gq_config_build(const char *buf, const int64_t *pairs, size_t n) {
  if (n == 0) return gq_done(CORQ_OK);
  corq_config *config = corq_config_new();
  if (config == NULL) return gq_fail(CORQ_ENOMEM, "corq_config_new: out of memory");
  for (size_t i = 0; i < n; i++) {
    int rc = corq_config_set(config, buf + pairs[2 * i], buf + pairs[2 * i + 1]);
    if (rc < 0) {
      gq_result r = gq_done(rc);
      corq_config_free(config);
      return r;
    }
  }
  gq_result r = gq_done(CORQ_OK);
  r.ptr = config;
  return r;
}

gq_result gq_open(const char *buf, int64_t dir, const corq_config *options) {
  corq_engine *engine = NULL;
  gq_result r = gq_done(corq_open(gq_str(buf, dir), options, &engine));
  r.ptr = engine;
  return r;
}

gq_result gq_sync(corq_engine *engine, int32_t timeout_ms) {
  return gq_done(corq_sync(engine, timeout_ms));
}

gq_result gq_engine_id(corq_engine *engine, char *out) {
  return gq_done(corq_engine_id(engine, out));
}

corq_consumer *gq_keeper_open(corq_engine *engine) {
  char name[GQ_TEMP_NAME_BYTES];
  corq_consumer *keeper = NULL;
  if (corq_queue_declare_temp(engine, NULL, name, sizeof name) < 0) return NULL;
  if (corq_consumer_open(engine, name, 1, &keeper) < 0) {
    corq_queue_delete(engine, name);
    return NULL;
  }
  return keeper;
}

static void gq_log_trampoline(void *user, int level, const char *message) {
  corqGoLog((uintptr_t)user, level, (char *)message);
}

gq_result gq_set_log(corq_engine *engine, uintptr_t sink) {
  return gq_done(corq_set_log_callback(engine, sink == 0 ? NULL : gq_log_trampoline, (void *)sink));
}

/* ---- queues ------------------------------------------------------------------------------- */

gq_result gq_queue_declare(corq_engine *engine, const char *buf, int64_t queue,
                           const corq_config *options) {
  return gq_done(corq_queue_declare(engine, gq_str(buf, queue), options));
}

gq_result gq_queue_declare_temp(corq_engine *engine, const corq_config *options, char *name_out,
                                size_t capacity) {
  return gq_done(corq_queue_declare_temp(engine, options, name_out, capacity));
}

gq_result gq_queue_delete(corq_engine *engine, const char *buf, int64_t queue) {
  return gq_done(corq_queue_delete(engine, gq_str(buf, queue)));
}

gq_result gq_queue_purge(corq_engine *engine, const char *buf, int64_t queue) {
  uint64_t purged = 0;
  gq_result r = gq_done(corq_queue_purge(engine, gq_str(buf, queue), &purged));
  r.u64 = purged;
  return r;
}

gq_result gq_queue_stats(corq_engine *engine, const char *buf, int64_t queue,
                         corq_queue_stats *out) {
  return gq_done(corq_queue_stats_get(engine, gq_str(buf, queue), out));
}

gq_result gq_stats_json(corq_engine *engine) {
  char *json = NULL;
  gq_result r = gq_done(corq_stats_json(engine, &json));
  r.ptr = json;
  return r;
}

gq_result gq_redrive(corq_engine *engine, const char *buf, int64_t from, int64_t to,
                     uint64_t max_messages) {
  uint64_t moved = 0;
  gq_result r =
      gq_done(corq_redrive(engine, gq_str(buf, from), gq_str(buf, to), max_messages, &moved));
  r.u64 = moved;
  return r;
}

/* ---- publishing --------------------------------------------------------------------------- */

gq_result gq_publish(corq_engine *engine, const char *buf, int64_t queue, const int64_t *msgs,
                     const int64_t *hdrs, size_t hdr_count, const void *ext,
                     corq_publish_options options) {
  GQ_BUILD(m, buf, msgs, 1, hdrs, hdr_count, ext)
  uint64_t id = 0;
  gq_result r = gq_done(corq_publish(engine, gq_str(buf, queue), m.messages, &options, &id));
  gq_messages_free(&m);
  r.u64 = id;
  return r;
}

gq_result gq_wait_durable(corq_engine *engine, uint64_t message_id, int32_t timeout_ms) {
  return gq_done(corq_wait_durable(engine, message_id, timeout_ms));
}

gq_result gq_producer_open(corq_engine *engine, const char *buf, int64_t queue) {
  corq_producer *producer = NULL;
  gq_result r = gq_done(corq_producer_open(engine, gq_str(buf, queue), &producer));
  r.ptr = producer;
  return r;
}

gq_result gq_producer_send(corq_producer *producer, const char *buf, const int64_t *msgs,
                           size_t count, const int64_t *hdrs, size_t hdr_count,
                           corq_publish_options options) {
  GQ_BUILD(m, buf, msgs, count, hdrs, hdr_count, NULL)
  uint64_t first = 0;
  gq_result r = gq_done(corq_producer_send(producer, m.messages, count, &options, &first));
  gq_messages_free(&m);
  r.u64 = first;
  return r;
}

gq_result gq_producer_flush(corq_producer *producer, int32_t timeout_ms) {
  return gq_done(corq_producer_flush(producer, timeout_ms));
}

/* ---- consuming ---------------------------------------------------------------------------- */

gq_result gq_consumer_open(corq_engine *engine, const char *buf, int64_t queue, uint32_t prefetch) {
  corq_consumer *consumer = NULL;
  gq_result r = gq_done(corq_consumer_open(engine, gq_str(buf, queue), prefetch, &consumer));
  r.ptr = consumer;
  return r;
}

gq_result gq_consume(corq_consumer *consumer, corq_delivery *out, size_t max, int32_t timeout_ms) {
  return gq_done(corq_consume(consumer, out, max, timeout_ms));
}

gq_result gq_settle(corq_consumer *consumer, int op, uint64_t tag, int64_t arg) {
  switch (op) {
    case 0: return gq_done(corq_ack(consumer, tag));
    case 1: return gq_done(corq_ack_upto(consumer, tag));
    case 2: return gq_done(corq_nack(consumer, tag, arg));
    case 3: return gq_done(corq_release(consumer, tag));
    case 4: return gq_done(corq_extend(consumer, tag, arg));
    default: return gq_fail(CORQ_EINVAL, "corq-go: unknown settle operation");
  }
}

gq_result gq_reject(corq_consumer *consumer, uint64_t tag, const char *buf, int64_t reason) {
  return gq_done(corq_reject(consumer, tag, gq_str(buf, reason)));
}

gq_result gq_consumer_wakeup(corq_consumer *consumer) {
  return gq_done(corq_consumer_wakeup(consumer));
}

gq_result gq_consumer_close(corq_consumer *consumer) {
  return gq_done(corq_consumer_close(consumer));
}

/* ---- exchanges ---------------------------------------------------------------------------- */

gq_result gq_exchange_declare(corq_engine *engine, const char *buf, int64_t exchange, int64_t type,
                              const corq_config *options) {
  return gq_done(corq_exchange_declare(engine, gq_str(buf, exchange), gq_str(buf, type), options));
}

gq_result gq_exchange_delete(corq_engine *engine, const char *buf, int64_t exchange) {
  return gq_done(corq_exchange_delete(engine, gq_str(buf, exchange)));
}

gq_result gq_binding(int op, corq_engine *engine, const char *buf, int64_t source,
                     int64_t destination, int64_t key, const int64_t *hdrs, size_t hdr_count) {
  gq_messages m;
  if (gq_headers_build(&m, buf, hdrs, hdr_count) != CORQ_OK)
    return gq_fail(CORQ_ENOMEM, "corq-go: out of memory building the arguments");
  const corq_header *args = hdr_count == 0 ? NULL : m.headers;
  const char *src = gq_str(buf, source), *dst = gq_str(buf, destination), *k = gq_str(buf, key);
  int rc = CORQ_EINVAL;
  switch (op) {
    case 0: rc = corq_bind(engine, src, dst, k, args, hdr_count); break;
    case 1: rc = corq_unbind(engine, src, dst, k, args, hdr_count); break;
    case 2: rc = corq_exchange_bind(engine, src, dst, k, args, hdr_count); break;
    case 3: rc = corq_exchange_unbind(engine, src, dst, k, args, hdr_count); break;
    default:
      gq_messages_free(&m);
      return gq_fail(CORQ_EINVAL, "corq-go: unknown binding operation");
  }
  gq_result r = gq_done(rc);
  gq_messages_free(&m);
  return r;
}

gq_result gq_exchange_publish(corq_engine *engine, const char *buf, int64_t exchange,
                              int64_t routing_key, const int64_t *msgs, const int64_t *hdrs,
                              size_t hdr_count, const void *ext, corq_publish_options options) {
  GQ_BUILD(m, buf, msgs, 1, hdrs, hdr_count, ext)
  uint64_t id = 0;
  uint32_t routed = 0;
  gq_result r = gq_done(corq_exchange_publish(
      engine, gq_str(buf, exchange), gq_str(buf, routing_key), m.messages, &options, &id, &routed));
  gq_messages_free(&m);
  r.u64 = id;
  r.u32 = routed;
  return r;
}

gq_result gq_exchange_stats(corq_engine *engine, const char *buf, int64_t exchange,
                            corq_exchange_stats *out) {
  return gq_done(corq_exchange_stats_get(engine, gq_str(buf, exchange), out));
}

/* ---- request-reply ------------------------------------------------------------------------ */

gq_result gq_request(corq_engine *engine, const char *buf, int64_t exchange, int64_t routing_key,
                     const int64_t *msgs, const int64_t *hdrs, size_t hdr_count, const void *ext,
                     int32_t timeout_ms) {
  GQ_BUILD(m, buf, msgs, 1, hdrs, hdr_count, ext)
  corq_reply *reply = NULL;
  gq_result r = gq_done(corq_request(engine, gq_str(buf, exchange), gq_str(buf, routing_key),
                                     m.messages, timeout_ms, &reply));
  gq_messages_free(&m);
  r.ptr = reply;
  return r;
}

gq_result gq_respond(corq_consumer *consumer, uint64_t tag, const char *buf, const int64_t *msgs,
                     const int64_t *hdrs, size_t hdr_count, const void *ext) {
  GQ_BUILD(m, buf, msgs, 1, hdrs, hdr_count, ext)
  gq_result r = gq_done(corq_respond(consumer, tag, m.messages));
  gq_messages_free(&m);
  return r;
}

/* ---- streams and groups ------------------------------------------------------------------- */

gq_result gq_stream_declare(corq_engine *engine, const char *buf, int64_t stream,
                            const corq_config *options) {
  return gq_done(corq_stream_declare(engine, gq_str(buf, stream), options));
}

gq_result gq_stream_delete(corq_engine *engine, const char *buf, int64_t stream) {
  return gq_done(corq_stream_delete(engine, gq_str(buf, stream)));
}

gq_result gq_stream_append(corq_engine *engine, const char *buf, int64_t stream, int64_t key,
                           size_t key_len, const int64_t *msgs, const int64_t *hdrs,
                           size_t hdr_count, const void *ext, corq_publish_options options) {
  GQ_BUILD(m, buf, msgs, 1, hdrs, hdr_count, ext)
  uint32_t partition = 0;
  uint64_t offset = 0;
  gq_result r = gq_done(corq_stream_append(engine, gq_str(buf, stream), gq_str(buf, key), key_len,
                                           m.messages, &options, &partition, &offset));
  gq_messages_free(&m);
  r.u32 = partition;
  r.u64 = offset;
  return r;
}

gq_result gq_stream_producer_open(corq_engine *engine, const char *buf, int64_t stream) {
  corq_stream_producer *producer = NULL;
  gq_result r = gq_done(corq_stream_producer_open(engine, gq_str(buf, stream), &producer));
  r.ptr = producer;
  return r;
}

gq_result gq_stream_producer_send(corq_stream_producer *producer, const char *buf, int64_t key,
                                  size_t key_len, const int64_t *msgs, size_t count,
                                  const int64_t *hdrs, size_t hdr_count,
                                  corq_publish_options options) {
  GQ_BUILD(m, buf, msgs, count, hdrs, hdr_count, NULL)
  uint32_t partition = 0;
  uint64_t first = 0;
  gq_result r = gq_done(corq_stream_producer_send(producer, gq_str(buf, key), key_len, m.messages,
                                                  count, &options, &partition, &first));
  gq_messages_free(&m);
  r.u32 = partition;
  r.u64 = first;
  return r;
}

gq_result gq_stream_producer_close(corq_stream_producer *producer) {
  return gq_done(corq_stream_producer_close(producer));
}

gq_result gq_stream_reader_open(corq_engine *engine, const char *buf, int64_t stream,
                                uint32_t partition, int64_t start) {
  corq_stream_reader *reader = NULL;
  gq_result r = gq_done(
      corq_stream_reader_open(engine, gq_str(buf, stream), partition, gq_str(buf, start), &reader));
  r.ptr = reader;
  return r;
}

gq_result gq_stream_read(corq_stream_reader *reader, corq_stream_record *out, size_t max,
                         int32_t timeout_ms) {
  return gq_done(corq_stream_read(reader, out, max, timeout_ms));
}

gq_result gq_stream_reader_wakeup(corq_stream_reader *reader) {
  return gq_done(corq_stream_reader_wakeup(reader));
}

gq_result gq_stream_reader_close(corq_stream_reader *reader) {
  return gq_done(corq_stream_reader_close(reader));
}

gq_result gq_stream_stats(corq_engine *engine, const char *buf, int64_t stream,
                          corq_stream_stats *out) {
  return gq_done(corq_stream_stats_get(engine, gq_str(buf, stream), out));
}

gq_result gq_group_consumer_open(corq_engine *engine, const char *buf, int64_t stream,
                                 int64_t group, const corq_config *options) {
  corq_consumer *member = NULL;
  gq_result r = gq_done(
      corq_group_consumer_open(engine, gq_str(buf, stream), gq_str(buf, group), options, &member));
  r.ptr = member;
  return r;
}

gq_result gq_group_seek(corq_engine *engine, const char *buf, int64_t stream, int64_t group,
                        int32_t partition, int64_t start) {
  return gq_done(corq_group_seek(engine, gq_str(buf, stream), gq_str(buf, group), partition,
                                 gq_str(buf, start)));
}

gq_result gq_group_delete(corq_engine *engine, const char *buf, int64_t stream, int64_t group) {
  return gq_done(corq_group_delete(engine, gq_str(buf, stream), gq_str(buf, group)));
}

gq_result gq_group_stats(corq_engine *engine, const char *buf, int64_t stream, int64_t group,
                         corq_group_stats *out) {
  return gq_done(corq_group_stats_get(engine, gq_str(buf, stream), gq_str(buf, group), out));
}

/* ---- transactions ------------------------------------------------------------------------- */

gq_result gq_txn_begin(corq_engine *engine) {
  corq_txn *txn = NULL;
  gq_result r = gq_done(corq_txn_begin(engine, &txn));
  r.ptr = txn;
  return r;
}

gq_result gq_txn_publish(corq_txn *txn, const char *buf, int64_t exchange, int64_t routing_key,
                         const int64_t *msgs, const int64_t *hdrs, size_t hdr_count,
                         const void *ext, corq_publish_options options) {
  GQ_BUILD(m, buf, msgs, 1, hdrs, hdr_count, ext)
  gq_result r = gq_done(
      corq_txn_publish(txn, gq_str(buf, exchange), gq_str(buf, routing_key), m.messages, &options));
  gq_messages_free(&m);
  return r;
}

gq_result gq_txn_append(corq_txn *txn, const char *buf, int64_t stream, int64_t key, size_t key_len,
                        const int64_t *msgs, const int64_t *hdrs, size_t hdr_count, const void *ext,
                        corq_publish_options options) {
  GQ_BUILD(m, buf, msgs, 1, hdrs, hdr_count, ext)
  gq_result r = gq_done(
      corq_txn_append(txn, gq_str(buf, stream), gq_str(buf, key), key_len, m.messages, &options));
  gq_messages_free(&m);
  return r;
}

gq_result gq_txn_ack(corq_txn *txn, corq_consumer *consumer, uint64_t tag) {
  return gq_done(corq_txn_ack(txn, consumer, tag));
}

gq_result gq_txn_commit(corq_txn *txn, int32_t timeout_ms) {
  return gq_done(corq_txn_commit(txn, timeout_ms));
}
