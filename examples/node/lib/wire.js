'use strict';
// lib/wire.js — JS values to corq's C structs and back.
//
// Outbound: names and texts become C strings (koffi encodes JS strings; a NUL inside one would cut
// it short, so it is refused first), payloads become Buffers whose addresses go into hand-laid
// corq_message / corq_header / corq_publish_options structs. Every Buffer whose address is written
// is pushed on a `keep` array that the caller holds until the C call returns (for a call on a
// worker thread: until its completion), so the GC cannot free memory corq reads.
//
// Inbound: a delivery's or a record's data and headers are zero-copy views into corq's memory that
// die when the delivery is settled (or at the reader's next read): they are copied here, at once,
// into Buffers the JS side owns (libc memcpy into Buffer.allocUnsafe).

const { koffi, c, layout } = require('./native');
const { codes, CorqError, invalidType, outOfRange } = require('./errors');

const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const EMPTY = Buffer.alloc(0);

// corq_publish_options.flags
const PUBLISH_NOWAIT = 1;
const PUBLISH_MANDATORY = 2;
// corq_publish_options.timeout_ms default: the longest wait for room under overflow=block.
const PUBLISH_TIMEOUT_MS_DEFAULT = 30000;

// ---- Scalars ------------------------------------------------------------------------------------

/** A C string argument: a JS string without NUL (CORQ_EINVAL for a NUL: C would cut it short). */
function text(what, value) {
  if (typeof value !== 'string') throw invalidType(what, 'of type string', value);
  if (value.includes('\0')) {
    throw new CorqError(codes.CORQ_EINVAL, `${what} contains a NUL character`);
  }
  return value;
}

/** A timeout in ms: -1 (or Infinity) for no limit, else an integer 0..2^31-1. */
function timeout(what, value, fallback) {
  if (value === undefined) return fallback;
  if (value === Infinity) return -1;
  if (typeof value !== 'number') throw invalidType(what, 'of type number', value);
  if (!Number.isInteger(value) || value < -1 || value > INT32_MAX) {
    throw outOfRange(what, `-1, Infinity or an integer in [0, ${INT32_MAX}]`, value);
  }
  return value;
}

/** An integer that fits in [min, max] (numbers; within int32 / uint32 ranges). */
function integer(what, value, min, max, fallback) {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') throw invalidType(what, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(what, `an integer in [${min}, ${max}]`, value);
  }
  return value;
}

/** An int64 from a number (safe integer) or a bigint; returned as a bigint. */
function int64(what, value, fallback) {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw outOfRange(what, 'a safe integer or a bigint', value);
    return BigInt(value);
  }
  if (typeof value !== 'bigint') throw invalidType(what, 'of type number or bigint', value);
  if (value < INT64_MIN || value > INT64_MAX) throw outOfRange(what, 'within int64', value);
  return value;
}

/** A uint64 (a tag, a message id, a count) from a non-negative number or a bigint. */
function uint64(what, value, fallback) {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw outOfRange(what, 'a non-negative safe integer or a bigint', value);
    }
    return BigInt(value);
  }
  if (typeof value !== 'bigint') throw invalidType(what, 'of type bigint or number', value);
  if (value < 0n || value > UINT64_MAX) throw outOfRange(what, 'within uint64', value);
  return value;
}

function object(what, value) {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidType(what, 'an object', value);
  return value;
}

/** A uint64 counter as a JS number (koffi gives a BigInt only past 2^53). */
function count(value) {
  return typeof value === 'bigint' ? Number(value) : value;
}

// ---- Bytes --------------------------------------------------------------------------------------

/** Payload bytes: a Buffer, another ArrayBuffer view, an ArrayBuffer, or a string (UTF-8). */
function bytes(what, value) {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return Buffer.from(value);
  throw invalidType(what, 'a Buffer, a TypedArray, an ArrayBuffer or a string', value);
}

/** The address of a Buffer's first byte (0n for an empty one: C takes NULL with length 0). */
function addressOf(buffer) {
  return buffer.length === 0 ? 0n : koffi.address(buffer);
}

/** A C string in a Buffer of its own (with its NUL), for addresses written into structs. */
function cString(what, value) {
  return Buffer.from(`${text(what, value)}\0`, 'utf8');
}

