'use strict';
// lib/engine.js — the public classes: Engine, Producer, Consumer (and group members), Delivery,
// StreamProducer, StreamReader, StreamRecord, Transaction.
//
// Which thread runs what (lib/scheduler.js has the machinery):
//   - Calls that never wait run on the main thread, synchronously: declarations, settlements,
//     stats, transaction publishes. A failure is a CorqError with corq_last_error's exact detail.
//   - Calls that wait return Promises and wait on a libuv thread (koffi .async). Before going
//     there, the binding tries the call on the main thread in a form that cannot wait (consume with
//     timeout 0; a publish with CORQ_PUBLISH_NOWAIT and timeout 0): most calls end there, with no
//     thread hop, and a failure there has its exact detail. Only what must wait goes to a thread:
//     a consume or read that found nothing, a durability wait, a publish into a full
//     overflow=block queue, a request, a commit.
//   - corq_last_error() is thread-local: after a failure on a worker thread the binding asks again
//     on the main thread where that is harmless (a consume or read of nothing: its errors — closed,
//     deleted — stay), so the detail is corq's own; where it is not (request, commit, a blocked
//     publish), the detail is the binding's, from the code and the call's arguments, and says so.

const { c, QueueStatsType, ExchangeStatsType, StreamStatsType, GroupStatsType } = require('./native');
const { QUEUE_STATS_FIELDS, EXCHANGE_STATS_FIELDS, STREAM_STATS_FIELDS, GROUP_STATS_FIELDS } = require('./native');
const { layout } = require('./native');
const errors = require('./errors');
const wire = require('./wire');
const { gate, Lane, callAsync, ROTATE_SLICE_MS } = require('./scheduler');

const { codes, CorqError, lastError, check, closedError, abortError, invalidType } = errors;

// Most deliveries (records) one consume (read) takes: the size of a handle's out buffer.
const BATCH_MAX = 1024;
// An iterator whose consumer's window is full (everything taken, nothing settled) looks again
// after this long, or at once when a delivery of the consumer is settled through the binding.
const WINDOW_FULL_RETRY_MS = 50;
// Longest name corq_queue_declare_temp writes ("corq.gen-" and 16 hex digits, and a NUL).
const TEMP_NAME_CAPACITY = 64;

/** A resolved Promise that also carries its value (.ready), for callers that chain on it. */
function readyPromise(value) {
  const promise = Promise.resolve(value);
  promise.ready = value;
  return promise;
}

