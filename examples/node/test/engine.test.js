'use strict';
// Engine-level calls: opening and closing, queues, publishing (promise and sync paths, durable
// waits on a disk engine), stats, dead letters, and how errors look — bad input as carefully as
// good input.

const { test } = require('node:test');
const fs = require('node:fs');
const path = require('node:path');
const { corq, tempDir, memoryEngine, rejectsCorq, throwsCorq, assert, ticker } = require('./helpers');

test('version, library path and error codes mirror corq.h', () => {
  assert.match(corq.version(), /^\d+\.\d+\.\d+$/);
  assert.equal(typeof corq.libraryPath, 'string');
  assert.equal(corq.codes.CORQ_EINVAL, -1);
  assert.equal(corq.codes.CORQ_EUNROUTABLE, -16);
  const error = new corq.CorqError(corq.codes.CORQ_EFULL, 'the detail');
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'CorqError');
  assert.equal(error.code, 'CORQ_EFULL');
  assert.equal(error.errno, -7);
  assert.equal(error.detail, 'the detail');
  assert.equal(error.message, 'CORQ_EFULL: queue full: the detail');
});

test('open in memory, engine id, close is idempotent and later calls are CORQ_ECLOSED', () => {
  const engine = corq.open();
  assert.equal(engine.dir, null);
  assert.match(engine.engineId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.notEqual(corq.open().engineId, engine.engineId);
  assert.equal(engine.closed, false);
  engine.close();
  engine.close();
  assert.equal(engine.closed, true);
  throwsCorq(() => engine.declareQueue('q'), 'CORQ_ECLOSED', /engine is closed/);
  throwsCorq(() => engine.engineId, 'CORQ_ECLOSED');
});

test('Symbol.dispose closes the engine', () => {
  const engine = corq.open();
  engine[Symbol.dispose]();
  assert.equal(engine.closed, true);
});

test('open refuses bad options with corq\'s detail, and bad argument types with TypeError', () => {
  throwsCorq(() => corq.open(null, { no_such_key: 1 }), 'CORQ_EINVAL', /no_such_key/);
  throwsCorq(() => corq.open(null, { max_message_bytes: 'lots' }), 'CORQ_EINVAL', /max_message_bytes/);
  throwsCorq(() => corq.open(''), 'CORQ_EINVAL');
  throwsCorq(() => corq.open('a\0b'), 'CORQ_EINVAL', /NUL/);
  assert.throws(() => corq.open(42), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => corq.open(null, 'sync=none'), { name: 'TypeError' });
  assert.throws(() => corq.open(null, { sync: {} }), { name: 'TypeError' });
});

test('a disk engine keeps its id and durable messages across a reopen; a second open is CORQ_EBUSY', async (t) => {
  const dir = tempDir(t);
  const engine = corq.open(dir);
  engine.declareQueue('orders');
  const id = await engine.publish('orders', 'one');
  assert.equal(typeof id, 'bigint');
  const engineId = engine.engineId;
  throwsCorq(() => corq.open(dir), 'CORQ_EBUSY');
  engine.close();
  const again = corq.open(dir);
  t.after(() => again.close());
  assert.equal(again.engineId, engineId);
  assert.equal(fs.readFileSync(path.join(dir, 'ENGINE_ID'), 'utf8').trim(), engineId);
  assert.equal(again.stats('orders').ready, 1);
});

test('queues: declare is idempotent, other options are CORQ_EEXIST, bad names CORQ_EINVAL', (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('jobs', { max_attempts: 5, lease_ms: 10000 });
  engine.declareQueue('jobs', { max_attempts: 5, lease_ms: 10000 });
  throwsCorq(() => engine.declareQueue('jobs', { max_attempts: 6 }), 'CORQ_EEXIST');
  throwsCorq(() => engine.declareQueue('bad name'), 'CORQ_EINVAL', /queue name/);
  throwsCorq(() => engine.declareQueue(''), 'CORQ_EINVAL');
  throwsCorq(() => engine.declareQueue('q', { durable: true }), 'CORQ_EINVAL'); // in memory
  throwsCorq(() => engine.declareQueue('q', { overflow: 'sideways' }), 'CORQ_EINVAL', /overflow/);
  assert.throws(() => engine.declareQueue(7), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => engine.declareQueue('q', []), { code: 'ERR_INVALID_ARG_TYPE' });
  // the dead-letter queue came with it
  assert.equal(engine.stats('jobs.dlq').ready, 0);
  engine.deleteQueue('jobs');
  throwsCorq(() => engine.deleteQueue('jobs'), 'CORQ_ENOENT');
  throwsCorq(() => engine.stats('jobs'), 'CORQ_ENOENT');
});

test('temporary queues get a generated name', (t) => {
  const engine = memoryEngine(t);
  const name = engine.declareTempQueue();
  assert.match(name, /^corq\.gen-[0-9a-f]{16}$/);
  assert.notEqual(engine.declareTempQueue(), name);
  assert.equal(engine.stats(name).ready, 0);
  throwsCorq(() => engine.declareTempQueue({ durable: true }), 'CORQ_EINVAL');
});

test('purge removes ready messages and counts them', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  for (let i = 0; i < 3; i++) await engine.publish('q', `m${i}`);
  assert.equal(engine.purgeQueue('q'), 3);
  assert.equal(engine.purgeQueue('q'), 0);
  assert.equal(engine.stats('q').purged, 3);
  throwsCorq(() => engine.purgeQueue('missing'), 'CORQ_ENOENT');
});