/** A copy of `len` bytes at corq's address `ptr` into a Buffer the JS side owns. */
function copyOut(ptr, len) {
  if (len === 0) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(len);
  c.memcpy(out, ptr, len);
  return out;
}

/** The NUL-terminated string at `ptr` (UTF-8; bytes that are not become U+FFFD). */
function stringAt(ptr) {
  const len = Number(c.strlen(ptr));
  return copyOut(ptr, len).toString('utf8');
}

// ---- Headers ------------------------------------------------------------------------------------

/** [key, value] pairs of a headers / binding-arguments argument: object, Map or array of pairs. */
function pairs(what, value) {
  if (value === undefined || value === null) return [];
  if (value instanceof Map) return [...value];
  if (Array.isArray(value)) {
    for (const pair of value) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw invalidType(what, 'an object, a Map or an array of [key, value] pairs', pair);
      }
    }
    return value;
  }
  if (typeof value === 'object') return Object.entries(value);
  throw invalidType(what, 'an object, a Map or an array of [key, value] pairs', value);
}

/**
 * A corq_header array for `value` in a Buffer (null when there are none), and its count. A value
 * of null is a NULL pointer: for binding arguments, a match on the header's presence alone.
 */
function headerArray(what, value, keep, allowNull = false) {
  const list = pairs(what, value);
  if (list.length === 0) return { array: null, count: 0 };
  const array = Buffer.alloc(list.length * layout.header.size);
  keep.push(array);
  list.forEach(([key, headerValue], index) => {
    if (typeof key !== 'string') throw invalidType(`${what} key`, 'of type string', key);
    const keyBuffer = cString(`${what} key`, key);
    keep.push(keyBuffer);
    const base = index * layout.header.size;
    array.writeBigUInt64LE(koffi.address(keyBuffer), base + layout.header.key);
    if (headerValue === null && allowNull) return; // value NULL, value_len 0
    const valueBuffer = bytes(`${what} value`, headerValue);
    keep.push(valueBuffer);
    array.writeBigUInt64LE(addressOf(valueBuffer), base + layout.header.value);
    array.writeBigUInt64LE(BigInt(valueBuffer.length), base + layout.header.value_len);
  });
  return { array, count: list.length };
}

/** Copies of `count` corq_header at `ptr`: an object (null prototype) of key -> Buffer. */
function readHeaders(ptr, count) {
  const headers = Object.create(null);
  if (count === 0) return headers;
  const raw = copyOut(ptr, count * layout.header.size);
  for (let i = 0; i < count; i++) {
    const base = i * layout.header.size;
    const key = stringAt(raw.readBigUInt64LE(base + layout.header.key));
    const valuePtr = raw.readBigUInt64LE(base + layout.header.value);
    const valueLen = Number(raw.readBigUInt64LE(base + layout.header.value_len));
    headers[key] = valuePtr === 0n ? Buffer.alloc(0) : copyOut(valuePtr, valueLen);
  }
  return headers;
}

// ---- Messages and options -----------------------------------------------------------------------

/**
 * Lays out one corq_message at `offset` of `target` for data (+ headers, dedupId); every Buffer
 * it points into is pushed on `keep`.
 */
function writeMessage(target, offset, data, headers, dedupId, keep) {
  // Everything that may run user code (getters, iterators) or throw comes first; the writes last.
  const payload = bytes('data', data);
  const { array, count: n } = headerArray('headers', headers, keep);
  const id = dedupId === undefined || dedupId === null ? null : cString('dedupId', dedupId);
  keep.push(payload);
  if (id !== null) keep.push(id);
  target.writeBigUInt64LE(addressOf(payload), offset + layout.message.data);
  target.writeBigUInt64LE(BigInt(payload.length), offset + layout.message.len);
  target.fill(0, offset + layout.message.headers, offset + layout.message.size);
  if (array !== null) {
    target.writeBigUInt64LE(koffi.address(array), offset + layout.message.headers);
    target.writeBigUInt64LE(BigInt(n), offset + layout.message.header_count);
  }
  if (id !== null) target.writeBigUInt64LE(koffi.address(id), offset + layout.message.dedup_id);
}

/** One corq_message in a Buffer of its own. */
function message(data, headers, dedupId, keep) {
  const buffer = Buffer.alloc(layout.message.size);
  writeMessage(buffer, 0, data, headers, dedupId, keep);
  return buffer;
}

