'use strict';
// Streams: declare/append/producers, readers (waits off the main thread, wakeup, abort, close,
// deletion, the iterator, retention's skipped count), consumer groups, and a disk engine.

const { test } = require('node:test');
const { corq, tempDir, memoryEngine, sleep, rejectsCorq, throwsCorq, assert, ticker } = require('./helpers');

test('append picks partitions by key; readers read records with copies of key, data, headers', async (t) => {
  const engine = memoryEngine(t);
  engine.declareStream('clicks', { partitions: 3 });
  engine.declareStream('clicks', { partitions: 3 });
  throwsCorq(() => engine.declareStream('clicks', { partitions: 4 }), 'CORQ_EEXIST');
  const a = await engine.append('clicks', 'page 1', { key: 'user-42', headers: { ua: 'x' } });
  const b = await engine.append('clicks', 'page 2', { key: Buffer.from('user-42') });
  assert.equal(a.partition, b.partition);
  assert.equal(b.offset, a.offset + 1n);
  const empty = engine.appendSync('clicks', 'empty key', { key: '' });
  const none = engine.appendSync('clicks', 'no key');
  assert.equal(typeof none.offset, 'bigint');
  const reader = engine.streamReader('clicks', { partition: a.partition });
  assert.equal(reader.stream, 'clicks');
  assert.equal(reader.partition, a.partition);
  const records = await reader.read({ timeoutMs: 0 });
  const mine = records.filter((r) => r.key !== null && r.key.toString() === 'user-42');
  assert.deepEqual(mine.map((r) => r.data.toString()), ['page 1', 'page 2']);
  assert.ok(mine[0] instanceof corq.StreamRecord);
  assert.equal(mine[0].headers.ua.toString(), 'x');
  assert.equal(mine[0].partition, a.partition);
  assert.ok(Math.abs(mine[0].timestampMs - Date.now()) < 60000);
  const emptyReader = engine.streamReader('clicks', { partition: empty.partition, start: `offset:${empty.offset}` });
  const [emptyRecord] = await emptyReader.read({ max: 1, timeoutMs: 0 });
  assert.deepEqual(emptyRecord.key, Buffer.alloc(0)); // an empty key is a key, not none
  const noneReader = engine.streamReader('clicks', { partition: none.partition, start: `offset:${none.offset}` });
  assert.equal((await noneReader.read({ max: 1, timeoutMs: 0 }))[0].key, null);
  const stats = engine.streamStats('clicks');
  assert.equal(stats.partitions, 3);
  assert.equal(stats.records, 4);
  assert.equal(stats.appended, 4);
});

