/*
 * corq.h — the C API of corq, an embeddable persistent message-queue engine.
 *
 * This header is the manual: every declaration states its contract — ownership of each pointer,
 * thread-safety of each handle, and the error codes it returns.
 *
 * Conventions (the whole API follows them):
 *   - Plain C99, usable from any FFI: opaque handles, fixed-width integers, no varargs, no inline
 *     functions, no bitfields, no enum-typed return values.
 *   - Every function returns int: 0 (CORQ_OK) on success, a negative CORQ_E* code on failure,
 * unless its comment says otherwise.
 *   - On failure, corq_last_error() returns a human-readable detail message for the calling thread.
 */
#ifndef CORQ_CORQ_H
#define CORQ_CORQ_H

#include <stddef.h>
#include <stdint.h>

#if defined(CORQ_BUILDING_LIBRARY) && defined(__GNUC__)
#define CORQ_API __attribute__((visibility("default")))
#else
#define CORQ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ----------------------------------------------------------------------------------
 * CORQ_VERSION is MAJOR*10000 + MINOR*100 + PATCH of the headers you compiled against;
 * corq_version() is the same number for the library you linked. The shared library's SONAME carries
 * the major version: a change of major version is a change of ABI. */
#define CORQ_VERSION_MAJOR 0
#define CORQ_VERSION_MINOR 1
#define CORQ_VERSION_PATCH 0
#define CORQ_VERSION (CORQ_VERSION_MAJOR * 10000 + CORQ_VERSION_MINOR * 100 + CORQ_VERSION_PATCH)
#define CORQ_VERSION_STRING "0.1.0"

/* Returns CORQ_VERSION of the linked library. Thread-safe, never fails. */
CORQ_API uint32_t corq_version(void);
/* Returns "MAJOR.MINOR.PATCH" of the linked library: static storage, never NULL. Thread-safe. */
CORQ_API const char *corq_version_string(void);

/* ---- Errors -----------------------------------------------------------------------------------
 * Values are part of the ABI and never change meaning. */
#define CORQ_OK 0
#define CORQ_EINVAL (-1)    /* invalid argument: NULL handle, bad name, unknown key, bad value */
#define CORQ_ENOMEM (-2)    /* out of memory */
#define CORQ_EIO (-3)       /* an I/O operation failed */
#define CORQ_ENOSPC (-4)    /* the disk is full; publishing resumes when space frees */
#define CORQ_ENOENT (-5)    /* no such queue, exchange or binding (or directory) */
#define CORQ_EEXIST (-6)    /* queue exists with different options */
#define CORQ_EFULL (-7)     /* queue full (overflow=reject, or overflow=block timed out) */
#define CORQ_ETIMEDOUT (-8) /* the wait's timeout passed */
#define CORQ_ESTATE (-9)    /* wrong state: unknown or already-settled tag, ... */
#define CORQ_ECLOSED (-10)  /* the handle was closed or woken up for shutdown */
#define CORQ_EBUSY (-11)    /* the data directory is locked by another process */
#define CORQ_ECORRUPT (-12) /* the log is corrupt before its tail */
#define CORQ_EFAILED (-13)  /* the engine failed (a log write or flush failed): fail-stop */
#define CORQ_ETOOBIG (-14)  /* message larger than max_message_bytes */
#define CORQ_EUNSUPPORTED (-15) /* not supported by this build or configuration */
#define CORQ_EUNROUTABLE (-16)  /* CORQ_PUBLISH_MANDATORY: no queue took the message */

/* Returns the name and meaning of any code, e.g. "CORQ_EFULL: queue full". Static storage, never
 * NULL; an unknown code gives "CORQ_E?: unknown error code". Thread-safe. */
CORQ_API const char *corq_strerror(int code);

/* Returns the detail message of the calling thread's last failed corq call (empty string if none).
 * Thread-local storage, never NULL; valid until the calling thread's next corq call. */
CORQ_API const char *corq_last_error(void);

/* ---- Configuration -----------------------------------------------------------------------------
 * A corq_config is a bag of string options for corq_open (engine options) or corq_queue_declare
 * (queue options). The keys and values are listed in README.md ("Options") and below.
 *
 * Engine keys: sync (always|none), io_backend (auto|io_uring|psync), direct_io (auto|true|false),
 *   segment_bytes (64 MiB), max_message_bytes (1 MiB, at most 64 MiB), clock (system|manual: a
 *   clock that only tests move; see README), stream_cache_bytes (256 MiB, at least 1 MiB: the
 *   records durable streams keep in memory; older ones are read back from disk).
 * Queue keys: durable (true|false), max_length (1000000), max_bytes (1 GiB), overflow
 *   (block|reject|drop_head), message_ttl_ms (0 = none), max_attempts (10; 0 = no limit),
 *   dead_letter_queue (<name>.dlq; "" = none), retry_delay_ms (100), retry_backoff (2.0),
 *   retry_delay_max_ms (60000), lease_ms (30000), dedup_window_ms (0), shards (1), auto_delete
 *   (false: true deletes the queue when its last consumer closes), dead_letter_exchange (""; an
 *   exchange name sends dead letters through it instead of to a dead-letter queue — setting both
 *   is CORQ_EINVAL), dead_letter_routing_key (default: the message's own routing key),
 *   single_active_consumer (false: true lets one consumer receive at a time; when it closes, the
 *   next in open order takes over, after its unsettled deliveries were released), max_priority
 *   (0 = none; 1-32 delivers higher corq_publish_options.priority first, FIFO within one priority;
 *   overflow=drop_head drops the oldest of the lowest priority; with shards > 1: CORQ_EINVAL).
 * Exchange keys (corq_exchange_declare): durable (true on a disk engine), internal (false),
 *   alternate_exchange ("").
 * Sizes accept a plain byte count or a KiB/MiB/GiB suffix ("64MiB").
 *
 * A config is owned by its creator; functions that take one copy what they need and never keep it.
 * Not thread-safe: one thread at a time per config. */
typedef struct corq_config corq_config;

/* Creates an empty config; NULL when out of memory. Free with corq_config_free. */
CORQ_API corq_config *corq_config_new(void);
/* Sets key to value (both copied). Errors: CORQ_EINVAL if config, key or value is NULL, if the key
 * is no engine or queue option, or if the value can never be valid for the key (e.g. max_length
 * "lots"): the detail names the key, the value and what is accepted, as corq_open and
 * corq_queue_declare would, and the config keeps what it had. Those two check again at use, where
 * also combinations are checked (retry_delay_max_ms below retry_delay_ms) and a queue key given to
 * corq_open (or an engine key to corq_queue_declare) is refused. Setting a key twice keeps the
 * last value. */
