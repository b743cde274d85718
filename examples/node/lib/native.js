'use strict';
// lib/native.js — libcorq.so through koffi: finding the library, the C declarations of corq.h and
// the struct layouts the binding reads and writes by hand.
//
// Handles (corq_engine *, corq_consumer *, ...) are koffi pointers: BigInt addresses. Hot structs
// (corq_message, corq_publish_options, corq_delivery, corq_stream_record) are not converted by
// koffi from JS objects — that costs ~1.5 µs a call — but laid out in Buffers that the binding
// fills and reads itself (offsets below, checked against koffi's own layout at load). Every other
// struct goes through koffi's conversion: those calls are not on a hot path.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');

// ---- Finding the library ------------------------------------------------------------------------

/** The libdir pkg-config knows for corq, or null (no pkg-config, no corq.pc, ...). */
function pkgConfigLibdir() {
  try {
    const out = execFileSync('pkg-config', ['--variable=libdir', 'corq'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
    return out === '' ? null : out;
  } catch {
    return null;
  }
}

/**
 * CORQ_LIBRARY (a path to libcorq.so; no fallback when set: a wrong path is an error), else the
 * library in pkg-config's libdir for corq, else "libcorq.so.0" on the loader's search path.
 */
function findLibrary() {
  const fromEnv = process.env.CORQ_LIBRARY;
  if (fromEnv) return fromEnv;
  const libdir = pkgConfigLibdir();
  if (libdir !== null) {
    for (const name of ['libcorq.so.0', 'libcorq.so']) {
      const candidate = path.join(libdir, name);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  return 'libcorq.so.0';
}

const libraryPath = findLibrary();
let lib;
try {
  lib = koffi.load(libraryPath);
} catch (error) {
  throw new Error(
    `corq: cannot load ${libraryPath} (set CORQ_LIBRARY to the path of libcorq.so, or make ` +
      `pkg-config find corq.pc): ${error.message}`,
    { cause: error },
  );
}

// ---- Structs ------------------------------------------------------------------------------------

koffi.struct('corq_header', { key: 'const char *', value: 'const void *', value_len: 'size_t' });
const MessageType = koffi.struct('corq_message', {
  data: 'const void *',
  len: 'size_t',
  headers: 'const void *',
  header_count: 'size_t',
  dedup_id: 'const char *',
});
const PublishOptionsType = koffi.struct('corq_publish_options', {
  struct_size: 'uint32_t',
  flags: 'uint32_t',
  timeout_ms: 'int32_t',
  delay_ms: 'int64_t',
  ttl_ms: 'int64_t',
  priority: 'int32_t',
});
const DeliveryType = koffi.struct('corq_delivery', {
  tag: 'uint64_t',
  message_id: 'uint64_t',
  data: 'const void *',
  len: 'size_t',
  headers: 'const void *',
  header_count: 'size_t',
  delivery_count: 'uint32_t',
  published_at_ms: 'int64_t',
});
const RecordType = koffi.struct('corq_stream_record', {
  partition: 'uint32_t',
  offset: 'uint64_t',
  timestamp_ms: 'int64_t',
  key: 'const void *',
  key_len: 'size_t',
  data: 'const void *',
  len: 'size_t',
  headers: 'const void *',
  header_count: 'size_t',
});
const ReplyType = koffi.struct('corq_reply', {
  data: 'const void *',
  len: 'size_t',
  headers: 'const void *',
  header_count: 'size_t',
});

// The counters structs: filled by corq through koffi's _Inout_ conversion (struct_size in, values
// out). uint64 counters arrive as numbers (BigInt only past 2^53, which the binding converts).
const QUEUE_STATS_FIELDS = [
  'ready', 'in_flight', 'delayed', 'consumers', 'bytes_ready', 'published', 'delivered', 'acked',
  'nacked', 'released', 'redelivered', 'dead_lettered', 'expired', 'dropped', 'deduplicated',
];
const QueueStatsType = koffi.struct('corq_queue_stats', {
  struct_size: 'uint32_t',
  ...Object.fromEntries(QUEUE_STATS_FIELDS.map((name) => [name, 'uint64_t'])),
  oldest_ready_age_ms: 'int64_t',
  purged: 'uint64_t',
  redriven: 'uint64_t',
});
const EXCHANGE_STATS_FIELDS = ['bindings', 'published', 'routed', 'unroutable', 'alternated'];
const ExchangeStatsType = koffi.struct('corq_exchange_stats', {
  struct_size: 'uint32_t',
  ...Object.fromEntries(EXCHANGE_STATS_FIELDS.map((name) => [name, 'uint64_t'])),
});
const STREAM_STATS_FIELDS = ['records', 'bytes', 'appended', 'deleted', 'deduplicated', 'groups'];
const StreamStatsType = koffi.struct('corq_stream_stats', {
  struct_size: 'uint32_t',
  partitions: 'uint32_t',
  ...Object.fromEntries(STREAM_STATS_FIELDS.map((name) => [name, 'uint64_t'])),
});
const GROUP_STATS_FIELDS = [
  'lag', 'in_flight', 'delivered', 'acked', 'nacked', 'dead_lettered', 'skipped',
];
const GroupStatsType = koffi.struct('corq_group_stats', {
  struct_size: 'uint32_t',
  members: 'uint32_t',
  ...Object.fromEntries(GROUP_STATS_FIELDS.map((name) => [name, 'uint64_t'])),
});

/** Byte offsets of the hand-laid structs; each is asserted against koffi's layout below. */
const layout = {
  header: { size: 24, key: 0, value: 8, value_len: 16 },
  message: { size: 40, data: 0, len: 8, headers: 16, header_count: 24, dedup_id: 32 },
  options: { size: 40, struct_size: 0, flags: 4, timeout_ms: 8, delay_ms: 16, ttl_ms: 24, priority: 32 },
  delivery: {
    size: 64, tag: 0, message_id: 8, data: 16, len: 24, headers: 32, header_count: 40,
    delivery_count: 48, published_at_ms: 56,
  },
  record: {
    size: 72, partition: 0, offset: 8, timestamp_ms: 16, key: 24, key_len: 32, data: 40, len: 48,
    headers: 56, header_count: 64,
  },
  reply: { size: 32, data: 0, len: 8, headers: 16, header_count: 24 },
};

function checkLayout(name, type, offsets) {
  if (koffi.sizeof(type) !== offsets.size) {
    throw new Error(`corq: ${name} is ${koffi.sizeof(type)} bytes here, the binding expects ${offsets.size}`);
  }
  for (const [field, offset] of Object.entries(offsets)) {
    if (field !== 'size' && koffi.offsetof(type, field) !== offset) {
      throw new Error(`corq: ${name}.${field} is at ${koffi.offsetof(type, field)}, expected ${offset}`);
    }
  }
}
checkLayout('corq_header', 'corq_header', layout.header);
checkLayout('corq_message', MessageType, layout.message);
checkLayout('corq_publish_options', PublishOptionsType, layout.options);
checkLayout('corq_delivery', DeliveryType, layout.delivery);
checkLayout('corq_stream_record', RecordType, layout.record);
checkLayout('corq_reply', ReplyType, layout.reply);

// ---- Functions ----------------------------------------------------------------------------------
// Pointer arguments the binding lays out itself are `void *` (a Buffer or a BigInt address);
// names are `const char *` (koffi encodes a JS string as UTF-8 with its NUL).

const declarations = [
  'uint32_t corq_version(void)',
  'const char *corq_version_string(void)',
  'const char *corq_strerror(int code)',
  'const char *corq_last_error(void)',
  'void *corq_config_new(void)',
  'int corq_config_set(void *config, const char *key, const char *value)',
  'void corq_config_free(void *config)',
  'int corq_open(const char *dir, void *options, _Out_ void **out)',
  'int corq_close(void *engine)',
  'int corq_sync(void *engine, int32_t timeout_ms)',
  'int corq_engine_id(void *engine, void *out)',
  'int corq_queue_declare(void *engine, const char *queue, void *options)',
  'int corq_queue_declare_temp(void *engine, void *options, void *name_out, size_t name_capacity)',
  'int corq_queue_delete(void *engine, const char *queue)',
  'int corq_queue_purge(void *engine, const char *queue, void *purged)',
  'int corq_publish(void *engine, const char *queue, void *message, void *options, void *message_id)',
  'int corq_wait_durable(void *engine, uint64_t message_id, int32_t timeout_ms)',
  'int corq_producer_open(void *engine, const char *queue, _Out_ void **out)',
  'int corq_producer_send(void *producer, void *msgs, size_t count, void *options, void *first_message_id)',
  'int corq_producer_flush(void *producer, int32_t timeout_ms)',
  'void corq_producer_close(void *producer)',
  'int corq_consumer_open(void *engine, const char *queue, uint32_t prefetch, _Out_ void **out)',
  'int corq_consume(void *consumer, void *out, size_t max, int32_t timeout_ms)',
  'int corq_ack(void *consumer, uint64_t tag)',
  'int corq_ack_upto(void *consumer, uint64_t tag)',
  'int corq_nack(void *consumer, uint64_t tag, int64_t delay_ms)',
  'int corq_release(void *consumer, uint64_t tag)',
  'int corq_reject(void *consumer, uint64_t tag, const char *reason)',
  'int corq_extend(void *consumer, uint64_t tag, int64_t lease_ms)',
  'int corq_consumer_wakeup(void *consumer)',
  'int corq_consumer_interrupt(void *consumer)',
  'int corq_consumer_close(void *consumer)',
  'int corq_exchange_declare(void *engine, const char *exchange, const char *type, void *options)',
  'int corq_exchange_delete(void *engine, const char *exchange)',
  'int corq_bind(void *engine, const char *exchange, const char *queue, const char *key, void *arguments, size_t argument_count)',
  'int corq_unbind(void *engine, const char *exchange, const char *queue, const char *key, void *arguments, size_t argument_count)',
  'int corq_exchange_bind(void *engine, const char *source, const char *destination, const char *key, void *arguments, size_t argument_count)',
  'int corq_exchange_unbind(void *engine, const char *source, const char *destination, const char *key, void *arguments, size_t argument_count)',
  'int corq_exchange_publish(void *engine, const char *exchange, const char *routing_key, void *message, void *options, void *message_id, void *routed)',
  'int corq_exchange_stats_get(void *engine, const char *exchange, _Inout_ corq_exchange_stats *out)',
  'int corq_request(void *engine, const char *exchange, const char *routing_key, void *request, int32_t timeout_ms, void *reply)',
  'void corq_reply_free(void *reply)',
  'int corq_respond(void *consumer, uint64_t tag, void *response)',
  'int corq_stream_declare(void *engine, const char *stream, void *options)',
  'int corq_stream_delete(void *engine, const char *stream)',
  'int corq_stream_append(void *engine, const char *stream, void *key, size_t key_len, void *message, void *options, void *partition, void *offset)',
  'int corq_stream_producer_open(void *engine, const char *stream, _Out_ void **out)',
  'int corq_stream_producer_send(void *producer, void *key, size_t key_len, void *messages, size_t count, void *options, void *partition, void *first_offset)',
  'int corq_stream_producer_close(void *producer)',
  'int corq_stream_reader_open(void *engine, const char *stream, uint32_t partition, const char *start, _Out_ void **out)',
  'int corq_stream_read(void *reader, void *out, size_t max, int32_t timeout_ms)',
  'uint64_t corq_stream_reader_skipped(void *reader)',
  'int corq_stream_reader_wakeup(void *reader)',
  'int corq_stream_reader_close(void *reader)',
  'int corq_group_consumer_open(void *engine, const char *stream, const char *group, void *options, _Out_ void **out)',
  'int corq_group_seek(void *engine, const char *stream, const char *group, int32_t partition, const char *start)',
  'int corq_group_delete(void *engine, const char *stream, const char *group)',
  'int corq_stream_stats_get(void *engine, const char *stream, _Inout_ corq_stream_stats *out)',
  'int corq_group_stats_get(void *engine, const char *stream, const char *group, _Inout_ corq_group_stats *out)',
  'int corq_txn_begin(void *engine, _Out_ void **out)',
  'int corq_txn_publish(void *txn, const char *exchange, const char *routing_key, void *message, void *options)',
  'int corq_txn_append(void *txn, const char *stream, void *key, size_t key_len, void *message, void *options)',
  'int corq_txn_ack(void *txn, void *consumer, uint64_t tag)',
  'int corq_txn_commit(void *txn, int32_t timeout_ms)',
  'void corq_txn_abort(void *txn)',
  'int corq_queue_stats_get(void *engine, const char *queue, _Inout_ corq_queue_stats *out)',
  'int corq_stats_json(void *engine, _Out_ void **json)',
  'int corq_redrive(void *engine, const char *from_queue, const char *to_queue, uint64_t max_messages, void *moved)',
  'void corq_free(void *ptr)',
];

/** c.corq_xxx: the C functions; c.memcpy and c.strlen come from libc through libcorq's handle. */
const c = {};
for (const declaration of declarations) {
  const fn = lib.func(declaration);
  c[fn.info.name] = fn;
}
// Copies out of corq's memory (delivery payloads, header values) go through libc's memcpy: ~0.1 µs
// against ~2 µs for koffi.view's external ArrayBuffer. The source is a plain address (uintptr_t).
c.memcpy = lib.func('void *memcpy(void *dest, uintptr_t src, size_t n)');
c.strlen = lib.func('size_t strlen(uintptr_t s)');

const major = Math.floor(c.corq_version() / 10000);
if (major !== 0) {
  throw new Error(
    `corq: ${libraryPath} is version ${c.corq_version_string()}; this binding is for major version 0`,
  );
}

module.exports = {
  koffi,
  c,
  libraryPath,
  layout,
  QueueStatsType,
  ExchangeStatsType,
  StreamStatsType,
  GroupStatsType,
  QUEUE_STATS_FIELDS,
  EXCHANGE_STATS_FIELDS,
  STREAM_STATS_FIELDS,
  GROUP_STATS_FIELDS,
};