test('stream bad input: unknown stream, bad start, partition out of range, options', async (t) => {
  const engine = memoryEngine(t);
  engine.declareStream('s');
  await rejectsCorq(engine.append('missing', 'x'), 'CORQ_ENOENT');
  throwsCorq(() => engine.appendSync('missing', 'x'), 'CORQ_ENOENT');
  throwsCorq(() => engine.streamReader('s', { start: 'yesterday' }), 'CORQ_EINVAL');
  throwsCorq(() => engine.streamReader('s', { partition: 5 }), 'CORQ_EINVAL');
  throwsCorq(() => engine.streamReader('s', { start: 'offset:99' }), 'CORQ_EINVAL');
  throwsCorq(() => engine.streamReader('missing'), 'CORQ_ENOENT');
  assert.throws(() => engine.streamReader('s', { partition: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  throwsCorq(() => engine.declareStream('t', { partitions: 0 }), 'CORQ_EINVAL');
  throwsCorq(() => engine.declareStream('t', { durable: true }), 'CORQ_EINVAL');
  throwsCorq(() => engine.streamProducer('missing'), 'CORQ_ENOENT');
  throwsCorq(() => engine.streamStats('missing'), 'CORQ_ENOENT');
  await assert.rejects(engine.append('s', 'x', { key: 42 }), { code: 'ERR_INVALID_ARG_TYPE' });
  const reader = engine.streamReader('s');
  await assert.rejects(reader.read({ max: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(reader.read({ timeoutMs: -3 }), { code: 'ERR_OUT_OF_RANGE' });
  engine.declareStream('bounded', { retention_records: 1, discard: 'new' });
  await engine.append('bounded', 'one');
  await rejectsCorq(engine.append('bounded', 'two'), 'CORQ_EFULL');
});

test('stream producers append atomic batches to one partition; dedupId names a batch', async (t) => {
  const engine = memoryEngine(t);
  engine.declareStream('s', { partitions: 2, dedup_window_ms: 60000 });
  const producer = engine.streamProducer('s');
  assert.equal(producer.stream, 's');
  const batch = await producer.send(['a', { data: 'b', headers: { h: '1' } }], { key: 'k' });
  assert.equal(batch.firstOffset, 0n);
  const again = await producer.send(['a2'], { key: 'k', dedupId: 'batch-1' });
  const repeat = producer.sendSync(['ignored'], { key: 'k', dedupId: 'batch-1' });
  assert.deepEqual(repeat, again);
  assert.equal(engine.streamStats('s').deduplicated, 1);
  await rejectsCorq(producer.send([]), 'CORQ_EINVAL');
  producer.close();
  await rejectsCorq(producer.send(['x']), 'CORQ_ECLOSED', /stream producer is closed/);
  const reader = engine.streamReader('s', { partition: batch.partition });
  assert.deepEqual((await reader.read({ timeoutMs: 0 })).map((r) => r.data.toString()), ['a', 'b', 'a2']);
});

test('a read waits off the main thread for the tail; wakeup() ends it with []', async (t) => {
  const engine = memoryEngine(t);
  engine.declareStream('s');
  const reader = engine.streamReader('s', { start: 'latest' });
  const loop = ticker(t);
  const waiting = reader.read();
  await sleep(60);
  assert.ok(loop.ticks >= 2);
  await engine.append('s', 'tail');
  assert.deepEqual((await waiting).map((r) => r.data.toString()), ['tail']);
  const woken = reader.read();
  setTimeout(() => reader.wakeup(), 30);
  assert.deepEqual(await woken, []);
  loop.stop();
  // a wakeup with no read waiting ends the next read that would wait, not one that finds records
  reader.wakeup();
  await engine.append('s', 'ready');
  assert.equal((await reader.read({ timeoutMs: 5000 })).length, 1);
  const started = Date.now();
  assert.deepEqual(await reader.read({ timeoutMs: 5000 }), []);
  assert.ok(Date.now() - started < 2000);
  // and then a read waits its whole time again
  const timed = Date.now();
  assert.deepEqual(await reader.read({ timeoutMs: 100 }), []);
  assert.ok(Date.now() - timed >= 90);
});

test('abort, close and stream deletion end a waiting read', async (t) => {
  const engine = memoryEngine(t);
  engine.declareStream('s');
  const reader = engine.streamReader('s');
  const controller = new AbortController();
  const aborted = reader.read({ signal: controller.signal });
  setTimeout(() => controller.abort(), 30);
  await assert.rejects(aborted, { name: 'AbortError' });
  const deleted = reader.read();
  await sleep(30);
  engine.deleteStream('s');
  await rejectsCorq(deleted, 'CORQ_ENOENT', /deleted/);
  engine.declareStream('t');
  const other = engine.streamReader('t');
  const closing = other.read();
  await sleep(30);
  other.close();
  await rejectsCorq(closing, 'CORQ_ECLOSED', /stream reader is closed/);
  throwsCorq(() => other.skipped, 'CORQ_ECLOSED');
});

test('the record iterator follows the tail until the engine closes', async () => {
  const engine = corq.open();
  engine.declareStream('s');
  await engine.append('s', 'one');
  const reader = engine.streamReader('s');
  const seen = [];
  const loop = (async () => {
    for await (const record of reader) {
      seen.push(record.data.toString());
      if (seen.length === 2) setTimeout(() => engine.close(), 20);
    }
  })();
  await sleep(30);
  await engine.append('s', 'two');
  await loop;
  assert.deepEqual(seen, ['one', 'two']);
  assert.equal(reader.closed, true);
});

test('retention under a reader counts skipped records', async (t) => {
  const engine = memoryEngine(t);
  engine.declareStream('s', { retention_records: 2 });
  const reader = engine.streamReader('s');
  for (let i = 0; i < 5; i++) await engine.append('s', `r${i}`);
  const records = await reader.read({ timeoutMs: 0 });
  assert.deepEqual(records.map((r) => r.data.toString()), ['r3', 'r4']);
  assert.equal(reader.skipped, 3);
});

test('consumer groups: members consume records, settle them, seek, stats, delete', async (t) => {
  const engine = memoryEngine(t);
  engine.declareStream('orders', { partitions: 2 });
  for (let i = 0; i < 4; i++) await engine.append('orders', `o${i}`, { key: `k${i}` });
  const member = engine.groupConsumer('orders', 'billing', { prefetch: 16 });
  assert.ok(member instanceof corq.Consumer);
  assert.equal(member.group, 'billing');
  const got = await member.consumeMany(16, { timeoutMs: 0 });
  assert.equal(got.length, 4);
  assert.ok(got.every((d) => d.headers['x-stream-partition'] && d.headers['x-stream-offset']));
  for (const d of got) await d.ack();
  assert.equal(engine.groupStats('orders', 'billing').acked, 4);
  assert.equal(engine.groupStats('orders', 'billing').members, 1);
  // a record appended later reaches a member waiting on a worker thread
  const waiting = member.consume({ timeoutMs: 5000 });
  await sleep(30);
  await engine.append('orders', 'late');
  const late = await waiting;
  assert.equal(late.data.toString(), 'late');
  await late.nack(0);
  const retried = await member.consume({ timeoutMs: 5000 });
  assert.equal(retried.deliveryCount, 2);
  await retried.ack();
  await rejectsCorq(retried.respond('x'), 'CORQ_EINVAL', /records, not requests/);
  engine.groupSeek('orders', 'billing', 'earliest');
  assert.equal((await member.consumeMany(16, { timeoutMs: 1000 })).length, 5);
  throwsCorq(() => engine.groupSeek('orders', 'billing', 'sometime'), 'CORQ_EINVAL');
  throwsCorq(() => engine.groupSeek('orders', 'billing', 'earliest', 7), 'CORQ_EINVAL');
  assert.throws(() => engine.groupSeek('orders', 'billing', 'earliest', -2), { code: 'ERR_OUT_OF_RANGE' });
  engine.groupSeek('orders', 'billing', 'latest', 0);
  engine.groupSeek('orders', 'billing', 'earliest', 0);
  throwsCorq(() => engine.groupSeek('orders', 'nobody', 'earliest'), 'CORQ_ENOENT');
  throwsCorq(() => engine.groupConsumer('orders', 'billing', { mode: 'shared' }), 'CORQ_EEXIST');
  throwsCorq(() => engine.groupConsumer('missing', 'g'), 'CORQ_ENOENT');
  throwsCorq(() => engine.groupConsumer('orders', 'g2', { mode: 'random' }), 'CORQ_EINVAL');
  assert.equal(engine.streamStats('orders').groups, 1);
  member.interrupt(); // no wait: the next consume returns at once
  assert.equal(await member.consume({ timeoutMs: 5000 }), null);
  engine.groupDelete('orders', 'billing');
  throwsCorq(() => engine.groupDelete('orders', 'billing'), 'CORQ_ENOENT');
  await rejectsCorq(member.consume({ timeoutMs: 0 }), 'CORQ_ENOENT');
  throwsCorq(() => engine.groupStats('orders', 'billing'), 'CORQ_ENOENT');
});

test('streams on a disk engine: durable appends wait, a transient stream does not; records come back', async (t) => {
  const dir = tempDir(t);
  let engine = corq.open(dir);
  engine.declareStream('events', { partitions: 1 });
  engine.declareStream('scratch', { durable: false });
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => engine.append('events', `e${i}`)));
  assert.equal(results[49].offset, 49n);
  await engine.append('scratch', 'gone after close');
  const producer = engine.streamProducer('events');
  await producer.send(['b1', 'b2']);
  await engine.append('events', 'nowait', { nowait: true });
  await engine.sync();
  engine.close();
  engine = corq.open(dir);
  t.after(() => engine.close());
  const reader = engine.streamReader('events');
  const records = await reader.read({ timeoutMs: 0 });
  assert.equal(records.length, 53);
  assert.equal(records[52].data.toString(), 'nowait');
});
