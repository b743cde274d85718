/* glue.h — the C side of corq's Go binding: one small wrapper per corq.h call.
 *
 * Why wrappers: corq_last_error() is thread-local and a goroutine may move to another OS thread
 * between two cgo calls, so each wrapper makes the call and, when it fails, copies the detail in
 * the same C call (gq_result.detail, freed by Go). The wrappers also build the corq_message and
 * corq_header arrays in C memory from a packed Go byte buffer, because cgo forbids passing Go
 * memory that holds Go pointers (a corq_message pointing at a Go payload would be one).
 *
 * The packed form (built by pack.go):
 *   buf   one byte buffer: NUL-terminated names, keys, dedup ids; payloads; header values.
 *   msgs  GQ_MSG_FIELDS int64 per message: data offset (-1: the `ext` argument, for a single
 *         message whose payload is passed as its own pointer), data length, index of its first
 *         header in hdrs, header count, dedup id offset (-1: none).
 *   hdrs  GQ_HDR_FIELDS int64 per header: key offset, value offset (-1: NULL value), value length.
 * An offset of -1 for a string argument means NULL.
 *
 * Only declarations here: log.go, which //exports a Go function, includes this header, and cgo
 * allows no definitions in such a file's preamble. */
#ifndef CORQ_GO_GLUE_H
#define CORQ_GO_GLUE_H

#include <corq/corq.h>

#include <stddef.h>
#include <stdint.h>

#define GQ_MSG_FIELDS 5
#define GQ_HDR_FIELDS 3

/* What every wrapper returns: rc (corq's return value), the outputs of the call, and the detail
 * message of a failure (malloc'd, NULL on success). */
typedef struct gq_result {
  int rc;
  uint32_t u32;
  uint64_t u64;
  void *ptr;
  char *detail;
} gq_result;

/* Options: n pairs of offsets (key, value) into buf; ptr gets the config (NULL for n == 0). */
gq_result gq_config_build(const char *buf, const int64_t *pairs, size_t n);

gq_result gq_open(const char *buf, int64_t dir, const corq_config *options);
gq_result gq_sync(corq_engine *engine, int32_t timeout_ms);
gq_result gq_engine_id(corq_engine *engine, char *out);
/* A consumer of a fresh temporary queue: it keeps a closing engine's memory alive while Go calls
 * still run in it (engine.go, Close). NULL when it cannot be made. */
corq_consumer *gq_keeper_open(corq_engine *engine);
gq_result gq_set_log(corq_engine *engine, uintptr_t sink);

gq_result gq_queue_declare(corq_engine *engine, const char *buf, int64_t queue,
                           const corq_config *options);
gq_result gq_queue_declare_temp(corq_engine *engine, const corq_config *options, char *name_out,
                                size_t capacity);
gq_result gq_queue_delete(corq_engine *engine, const char *buf, int64_t queue);
gq_result gq_queue_purge(corq_engine *engine, const char *buf, int64_t queue);
gq_result gq_queue_stats(corq_engine *engine, const char *buf, int64_t queue,
                         corq_queue_stats *out);
gq_result gq_stats_json(corq_engine *engine);
gq_result gq_redrive(corq_engine *engine, const char *buf, int64_t from, int64_t to,
                     uint64_t max_messages);

gq_result gq_publish(corq_engine *engine, const char *buf, int64_t queue, const int64_t *msgs,
                     const int64_t *hdrs, size_t hdr_count, const void *ext,
                     corq_publish_options options);
gq_result gq_wait_durable(corq_engine *engine, uint64_t message_id, int32_t timeout_ms);
gq_result gq_producer_open(corq_engine *engine, const char *buf, int64_t queue);
gq_result gq_producer_send(corq_producer *producer, const char *buf, const int64_t *msgs,
                           size_t count, const int64_t *hdrs, size_t hdr_count,
                           corq_publish_options options);
gq_result gq_producer_flush(corq_producer *producer, int32_t timeout_ms);

gq_result gq_consumer_open(corq_engine *engine, const char *buf, int64_t queue, uint32_t prefetch);
gq_result gq_consume(corq_consumer *consumer, corq_delivery *out, size_t max, int32_t timeout_ms);
/* op: 0 ack, 1 ack_upto, 2 nack (arg: delay_ms), 3 release, 4 extend (arg: lease_ms). */
gq_result gq_settle(corq_consumer *consumer, int op, uint64_t tag, int64_t arg);
gq_result gq_reject(corq_consumer *consumer, uint64_t tag, const char *buf, int64_t reason);
gq_result gq_consumer_wakeup(corq_consumer *consumer);
gq_result gq_consumer_close(corq_consumer *consumer);