CORQ_API int corq_config_set(corq_config *config, const char *key, const char *value);
/* Frees a config; NULL is a no-op. */
CORQ_API void corq_config_free(corq_config *config);

/* ---- Engine ----------------------------------------------------------------------------------
 * A corq_engine holds the queues. It is thread-safe: any thread may call any engine function at any
 * time, except that corq_close must not race with other calls on the same engine (threads blocked
 * in corq_consume or in a blocked publish are woken with CORQ_ECLOSED by it). */
typedef struct corq_engine corq_engine;

/* Opens the engine. dir == NULL gives an in-memory engine (all queues transient). With a directory
 * (created if missing), its write-ahead log is recovered: durable queues come back with their
 * messages (ready in publish order, in-flight ones ready again with their delivery counts, delayed
 * ones with their due times), and queues declared on this engine are durable by default.
 * engine_options may be NULL (defaults). On success *out owns the engine: close it with corq_close.
 * Errors: CORQ_EINVAL (out NULL, dir "", unknown key, bad value), CORQ_EBUSY (another open engine
 * holds the directory's lock), CORQ_ECORRUPT (a bad frame before the log's tail: the detail names
 * the file and offset; nothing is dropped), CORQ_EIO (the directory cannot be created or read),
 * CORQ_ENOSPC, CORQ_ENOMEM. */
CORQ_API int corq_open(const char *dir, const corq_config *engine_options, corq_engine **out);

/* Closes the engine gracefully: publishing stops, blocked consumers and publishers are woken with
 * CORQ_ECLOSED, the scheduler stops, what was logged is written and flushed and the log's files
 * and directory lock are released, and the engine's memory is freed once every producer and
 * consumer handle is closed too (those handles then only accept their close function; other calls
 * return CORQ_ECLOSED). Undelivered transient messages are discarded. Errors: CORQ_EINVAL (NULL).
 */
CORQ_API int corq_close(corq_engine *engine);

/* Waits until everything logged so far (publishes, and the settlements that are logged but not
 * waited for: acks, nacks, purges, dead-letter moves) is durable: flushed to the disk, also with
 * sync=none (where it is the call that flushes; corq_wait_durable and corq_producer_flush there
 * wait for the page cache only, like a publish's confirm). timeout_ms -1: no limit. On an
 * in-memory engine there is nothing to wait for: returns CORQ_OK at once. Errors: CORQ_EINVAL,
 * CORQ_ETIMEDOUT, CORQ_EFAILED (the log failed: fail-stop), CORQ_ECLOSED. */
CORQ_API int corq_sync(corq_engine *engine, int32_t timeout_ms);

/* Writes the engine's id — 36 characters of a version-4 UUID in lowercase text, and a NUL — into
 * out. A data directory gets its id when it is first opened and keeps it in DIR/ENGINE_ID for its
 * whole life (corq-bridge names forwarded messages by it, DESIGN.md section 9); an in-memory
 * engine gets a fresh one at each corq_open. Errors: CORQ_EINVAL (NULL engine or out). */
CORQ_API int corq_engine_id(corq_engine *engine, char out[37]);

/* ---- Queues ----------------------------------------------------------------------------------
 * Queue names are 1-200 bytes of [A-Za-z0-9._:-]. */

/* Declares a queue; queue_options may be NULL (defaults). Declaring an existing queue with the same
 * options succeeds (idempotent); with different options it fails with CORQ_EEXIST and changes
 * nothing. Unless dead_letter_queue is "", the dead-letter queue (default "<name>.dlq") is declared
 * too if missing, with default options, the same durability and no dead-letter queue of its own.
 * Errors: CORQ_EINVAL (bad name, unknown key, bad value, durable=true on an in-memory engine),
 * CORQ_EEXIST, CORQ_ECLOSED, CORQ_ENOMEM. */
CORQ_API int corq_queue_declare(corq_engine *engine, const char *queue,
                                const corq_config *queue_options);

/* Declares a temporary subscriber queue (RabbitMQ's exclusive server-named queue): transient, with
 * a generated unique name ("corq.gen-" and 16 hex digits) written to name_out with its NUL, and
 * auto_delete=true: deleted, with its bindings and messages, when its last consumer closes. No
 * dead-letter queue unless queue_options names one; does not survive a restart. queue_options
 * (NULL: defaults) may not set durable=true or auto_delete=false. Errors: CORQ_EINVAL (NULL
 * engine or name_out, name_capacity < 32, bad options), CORQ_ECLOSED, CORQ_ENOMEM. */
CORQ_API int corq_queue_declare_temp(corq_engine *engine, const corq_config *queue_options,
                                     char *name_out, size_t name_capacity);

/* Deletes a queue and every message in it (ready, delayed; in-flight deliveries stay readable until
 * settled, and settling them just frees them). Producers and consumers still attached get
 * CORQ_ENOENT from then on. Errors: CORQ_EINVAL, CORQ_ENOENT, CORQ_ECLOSED. */
CORQ_API int corq_queue_delete(corq_engine *engine, const char *queue);

/* Removes every ready message (not delayed ones, not in-flight ones); *purged (if not NULL) gets
 * how many. Errors: CORQ_EINVAL, CORQ_ENOENT, CORQ_ECLOSED. */
CORQ_API int corq_queue_purge(corq_engine *engine, const char *queue, uint64_t *purged);

/* ---- Messages and publishing ----------------------------------------------------------------- */

/* A header: key is a NUL-terminated string of 1-255 bytes; value is value_len bytes (may be NULL
 * when value_len is 0). Keys starting with "x-death-" are set by corq when dead-lettering. */
typedef struct corq_header {
  const char *key;
  const void *value;
  size_t value_len;
} corq_header;

/* A message to publish. data may be NULL when len is 0. At most 64 headers. dedup_id: NULL for
 * none, else a NUL-terminated string of 1-255 bytes (used when the queue's dedup_window_ms > 0).
 * corq copies everything it needs before the publish call returns. */
typedef struct corq_message {
  const void *data;
  size_t len;
  const corq_header *headers;
  size_t header_count;
  const char *dedup_id;
} corq_message;