/** Runs fn and returns its result as a Promise: a throw becomes a rejection. */
function promised(fn) {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

function now() {
  return performance.now();
}

// ---- Errors of calls that ran on a worker thread -------------------------------------------------

/** What each code means for a call that ran on a worker (the header's words, per function). */
const WORKER_MEANINGS = {
  corq_request: {
    CORQ_EINVAL: 'bad names or message',
    CORQ_ENOENT: 'no such exchange',
    CORQ_EUNROUTABLE: 'no queue took the request: no responder',
    CORQ_ETIMEDOUT: 'no response in time',
    CORQ_EFULL: 'a queue the request routes to is full',
    CORQ_ECLOSED: 'the engine is closed',
  },
  corq_txn_commit: {
    CORQ_ESTATE: 'a delivery it acks is no longer held (settled, lease expired or consumer closed); nothing was applied',
    CORQ_ENOENT: 'a target was deleted; nothing was applied',
    CORQ_EUNROUTABLE: 'a mandatory publish routes nowhere; nothing was applied',
    CORQ_EFULL: 'a target is full; nothing was applied',
    CORQ_ETOOBIG: 'the transaction is larger than a log segment; nothing was applied',
    CORQ_ETIMEDOUT: 'not durable within the timeout: the outcome is unknown, never partial',
    CORQ_EFAILED: 'the log failed: the outcome is unknown, never partial',
    CORQ_ECLOSED: 'the engine was closed: the transaction was aborted',
  },
};

/**
 * A CorqError for a call that failed on a worker thread, whose corq_last_error() the main thread
 * cannot read: the detail names the call, what the code means for it, and the context given.
 */
function workerError(rc, fn, context = '') {
  const probe = new CorqError(rc, '');
  const meaning = WORKER_MEANINGS[fn]?.[probe.code];
  const parts = [meaning, context].filter(Boolean).join('; ');
  return new CorqError(rc, `${fn}: ${parts || 'failed'} (ran on a worker thread: corq's own detail text stays there)`);
}

// ---- Handles: close() and a FinalizationRegistry as the safety net -------------------------------

const FREE = {
  engine: (ptr) => c.corq_close(ptr),
  producer: (ptr) => c.corq_producer_close(ptr),
  consumer: (ptr) => c.corq_consumer_close(ptr),
  streamProducer: (ptr) => c.corq_stream_producer_close(ptr),
  streamReader: (ptr) => c.corq_stream_reader_close(ptr),
  transaction: (ptr) => c.corq_txn_abort(ptr),
};

// A handle object dropped without close() is freed when the GC collects it. Only a safety net:
// when that happens is up to the GC. (A handle busy on a worker thread is referenced by the call,
// so it is never collected under it.)
const registry = new FinalizationRegistry(({ kind, ptr }) => {
  try {
    FREE[kind](ptr);
  } catch {
    // nothing can be reported from a finalizer
  }
});

// ---- Coalesced durability waits ------------------------------------------------------------------

/**
 * Group commit on the JS side: a publish that must be durable joins the batch of waiters, and one
 * call (corq_wait_durable for queues, corq_sync for streams) on one thread confirms the whole
 * batch — everything logged before the call started is covered by it. So a thousand concurrent
 * durable publishes hold one thread, not a thousand.
 */
class DurabilityBatcher {
  constructor(engine, fn) {
    this.engine = engine;
    this.fn = fn; // 'corq_wait_durable' or 'corq_sync'
    this.pending = [];
    this.running = false;
  }

  /** Resolves once everything published so far (id: its message id) is durable. */
  wait(id, timeoutMs = -1) {
    return new Promise((resolve, reject) => {
      const waiter = { id, resolve, reject, timer: null };
      if (timeoutMs >= 0) {
        waiter.timer = setTimeout(() => {
          waiter.timer = null;
          waiter.done = true;
          reject(new CorqError(codes.CORQ_ETIMEDOUT, `${this.fn}: written, not yet durable after ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.push(waiter);
      if (!this.running) this.start();
    });
  }

  start() {
    const batch = this.pending;
    this.pending = [];
    this.running = true;
    const engine = this.engine;
    let args;
    if (this.fn === 'corq_wait_durable') {
      let maxId = 0n;
      for (const waiter of batch) if (waiter.id > maxId) maxId = waiter.id;
      args = [engine._ptr, maxId, -1];
    } else {
      args = [engine._ptr, -1];
    }
    engine._oneshot(c[this.fn], args).then(
      (rc) => this.finish(batch, rc < 0 ? engine._durabilityError(rc, this.fn, args[1]) : null),
      (error) => this.finish(batch, error),
    );
  }

  finish(batch, error) {
    for (const waiter of batch) {
      if (waiter.timer !== null) clearTimeout(waiter.timer);
      if (waiter.done) continue;
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
    this.running = false;
    if (this.pending.length > 0) this.start();
  }
}

// ---- Engine -------------------------------------------------------------------------------------

/**
 * Opens an engine: dir null/undefined gives an in-memory one (all queues transient); a directory
 * (created if missing) keeps durable queues and streams and recovers them. options: engine options
 * with corq's keys (sync, max_message_bytes, segment_bytes, clock, ...).
 */
function open(dir = null, options = undefined) {
  if (dir !== null && dir !== undefined) wire.text('dir', dir);
  const path = dir ?? null;
  const out = [null];
  wire.withConfig(options, (config) => check(c.corq_open(path, config, out)));
  return new Engine(out[0], path, wire.object('options', options));
}

class Engine {
  /** @internal use open() */
  constructor(ptr, dir, options) {
    this._ptr = ptr;
    this._closed = false;
    this.dir = dir;
    this._disk = dir !== null;
    this._children = new Set();
    this._inflight = 0; // engine-level calls on worker threads (or queued for one)
    this._keepalive = null; // a transaction that keeps the closed engine's memory for them
    this._transientQueues = new Set(); // declared durable=false here: publishes never wait for them
    this._transientStreams = new Set();
    this._queueDurability = new DurabilityBatcher(this, 'corq_wait_durable');
    this._streamDurability = new DurabilityBatcher(this, 'corq_sync');
    registry.register(this, { kind: 'engine', ptr }, this);
  }

  _h() {
    if (this._closed) throw closedError('engine');
    return this._ptr;
  }

  get closed() {
    return this._closed;
  }

  /**
   * Runs fn(...args) on a worker thread as an engine-level call: counted, so that close() keeps
   * the engine's memory until it returned, and through the gate as a one-shot call.
   */
  async _oneshot(fn, args) {
    // After close() the engine's memory lives only as long as the calls already counted here: a
    // call begun later (the next batch of a durability wait, say) must not reach corq.
    if (this._closed) throw closedError('engine');
    this._inflight++;
    const ticket = { oneshot: true };
    try {
      await gate.enter(ticket);
      return await callAsync(fn, args);
    } finally {
      gate.leave(ticket);
      if (--this._inflight === 0 && this._keepalive !== null) {
        c.corq_txn_abort(this._keepalive);
        this._keepalive = null;
      }
    }
  }

  /** The error of a durability wait that failed on a worker thread. */
  _durabilityError(rc, fn, id) {
    // A failed log (EFAILED) is checked first by these calls, at once: asking again on this
    // thread gives corq's own detail (a timed-out wait is not asked again: that would wait here).
    if (rc === codes.CORQ_EFAILED && !this._closed) {
      const again = fn === 'corq_sync' ? c.corq_sync(this._ptr, 0) : c.corq_wait_durable(this._ptr, id, 0);
      if (again === rc) return lastError(rc);
    }
    if (rc === codes.CORQ_ECLOSED) return new CorqError(rc, `${fn}: the engine is closed`);
    return workerError(rc, fn);
  }

  /**
   * Closes the engine: every handle opened from it is closed too (an idle one at once; one whose
   * call waits on a worker thread as soon as that call returned — its promise rejects with
   * CORQ_ECLOSED), open transactions are aborted, and corq_close wakes every waiting call with
   * CORQ_ECLOSED. Idempotent.
   */
  close() {
    if (this._closed) return;
    this._closed = true;
    registry.unregister(this);
    for (const child of [...this._children]) child._closeByEngine();
    // Engine-level calls still on worker threads (durability waits, a request, a blocked publish)
    // use the engine's memory until they return; corq frees it at close once no handle holds it,
    // so a transaction is begun as a handle that keeps it, and aborted when the last one returned.
    if (this._inflight > 0) {
      const out = [null];
      if (c.corq_txn_begin(this._ptr, out) === codes.CORQ_OK) this._keepalive = out[0];
    }
    check(c.corq_close(this._ptr));
  }

  [Symbol.dispose]() {
    this.close();
  }

  /** close(), resolving once every handle opened from it is freed. */
  async [Symbol.asyncDispose]() {
    const children = [...this._children];
    this.close();
    await Promise.all(children.map((child) => child._lane.whenIdle()));
  }

  /** This engine's id: the data directory's UUID (DIR/ENGINE_ID), or a fresh one in memory. */
  get engineId() {
    const out = Buffer.alloc(37);
    check(c.corq_engine_id(this._h(), out));
    return out.toString('latin1', 0, 36);
  }

  // -- queues

  /** Declares a queue (idempotent with the same options; CORQ_EEXIST with others). */
  declareQueue(name, options = undefined) {
    const h = this._h();
    wire.text('name', name);
    wire.withConfig(options, (config) => check(c.corq_queue_declare(h, name, config)));
    if (String(wire.object('options', options).durable) === 'false') this._transientQueues.add(name);
    else this._transientQueues.delete(name);
  }

  /** Declares a temporary queue ("corq.gen-..."; transient, auto-deleted) and returns its name. */
  declareTempQueue(options = undefined) {
    const h = this._h();
    const out = Buffer.alloc(TEMP_NAME_CAPACITY);
    wire.withConfig(options, (config) => check(c.corq_queue_declare_temp(h, config, out, out.length)));
    const name = out.toString('utf8', 0, out.indexOf(0));
    this._transientQueues.add(name);
    return name;
  }

  deleteQueue(name) {
    check(c.corq_queue_delete(this._h(), wire.text('name', name)));
    this._transientQueues.delete(name);
  }

  /** Removes every ready message; returns how many. */
  purgeQueue(name) {
    const out = new BigUint64Array(1);
    check(c.corq_queue_purge(this._h(), wire.text('name', name), out));
    return Number(out[0]);
  }

  // -- publishing

  _waitsForQueue(queue, options) {
    return this._disk && !options.nowait && !this._transientQueues.has(queue);
  }

  /**
   * Publishes one message; resolves with its id (bigint; a deduplicated publish: the original's)
   * once it is accepted and — on a durable queue of a disk engine, unless nowait — durable.
   * options: headers, dedupId, delayMs, ttlMs, priority, nowait, timeoutMs (overflow=block's wait
   * for room: 30000 by default, -1 no limit).
   */
  publish(queue, data, options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const h = this._h();
      wire.text('queue', queue);
      const keep = [];
      const message = wire.scratchMessage(data, o.headers, o.dedupId, keep);
      const opts = wire.publishOptions(o);
      const rc = c.corq_publish(h, queue, message, fastOptions(opts), idScratch);
      if (rc === codes.CORQ_OK) {
        const messageId = idScratch[0];
        if (!this._waitsForQueue(queue, o)) return messageId;
        return this._queueDurability.wait(messageId).then(() => messageId);
      }
      if (rc !== codes.CORQ_EFULL || blockTimeout(opts) === 0) throw lastError(rc);
      // Full: under overflow=block the publish waits for room, on a worker thread.
      const full = lastError(rc);
      const id = new BigUint64Array(1);
      return this._oneshot(c.corq_publish, [h, queue, Buffer.from(message), opts, id]).then((again) => {
        keep.length = 0;
        if (again === codes.CORQ_OK) return id[0];
        throw again === codes.CORQ_EFULL ? full : workerError(again, 'corq_publish', `queue '${queue}'`);
      });
    });
  }

  /** publish() on the main thread, in one C call: blocks while corq waits (room, durability). */
  publishSync(queue, data, options = undefined) {
    const o = wire.object('options', options);
    const h = this._h();
    const keep = [];
    const message = wire.message(data, o.headers, o.dedupId, keep);
    const id = new BigUint64Array(1);
    check(c.corq_publish(h, wire.text('queue', queue), message, wire.publishOptions(o), id));
    return id[0];
  }

  /** Resolves once the message with this id (and everything before it) is durable. */
  waitDurable(messageId, options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const h = this._h();
      const id = wire.uint64('messageId', messageId);
      const timeout = wire.timeout('timeoutMs', o.timeoutMs, -1);
      if (!this._disk) {
        check(c.corq_wait_durable(h, id, 0)); // in memory: at once (EINVAL for an unknown id)
        return undefined;
      }
      return this._oneshot(c.corq_wait_durable, [h, id, timeout]).then((rc) => {
        if (rc === codes.CORQ_EINVAL) throw new CorqError(rc, `corq_wait_durable: message id ${id} was never assigned`);
        if (rc === codes.CORQ_ETIMEDOUT) throw new CorqError(rc, `corq_wait_durable: not durable after ${timeout} ms`);
        if (rc < 0) throw this._durabilityError(rc, 'corq_wait_durable', id);
      });
    });
  }

  /** Resolves once everything logged so far (queues and durable streams) is on the disk. */
  sync(options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const h = this._h();
      const timeout = wire.timeout('timeoutMs', o.timeoutMs, -1);
      if (!this._disk) return void check(c.corq_sync(h, 0)); // in memory: nothing to wait for
      return this._oneshot(c.corq_sync, [h, timeout]).then((rc) => {
        if (rc === codes.CORQ_ETIMEDOUT) throw new CorqError(rc, `corq_sync: not durable after ${timeout} ms`);
        if (rc < 0) throw this._durabilityError(rc, 'corq_sync');
      });
    });
  }

  producer(queue) {
    const out = [null];
    check(c.corq_producer_open(this._h(), wire.text('queue', queue), out));
    return new Producer(this, out[0], queue);
  }

  /** A consumer of one queue; options.prefetch (1-65536, default 64): its window of deliveries. */
  consumer(queue, options = undefined) {
    const o = wire.object('options', options);
    const prefetch = wire.integer('prefetch', o.prefetch, 0, wire.UINT32_MAX, 64);
    const out = [null];
    check(c.corq_consumer_open(this._h(), wire.text('queue', queue), prefetch, out));
    return new Consumer(this, out[0], queue, null, prefetch);
  }

  // -- exchanges and bindings

  /** Declares an exchange of type direct, fanout, topic or headers (options: durable, internal, alternate_exchange). */
  declareExchange(name, type, options = undefined) {
    const h = this._h();
    wire.text('name', name);
    wire.text('type', type);
    wire.withConfig(options, (config) => check(c.corq_exchange_declare(h, name, type, config)));
  }

  deleteExchange(name) {
    check(c.corq_exchange_delete(this._h(), wire.text('name', name)));
  }

  _binding(fn, source, destination, key, args) {
    const h = this._h();
    const keep = [];
    const { array, count } = wire.headerArray('arguments', args, keep, true);
    check(
      fn(h, wire.text('source', source), wire.text('destination', destination),
        wire.text('key', key ?? ''), array, count),
    );
  }

  /** Binds a queue to an exchange with a key (a pattern for topic) and arguments (headers exchanges; a null value matches presence). */
  bind(exchange, queue, key = '', args = undefined) {
    this._binding(c.corq_bind, exchange, queue, key, args);
  }

  unbind(exchange, queue, key = '', args = undefined) {
    this._binding(c.corq_unbind, exchange, queue, key, args);
  }

  bindExchange(source, destination, key = '', args = undefined) {
    this._binding(c.corq_exchange_bind, source, destination, key, args);
  }

  unbindExchange(source, destination, key = '', args = undefined) {
    this._binding(c.corq_exchange_unbind, source, destination, key, args);
  }

  /**
   * Publishes through an exchange into every queue it routes to (all or none); resolves with
   * { messageId, routed }. options as publish(), and mandatory (CORQ_EUNROUTABLE instead of a drop).
   */
  publishToExchange(exchange, routingKey, data, options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const h = this._h();
      wire.text('exchange', exchange);
      const key = wire.text('routingKey', routingKey ?? '');
      const keep = [];
      const message = wire.message(data, o.headers, o.dedupId, keep);
      const opts = wire.publishOptions(o);
      const id = new BigUint64Array(1);
      const routed = new Uint32Array(1);
      const result = () => ({ messageId: id[0], routed: routed[0] });
      const rc = c.corq_exchange_publish(h, exchange, key, message, fastOptions(opts), id, routed);
      if (rc === codes.CORQ_OK) {
        if (!this._disk || o.nowait || routed[0] === 0) return result();
        return this._queueDurability.wait(id[0]).then(result);
      }
      if (rc !== codes.CORQ_EFULL || blockTimeout(opts) === 0) throw lastError(rc);
      const full = lastError(rc);
      return this._oneshot(c.corq_exchange_publish, [h, exchange, key, message, opts, id, routed]).then((again) => {
        keep.length = 0;
        if (again === codes.CORQ_OK) return result();
        throw again === codes.CORQ_EFULL ? full : workerError(again, 'corq_exchange_publish', `exchange '${exchange}'`);
      });
    });
  }

  publishToExchangeSync(exchange, routingKey, data, options = undefined) {
    const o = wire.object('options', options);
    const h = this._h();
    const keep = [];
    const message = wire.message(data, o.headers, o.dedupId, keep);
    const id = new BigUint64Array(1);
    const routed = new Uint32Array(1);
    check(
      c.corq_exchange_publish(h, wire.text('exchange', exchange), wire.text('routingKey', routingKey ?? ''),
        message, wire.publishOptions(o), id, routed),
    );
    return { messageId: id[0], routed: routed[0] };
  }

  exchangeStats(name) {
    const stats = { struct_size: ExchangeStatsType.size };
    check(c.corq_exchange_stats_get(this._h(), wire.text('name', name), stats));
    return Object.fromEntries(EXCHANGE_STATS_FIELDS.map((f) => [camel(f), wire.count(stats[f])]));
  }

  // -- request-reply

  /**
   * Sends a request (headers x-reply-to and x-correlation-id added) and resolves with the
   * response, { data, headers }. options: headers (at most 62), timeoutMs (default 30000; -1 no
   * limit). The wait holds a worker thread; it cannot be aborted (corq has no way to cancel it).
   */
  request(exchange, routingKey, data, options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const h = this._h();
      wire.text('exchange', exchange);
      const key = wire.text('routingKey', routingKey ?? '');
      const timeout = wire.timeout('timeoutMs', o.timeoutMs, 30000);
      const keep = [];
      const message = wire.message(data, o.headers, undefined, keep);
      if (message.readBigUInt64LE(layout.message.header_count) > 62n) {
        throw new CorqError(codes.CORQ_EINVAL,
          'corq_request: a request has at most 62 headers of its own (corq adds x-reply-to and x-correlation-id)');
      }
      const out = new BigUint64Array(1);
      return this._oneshot(c.corq_request, [h, exchange, key, message, timeout, out]).then((rc) => {
        keep.length = 0;
        if (rc < 0) {
          const context = `exchange '${exchange}', routing key '${key}'` +
            (rc === codes.CORQ_ETIMEDOUT ? `, ${timeout} ms` : '');
          throw workerError(rc, 'corq_request', context);
        }
        return readReply(out[0]);
      });
    });
  }

  // -- streams

  /** Declares a stream (options: partitions, retention_ms/bytes/records, discard, durable, ...). */
  declareStream(name, options = undefined) {
    const h = this._h();
    wire.text('name', name);
    wire.withConfig(options, (config) => check(c.corq_stream_declare(h, name, config)));
    if (String(wire.object('options', options).durable) === 'false') this._transientStreams.add(name);
    else this._transientStreams.delete(name);
  }

  deleteStream(name) {
    check(c.corq_stream_delete(this._h(), wire.text('name', name)));
    this._transientStreams.delete(name);
  }

  /**
   * Appends one record; resolves with { partition, offset } once it is appended and — on a
   * durable stream, unless nowait — durable. options: key (picks the partition; none: round
   * robin; an empty key is a key), headers, dedupId, nowait, timeoutMs (the durability wait).
   */
  append(stream, data, options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const h = this._h();
      wire.text('stream', stream);
      const keep = [];
      const message = wire.message(data, o.headers, o.dedupId, keep);
      const { key, keyLen } = wire.streamKey(o.key, keep);
      const opts = wire.publishOptions({ nowait: o.nowait, timeoutMs: o.timeoutMs });
      const partition = new Uint32Array(1);
      const offset = new BigUint64Array(1);
      check(c.corq_stream_append(h, stream, key, keyLen, message, fastOptions(opts), partition, offset));
      const result = { partition: partition[0], offset: offset[0] };
      if (!this._disk || o.nowait || this._transientStreams.has(stream)) return result;
      return this._streamDurability.wait(0n, blockTimeout(opts)).then(() => result);
    });
  }

  appendSync(stream, data, options = undefined) {
    const o = wire.object('options', options);
    const h = this._h();
    const keep = [];
    const message = wire.message(data, o.headers, o.dedupId, keep);
    const { key, keyLen } = wire.streamKey(o.key, keep);
    const opts = wire.publishOptions({ nowait: o.nowait, timeoutMs: o.timeoutMs });
    const partition = new Uint32Array(1);
    const offset = new BigUint64Array(1);
    check(c.corq_stream_append(h, wire.text('stream', stream), key, keyLen, message, opts, partition, offset));
    return { partition: partition[0], offset: offset[0] };
  }

  streamProducer(stream) {
    const out = [null];
    check(c.corq_stream_producer_open(this._h(), wire.text('stream', stream), out));
    return new StreamProducer(this, out[0], stream);
  }

  /**
   * A reader of one partition of a stream. options: partition (default 0), start ("earliest"
   * (default), "latest", "offset:N", "time:MS").
   */
  streamReader(stream, options = undefined) {
    const o = wire.object('options', options);
    const partition = wire.integer('partition', o.partition, 0, wire.UINT32_MAX, 0);
    const start = wire.text('start', o.start ?? 'earliest');
    const out = [null];
    check(c.corq_stream_reader_open(this._h(), wire.text('stream', stream), partition, start, out));
    return new StreamReader(this, out[0], stream, partition);
  }

  streamStats(name) {
    const stats = { struct_size: StreamStatsType.size };
    check(c.corq_stream_stats_get(this._h(), wire.text('name', name), stats));
    const result = { partitions: stats.partitions };
    for (const f of STREAM_STATS_FIELDS) result[f] = wire.count(stats[f]);
    return result;
  }

  // -- consumer groups

  /**
   * A member of consumer group `group` of `stream`: a Consumer whose deliveries are the stream's
   * records. options (the group's: its first member's define it): mode (ordered, shared,
   * key_ordered), prefetch (256), start, max_attempts, retry_delay_ms, lease_ms, dead_letter_queue...
   */
  groupConsumer(stream, group, options = undefined) {
    const o = wire.object('options', options);
    const h = this._h();
    wire.text('stream', stream);
    wire.text('group', group);
    const out = [null];
    wire.withConfig(o, (config) => check(c.corq_group_consumer_open(h, stream, group, config, out)));
    const prefetch = Number.parseInt(String(o.prefetch ?? 256), 10) || 256;
    return new Consumer(this, out[0], stream, group, prefetch);
  }

  /** Moves the group on `partition` (-1: every partition) to start (earliest, latest, offset:N, time:MS). */
  groupSeek(stream, group, start, partition = -1) {
    const p = wire.integer('partition', partition, -1, wire.INT32_MAX);
    check(c.corq_group_seek(this._h(), wire.text('stream', stream), wire.text('group', group), p,
      wire.text('start', start)));
  }

  groupDelete(stream, group) {
    check(c.corq_group_delete(this._h(), wire.text('stream', stream), wire.text('group', group)));
  }

  groupStats(stream, group) {
    const stats = { struct_size: GroupStatsType.size };
    check(c.corq_group_stats_get(this._h(), wire.text('stream', stream), wire.text('group', group), stats));
    const result = { members: stats.members };
    for (const f of GROUP_STATS_FIELDS) result[camel(f)] = wire.count(stats[f]);
    return result;
  }

  // -- transactions

  /** Begins a Transaction: publishes, appends and acks applied together at commit, or not at all. */
  transaction() {
    const out = [null];
    check(c.corq_txn_begin(this._h(), out));
    return new Transaction(this, out[0]);
  }

  // -- observability and dead letters

  /** One queue's counters (corq_queue_stats, camelCase). */
  stats(queue) {
    const stats = { struct_size: QueueStatsType.size };
    check(c.corq_queue_stats_get(this._h(), wire.text('queue', queue), stats));
    const result = {};
    for (const f of QUEUE_STATS_FIELDS) result[camel(f)] = wire.count(stats[f]);
    result.oldestReadyAgeMs = wire.count(stats.oldest_ready_age_ms);
    result.purged = wire.count(stats.purged);
    result.redriven = wire.count(stats.redriven);
    return result;
  }

  /** Every queue's stats and options as JSON text (JSON.parse it). */
  statsJson() {
    const out = [null];
    check(c.corq_stats_json(this._h(), out));
    try {
      return wire.stringAt(out[0]);
    } finally {
      c.corq_free(out[0]);
    }
  }

  /**
   * Moves up to options.maxMessages (0: all) dead letters from `fromQueue` back to their origin
   * queue (or options.toQueue); returns how many moved.
   */
  redrive(fromQueue, options = undefined) {
    const o = wire.object('options', options);
    const h = this._h();
    const to = o.toQueue === undefined || o.toQueue === null ? null : wire.text('toQueue', o.toQueue);
    const moved = new BigUint64Array(1);
    check(c.corq_redrive(h, wire.text('fromQueue', fromQueue), to, wire.uint64('maxMessages', o.maxMessages, 0n), moved));
    return Number(moved[0]);
  }
}

/** snake_case -> camelCase for stats fields. */
function camel(name) {
  return name.replace(/_([a-z])/g, (_, ch) => ch.toUpperCase());
}

// The message id of a publish tried at once (read right after the call).
const idScratch = new BigUint64Array(1);
const fastCache = new WeakMap(); // the shared default options -> their fast copy

/** A copy of `opts` that cannot wait: CORQ_PUBLISH_NOWAIT, timeout_ms 0. */
function fastOptions(opts) {
  const cached = fastCache.get(opts);
  if (cached !== undefined) return cached;
  const fast = Buffer.from(opts);
  fast.writeUInt32LE(opts.readUInt32LE(layout.options.flags) | wire.PUBLISH_NOWAIT, layout.options.flags);
  fast.writeInt32LE(0, layout.options.timeout_ms);
  if (opts === wire.publishOptions({})) fastCache.set(opts, fast);
  return fast;
}

function blockTimeout(opts) {
  return opts.readInt32LE(layout.options.timeout_ms);
}

/** A corq_reply's copies, then corq_reply_free. */
function readReply(ptr) {
  try {
    const raw = wire.copyOut(ptr, layout.reply.size);
    const len = Number(raw.readBigUInt64LE(layout.reply.len));
    const data = wire.copyOut(raw.readBigUInt64LE(layout.reply.data), len);
    const headers = wire.readHeaders(
      raw.readBigUInt64LE(layout.reply.headers),
      Number(raw.readBigUInt64LE(layout.reply.header_count)),
    );
    return { data, headers };
  } finally {
    c.corq_reply_free(ptr);
  }
}

// ---- Handle base --------------------------------------------------------------------------------

/** What the engine's children share: the pointer, close bookkeeping, the finalizer entry. */
class Child {
  constructor(engine, ptr, kind) {
    this._engine = engine;
    this._ptr = ptr;
    this._kind = kind;
    this._closed = false;
    this._closedBy = null;
    this._lane = new Lane();
    engine._children.add(this);
    registry.register(this, { kind, ptr }, this);
  }

  _h() {
    if (this._closed) {
      throw this._closedBy === 'engine' ? closedError('engine') : closedError(WHAT[this._kind]);
    }
    return this._ptr;
  }

  get closed() {
    return this._closed;
  }

  /** Frees the C handle: now when no call uses it, else right after that call returns. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this._engine._children.delete(this);
    registry.unregister(this);
    this._wakeTurns();
    const ptr = this._ptr;
    this._lane.run(() => FREE[this._kind](ptr)).catch(() => {});
  }

  _closeByEngine() {
    if (this._closed) return;
    this._closedBy = 'engine';
    this.close();
  }

  _wakeTurns() {}

  [Symbol.dispose]() {
    this.close();
  }

  /** close(), resolving once the C handle is freed (after a call in flight returned). */
  [Symbol.asyncDispose]() {
    this.close();
    return this._lane.whenIdle();
  }
}

const WHAT = {
  producer: 'producer',
  consumer: 'consumer',
  streamProducer: 'stream producer',
  streamReader: 'stream reader',
  transaction: 'transaction',
};

// ---- Producer -----------------------------------------------------------------------------------

/** One item of a batch: data, or { data, headers }. */
function batchItem(item) {
  if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item) && !(item instanceof ArrayBuffer)) {
    return item;
  }
  return { data: item };
}

/** corq_message[count] for a batch; dedupId applies to the first (stream batches). */
function messageArray(items, keep, firstDedupId) {
  if (!Array.isArray(items)) throw invalidType('messages', 'an array', items);
  const array = Buffer.alloc(Math.max(items.length, 1) * layout.message.size);
  keep.push(array);
  items.forEach((raw, index) => {
    const item = batchItem(raw);
    const dedupId = index === 0 ? (firstDedupId ?? item.dedupId) : item.dedupId;
    wire.writeMessage(array, index * layout.message.size, item.data, item.headers, dedupId, keep);
  });
  return array;
}

class Producer extends Child {
  constructor(engine, ptr, queue) {
    super(engine, ptr, 'producer');
    this.queue = queue;
  }

  /**
   * Sends a batch (an array of data, or of { data, headers, dedupId }), all or none, with the same
   * options (as publish()); resolves with the first message id (bigint; the others follow it).
   */
  send(messages, options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      this._h();
      const keep = [];
      const array = messageArray(messages, keep);
      const count = messages.length;
      const opts = wire.publishOptions(o);
      const first = new BigUint64Array(1);
      const tryNow = () => {
        keep.length; // the payloads stay alive until the call
        const rc = c.corq_producer_send(this._h(), array, count, fastOptions(opts), first);
        return rc === codes.CORQ_EFULL && blockTimeout(opts) !== 0 ? rc : check(rc);
      };
      return this._lane.run(tryNow).then((rc) => {
        if (rc === codes.CORQ_OK) {
          if (count === 0 || !this._engine._waitsForQueue(this.queue, o)) return first[0];
          return this._engine._queueDurability.wait(first[0] + BigInt(count - 1)).then(() => first[0]);
        }
        const full = lastError(rc);
        return this._onWorker(c.corq_producer_send, [this._ptr, array, count, opts, first]).then((again) => {
          keep.length = 0;
          if (again === codes.CORQ_OK) return first[0];
          throw again === codes.CORQ_EFULL ? full : workerError(again, 'corq_producer_send', `queue '${this.queue}'`);
        });
      });
    });
  }

  /** send() on the main thread, in one C call (blocks while corq waits). Returns the first id. */
  sendSync(messages, options = undefined) {
    const o = wire.object('options', options);
    const h = this._h();
    if (!this._lane.idle) throw new CorqError(codes.CORQ_ESTATE, 'the producer is in use by a call on a worker thread (use send())');
    const keep = [];
    const array = messageArray(messages, keep);
    const first = new BigUint64Array(1);
    check(c.corq_producer_send(h, array, messages.length, wire.publishOptions(o), first));
    return first[0];
  }

  /** Resolves once everything this producer sent is durable. options.timeoutMs (-1: no limit). */
  flush(options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const timeout = wire.timeout('timeoutMs', o.timeoutMs, -1);
      this._h();
      if (!this._engine._disk) return this._lane.run(() => void check(c.corq_producer_flush(this._h(), 0)));
      return this._onWorker(c.corq_producer_flush, [this._ptr, timeout]).then((rc) => {
        if (rc === codes.CORQ_ETIMEDOUT) throw new CorqError(rc, `corq_producer_flush: not durable after ${timeout} ms`);
        if (rc < 0) throw workerError(rc, 'corq_producer_flush', `queue '${this.queue}'`);
      });
    });
  }

  /** Runs a call of this producer on a worker thread, the lane held (nothing else touches it). */
  async _onWorker(fn, args) {
    const release = await this._lane.hold();
    try {
      this._h();
      return await this._engine._oneshot(fn, args);
    } finally {
      release();
    }
  }
}

// ---- Consumer and deliveries --------------------------------------------------------------------

class Delivery {
  constructor(consumer, tag, messageId, data, headers, deliveryCount, publishedAtMs) {
    this.consumer = consumer;
    /** bigint: names this delivery within its consumer */
    this.tag = tag;
    /** bigint: the message's id (for a group member's delivery: the record's offset) */
    this.messageId = messageId;
    /** Buffer: a copy of the payload (readable after settling) */
    this.data = data;
    /** object of key -> Buffer: copies of the headers */
    this.headers = headers;
    /** 1 on the first delivery */
    this.deliveryCount = deliveryCount;
    /** unix ms of the publish */
    this.publishedAtMs = publishedAtMs;
  }

  /** Done: the message leaves the queue. */
  ack() {
    return this.consumer._settle((h) => c.corq_ack(h, this.tag));
  }

  /** A failed attempt: retried after delayMs (-1: the queue's backoff) or dead-lettered at max_attempts. */
  nack(delayMs = -1) {
    return promised(() => {
      const delay = wire.int64('delayMs', delayMs);
      return this.consumer._settle((h) => c.corq_nack(h, this.tag, delay));
    });
  }

  /** Hands the message back unprocessed (not a failed attempt): ready again at once. */
  release() {
    return this.consumer._settle((h) => c.corq_release(h, this.tag));
  }

  /** Poison: dead-lettered at once (x-death-reason rejected; reason as x-death-detail). */
  reject(reason = undefined) {
    return promised(() => {
      const text = reason === undefined || reason === null ? null : wire.text('reason', reason);
      return this.consumer._settle((h) => c.corq_reject(h, this.tag, text));
    });
  }

  /** Sets this delivery's lease to expire leaseMs from now. */
  extend(leaseMs) {
    return promised(() => {
      const lease = wire.int64('leaseMs', leaseMs);
      return this.consumer._settle((h) => c.corq_extend(h, this.tag, lease));
    });
  }

  /** Answers this request (corq_respond): publishes the response to the requester, then acks. */
  respond(data, options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const keep = [];
      const message = wire.message(data, o.headers, undefined, keep);
      return this.consumer._settle((h) => {
        keep.length; // the payload and headers stay alive until the call
        return c.corq_respond(h, this.tag, message);
      });
    });
  }
}

// ---- waits on a worker thread, shared by Consumer and StreamReader ----------------------------

/**
 * Queues `owner` (a Consumer or a StreamReader: its _queued, _lane, _closed) for a worker thread
 * through the gate. Resolves with the gate's ticket once it holds a thread and the owner may wait,
 * or with null: woken while still queued (owner._queued.wake(reason); a 'user' wake calls
 * onUserWake, so that the next wait ends at once as the interrupt would have made it), or the
 * owner got busy, closed or aborted meanwhile (the ticket is given back). An abort while queued
 * rejects with AbortError.
 */
async function waitTurn(owner, signal, onUserWake) {
  const ticket = { oneshot: false, long: false, preempt: null };
  const entered = gate.enter(ticket);
  if (!ticket.held) {
    const woken = await new Promise((resolve, reject) => {
      const onAbort = () => {
        owner._queued = null;
        gate.leave(ticket);
        reject(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      owner._queued = {
        wake: (reason) => {
          owner._queued = null;
          signal?.removeEventListener('abort', onAbort);
          gate.leave(ticket);
          if (reason === 'user') onUserWake();
          resolve(true);
        },
      };
      entered.then(() => {
        if (owner._queued === null) return; // woken first: the ticket was given back
        owner._queued = null;
        signal?.removeEventListener('abort', onAbort);
        resolve(false);
      });
    });
    if (woken) return null;
  }
  if (!owner._lane.idle || owner._closed || signal?.aborted) {
    gate.leave(ticket);
    return null;
  }
  return ticket;
}

/**
 * One waiting call (`fn` with argsOf(ptr, waitMs)) of at most a slice on the worker thread the
 * ticket holds. Whatever must cut it short — the gate's preemption, the signal's abort, a
 * settlement queued on the owner's lane, wakeup/close — goes through one interrupt, which calls
 * cancel(ptr) (corq_consumer_interrupt, corq_stream_reader_wakeup) at most once and records why
 * in call.reasons. Gives the thread back and clears owner._call when the call returns.
 */
async function runSlice(owner, ticket, signal, remaining, cancel, fn, argsOf) {
  const ptr = owner._ptr;
  const wait = gate.sliceMs(remaining);
  const call = { reasons: new Set(), sent: false };
  const interrupt = (reason) => {
    call.reasons.add(reason);
    if (!call.sent) {
      call.sent = true;
      cancel(ptr);
    }
  };
  call.interrupt = interrupt;
  ticket.long = wait > ROTATE_SLICE_MS;
  ticket.preempt = () => interrupt('preempt');
  const onAbort = () => interrupt('abort');
  signal?.addEventListener('abort', onAbort, { once: true });
  owner._call = call;
  owner._lane.begin('wait', interrupt);
  const started = now();
  let rc;
  try {
    rc = await callAsync(fn, argsOf(ptr, wait));
  } finally {
    gate.leave(ticket);
    signal?.removeEventListener('abort', onAbort);
    owner._call = null;
  }
  return { rc, call, ptr, wait, started };
}


class Consumer extends Child {
  constructor(engine, ptr, queue, group, prefetch) {
    super(engine, ptr, 'consumer');
    /** the queue's name (a group member's: its stream's) */
    this.queue = queue;
    /** the consumer group's name, or null for a queue consumer */
    this.group = group;
    this.prefetch = prefetch;
    this._capacity = Math.max(1, Math.min(prefetch, BATCH_MAX));
    this._out = Buffer.alloc(this._capacity * layout.delivery.size);
    this._stash = []; // deliveries taken but not handed out (their consume was aborted)
    this._turn = false; // a consume of this consumer is under way (they take turns)
    this._turns = []; // consumes waiting for their turn
    this._call = null; // the consume call on a worker thread now
    this._queued = null; // the consume queued at the gate now: { wake() }
    this._interruptNext = false;
    this._settledWaiters = [];
  }

  /** Takes up to max deliveries now (timeout 0, main thread); their count. */
  _poll(max) {
    const rc = c.corq_consume(this._ptr, this._out, max, 0);
    if (rc < 0) throw lastError(rc);
    return rc;
  }

  /** Copies of the first n corq_delivery of the out buffer. */
  _decode(n) {
    const out = this._out;
    const d = layout.delivery;
    const deliveries = new Array(n);
    for (let i = 0; i < n; i++) {
      const base = i * d.size;
      const len = Number(out.readBigUInt64LE(base + d.len));
      const headerCount = Number(out.readBigUInt64LE(base + d.header_count));
      deliveries[i] = new Delivery(
        this,
        out.readBigUInt64LE(base + d.tag),
        out.readBigUInt64LE(base + d.message_id),
        wire.copyOut(out.readBigUInt64LE(base + d.data), len),
        wire.readHeaders(out.readBigUInt64LE(base + d.headers), headerCount),
        out.readUInt32LE(base + d.delivery_count),
        Number(out.readBigInt64LE(base + d.published_at_ms)),
      );
    }
    return deliveries;
  }

  /** Runs a settlement (fn(handle) returns an rc) on this consumer's lane. */
  _settle(fn) {
    if (this._closed) return Promise.reject(this._closedError());
    return this._lane.run(() => {
      const rc = fn(this._h());
      if (rc < 0) throw lastError(rc);
      this._notifySettled();
    });
  }

  _closedError() {
    try {
      this._h();
    } catch (error) {
      return error;
    }
    return closedError('consumer');
  }

  _notifySettled() {
    if (this._settledWaiters.length === 0) return;
    const waiters = this._settledWaiters;
    this._settledWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Acks every outstanding delivery with a tag <= tag. */
  ackUpto(tag) {
    return promised(() => {
      const upto = wire.uint64('tag', tag);
      return this._settle((h) => c.corq_ack_upto(h, upto));
    });
  }

  /**
   * The next delivery, or null when none came within timeoutMs (default -1: until one comes), when
   * the window is full (prefetch deliveries unsettled: corq returns at once), or after interrupt().
   * Rejects with CorqError CORQ_ECLOSED after wakeup(), close() or the engine's close, and with an
   * AbortError when options.signal aborts. options.tryFirst (default true): take what is ready on
   * the main thread before waiting on a worker thread.
   */
  consume(options = undefined) {
    const many = this.consumeMany(1, options);
    if (many.ready !== undefined) return Promise.resolve(many.ready[0] ?? null); // no extra tick
    return many.then((list) => list[0] ?? null);
  }

  /** Up to max deliveries (at most 1024 per call, and the window's free room); [] as consume()'s null. */
  consumeMany(max, options = undefined) {
    try {
      const o = wire.object('options', options);
      const n = Math.min(wire.integer('max', max, 1, 2 ** 31 - 1), this._capacity);
      const timeoutMs = wire.timeout('timeoutMs', o.timeoutMs, -1);
      const signal = o.signal ?? null;
      if (signal !== null && typeof signal.aborted !== 'boolean') throw invalidType('signal', 'an AbortSignal', signal);
      const tryFirst = o.tryFirst !== false;
      this._h();
      // The fast path: nothing under way, something ready: taken on this thread, no hop.
      if (!this._turn && this._lane.idle && tryFirst && this._stash.length === 0 && !this._interruptNext) {
        if (signal?.aborted) throw abortError(signal);
        const got = this._poll(n);
        if (got > 0) return readyPromise(this._decode(got));
        if (timeoutMs === 0) return readyPromise([]);
      }
      return this._consumeTurn(n, timeoutMs, signal, tryFirst);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async _consumeTurn(max, timeoutMs, signal, tryFirst) {
    await this._enterTurn(signal);
    try {
      return await this._consumeLoop(max, timeoutMs, signal, tryFirst);
    } finally {
      this._leaveTurn();
    }
  }

  /** Consumes of one consumer take turns (FIFO); resolves when it is this one's. */
  _enterTurn(signal) {
    if (!this._turn) {
      this._turn = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, signal, onAbort: null };
      if (signal) {
        entry.onAbort = () => {
          const index = this._turns.indexOf(entry);
          if (index >= 0) this._turns.splice(index, 1);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this._turns.push(entry);
    });
  }

  _leaveTurn() {
    const next = this._turns.shift();
    if (next === undefined) {
      this._turn = false;
      return;
    }
    if (next.onAbort) next.signal.removeEventListener('abort', next.onAbort);
    next.resolve();
  }

  async _consumeLoop(max, timeoutMs, signal, tryFirst) {
    const deadline = timeoutMs < 0 ? Infinity : now() + timeoutMs;
    let poll = tryFirst;
    for (;;) {
      if (!this._lane.idle) await this._lane.whenIdle(); // a commit holds the consumer
      this._h();
      if (this._stash.length > 0) return this._stash.splice(0, max);
      if (this._interruptNext) {
        this._interruptNext = false;
        return [];
      }
      if (signal?.aborted) throw abortError(signal);
      if (poll || timeoutMs === 0) {
        const got = this._poll(max);
        if (got > 0) return this._decode(got);
      }
      poll = true;
      if (timeoutMs === 0 || deadline - now() <= 0) return [];
      const remaining = deadline === Infinity ? -1 : Math.max(1, Math.ceil(deadline - now()));
      const slice = await this._waitSlice(max, remaining, signal);
      if (slice === null) continue; // woken while queued for a thread: look again
      if (slice.error) throw slice.error;
      if (slice.deliveries) {
        if (signal?.aborted) {
          this._stash.push(...slice.deliveries); // held: the next consume hands them out
          throw abortError(signal);
        }
        return slice.deliveries;
      }
      const reasons = slice.reasons;
      if (signal?.aborted) throw abortError(signal);
      if (reasons.has('user')) return [];
      if (reasons.size > 0) continue; // a settlement, a hold, a rotation: wait on for the time left
      if (now() >= deadline) return [];
      if (slice.elapsed < slice.wait / 2) return []; // corq returned at once: the window is full
    }
  }

  /**
   * One wait of at most a slice on a worker thread. Resolves with null when woken while still
   * queued for a thread, else { deliveries | error | reasons, elapsed, wait }.
   */
  async _waitSlice(max, remaining, signal) {
    const ticket = await waitTurn(this, signal, () => {
      this._interruptNext = true;
    });
    if (ticket === null) return null;
    const { rc, call, ptr, wait, started } = await runSlice(this, ticket, signal, remaining,
      c.corq_consumer_interrupt, c.corq_consume, (handle, ms) => [handle, this._out, max, ms]);
    const elapsed = now() - started;
    const result = { deliveries: null, error: null, reasons: call.reasons, elapsed, wait };
    if (rc > 0) result.deliveries = this._decode(rc);
    if (rc < 0 || call.sent) {
      // An interrupt we sent may still be pending (the call returned first): this consume of
      // nothing takes it, so it cannot end a later consume. It also tells a worker's failure
      // with corq's own detail: the errors of a consume (closed, woken, deleted) stay.
      const again = c.corq_consume(ptr, null, 0, 0);
      if (rc < 0) result.error = again === rc ? lastError(rc) : new CorqError(rc, 'corq_consume failed on a worker thread');
    }
    this._lane.end(); // the settlements that came meanwhile run now
    return result;
  }

  /**
   * The consume waiting now (or, when none waits, the next one) resolves with no delivery at once;
   * the consumer stays usable (unlike wakeup()).
   */
  interrupt() {
    this._h();
    if (this._call !== null) this._call.interrupt('user');
    else if (this._queued !== null) this._queued.wake('user');
    else this._interruptNext = true;
  }

  /**
   * Graceful stop: the consume waiting now and every later one reject with CORQ_ECLOSED (an
   * iterator ends); settling still works, so what is held can be finished.
   */
  wakeup() {
    check(c.corq_consumer_wakeup(this._h()));
    if (this._queued !== null) this._queued.wake('wakeup');
  }

  _wakeTurns() {
    if (this._call !== null) this._call.interrupt('close');
    if (this._queued !== null) this._queued.wake('close');
    this._notifySettled();
  }

  /** Resolves on the next settlement through this consumer, or after WINDOW_FULL_RETRY_MS. */
  _windowWait(signal) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const done = (error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this._settledWaiters.indexOf(done);
        if (index >= 0) this._settledWaiters.splice(index, 1);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => done(abortError(signal));
      timer = setTimeout(done, WINDOW_FULL_RETRY_MS);
      signal?.addEventListener('abort', onAbort, { once: true });
      this._settledWaiters.push(done);
    });
  }

  /**
   * Deliveries one by one until wakeup(), close() or the engine's close (CORQ_ECLOSED ends the
   * iteration; other errors are thrown). options.signal: aborting throws an AbortError.
   * options.batch: deliveries taken per consume (default 1; with more, breaking out of the loop
   * leaves the rest of a batch unsettled until its lease ends or the consumer closes).
   */
  async *deliveries(options = undefined) {
    const o = wire.object('options', options);
    const signal = o.signal ?? undefined;
    const batch = wire.integer('batch', o.batch, 1, BATCH_MAX, 1);
    for (;;) {
      let got;
      try {
        got = await this.consumeMany(batch, { timeoutMs: -1, signal });
      } catch (error) {
        if (error instanceof CorqError && error.errno === codes.CORQ_ECLOSED) return;
        throw error;
      }
      if (got.length === 0) {
        if (this._closed) return;
        await this._windowWait(signal); // the window is full: wait for a settlement
        continue;
      }
      for (const delivery of got) yield delivery;
    }
  }

  [Symbol.asyncIterator]() {
    return this.deliveries();
  }
}

// ---- Streams ------------------------------------------------------------------------------------

class StreamProducer extends Child {
  constructor(engine, ptr, stream) {
    super(engine, ptr, 'streamProducer');
    this.stream = stream;
  }

  _send(messages, o, keep) {
    const array = messageArray(messages, keep, o.dedupId);
    const { key, keyLen } = wire.streamKey(o.key, keep);
    const opts = wire.publishOptions({ nowait: o.nowait, timeoutMs: o.timeoutMs });
    return { array, key, keyLen, opts };
  }

  /**
   * Appends a batch (an array of data or { data, headers }) to one partition — the one options.key
   * picks, else the next in round robin — all or none; resolves with { partition, firstOffset }
   * once appended and (durable stream, unless nowait) durable. options.dedupId names the batch.
   */
  send(messages, options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      this._h();
      const keep = [];
      const { array, key, keyLen, opts } = this._send(messages, o, keep);
      const partition = new Uint32Array(1);
      const first = new BigUint64Array(1);
      return this._lane.run(() => {
        keep.length; // the payloads and the key stay alive until the call
        check(c.corq_stream_producer_send(this._h(), key, keyLen, array, messages.length, fastOptions(opts), partition, first));
        const result = { partition: partition[0], firstOffset: first[0] };
        const engine = this._engine;
        if (!engine._disk || o.nowait || engine._transientStreams.has(this.stream)) return result;
        return engine._streamDurability.wait(0n, blockTimeout(opts)).then(() => result);
      });
    });
  }

  sendSync(messages, options = undefined) {
    const o = wire.object('options', options);
    const h = this._h();
    const keep = [];
    const { array, key, keyLen, opts } = this._send(messages, o, keep);
    const partition = new Uint32Array(1);
    const first = new BigUint64Array(1);
    check(c.corq_stream_producer_send(h, key, keyLen, array, messages.length, opts, partition, first));
    return { partition: partition[0], firstOffset: first[0] };
  }
}

class StreamRecord {
  constructor(partition, offset, timestampMs, key, data, headers) {
    this.partition = partition;
    /** bigint */
    this.offset = offset;
    /** unix ms of the append */
    this.timestampMs = timestampMs;
    /** Buffer, or null for a record appended without a key */
    this.key = key;
    this.data = data;
    this.headers = headers;
  }
}

class StreamReader extends Child {
  constructor(engine, ptr, stream, partition) {
    super(engine, ptr, 'streamReader');
    this.stream = stream;
    this.partition = partition;
    this._out = Buffer.alloc(BATCH_MAX * layout.record.size);
    this._stash = [];
    this._turn = false;
    this._turns = [];
    this._call = null;
    this._queued = null;
    this._wakeNext = false;
  }

  _decode(n) {
    const out = this._out;
    const r = layout.record;
    const records = new Array(n);
    for (let i = 0; i < n; i++) {
      const base = i * r.size;
      const keyPtr = out.readBigUInt64LE(base + r.key);
      records[i] = new StreamRecord(
        out.readUInt32LE(base + r.partition),
        out.readBigUInt64LE(base + r.offset),
        Number(out.readBigInt64LE(base + r.timestamp_ms)),
        keyPtr === 0n ? null : wire.copyOut(keyPtr, Number(out.readBigUInt64LE(base + r.key_len))),
        wire.copyOut(out.readBigUInt64LE(base + r.data), Number(out.readBigUInt64LE(base + r.len))),
        wire.readHeaders(out.readBigUInt64LE(base + r.headers), Number(out.readBigUInt64LE(base + r.header_count))),
      );
    }
    return records;
  }

  _poll(max) {
    const rc = c.corq_stream_read(this._ptr, this._out, max, 0);
    if (rc < 0) throw lastError(rc);
    return rc;
  }

  /** Records this reader skipped because retention deleted them before it read them. */
  get skipped() {
    return Number(c.corq_stream_reader_skipped(this._h()));
  }

  /**
   * Up to options.max records (default and most 1024) from the reader's position, waiting up to
   * options.timeoutMs (default -1: until one comes) for the first; [] on timeout or after wakeup().
   * Rejects with CORQ_ENOENT once the stream is deleted, CORQ_ECLOSED once closed, AbortError on
   * options.signal.
   */
  read(options = undefined) {
    try {
      const o = wire.object('options', options);
      const max = Math.min(wire.integer('max', o.max, 1, 2 ** 31 - 1, BATCH_MAX), BATCH_MAX);
      const timeoutMs = wire.timeout('timeoutMs', o.timeoutMs, -1);
      const signal = o.signal ?? null;
      if (signal !== null && typeof signal.aborted !== 'boolean') throw invalidType('signal', 'an AbortSignal', signal);
      this._h();
      if (!this._turn && this._lane.idle && this._stash.length === 0) {
        if (signal?.aborted) throw abortError(signal);
        const got = this._poll(max);
        if (got > 0) return Promise.resolve(this._decode(got));
        if (timeoutMs === 0) return Promise.resolve([]);
      }
      return this._readTurn(max, timeoutMs, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async _readTurn(max, timeoutMs, signal) {
    await Consumer.prototype._enterTurn.call(this, signal);
    try {
      return await this._readLoop(max, timeoutMs, signal);
    } finally {
      Consumer.prototype._leaveTurn.call(this);
    }
  }

  async _readLoop(max, timeoutMs, signal) {
    const deadline = timeoutMs < 0 ? Infinity : now() + timeoutMs;
    for (;;) {
      if (!this._lane.idle) await this._lane.whenIdle();
      this._h();
      if (this._stash.length > 0) return this._stash.splice(0, max);
      if (signal?.aborted) throw abortError(signal);
      const got = this._poll(max);
      if (got > 0) return this._decode(got);
      if (this._wakeNext) {
        this._wakeNext = false; // a wakeup() while no read waited ends the next read that would
        return [];
      }
      if (timeoutMs === 0 || deadline - now() <= 0) return [];
      const remaining = deadline === Infinity ? -1 : Math.max(1, Math.ceil(deadline - now()));
      const slice = await this._waitSlice(max, remaining, signal);
      if (slice === null) continue;
      if (slice.error) throw slice.error;
      if (slice.records) {
        if (signal?.aborted) {
          this._stash.push(...slice.records);
          throw abortError(signal);
        }
        return slice.records;
      }
      if (signal?.aborted) throw abortError(signal);
      if (slice.reasons.has('user')) return [];
      // Anything else — a rotation, a slice's end, or a wakeup of ours that arrived after its read
      // returned and ended this one early — just waits on for the time left.
      if (now() >= deadline) return [];
    }
  }

  async _waitSlice(max, remaining, signal) {
    const ticket = await waitTurn(this, signal, () => {
      this._wakeNext = true;
    });
    if (ticket === null) return null;
    const { rc, call, ptr } = await runSlice(this, ticket, signal, remaining,
      c.corq_stream_reader_wakeup, c.corq_stream_read, (handle, ms) => [handle, this._out, max, ms]);
    const result = { records: null, error: null, reasons: call.reasons };
    if (rc > 0) result.records = this._decode(rc);
    if (rc < 0) {
      // A read's errors (deleted, closed) stay: a poll here gives corq's own detail. Should it
      // find records instead, they are kept for the next read.
      const again = c.corq_stream_read(ptr, this._out, 1, 0);
      if (again > 0) this._stash.push(...this._decode(again));
      result.error = again === rc ? lastError(rc) : new CorqError(rc, 'corq_stream_read failed on a worker thread');
    }
    this._lane.end();
    return result;
  }

  /** The read waiting now (or the next one that would wait) resolves with [] at once. */
  wakeup() {
    this._h();
    if (this._call !== null) this._call.interrupt('user');
    else if (this._queued !== null) this._queued.wake('user');
    else this._wakeNext = true;
  }

  _wakeTurns() {
    if (this._call !== null) this._call.interrupt('close');
    if (this._queued !== null) this._queued.wake('close');
  }

  /**
   * Records one by one, following the tail, until close() or the engine's close (CORQ_ECLOSED ends
   * the iteration; CORQ_ENOENT — the stream deleted — is thrown). options.signal aborts.
   */
  async *records(options = undefined) {
    const o = wire.object('options', options);
    const signal = o.signal ?? undefined;
    for (;;) {
      let got;
      try {
        got = await this.read({ timeoutMs: -1, signal });
      } catch (error) {
        if (error instanceof CorqError && error.errno === codes.CORQ_ECLOSED) return;
        throw error;
      }
      for (const record of got) yield record;
    }
  }

  [Symbol.asyncIterator]() {
    return this.records();
  }
}

// ---- Transactions -------------------------------------------------------------------------------

class Transaction extends Child {
  constructor(engine, ptr) {
    super(engine, ptr, 'transaction');
    this._consumers = new Set(); // whose deliveries it acks: held during the commit
    this._ended = null; // 'committed', 'aborted', 'committing'
  }

  _t() {
    if (this._ended !== null) {
      throw new CorqError(codes.CORQ_ECLOSED, `the transaction is ${this._ended === 'committing' ? 'committing' : 'no longer open'} (${this._ended})`);
    }
    return this._h();
  }

  /**
   * Adds a publish: exchange "" sends to the queue routingKey names; another exchange routes at
   * commit. options: headers, dedupId, mandatory, delayMs, ttlMs, priority.
   */
  publish(exchange, routingKey, data, options = undefined) {
    const o = wire.object('options', options);
    const t = this._t();
    const keep = [];
    const message = wire.message(data, o.headers, o.dedupId, keep);
    const opts = wire.publishOptions({ ...o, nowait: false, timeoutMs: undefined });
    check(c.corq_txn_publish(t, wire.text('exchange', exchange), wire.text('routingKey', routingKey ?? ''), message, opts));
  }

  /** Adds a stream append of one record. options: key, headers, dedupId. */
  append(stream, data, options = undefined) {
    const o = wire.object('options', options);
    const t = this._t();
    const keep = [];
    const message = wire.message(data, o.headers, o.dedupId, keep);
    const { key, keyLen } = wire.streamKey(o.key, keep);
    const opts = wire.publishOptions({});
    check(c.corq_txn_append(t, wire.text('stream', stream), key, keyLen, message, opts));
  }

  /**
   * Adds the ack of a delivery its consumer holds now (it stays in flight until the commit). Runs
   * on the consumer's lane (a consume waiting there is interrupted for it): a Promise.
   */
  ack(delivery) {
    return promised(() => {
      if (!(delivery instanceof Delivery)) throw invalidType('delivery', 'a corq Delivery', delivery);
      const t = this._t();
      const consumer = delivery.consumer;
      this._consumers.add(consumer);
      return consumer._settle((h) => {
        // A commit begun since waits for this (its hold on the consumer is queued behind it).
        if (this._ended === 'aborted' || this._ended === 'committed') this._t();
        return c.corq_txn_ack(t, h, delivery.tag);
      });
    });
  }

  /**
   * Applies everything or nothing; ends the transaction whatever happens. options.timeoutMs
   * (default 30000, -1 no limit) bounds the waits for room (overflow=block) and durability. The
   * consumers whose deliveries it acks are held meanwhile (their waits are interrupted, and resume).
   */
  commit(options = undefined) {
    return promised(() => {
      const o = wire.object('options', options);
      const timeout = wire.timeout('timeoutMs', o.timeoutMs, wire.PUBLISH_TIMEOUT_MS_DEFAULT);
      const t = this._t();
      this._ended = 'committing';
      return this._commit(t, timeout);
    });
  }

  async _commit(t, timeout) {
    const lanes = [...this._consumers].map((consumer) => consumer._lane).sort((a, b) => a.id - b.id);
    const releases = [];
    let rc;
    try {
      for (const lane of lanes) releases.push(await lane.hold());
      if (this._engine._closed) {
        // corq_close aborted it meanwhile: its handle only takes corq_txn_abort, which frees it
        c.corq_txn_abort(t);
        rc = codes.CORQ_ECLOSED;
      } else {
        rc = await this._engine._oneshot(c.corq_txn_commit, [t, timeout]);
      }
    } finally {
      for (const release of releases) release();
      this._ended = 'committed';
      this._forget();
    }
    if (rc < 0) throw workerError(rc, 'corq_txn_commit', rc === codes.CORQ_ETIMEDOUT ? `${timeout} ms` : '');
  }

  /** Discards the transaction (its acks are not applied). Idempotent; a no-op after commit. */
  abort() {
    if (this._ended !== null || this._closed) return;
    this._ended = 'aborted';
    this._forget();
    c.corq_txn_abort(this._ptr);
  }

  _forget() {
    this._closed = true;
    this._engine._children.delete(this);
    registry.unregister(this);
  }

  close() {
    this.abort();
  }

  _closeByEngine() {
    // Aborted (and freed) before corq_close; a committing one ends with its commit (CORQ_ECLOSED).
    if (this._ended !== null) return;
    this._closedBy = 'engine';
    this.abort();
  }
}

module.exports = {
  open,
  Engine,
  Producer,
  Consumer,
  Delivery,
  StreamProducer,
  StreamReader,
  StreamRecord,
  Transaction,
};