gq_result gq_exchange_declare(corq_engine *engine, const char *buf, int64_t exchange, int64_t type,
                              const corq_config *options);
gq_result gq_exchange_delete(corq_engine *engine, const char *buf, int64_t exchange);
/* op: 0 corq_bind, 1 corq_unbind, 2 corq_exchange_bind, 3 corq_exchange_unbind. */
gq_result gq_binding(int op, corq_engine *engine, const char *buf, int64_t source,
                     int64_t destination, int64_t key, const int64_t *hdrs, size_t hdr_count);
gq_result gq_exchange_publish(corq_engine *engine, const char *buf, int64_t exchange,
                              int64_t routing_key, const int64_t *msgs, const int64_t *hdrs,
                              size_t hdr_count, const void *ext, corq_publish_options options);
gq_result gq_exchange_stats(corq_engine *engine, const char *buf, int64_t exchange,
                            corq_exchange_stats *out);

gq_result gq_request(corq_engine *engine, const char *buf, int64_t exchange, int64_t routing_key,
                     const int64_t *msgs, const int64_t *hdrs, size_t hdr_count, const void *ext,
                     int32_t timeout_ms);
gq_result gq_respond(corq_consumer *consumer, uint64_t tag, const char *buf, const int64_t *msgs,
                     const int64_t *hdrs, size_t hdr_count, const void *ext);

gq_result gq_stream_declare(corq_engine *engine, const char *buf, int64_t stream,
                            const corq_config *options);
gq_result gq_stream_delete(corq_engine *engine, const char *buf, int64_t stream);
gq_result gq_stream_append(corq_engine *engine, const char *buf, int64_t stream, int64_t key,
                           size_t key_len, const int64_t *msgs, const int64_t *hdrs,
                           size_t hdr_count, const void *ext, corq_publish_options options);
gq_result gq_stream_producer_open(corq_engine *engine, const char *buf, int64_t stream);
gq_result gq_stream_producer_send(corq_stream_producer *producer, const char *buf, int64_t key,
                                  size_t key_len, const int64_t *msgs, size_t count,
                                  const int64_t *hdrs, size_t hdr_count,
                                  corq_publish_options options);
gq_result gq_stream_producer_close(corq_stream_producer *producer);
gq_result gq_stream_reader_open(corq_engine *engine, const char *buf, int64_t stream,
                                uint32_t partition, int64_t start);
gq_result gq_stream_read(corq_stream_reader *reader, corq_stream_record *out, size_t max,
                         int32_t timeout_ms);
gq_result gq_stream_reader_wakeup(corq_stream_reader *reader);
gq_result gq_stream_reader_close(corq_stream_reader *reader);
gq_result gq_stream_stats(corq_engine *engine, const char *buf, int64_t stream,
                          corq_stream_stats *out);

gq_result gq_group_consumer_open(corq_engine *engine, const char *buf, int64_t stream,
                                 int64_t group, const corq_config *options);
gq_result gq_group_seek(corq_engine *engine, const char *buf, int64_t stream, int64_t group,
                        int32_t partition, int64_t start);
gq_result gq_group_delete(corq_engine *engine, const char *buf, int64_t stream, int64_t group);
gq_result gq_group_stats(corq_engine *engine, const char *buf, int64_t stream, int64_t group,
                         corq_group_stats *out);

gq_result gq_txn_begin(corq_engine *engine);
gq_result gq_txn_publish(corq_txn *txn, const char *buf, int64_t exchange, int64_t routing_key,
                         const int64_t *msgs, const int64_t *hdrs, size_t hdr_count,
                         const void *ext, corq_publish_options options);
gq_result gq_txn_append(corq_txn *txn, const char *buf, int64_t stream, int64_t key, size_t key_len,
                        const int64_t *msgs, const int64_t *hdrs, size_t hdr_count, const void *ext,
                        corq_publish_options options);
gq_result gq_txn_ack(corq_txn *txn, corq_consumer *consumer, uint64_t tag);
gq_result gq_txn_commit(corq_txn *txn, int32_t timeout_ms);

#endif /* CORQ_GO_GLUE_H */