/* Publish flag: don't wait for durability (durable queues; no effect otherwise). */
#define CORQ_PUBLISH_NOWAIT 1u
/* Publish flag (corq_exchange_publish): a message that no queue takes fails with CORQ_EUNROUTABLE
 * (nothing stored) instead of being dropped and counted as unroutable. corq_publish and
 * corq_producer_send accept it and need it not: they name their queue (CORQ_ENOENT if it is
 * missing). */
#define CORQ_PUBLISH_MANDATORY 2u

/* Per-publish options; pass NULL for the defaults. Set struct_size to sizeof(corq_publish_options):
 * it lets later versions add fields without breaking callers compiled against this header. */
typedef struct corq_publish_options {
  uint32_t struct_size;
  uint32_t flags; /* CORQ_PUBLISH_* */
  int32_t
      timeout_ms;   /* overflow=block: the longest wait for space (default 30000; -1 = no limit) */
  int64_t delay_ms; /* 0: deliverable now; > 0: after this delay (a "delayed" message) */
  int64_t ttl_ms;   /* 0: the queue's message_ttl_ms; > 0: this message's TTL */
  /* Added with exchanges (a struct_size that ends before it reads as 0): 0 (default) or more;
   * queues with max_priority deliver higher priorities first, above their maximum counts as the
   * maximum; other queues ignore it. Negative: CORQ_EINVAL. */
  int32_t priority;
} corq_publish_options;

/* Publishes one message to a queue; *message_id (if not NULL) gets its id (for a deduplicated
 * publish, the id of the original). Thread-safe. On a durable queue with sync=always the call
 * returns once the message is durable (its group commit flushed), unless CORQ_PUBLISH_NOWAIT.
 * Errors: CORQ_EINVAL (NULL engine/queue/message, bad name, bad header, bad options), CORQ_ENOENT
 * (no such queue), CORQ_ETOOBIG (payload over max_message_bytes), CORQ_EFULL (queue full:
 * overflow=reject, or overflow=block and timeout_ms passed), CORQ_ENOSPC (durable queue, disk
 * full: nothing was published), CORQ_EFAILED (the log failed: no confirm), CORQ_ECLOSED (engine
 * closed), CORQ_ENOMEM. */
CORQ_API int corq_publish(corq_engine *engine, const char *queue, const corq_message *message,
                          const corq_publish_options *options, uint64_t *message_id);

/* Waits until the message with this id (published before this call) is durable; on a disk engine
 * it waits for everything logged so far, which covers it. On an in-memory engine: CORQ_OK at once
 * for any id already assigned. Errors: CORQ_EINVAL (NULL engine, id never assigned),
 * CORQ_ETIMEDOUT, CORQ_EFAILED, CORQ_ECLOSED. */
CORQ_API int corq_wait_durable(corq_engine *engine, uint64_t message_id, int32_t timeout_ms);

/* A producer publishes batches to one queue. One thread at a time (it may move between threads). */
typedef struct corq_producer corq_producer;

/* Opens a producer for an existing queue. Errors: CORQ_EINVAL, CORQ_ENOENT, CORQ_ECLOSED,
 * CORQ_ENOMEM. */
CORQ_API int corq_producer_open(corq_engine *engine, const char *queue, corq_producer **out);

/* Publishes msgs[0..count) as one batch with the same options; their ids are consecutive from
 * *first_message_id (if not NULL). A batch is atomic: either every message is accepted or none is
 * (a batch larger than max_length can never be accepted: CORQ_EINVAL). With dedup, duplicates in a
 * batch are accepted without effect and still consume an id. count may be 0 (no-op). Errors: as
 * corq_publish. */
CORQ_API int corq_producer_send(corq_producer *producer, const corq_message *msgs, size_t count,
                                const corq_publish_options *options, uint64_t *first_message_id);

/* Waits until everything this producer sent is durable (at once for transient queues). Errors:
 * CORQ_EINVAL, CORQ_ETIMEDOUT, CORQ_EFAILED, CORQ_ECLOSED. */
CORQ_API int corq_producer_flush(corq_producer *producer, int32_t timeout_ms);

/* Closes a producer; NULL is a no-op. */
CORQ_API void corq_producer_close(corq_producer *producer);

/* ---- Consuming --------------------------------------------------------------------------------
 */

/* One delivery. data/len and headers are zero-copy views into corq's copy of the message, valid
 * until the delivery is settled (ack, nack, release, reject, or ack_upto covering it), its lease
 * expires and the consumer next calls corq_consume, or the consumer is closed. */
typedef struct corq_delivery {
  uint64_t tag; /* names this delivery within its consumer; increases per consumer */
  uint64_t message_id;
  const void *data;
  size_t len;
  const corq_header *headers;
  size_t header_count;
  uint32_t delivery_count; /* 1 on first delivery; counts every delivery, released ones too */
  int64_t published_at_ms; /* unix time of the publish */
} corq_delivery;

/* A consumer takes deliveries from one queue through a prefetch window of at most `prefetch`
 * (1-65536) unsettled deliveries. One thread at a time, except corq_consumer_wakeup (any thread).
 */
typedef struct corq_consumer corq_consumer;

/* Opens a consumer. Errors: CORQ_EINVAL (prefetch 0 or > 65536, ...), CORQ_ENOENT, CORQ_ECLOSED,
 * CORQ_ENOMEM. */
CORQ_API int corq_consumer_open(corq_engine *engine, const char *queue, uint32_t prefetch,
                                corq_consumer **out);

/* Fills out[0..n) with n = up to min(max, free window slots) deliveries and returns n. Waits up to
 * timeout_ms for the first one (0 polls, -1 waits until a message, corq_consumer_wakeup or engine
 * close); returns 0 on timeout, or when the window is full. Expired messages met on the way are
 * dead-lettered (reason "expired"), never delivered. Errors (negative): CORQ_EINVAL (NULL consumer,
 * NULL out with max > 0), CORQ_ECLOSED (woken, or engine closed), CORQ_ENOENT (queue deleted). */
CORQ_API int corq_consume(corq_consumer *consumer, corq_delivery *out, size_t max,
                          int32_t timeout_ms);

/* Settling. Each returns CORQ_ESTATE (and changes nothing) for a tag that is unknown, already
 * settled, or whose lease expired; CORQ_EINVAL for a NULL consumer. On a durable queue whose log
 * has failed (fail-stop), every settlement is still applied in memory (the tag is gone) but not
 * logged: corq_ack and corq_ack_upto say so with CORQ_EFAILED (do not retry them), nack, release
 * and reject return CORQ_OK. After the next open such messages are back (at-least-once): close
 * the engine and open the directory again. */