// The hot path's corq_message: a publish tried at once on the main thread lays its message out
// here (no allocation); it is valid until the next call of scratchMessage, so a call that goes on
// on a worker thread copies it first.
const scratch = Buffer.alloc(layout.message.size);

function scratchMessage(data, headers, dedupId, keep) {
  writeMessage(scratch, 0, data, headers, dedupId, keep); // writes every field
  return scratch;
}

/**
 * corq_publish_options from the JS options: nowait, mandatory, timeoutMs (overflow=block's wait for
 * room, default 30000), delayMs, ttlMs, priority.
 */
const PUBLISH_KEYS = ['nowait', 'mandatory', 'timeoutMs', 'delayMs', 'ttlMs', 'priority'];
let defaultOptions = null; // the options of a publish that sets none: laid out once, never written

function publishOptions(options, flagsExtra = 0) {
  if (flagsExtra === 0 && PUBLISH_KEYS.every((key) => options[key] === undefined)) {
    defaultOptions ??= layoutOptions({}, 0);
    return defaultOptions;
  }
  return layoutOptions(options, flagsExtra);
}

function layoutOptions(options, flagsExtra) {
  const buffer = Buffer.alloc(layout.options.size);
  let flags = flagsExtra;
  if (options.nowait) flags |= PUBLISH_NOWAIT;
  if (options.mandatory) flags |= PUBLISH_MANDATORY;
  buffer.writeUInt32LE(layout.options.size, layout.options.struct_size);
  buffer.writeUInt32LE(flags, layout.options.flags);
  buffer.writeInt32LE(
    timeout('timeoutMs', options.timeoutMs, PUBLISH_TIMEOUT_MS_DEFAULT),
    layout.options.timeout_ms,
  );
  buffer.writeBigInt64LE(int64('delayMs', options.delayMs, 0n), layout.options.delay_ms);
  buffer.writeBigInt64LE(int64('ttlMs', options.ttlMs, 0n), layout.options.ttl_ms);
  buffer.writeInt32LE(
    integer('priority', options.priority, -(2 ** 31), INT32_MAX, 0),
    layout.options.priority,
  );
  return buffer;
}

/** A stream key: undefined/null (no key) or bytes (a string is UTF-8; an empty key is a key). */
function streamKey(value, keep) {
  if (value === undefined || value === null) return { key: null, keyLen: 0 };
  const key = bytes('key', value);
  keep.push(key);
  // A non-NULL key of length 0 is a key: point at a live 1-byte buffer rather than NULL.
  if (key.length === 0) {
    const one = Buffer.alloc(1);
    keep.push(one);
    return { key: one, keyLen: 0 };
  }
  return { key, keyLen: key.length };
}

// ---- Configs ------------------------------------------------------------------------------------

/** An option value as corq_config text: booleans "true"/"false", numbers and bigints in decimal. */
function optionText(key, value) {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return value;
  throw invalidType(`options.${key}`, 'a string, a number, a bigint or a boolean', value);
}

/**
 * Runs fn(config) with a corq_config filled from `options` (C keys as they are: max_attempts,
 * lease_ms, ...; undefined values are skipped), or fn(null) when there are none; frees it after.
 */
function withConfig(options, fn) {
  const entries = Object.entries(object('options', options)).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return fn(null);
  const config = c.corq_config_new();
  if (config === null || config === 0n) throw new CorqError(codes.CORQ_ENOMEM, 'corq_config_new');
  try {
    for (const [key, value] of entries) {
      const rc = c.corq_config_set(config, text('option key', key), text(key, optionText(key, value)));
      if (rc < 0) throw new CorqError(rc, c.corq_last_error());
    }
    return fn(config);
  } finally {
    c.corq_config_free(config);
  }
}

module.exports = {
  INT32_MAX,
  UINT32_MAX,
  EMPTY,
  PUBLISH_NOWAIT,
  PUBLISH_MANDATORY,
  PUBLISH_TIMEOUT_MS_DEFAULT,
  text,
  timeout,
  integer,
  int64,
  uint64,
  object,
  count,
  bytes,
  addressOf,
  cString,
  copyOut,
  stringAt,
  headerArray,
  readHeaders,
  writeMessage,
  message,
  scratchMessage,
  publishOptions,
  streamKey,
  withConfig,
};
