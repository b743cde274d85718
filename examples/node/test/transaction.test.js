'use strict';
// Transactions: publish/append/ack applied together at commit or not at all; failures; a commit
// that holds a consumer whose consume waits on a worker thread; the engine's close.

const { test } = require('node:test');
const { corq, tempDir, memoryEngine, sleep, rejectsCorq, throwsCorq, assert } = require('./helpers');

test('consume, transform, produce: publish + append + ack commit together', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('orders');
  engine.declareQueue('invoices');
  engine.declareStream('ledger');
  engine.declareExchange('events', 'fanout');
  engine.declareQueue('audit');
  engine.bind('events', 'audit');
  await engine.publish('orders', 'order 42');
  const consumer = engine.consumer('orders');
  const order = await consumer.consume({ timeoutMs: 0 });
  const txn = engine.transaction();
  assert.ok(txn instanceof corq.Transaction);
  txn.publish('', 'invoices', `invoice for ${order.data}`, { headers: { k: 'v' } });
  txn.publish('events', 'order.billed', 'billed');
  txn.append('ledger', order.data, { key: 'customer-7' });
  await txn.ack(order);
  // nothing is visible before the commit
  assert.equal(engine.stats('invoices').ready, 0);
  assert.equal(engine.streamStats('ledger').records, 0);
  assert.equal(engine.stats('orders').inFlight, 1);
  await txn.commit();
  assert.equal(engine.stats('invoices').ready, 1);
  assert.equal(engine.stats('audit').ready, 1);
  assert.equal(engine.stats('orders').acked, 1);
  assert.equal(engine.streamStats('ledger').records, 1);
  await rejectsCorq(order.ack(), 'CORQ_ESTATE');
  // ended: its calls are CORQ_ECLOSED, abort is a no-op
  throwsCorq(() => txn.publish('', 'invoices', 'x'), 'CORQ_ECLOSED');
  await rejectsCorq(txn.commit(), 'CORQ_ECLOSED');
  txn.abort();
});

test('abort discards everything; the acked delivery stays held', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  engine.declareQueue('out');
  await engine.publish('q', 'x');
  const consumer = engine.consumer('q');
  const delivery = await consumer.consume({ timeoutMs: 0 });
  const txn = engine.transaction();
  txn.publish('', 'out', 'never');
  await txn.ack(delivery);
  txn.abort();
  txn.abort();
  assert.equal(engine.stats('out').ready, 0);
  await delivery.ack(); // still held by the consumer
  await rejectsCorq(txn.ack(delivery), 'CORQ_ECLOSED');
  const disposed = engine.transaction();
  disposed[Symbol.dispose]();
  throwsCorq(() => disposed.append('s', 'x'), 'CORQ_ECLOSED');
});

test('operations refused at once leave the transaction usable; a failed commit applies nothing', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  engine.declareQueue('out');
  await engine.publish('q', 'x');
  const consumer = engine.consumer('q', { prefetch: 4 });
  const delivery = await consumer.consume({ timeoutMs: 0 });
  const txn = engine.transaction();
  throwsCorq(() => txn.publish('', 'missing', 'x'), 'CORQ_ENOENT');
  throwsCorq(() => txn.publish('', 'missing', 'x', { mandatory: true }), 'CORQ_EUNROUTABLE');
  throwsCorq(() => txn.append('missing', 'x'), 'CORQ_ENOENT');
  throwsCorq(() => txn.publish('nope', 'k', 'x'), 'CORQ_ENOENT');
  assert.throws(() => txn.publish('', 'out', 42), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(txn.ack({ tag: 1n }), { code: 'ERR_INVALID_ARG_TYPE' });
  txn.publish('', 'out', 'kept');
  await txn.ack(delivery);
  await rejectsCorq(txn.ack(delivery), 'CORQ_ESTATE'); // already acked in this transaction
  await delivery.ack(); // settled outside: the commit must fail
  await rejectsCorq(txn.commit(), 'CORQ_ESTATE', /no longer held/);
  assert.equal(engine.stats('out').ready, 0);
  await assert.rejects(engine.transaction().commit({ timeoutMs: -7 }), { code: 'ERR_OUT_OF_RANGE' });
});

test('a commit holds the consumers it acks for: a waiting consume is interrupted, then resumes', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  engine.declareQueue('out');
  await engine.publish('q', 'first');
  const consumer = engine.consumer('q', { prefetch: 8 });
  const delivery = await consumer.consume({ timeoutMs: 0 });
  const waiting = consumer.consume({ timeoutMs: 5000 }); // on a worker thread
  await sleep(30);
  const txn = engine.transaction();
  txn.publish('', 'out', 'result');
  await txn.ack(delivery); // runs between two waits of the consume
  await txn.commit();
  assert.equal(engine.stats('q').acked, 1);
  await engine.publish('q', 'second');
  assert.equal((await waiting).data.toString(), 'second');
});

test('many transactions over two consumers commit in turn (no deadlock between holds)', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('a');
  engine.declareQueue('b');
  engine.declareQueue('out');
  for (let i = 0; i < 10; i++) {
    await engine.publish('a', `a${i}`);
    await engine.publish('b', `b${i}`);
  }
  const ca = engine.consumer('a', { prefetch: 16 });
  const cb = engine.consumer('b', { prefetch: 16 });
  const as = await ca.consumeMany(10, { timeoutMs: 0 });
  const bs = await cb.consumeMany(10, { timeoutMs: 0 });
  const waits = [ca.consume({ timeoutMs: 3000 }), cb.consume({ timeoutMs: 3000 })];
  await Promise.all(as.map(async (da, i) => {
    const txn = engine.transaction();
    txn.publish('', 'out', `${i}`);
    await Promise.all(i % 2 ? [txn.ack(da), txn.ack(bs[i])] : [txn.ack(bs[i]), txn.ack(da)]);
    await txn.commit({ timeoutMs: 5000 });
  }));
  assert.equal(engine.stats('out').ready, 10);
  assert.equal(engine.stats('a').acked + engine.stats('b').acked, 20);
  await engine.publish('a', 'next-a');
  await engine.publish('b', 'next-b');
  assert.deepEqual((await Promise.all(waits)).map((d) => d.data.toString()), ['next-a', 'next-b']);
});

test('the engine close aborts open transactions', async () => {
  const engine = corq.open();
  engine.declareQueue('q');
  const txn = engine.transaction();
  txn.publish('', 'q', 'x');
  engine.close();
  throwsCorq(() => txn.publish('', 'q', 'y'), 'CORQ_ECLOSED');
  await rejectsCorq(txn.commit(), 'CORQ_ECLOSED');
  txn.abort();
});

test('a transaction on a disk engine is durable at commit and survives a reopen', async (t) => {
  const dir = tempDir(t);
  let engine = corq.open(dir);
  engine.declareQueue('in');
  engine.declareQueue('out');
  await engine.publish('in', 'job');
  const consumer = engine.consumer('in');
  const job = await consumer.consume({ timeoutMs: 0 });
  const txn = engine.transaction();
  txn.publish('', 'out', 'done');
  await txn.ack(job);
  await txn.commit({ timeoutMs: 5000 });
  engine.close();
  engine = corq.open(dir);
  t.after(() => engine.close());
  assert.equal(engine.stats('out').ready, 1);
  assert.equal(engine.stats('in').ready, 0);
});