/* Acks: the message leaves the queue. */
CORQ_API int corq_ack(corq_consumer *consumer, uint64_t tag);
/* Acks every outstanding delivery of this consumer with a tag <= tag (CORQ_ESTATE if none). */
CORQ_API int corq_ack_upto(corq_consumer *consumer, uint64_t tag);
/* A failed attempt: dead-lettered (reason "max_attempts") when the message's failed attempts reach
 * max_attempts, else back to the queue after delay_ms (0: at once; -1: the queue's backoff
 * retry_delay_ms * retry_backoff^(n-1) capped at retry_delay_max_ms, after the n-th failure).
 * CORQ_EINVAL for delay_ms < -1. */
CORQ_API int corq_nack(corq_consumer *consumer, uint64_t tag, int64_t delay_ms);
/* Hands the message back unprocessed (not a failed attempt); it is ready again at once. */
CORQ_API int corq_release(corq_consumer *consumer, uint64_t tag);
/* Poison: dead-lettered at once with x-death-reason "rejected". reason (may be NULL) is kept as the
 * x-death-detail header when given. */
CORQ_API int corq_reject(corq_consumer *consumer, uint64_t tag, const char *reason);
/* Sets the delivery's lease to expire lease_ms (> 0) from now. CORQ_EINVAL for lease_ms <= 0. */
CORQ_API int corq_extend(corq_consumer *consumer, uint64_t tag, int64_t lease_ms);

/* Any thread: the current corq_consume (if blocked) and every later one return CORQ_ECLOSED;
 * settling still works, so a worker can finish what it holds and stop (graceful shutdown). Errors:
 * CORQ_EINVAL. */
CORQ_API int corq_consumer_wakeup(corq_consumer *consumer);

/* Any thread, one-shot: the corq_consume waiting now returns 0 at once, or — when none waits —
 * the next one does (without taking anything); the consumer stays usable, unlike after
 * corq_consumer_wakeup. Several interrupts before a consume count as one. For cancelling a wait
 * from another thread: Go's context, Node's AbortSignal (like corq_stream_reader_wakeup for a
 * stream reader). Errors: CORQ_EINVAL (NULL). */
CORQ_API int corq_consumer_interrupt(corq_consumer *consumer);

/* Closes the consumer; its unsettled deliveries are released (ready again, not a failed attempt).
 * Errors: CORQ_EINVAL (NULL). The handle is freed even when the engine was closed before. */
CORQ_API int corq_consumer_close(corq_consumer *consumer);

/* ---- Pub/sub routing: exchanges and bindings (RabbitMQ's model) ------------------------------
 * An exchange routes each message published to it into every queue whose binding matches, by type:
 *   direct  - bindings whose key equals the routing key;
 *   fanout  - every binding (keys ignored);
 *   topic   - key and pattern are words separated by '.': '*' matches exactly one word, '#' zero or
 *             more; wildcards are whole words only ("a*" is literal); empty words are words ("a..b"
 *             has three); "" is zero words;
 *   headers - the binding's arguments against the message headers: x-match = all (default), any,
 *             all-with-x, any-with-x; an argument with a NULL value matches the header's presence.
 * Exchanges have their own namespace; "" is the default exchange (direct to the queue named by the
 * routing key: corq_publish). Keys and patterns are at most 255 bytes. Binding the same (exchange,
 * destination, key, arguments) twice is a no-op; a destination may be another exchange (cycles are
 * allowed: a message reaches each queue at most once).
 * A publish through an exchange is atomic: every matched queue takes the message or none does (one
 * full queue under overflow=reject, or overflow=block timing out, fails the whole publish with
 * CORQ_EFULL and drops nothing anywhere). The body is stored once and shared; each queue settles
 * its copy independently; all copies have one message id and carry the headers x-exchange and
 * x-routing-key. A dedup_id is checked per target queue (a queue that saw it is skipped).
 * Unroutable messages go to the exchange's alternate_exchange if it has one; if nothing takes them
 * they fail with CORQ_EUNROUTABLE under CORQ_PUBLISH_MANDATORY, else they are dropped and counted
 * (corq_exchange_stats.unroutable). All calls are thread-safe. */

/* Declares an exchange of `type` ("direct", "topic", "fanout", "headers"). options (NULL:
 * defaults): durable (true on a disk engine; ignored in memory), internal (false: true refuses
 * direct publishes), alternate_exchange (an exchange name, may be declared later). Declaring an
 * existing exchange with the same type and options succeeds. Errors: CORQ_EINVAL (NULL engine, bad
 * name, "" or a name starting with "corq." reserved, unknown type or option), CORQ_EEXIST (exists
 * with another type or options), CORQ_ECLOSED. */
CORQ_API int corq_exchange_declare(corq_engine *engine, const char *exchange, const char *type,
                                   const corq_config *options);
/* Deletes an exchange and every binding from or to it. Errors: CORQ_EINVAL ("" or bad name),
 * CORQ_ENOENT (no such exchange), CORQ_ECLOSED. */
CORQ_API int corq_exchange_delete(corq_engine *engine, const char *exchange);
/* Binds `queue` to `exchange` with `key` (NULL means "") and, for headers exchanges, `arguments`
 * (copied; NULL when argument_count is 0). Errors: CORQ_EINVAL (bad name, "" exchange, key over
 * 255 bytes, bad arguments or x-match value), CORQ_ENOENT (no such exchange or queue),
 * CORQ_ECLOSED. */
CORQ_API int corq_bind(corq_engine *engine, const char *exchange, const char *queue,
                       const char *key, const corq_header *arguments, size_t argument_count);
/* Removes that binding (the same tuple). CORQ_ENOENT if the exchange, queue or binding does not
 * exist. */
CORQ_API int corq_unbind(corq_engine *engine, const char *exchange, const char *queue,
                         const char *key, const corq_header *arguments, size_t argument_count);
/* Exchange-to-exchange: messages routed by `source` to this binding enter `destination`. Errors as
 * corq_bind. */
CORQ_API int corq_exchange_bind(corq_engine *engine, const char *source, const char *destination,
                                const char *key, const corq_header *arguments,
                                size_t argument_count);
CORQ_API int corq_exchange_unbind(corq_engine *engine, const char *source, const char *destination,
                                  const char *key, const corq_header *arguments,
                                  size_t argument_count);