test('publish takes Buffers, TypedArrays, ArrayBuffers and strings; ids increase', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  const ids = [
    await engine.publish('q', Buffer.from('buffer')),
    await engine.publish('q', new Uint8Array([1, 2, 3])),
    await engine.publish('q', new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4)),
    await engine.publish('q', new ArrayBuffer(4)),
    await engine.publish('q', 'text é'),
    await engine.publish('q', ''),
    engine.publishSync('q', 'sync'),
  ];
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1]);
  const consumer = engine.consumer('q', { prefetch: 16 });
  const got = await consumer.consumeMany(16, { timeoutMs: 0 });
  assert.deepEqual(got.map((d) => d.data.toString('latin1')), [
    'buffer', '\x01\x02\x03', '\x01\x02\x03', '\0\0\0\0', Buffer.from('text é').toString('latin1'), '', 'sync',
  ]);
  assert.deepEqual(got.map((d) => d.messageId), ids);
});

test('publish refuses bad input: types, ranges, NULs, unknown queues, oversize payloads', async (t) => {
  const engine = memoryEngine(t, { max_message_bytes: 1024 });
  engine.declareQueue('q');
  await assert.rejects(engine.publish('q', 42), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(engine.publish('q', { data: 'x' }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(engine.publish(5, 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(engine.publish('q', 'x', { timeoutMs: -2 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(engine.publish('q', 'x', { timeoutMs: 2 ** 31 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(engine.publish('q', 'x', { delayMs: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(engine.publish('q', 'x', { ttlMs: 2n ** 64n }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(engine.publish('q', 'x', { headers: 'k=v' }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(engine.publish('q', 'x', { headers: { k: 42 } }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(engine.publish('q', 'x', { headers: [['only-key']] }), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsCorq(engine.publish('q', 'x', { headers: { 'a\0b': 'v' } }), 'CORQ_EINVAL', /NUL/);
  await rejectsCorq(engine.publish('q', 'x', { headers: { '': 'v' } }), 'CORQ_EINVAL');
  await rejectsCorq(engine.publish('q', 'x', { priority: -1 }), 'CORQ_EINVAL');
  await rejectsCorq(engine.publish('q', 'x', { delayMs: -5 }), 'CORQ_EINVAL');
  await rejectsCorq(engine.publish('missing', 'x'), 'CORQ_ENOENT', /missing/);
  await rejectsCorq(engine.publish('bad name', 'x'), 'CORQ_EINVAL');
  await rejectsCorq(engine.publish('q', Buffer.alloc(2048)), 'CORQ_ETOOBIG');
  throwsCorq(() => engine.publishSync('q', Buffer.alloc(2048)), 'CORQ_ETOOBIG');
  throwsCorq(() => engine.publishSync('missing', 'x'), 'CORQ_ENOENT');
  const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`h${i}`, 'v']));
  await rejectsCorq(engine.publish('q', 'x', { headers: tooMany }), 'CORQ_EINVAL');
  assert.equal(engine.stats('q').published, 0);
});

test('headers round-trip as an object, a Map or pairs; values are Buffers', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await engine.publish('q', 'a', { headers: { user: 'ada', bin: Buffer.from([0, 255, 0]) } });
  await engine.publish('q', 'b', { headers: new Map([['k', 'v']]) });
  await engine.publish('q', 'c', { headers: [['x', new Uint8Array([7])]] });
  const consumer = engine.consumer('q');
  const [a, b, c] = await consumer.consumeMany(3, { timeoutMs: 0 });
  assert.deepEqual(a.headers.bin, Buffer.from([0, 255, 0]));
  assert.equal(a.headers.user.toString(), 'ada');
  assert.equal(b.headers.k.toString(), 'v');
  assert.deepEqual(c.headers.x, Buffer.from([7]));
});

test('overflow=reject is CORQ_EFULL at once; overflow=block waits on a worker thread for room', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('reject', { max_length: 1, overflow: 'reject' });
  await engine.publish('reject', 'one');
  await rejectsCorq(engine.publish('reject', 'two'), 'CORQ_EFULL');
  engine.declareQueue('block', { max_length: 1, overflow: 'block' });
  await engine.publish('block', 'one');
  await rejectsCorq(engine.publish('block', 'two', { timeoutMs: 0 }), 'CORQ_EFULL');
  await rejectsCorq(engine.publish('block', 'two', { timeoutMs: 50 }), 'CORQ_EFULL');
  const consumer = engine.consumer('block');
  const blocked = engine.publish('block', 'two', { timeoutMs: 5000 });
  const loop = ticker(t);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const first = await consumer.consume({ timeoutMs: 0 });
  await first.ack();
  const id = await blocked;
  loop.stop();
  assert.ok(loop.ticks >= 2, `the event loop ran while the publish waited (${loop.ticks} ticks)`);
  assert.equal(typeof id, 'bigint');
  assert.equal((await consumer.consume({ timeoutMs: 0 })).data.toString(), 'two');
});

test('dedup, delay, ttl and priority options reach corq', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('dedup', { dedup_window_ms: 60000 });
  const first = await engine.publish('dedup', 'a', { dedupId: 'order-1' });
  assert.equal(await engine.publish('dedup', 'a again', { dedupId: 'order-1' }), first);
  assert.equal(engine.stats('dedup').deduplicated, 1);
  engine.declareQueue('delayed');
  await engine.publish('delayed', 'later', { delayMs: 60000 });
  assert.equal(engine.stats('delayed').delayed, 1);
  engine.declareQueue('prio', { max_priority: 5 });
  await engine.publish('prio', 'low', { priority: 1 });
  await engine.publish('prio', 'high', { priority: 5 });
  const consumer = engine.consumer('prio');
  assert.equal((await consumer.consume({ timeoutMs: 0 })).data.toString(), 'high');
  engine.declareQueue('ttl', { dead_letter_queue: '' });
  await engine.publish('ttl', 'short', { ttlMs: 1 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const ttlConsumer = engine.consumer('ttl');
  assert.equal(await ttlConsumer.consume({ timeoutMs: 0 }), null);
  assert.equal(engine.stats('ttl').expired, 1);
});

test('waitDurable and sync: at once in memory, EINVAL for an id never assigned', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  const id = await engine.publish('q', 'x');
  await engine.waitDurable(id);
  await engine.sync();
  await engine.sync({ timeoutMs: 0 });
  await rejectsCorq(engine.waitDurable(id + 1000n), 'CORQ_EINVAL', /never assigned/);
  await assert.rejects(engine.waitDurable(-1), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(engine.waitDurable('1'), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(engine.sync({ timeoutMs: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
});

test('a disk engine: durable publishes, producer flush, waitDurable and sync wait on worker threads', async (t) => {
  const dir = tempDir(t);
  const engine = corq.open(dir);
  t.after(() => engine.close());
  engine.declareQueue('durable');
  engine.declareQueue('transient', { durable: false });
  const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => engine.publish('durable', `m${i}`)));
  assert.equal(new Set(ids).size, 100);
  await engine.publish('transient', 'fast');
  await engine.publish('durable', 'no wait', { nowait: true });
  await engine.waitDurable(ids[99], { timeoutMs: 5000 });
  await rejectsCorq(engine.waitDurable(ids[99] + 1000n), 'CORQ_EINVAL', /never assigned/);
  await engine.sync({ timeoutMs: 5000 });
  const producer = engine.producer('durable');
  const first = await producer.send(['a', 'b', { data: 'c', headers: { k: 'v' } }]);
  assert.equal(typeof first, 'bigint');
  await producer.flush({ timeoutMs: 5000 });
  const { messageId, routed } = await engine.publishToExchange('', 'durable', 'via default exchange');
  assert.equal(routed, 1);
  assert.ok(messageId > first);
  assert.equal(engine.stats('durable').ready, 105);
});

test('stats, statsJson and redrive of dead letters', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('work', { max_attempts: 1 });
  await engine.publish('work', 'poison');
  const consumer = engine.consumer('work');
  const delivery = await consumer.consume({ timeoutMs: 0 });
  await delivery.reject('bad input');
  assert.equal(engine.stats('work').deadLettered, 1);
  const dlq = engine.consumer('work.dlq');
  const dead = await dlq.consume({ timeoutMs: 0 });
  assert.equal(dead.headers['x-death-reason'].toString(), 'rejected');
  assert.equal(dead.headers['x-death-detail'].toString(), 'bad input');
  await dead.release();
  dlq.close();
  const json = JSON.parse(engine.statsJson());
  assert.ok(JSON.stringify(json).includes('work.dlq'));
  assert.equal(engine.redrive('work.dlq'), 1);
  assert.equal(engine.stats('work').ready, 1);
  assert.equal(engine.stats('work.dlq').redriven, 1);
  assert.equal(engine.redrive('work.dlq', { maxMessages: 10 }), 0);
  throwsCorq(() => engine.redrive('missing'), 'CORQ_ENOENT');
  throwsCorq(() => engine.redrive('work.dlq', { toQueue: 'missing' }), 'CORQ_ENOENT');
  assert.throws(() => engine.redrive('work.dlq', { maxMessages: -1 }), { code: 'ERR_OUT_OF_RANGE' });
});

test('producers send atomic batches; sendSync; a closed producer is CORQ_ECLOSED', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q', { max_length: 3, overflow: 'reject' });
  const producer = engine.producer('q');
  const first = await producer.send(['a', 'b']);
  assert.equal(producer.sendSync(['c']), first + 2n);
  await rejectsCorq(producer.send(['d', 'e']), 'CORQ_EFULL'); // all or none
  assert.equal(engine.stats('q').ready, 3);
  assert.equal(await producer.send([]), 0n);
  await producer.flush();
  await assert.rejects(producer.send('not an array'), { code: 'ERR_INVALID_ARG_TYPE' });
  throwsCorq(() => engine.producer('missing'), 'CORQ_ENOENT');
  producer.close();
  producer.close();
  await rejectsCorq(producer.send(['x']), 'CORQ_ECLOSED', /producer is closed/);
  throwsCorq(() => producer.sendSync(['x']), 'CORQ_ECLOSED');
});

test('the engine close closes its producers and consumers', (t) => {
  const engine = corq.open();
  engine.declareQueue('q');
  const producer = engine.producer('q');
  const consumer = engine.consumer('q');
  engine.close();
  assert.equal(producer.closed, true);
  assert.equal(consumer.closed, true);
  throwsCorq(() => producer.sendSync(['x']), 'CORQ_ECLOSED', /engine is closed/);
});

test('ESM import gives the same exports', async () => {
  const esm = await import('../index.mjs');
  assert.equal(esm.open, corq.open);
  assert.equal(esm.default, corq);
  for (const name of Object.keys(corq)) assert.ok(name in esm, `${name} missing from index.mjs`);
});

test('every export of index.js is declared in index.d.ts', () => {
  const declarations = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');
  for (const name of Object.keys(corq)) {
    assert.match(declarations, new RegExp(`export (declare )?(function|class|const|interface|type) ${name}\\b`), `${name} is not declared in index.d.ts`);
  }
  // and the classes' public methods too
  for (const [className, cls] of Object.entries(corq)) {
    if (typeof cls !== 'function' || !/^[A-Z]/.test(className) || className.endsWith('Error')) continue;
    const body = declarations.split(new RegExp(`export declare class ${className}\\b`))[1]?.split(/\nexport /)[0] ?? '';
    for (const method of Object.getOwnPropertyNames(cls.prototype)) {
      if (method === 'constructor' || method.startsWith('_')) continue;
      assert.match(body, new RegExp(`\\b${method}\\b`), `${className}.${method} is not declared`);
    }
  }
});

test('closing a disk engine while durability waits, a sync and a request are on worker threads', async (t) => {
  for (let round = 0; round < 3; round++) {
    const engine = corq.open(tempDir(t));
    engine.declareQueue('q');
    engine.declareStream('s');
    const pending = [engine.sync(), engine.request('', 'q', 'r', { timeoutMs: -1 })];
    for (let i = 0; i < 30; i++) pending.push(engine.publish('q', 'x'), engine.append('s', 'y'));
    await new Promise((resolve) => setImmediate(resolve));
    engine.close(); // each either completed or ends with CORQ_ECLOSED; nothing touches freed memory
    for (const outcome of await Promise.allSettled(pending)) {
      if (outcome.status === 'rejected') assert.equal(outcome.reason.code, 'CORQ_ECLOSED', outcome.reason.message);
    }
  }
});