/* Publishes `message` through `exchange` with `routing_key` (NULL means ""). `options` as for
 * corq_publish (NULL: defaults; flags may add CORQ_PUBLISH_MANDATORY). *message_id (may be NULL)
 * gets the message's id, *routed (may be NULL) the number of queues that took it (0: unroutable and
 * dropped, or every target had seen its dedup_id). exchange "" publishes to the queue named
 * routing_key (CORQ_ENOENT if none, unless mandatory: CORQ_EUNROUTABLE). On durable queues the
 * call returns once the message is durable in all of them, unless CORQ_PUBLISH_NOWAIT. Errors:
 * CORQ_EINVAL (NULL engine/message, bad exchange name, key over 255 bytes, internal exchange, bad
 * message or options), CORQ_ENOENT (no such exchange), CORQ_EUNROUTABLE (mandatory and nothing
 * took it), CORQ_EFULL (a target full: nothing published), CORQ_ETOOBIG, CORQ_ENOSPC,
 * CORQ_EFAILED, CORQ_ECLOSED, CORQ_ENOMEM. */
CORQ_API int corq_exchange_publish(corq_engine *engine, const char *exchange,
                                   const char *routing_key, const corq_message *message,
                                   const corq_publish_options *options, uint64_t *message_id,
                                   uint32_t *routed);

/* Set struct_size = sizeof(corq_exchange_stats) before the call. Counters since the exchange was
 * declared (in this process): bindings whose source it is; publishes that entered it (from a
 * client or another exchange); copies it put into queues; messages nothing took (dropped or
 * refused); messages it handed to its alternate exchange. */
typedef struct corq_exchange_stats {
  uint32_t struct_size;
  uint64_t bindings, published, routed, unroutable, alternated;
} corq_exchange_stats;
/* Errors: CORQ_EINVAL (NULL arguments, bad name, struct_size too small), CORQ_ENOENT. */
CORQ_API int corq_exchange_stats_get(corq_engine *engine, const char *exchange,
                                     corq_exchange_stats *out);

/* ---- Request-reply ----------------------------------------------------------------------------
 * corq_request publishes a request (through `exchange`, "" for the queue named by routing_key) with
 * the headers x-reply-to and x-correlation-id added, and waits for the response; a responder
 * consuming the request answers with corq_respond. Responses come back through one private reply
 * queue per engine ("corq.reply-" and 16 hex digits, transient), created on first use. A response
 * that arrives after its request stopped waiting is dropped and counted, never delivered to a later
 * request. Counters: corq_stats_json "requests". Thread-safe. */

/* A response: its payload and headers (including x-correlation-id), owned by the caller until
 * corq_reply_free. */
typedef struct corq_reply {
  const void *data;
  size_t len;
  const corq_header *headers;
  size_t header_count;
} corq_reply;

/* Sends `request` (at most 62 headers of its own) and waits up to timeout_ms (-1: no limit) for
 * its response; *reply gets it (NULL on any error). Errors: CORQ_EINVAL (NULL arguments, bad
 * names or message, timeout_ms < -1), CORQ_ENOENT (no such exchange), CORQ_EUNROUTABLE (no queue
 * took the request: no responder), CORQ_ETIMEDOUT (no response in time), CORQ_EFULL, CORQ_ECLOSED,
 * CORQ_ENOMEM. */
CORQ_API int corq_request(corq_engine *engine, const char *exchange, const char *routing_key,
                          const corq_message *request, int32_t timeout_ms, corq_reply **reply);
/* Frees a reply; NULL is a no-op. */
CORQ_API void corq_reply_free(corq_reply *reply);
/* Answers the request delivered as `tag`: publishes `response` (with the request's
 * x-correlation-id added) to the requester's reply queue, then acks the request. A response whose
 * reply queue is gone is dropped and counted, and the request acked. Errors: CORQ_EINVAL (NULL
 * arguments, a bad message, a delivery without x-reply-to: nothing acked), CORQ_ESTATE (tag not an
 * unsettled delivery of this consumer), CORQ_EFULL (the reply queue is full: nothing acked),
 * CORQ_ECLOSED. */
CORQ_API int corq_respond(corq_consumer *consumer, uint64_t tag, const corq_message *response);

/* ---- Streams: retained, partitioned logs with offsets and replay (Kafka's model) ---------------
 * A stream keeps every record until its retention removes it; any number of readers read and
 * re-read it. Names follow the queue rules, in a namespace of their own.
 *
 * Stream options (corq_stream_declare; NULL: defaults): partitions (1; 1-1024), durable (true on a
 *   disk engine: records in a log of the stream's own under DIR/streams/, declarations and consumer
 *   groups' offsets in the engine's log, all recovered on open),
 *   retention_ms, retention_bytes, retention_records (per partition; 0 = no limit; a transient
 *   stream's retention_bytes defaults to 1 GiB), discard (old: retention deletes the oldest
 *   records; new: an append past a size or count limit fails with CORQ_EFULL, while retention_ms
 *   still deletes old records), dedup_window_ms (0), partition_segment_bytes (64 MiB), update
 *   (false; true lets a redeclaration change the retention limits).
 *
 * Durability: under sync=always an append returns once its records are durable (unless
 *   CORQ_PUBLISH_NOWAIT; then corq_sync confirms them) and readers and groups see a record
 *   only once it is durable, so an offset once read never changes. Under sync=none records are
 *   visible at once and a power loss may drop the tail (its offsets are then used again). A
 *   group's progress is logged like acks (durable with the next group commit, or once corq_sync
 *   returns).
 *   Memory: the engine option stream_cache_bytes (256 MiB) bounds the records durable streams keep
 *   in memory; older ones are read back from the stream's log when a reader or group needs them. */

/* Declares a stream. Declaring it again with the same options is a no-op; with other options
 * CORQ_EEXIST, except that update=true may change the retention limits. Errors: CORQ_EINVAL (NULL,
 * bad name, bad option, durable=true on an in-memory engine), CORQ_EEXIST, CORQ_EIO (its directory
 * cannot be made), CORQ_EFAILED, CORQ_ECLOSED. */
CORQ_API int corq_stream_declare(corq_engine *engine, const char *stream,
                                 const corq_config *options);
/* Deletes a stream and its records; its readers' next call returns CORQ_ENOENT. Errors:
 * CORQ_EINVAL, CORQ_ENOENT. */
CORQ_API int corq_stream_delete(corq_engine *engine, const char *stream);

/* Appends one record. key (key_len bytes; NULL with key_len 0: no key — a non-NULL key of length 0
 * is a key) picks the partition as Kafka's default partitioner does ((murmur2(key) & 0x7fffffff) %
 * partitions); records without a key go round robin. *partition and *offset (either may be NULL)
 * get where it went — for a dedup_id seen within dedup_window_ms, where the original went (nothing
 * is appended). Of the options, flags and timeout_ms apply; a non-zero delay_ms, ttl_ms or
 * priority is CORQ_EINVAL. Errors: CORQ_EINVAL, CORQ_ETOOBIG, CORQ_ENOENT (no such stream),
 * CORQ_EFULL (discard=new and the partition is at a limit), CORQ_ENOMEM, CORQ_ECLOSED; durable:
 * CORQ_ETIMEDOUT (appended, not yet durable after timeout_ms), CORQ_ENOSPC, CORQ_EFAILED. */
CORQ_API int corq_stream_append(corq_engine *engine, const char *stream, const void *key,
                                size_t key_len, const corq_message *message,
                                const corq_publish_options *options, uint32_t *partition,
                                uint64_t *offset);

/* A stream producer: appends batches, each to one partition, atomically (all records or none). One
 * thread at a time. It holds the stream, so it skips the lookup by name of corq_stream_append. */
typedef struct corq_stream_producer corq_stream_producer;

/* Opens a producer on a stream. Errors: CORQ_EINVAL (NULL, bad name), CORQ_ENOENT, CORQ_ENOMEM,
 * CORQ_ECLOSED. */
CORQ_API int corq_stream_producer_open(corq_engine *engine, const char *stream,
                                       corq_stream_producer **out);
/* Appends `count` records (1 or more) as one batch to one partition — the one `key` picks (as for
 * corq_stream_append), or the next in round robin when key is NULL — with consecutive offsets and
 * one timestamp; every record of the batch carries the key. All or nothing: a refused batch
 * (CORQ_EFULL under discard=new, a bad message) appends none of it. A dedup_id on the first record
 * names the whole batch: within the window a repeat returns the original batch's partition and
 * first offset and appends nothing; the other records' dedup_id must be NULL (CORQ_EINVAL).
 * *partition and *first_offset may be NULL. Options as for corq_stream_append. Errors: those of
 * corq_stream_append, and CORQ_ENOENT once the stream is deleted. */
CORQ_API int corq_stream_producer_send(corq_stream_producer *producer, const void *key,
                                       size_t key_len, const corq_message *messages, size_t count,
                                       const corq_publish_options *options, uint32_t *partition,
                                       uint64_t *first_offset);
/* Closes the producer. Errors: CORQ_EINVAL (NULL). */
CORQ_API int corq_stream_producer_close(corq_stream_producer *producer);

/* A record as a reader sees it: views into corq's memory, valid until the reader's next read or
 * close. key is NULL for a record without one. timestamp_ms is the append time (unix ms,
 * non-decreasing within a partition). */
typedef struct corq_stream_record {
  uint32_t partition;
  uint64_t offset;
  int64_t timestamp_ms;
  const void *key;
  size_t key_len;
  const void *data;
  size_t len;
  const corq_header *headers;
  size_t header_count;
} corq_stream_record;

/* A reader of one partition; one thread at a time (corq_stream_reader_wakeup aside). */
typedef struct corq_stream_reader corq_stream_reader;

/* Opens a reader of `partition` at `start`: "earliest" (the first retained record), "latest" (the
 * next record appended), "offset:N" (N equal to the end is latest; below the first retained offset
 * it starts there and counts the difference as skipped), "time:MS" (the first record whose
 * timestamp is >= MS). Errors: CORQ_EINVAL (NULL, bad start, offset past the end, a partition that
 * does not exist), CORQ_ENOENT (no such stream), CORQ_ENOMEM, CORQ_ECLOSED. */
CORQ_API int corq_stream_reader_open(corq_engine *engine, const char *stream, uint32_t partition,
                                     const char *start, corq_stream_reader **out);
/* Reads up to max records from the reader's position, waiting up to timeout_ms (0: poll, -1: no
 * limit) for the first. Returns the count (0: none in time, or woken by corq_stream_reader_wakeup)
 * or a negative code: CORQ_EINVAL (NULL, max 0), CORQ_ENOENT (the stream was deleted),
 * CORQ_ECLOSED. If retention deleted records under the reader, it continues at the first retained
 * one and corq_stream_reader_skipped counts the records it missed. The records stay valid until the
 * next read or close of this reader. */
CORQ_API int corq_stream_read(corq_stream_reader *reader, corq_stream_record *out, size_t max,
                              int32_t timeout_ms);
/* Records this reader skipped because retention deleted them before it read them. 0 for NULL. */
CORQ_API uint64_t corq_stream_reader_skipped(const corq_stream_reader *reader);
/* Makes a waiting corq_stream_read return 0 at once (or the next read that would wait, if none
 * waits now). Any thread. Errors: CORQ_EINVAL. */
CORQ_API int corq_stream_reader_wakeup(corq_stream_reader *reader);
/* Closes the reader (its records become invalid). Errors: CORQ_EINVAL. */
CORQ_API int corq_stream_reader_close(corq_stream_reader *reader);

/* Consumer groups read a stream through the ordinary consumer calls (corq_consume, corq_ack,
 * corq_ack_upto, corq_nack, corq_release, corq_reject, corq_extend, corq_consumer_wakeup,
 * corq_consumer_close), with the retries, backoff, leases and dead-letter queue of a queue. A
 * delivery's message_id is the record's offset; its headers add x-stream-partition and
 * x-stream-offset (decimal) and x-stream-key (when the record has a key). Modes:
 *   ordered (default)  each partition is read by one member at a time, in offset order; a nacked
 *                      record is retried (after its backoff) before any record of its partition not
 *                      yet delivered. Members share partitions evenly (each floor(P/M) or
 *                      ceil(P/M)); on a join or leave only the partitions that must move move, each
 *                      once its deliveries are settled or released.
 *   shared             every member reads every partition; each record is settled on its own.
 *   key_ordered        shared, but at most one record per key is out across the group and each
 *                      key's records go out in offset order.
 * Group options (corq_group_consumer_open; NULL: defaults): mode, prefetch (256; per member, all
 * its partitions together), start (earliest | latest | time:MS: where a new group starts),
 * max_attempts, retry_delay_ms, retry_backoff, retry_delay_max_ms, lease_ms (the queue defaults),
 * dead_letter_queue ("<stream>.<group>.dlq", declared with the group; "" = none). Dead letters keep
 * the x-stream-* headers and get an engine message id in their queue. A group exists from its first
 * member's open until corq_group_delete; its first member's options define it: a member opening
 * with other options (prefetch aside) gets CORQ_EEXIST. The committed offset of a partition is its
 * first offset not yet settled; lag (records between it and the end) is always defined.
 *
 * Opens a member. Errors: CORQ_EINVAL (NULL, bad name, bad or unknown option), CORQ_ENOENT (no such
 * stream), CORQ_EEXIST (the group exists with other options), CORQ_ENOMEM, CORQ_ECLOSED. */
CORQ_API int corq_group_consumer_open(corq_engine *engine, const char *stream, const char *group,
                                      const corq_config *options, corq_consumer **out);
/* Moves the group's position on `partition` (-1: every partition) to `start` (earliest, latest,
 * offset:N, time:MS) — replay, or skip ahead. Deliveries out for the moved partitions become stale:
 * settling them returns CORQ_ESTATE. Errors: CORQ_EINVAL (NULL, bad start, offset past the end, no
 * such partition; nothing moves), CORQ_ENOENT (no such stream or group). */
CORQ_API int corq_group_seek(corq_engine *engine, const char *stream, const char *group,
                             int32_t partition, const char *start);
/* Deletes the group; its members' next calls return CORQ_ENOENT (close them). Its dead-letter
 * queue stays. Errors: CORQ_EINVAL, CORQ_ENOENT. */
CORQ_API int corq_group_delete(corq_engine *engine, const char *stream, const char *group);

/* Set struct_size = sizeof(corq_stream_stats). records and bytes are what is retained now (key +
 * payload + header bytes); appended, deleted (by retention) and deduplicated count since the engine
 * opened; groups: consumer groups of the stream. Errors: CORQ_EINVAL, CORQ_ENOENT. */
typedef struct corq_stream_stats {
  uint32_t struct_size;
  uint32_t partitions;
  uint64_t records, bytes, appended, deleted, deduplicated, groups;
} corq_stream_stats;
CORQ_API int corq_stream_stats_get(corq_engine *engine, const char *stream, corq_stream_stats *out);

typedef struct corq_group_stats {
  uint32_t struct_size;
  uint32_t members;
  uint64_t lag, in_flight, delivered, acked, nacked, dead_lettered, skipped;
} corq_group_stats;
/* Set struct_size = sizeof(corq_group_stats). members: open members; lag: records between the
 * committed offsets and the ends; in_flight: deliveries out; delivered, acked, nacked (failed
 * attempts: nacks and lease expiries), dead_lettered and skipped (records retention deleted before
 * the group settled them) count since the group was created. Errors: CORQ_EINVAL, CORQ_ENOENT. */
CORQ_API int corq_group_stats_get(corq_engine *engine, const char *stream, const char *group,
                                  corq_group_stats *out);

/* ---- Transactions (DESIGN.md §8) -------------------------------------------------------------
 *
 * A transaction gathers publishes (to a queue, or through an exchange), stream appends and acks of
 * deliveries held by the calling thread's consumers (queue consumers and group consumers), and
 * corq_txn_commit applies all of them atomically: after a crash all of them exist or none does,
 * and on a sync=always engine they are durable when commit returns CORQ_OK. Until commit nothing of
 * it is visible: its messages are not delivered, its records not readable, its acks not applied
 * (the deliveries stay in flight with their leases running; the consumer may still settle them
 * itself, or close). Message ids, routing and stream offsets are decided at commit.
 *
 * A transaction is used by one thread at a time, the thread that uses its consumers. An operation
 * that can be refused at once (NULL or bad argument, unknown queue, exchange, stream or tag, a
 * message over max_message_bytes, a limit passed) returns its error and is not part of the
 * transaction, which stays usable. At most 65,536 operations (each publish, append and ack is one)
 * and max_txn_bytes (engine option, 64 MiB by default, at most segment_bytes) of payload, headers
 * and keys: CORQ_ETOOBIG past either. */
typedef struct corq_txn corq_txn;

/* Begins a transaction. Errors: CORQ_EINVAL (NULL), CORQ_ENOMEM, CORQ_ECLOSED. */
CORQ_API int corq_txn_begin(corq_engine *engine, corq_txn **out);
/* Adds a publish: exchange "" sends to the queue routing_key names (CORQ_ENOENT if there is none;
 * CORQ_EUNROUTABLE instead with CORQ_PUBLISH_MANDATORY), any other exchange routes at commit as
 * corq_exchange_publish does (all matched queues get the message, or none does). Of the options,
 * flags (CORQ_PUBLISH_MANDATORY; CORQ_PUBLISH_NOWAIT is ignored: commit decides the wait),
 * delay_ms, ttl_ms and priority apply; timeout_ms is the commit's. The message is copied. Errors:
 * CORQ_EINVAL, CORQ_ENOENT, CORQ_EUNROUTABLE, CORQ_ETOOBIG, CORQ_ENOMEM, CORQ_ESTATE (the
 * transaction is in use by another thread at this moment), CORQ_ECLOSED (the engine was closed). */
CORQ_API int corq_txn_publish(corq_txn *txn, const char *exchange, const char *routing_key,
                              const corq_message *message, const corq_publish_options *options);
/* Adds a stream append of one record: the partition is picked at commit as corq_stream_append picks
 * it; its offset is assigned at commit (not returned). A dedup_id deduplicates at commit as for
 * corq_stream_append. Options: delay_ms, ttl_ms and priority must be 0. Errors: CORQ_EINVAL,
 * CORQ_ENOENT (no such stream), CORQ_ETOOBIG, CORQ_ENOMEM, CORQ_ESTATE, CORQ_ECLOSED. */
CORQ_API int corq_txn_append(corq_txn *txn, const char *stream, const void *key, size_t key_len,
                             const corq_message *message, const corq_publish_options *options);
/* Adds the ack of a delivery `consumer` holds now (a queue consumer's or a group member's tag).
 * The delivery stays in flight until commit. Errors: CORQ_EINVAL (NULL consumer, a consumer of
 * another engine), CORQ_ESTATE (not a delivery the consumer holds now, or already acked in this
 * transaction), CORQ_ECLOSED. */
CORQ_API int corq_txn_ack(corq_txn *txn, corq_consumer *consumer, uint64_t tag);
/* Commits: everything or nothing. timeout_ms bounds the wait for room under overflow=block and the
 * wait for durability (-1: no limit). Fails with nothing applied when a delivery it acks is no
 * longer held (lease expired, settled, consumer closed: CORQ_ESTATE), a target was deleted
 * (CORQ_ENOENT), a mandatory publish routes nowhere (CORQ_EUNROUTABLE), a target is full
 * (CORQ_EFULL: at once under overflow=reject or a stream's discard=new, after timeout_ms under
 * block), the transaction is larger than a log segment (CORQ_ETOOBIG) or the log refuses it
 * (CORQ_ENOSPC, CORQ_EFAILED); the acked deliveries then stay held (or are returned by the
 * scheduler if their lease ran out meanwhile). CORQ_ETIMEDOUT or CORQ_EFAILED while waiting for
 * durability: the outcome is unknown, never partial — after a restart the transaction is wholly
 * there or wholly absent (in this process it is applied). Once the engine log holds the
 * transaction, a stream whose log is out of disk space does not fail it: commit returns CORQ_OK
 * (it is committed and durable, its other parts applied), and the records that log refused are
 * appended by the engine as soon as the disk has room (or at the next open); readers see them then
 * (corq_stats_json "transactions_deferred_appends" counts them). CORQ_ECLOSED: the engine was
 * closed, the transaction was aborted. Whatever it returns, commit frees the transaction: the
 * handle is invalid afterwards (as after fclose). An empty transaction commits at once. */
CORQ_API int corq_txn_commit(corq_txn *txn, int32_t timeout_ms);
/* Discards a transaction (its acks are not applied: the deliveries stay held) and frees the handle.
 * NULL is a no-op. corq_close aborts the transactions still open: their handles then only take
 * corq_txn_abort (the others return CORQ_ECLOSED; corq_txn_commit also frees). */
CORQ_API void corq_txn_abort(corq_txn *txn);

/* ---- Observability and dead letters -----------------------------------------------------------
 */

/* Set struct_size = sizeof(corq_queue_stats) before the call. A program built against the first
 * version (which ends after oldest_ready_age_ms) passes that size and gets those fields filled;
 * struct_size comes back as the size filled. Counters are since the queue was declared (in this
 * process).
 *   ready, bytes_ready   messages (payload bytes) waiting for a consumer, including expired ones no
 *                        consumer has met yet; in_flight: delivered, not settled; delayed: waiting
 *                        for a delay or a retry backoff; consumers: open consumers.
 *   published            messages accepted (dead letters arriving in a dead-letter queue included)
 *   delivered            deliveries (redelivered: those with delivery_count > 1)
 *   acked, released      settlements (released includes what consumer close released)
 *   nacked               failed attempts: nacks and lease expiries
 *   dead_lettered        messages moved to the dead-letter queue (any reason)
 *   expired              messages whose TTL passed (each also counted in dead_lettered or dropped)
 *   dropped              messages that had to leave but had no dead-letter queue to go to
 *                        (dead_letter_queue "", or it is missing or full — the engine logs these)
 *   deduplicated         publishes swallowed by the dedup window
 *   purged               messages removed by corq_queue_purge
 *   redriven             messages corq_redrive moved out of this queue (into another, or back
 *                        into this one, where they count as published again)
 *
 * One read never under-counts. Every message the queue was given is in exactly one place:
 *   published == ready + delayed + in_flight + acked + dead_lettered + dropped + purged + redriven
 * (expired is inside dead_lettered and dropped; a queue never purged or redriven from has the last
 * two at 0). While messages move, a read's right-hand side is never less than its `published` —
 * a message on its way from one state to another (a nack, a timer firing, a purge...) is counted
 * in the state it leaves until it has arrived, so it may show in two places for that moment, never
 * in none — and when nothing moves the two sides are equal. So a read after a stop (producers and
 * consumers closed or idle) is exact, and a depth alarm on ready + delayed + in_flight never misses
 * a message. The counts are read without stopping the queue: they are not one atomic snapshot. */
typedef struct corq_queue_stats {
  uint32_t struct_size;
  uint64_t ready, in_flight, delayed, consumers, bytes_ready;
  uint64_t published, delivered, acked, nacked, released, redelivered;
  uint64_t dead_lettered, expired, dropped, deduplicated;
  int64_t
      oldest_ready_age_ms; /* age of the oldest message at the head of the ready list; 0 if empty */
  /* Added after the first version (filled when struct_size covers them): */
  uint64_t purged, redriven;
} corq_queue_stats;

/* Snapshot of one queue's state. Errors: CORQ_EINVAL (NULL, struct_size too small), CORQ_ENOENT. */
CORQ_API int corq_queue_stats_get(corq_engine *engine, const char *queue, corq_queue_stats *out);

/* Every queue's stats and options as one JSON object; *json is a NUL-terminated string the caller
 * frees with corq_free. Errors: CORQ_EINVAL, CORQ_ENOMEM. */
CORQ_API int corq_stats_json(corq_engine *engine, char **json);

/* Moves up to max_messages (0 = all) ready messages from a dead-letter queue back to the queue each
 * came from (its x-death-queue header) or, if to_queue is not NULL, to to_queue. Moved messages
 * keep their x-death-* headers and start again with zero failed attempts. *moved (if not NULL) gets
 * how many moved. Stops early, leaving the message in from_queue, when its target is missing
 * (CORQ_ENOENT) or full (CORQ_EFULL). Errors: CORQ_EINVAL, CORQ_ENOENT, CORQ_EFULL. */
CORQ_API int corq_redrive(corq_engine *engine, const char *from_queue, const char *to_queue,
                          uint64_t max_messages, uint64_t *moved);

/* Frees memory corq returned (corq_stats_json). NULL is a no-op. */
CORQ_API void corq_free(void *ptr);

/* Log levels passed to the log callback. */
#define CORQ_LOG_ERROR 0
#define CORQ_LOG_WARN 1
#define CORQ_LOG_INFO 2
#define CORQ_LOG_DEBUG 3

/* Receives the engine's log lines (level, message; message valid during the call only). Called from
 * any engine thread; must be thread-safe and must not call back into corq. NULL fn removes it. */
typedef void (*corq_log_fn)(void *user, int level, const char *message);
CORQ_API int corq_set_log_callback(corq_engine *engine, corq_log_fn fn, void *user);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CORQ_CORQ_H */
