'use strict';
// Consumers: consume and settle, the window, the async iterator, waiting off the main thread
// (the event loop stays responsive), settlements and aborts during a wait (interrupt, resume),
// interrupt/wakeup, closing during a wait, and more waiting consumers than libuv threads.

const { test } = require('node:test');
const { corq, memoryEngine, sleep, rejectsCorq, throwsCorq, assert, ticker } = require('./helpers');

async function fill(engine, queue, count, prefix = 'm') {
  for (let i = 0; i < count; i++) await engine.publish(queue, `${prefix}${i}`);
}

test('consume returns a Delivery with copies; settle each way', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q', { max_attempts: 2, retry_delay_ms: 0 });
  await fill(engine, 'q', 5);
  const consumer = engine.consumer('q', { prefetch: 8 });
  assert.equal(consumer.queue, 'q');
  assert.equal(consumer.prefetch, 8);
  const [a, b, c, d, e] = await consumer.consumeMany(5, { timeoutMs: 0 });
  assert.ok(a instanceof corq.Delivery);
  assert.equal(a.consumer, consumer);
  assert.equal(typeof a.tag, 'bigint');
  assert.equal(a.deliveryCount, 1);
  assert.ok(Math.abs(a.publishedAtMs - Date.now()) < 60000);
  await a.ack();
  assert.equal(a.data.toString(), 'm0'); // a copy: readable after the settle
  await b.nack(0); // back at once
  await c.release();
  await d.reject();
  await e.extend(60000);
  await rejectsCorq(a.ack(), 'CORQ_ESTATE', /tag/);
  await rejectsCorq(b.release(), 'CORQ_ESTATE');
  await rejectsCorq(d.nack(), 'CORQ_ESTATE');
  await rejectsCorq(e.extend(0), 'CORQ_EINVAL');
  await rejectsCorq(e.nack(-2), 'CORQ_EINVAL');
  await assert.rejects(e.nack('soon'), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(e.extend(1.5), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(e.reject(7), { code: 'ERR_INVALID_ARG_TYPE' });
  await e.ack();
  const again = await consumer.consumeMany(8, { timeoutMs: 0 });
  assert.deepEqual(again.map((x) => x.data.toString()).sort(), ['m1', 'm2']);
  const retried = again.find((x) => x.data.toString() === 'm1');
  assert.equal(retried.deliveryCount, 2);
  const stats = engine.stats('q');
  assert.equal(stats.acked, 2);
  assert.equal(stats.nacked, 1);
  assert.equal(stats.released, 1);
  assert.equal(stats.deadLettered, 1);
});

test('ackUpto acks every delivery up to a tag', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await fill(engine, 'q', 4);
  const consumer = engine.consumer('q');
  const got = await consumer.consumeMany(4, { timeoutMs: 0 });
  await consumer.ackUpto(got[2].tag);
  assert.equal(engine.stats('q').acked, 3);
  await rejectsCorq(consumer.ackUpto(got[1].tag), 'CORQ_ESTATE');
  await assert.rejects(consumer.ackUpto(-1), { code: 'ERR_OUT_OF_RANGE' });
  await consumer.ackUpto(Number(got[3].tag));
  assert.equal(engine.stats('q').acked, 4);
});

test('consumer options and arguments are checked', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  throwsCorq(() => engine.consumer('q', { prefetch: 0 }), 'CORQ_EINVAL', /prefetch/);
  throwsCorq(() => engine.consumer('q', { prefetch: 65537 }), 'CORQ_EINVAL', /prefetch/);
  assert.throws(() => engine.consumer('q', { prefetch: 2 ** 32 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => engine.consumer('q', { prefetch: '8' }), { code: 'ERR_INVALID_ARG_TYPE' });
  throwsCorq(() => engine.consumer('missing'), 'CORQ_ENOENT', /missing/);
  const consumer = engine.consumer('q');
  await assert.rejects(consumer.consume({ timeoutMs: -2 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(consumer.consume({ timeoutMs: 'soon' }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(consumer.consumeMany(0), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(consumer.consume({ signal: 'abort' }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(await consumer.consume({ timeoutMs: 0 }), null);
});

test('a consume waits off the main thread: timers keep firing, the message arrives', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  const consumer = engine.consumer('q');
  const loop = ticker(t);
  const started = Date.now();
  const waiting = consumer.consume({ timeoutMs: 5000 });
  await sleep(100);
  assert.ok(loop.ticks >= 2, `timers fired during the wait (${loop.ticks})`);
  await engine.publish('q', 'late');
  const delivery = await waiting;
  loop.stop();
  assert.equal(delivery.data.toString(), 'late');
  assert.ok(Date.now() - started < 2000);
});

test('a consume with a timeout resolves null when nothing comes; tryFirst=false waits on a worker', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  const consumer = engine.consumer('q');
  const started = Date.now();
  assert.equal(await consumer.consume({ timeoutMs: 80 }), null);
  assert.ok(Date.now() - started >= 75);
  await engine.publish('q', 'ready');
  const delivery = await consumer.consume({ timeoutMs: 1000, tryFirst: false });
  assert.equal(delivery.data.toString(), 'ready');
});

test('a full window resolves at once with null (corq returns at once)', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await fill(engine, 'q', 3);
  const consumer = engine.consumer('q', { prefetch: 2 });
  const held = await consumer.consumeMany(5, { timeoutMs: 0 });
  assert.equal(held.length, 2);
  const started = Date.now();
  assert.equal(await consumer.consume({ timeoutMs: 3000 }), null);
  assert.ok(Date.now() - started < 1500, 'not the whole timeout');
  await held[0].ack();
  assert.equal((await consumer.consume({ timeoutMs: 0 })).data.toString(), 'm2');
});

test('settling while a consume waits: the wait is interrupted, the ack runs, the wait resumes', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await fill(engine, 'q', 2);
  const consumer = engine.consumer('q', { prefetch: 8 });
  const first = await consumer.consume({ timeoutMs: 0 });
  const second = await consumer.consume({ timeoutMs: 0 });
  const waiting = consumer.consume({ timeoutMs: 3000 });
  await sleep(30); // the wait is on a worker thread now
  await first.ack(); // interrupts it, runs, and the wait goes on
  await second.nack(60000);
  assert.equal(engine.stats('q').acked, 1);
  await sleep(30);
  await engine.publish('q', 'after');
  const delivery = await waiting;
  assert.equal(delivery.data.toString(), 'after');
  // no interrupt is left over: a later wait waits its time
  const started = Date.now();
  assert.equal(await consumer.consume({ timeoutMs: 120 }), null);
  assert.ok(Date.now() - started >= 110, `waited ${Date.now() - started} ms`);
});

test('many settlements during one wait, and concurrent consumes take turns', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await fill(engine, 'q', 20);
  const consumer = engine.consumer('q', { prefetch: 32 });
  const held = await consumer.consumeMany(20, { timeoutMs: 0 });
  const waits = [consumer.consume({ timeoutMs: 3000 }), consumer.consume({ timeoutMs: 3000 })];
  await sleep(20);
  await Promise.all(held.map((d) => d.ack()));
  assert.equal(engine.stats('q').acked, 20);
  await engine.publish('q', 'x');
  await engine.publish('q', 'y');
  const got = await Promise.all(waits);
  assert.deepEqual(got.map((d) => d.data.toString()), ['x', 'y']);
});

test('for await iterates deliveries until wakeup(); settling still works after it', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await fill(engine, 'q', 3);
  const consumer = engine.consumer('q');
  const seen = [];
  let last = null;
  setTimeout(() => engine.publish('q', 'later'), 50);
  for await (const delivery of consumer) {
    seen.push(delivery.data.toString());
    if (seen.length === 4) {
      last = delivery;
      consumer.wakeup();
      continue;
    }
    await delivery.ack();
  }
  assert.deepEqual(seen, ['m0', 'm1', 'm2', 'later']);
  await last.ack(); // wakeup stops consuming, not settling
  await rejectsCorq(consumer.consume({ timeoutMs: 0 }), 'CORQ_ECLOSED');
});

test('the iterator waits out a full window until a delivery is settled', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await fill(engine, 'q', 3);
  const consumer = engine.consumer('q', { prefetch: 1 });
  const iterator = consumer[Symbol.asyncIterator]();
  const first = (await iterator.next()).value;
  const next = iterator.next(); // the window is full: it waits for a settlement
  await sleep(80);
  await first.ack();
  assert.equal((await next).value.data.toString(), 'm1');
  await iterator.return();
});

test('deliveries({ batch, signal }): abort ends the iteration with an AbortError', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await fill(engine, 'q', 5);
  const consumer = engine.consumer('q', { prefetch: 16 });
  const controller = new AbortController();
  const seen = [];
  await assert.rejects(async () => {
    for await (const delivery of consumer.deliveries({ batch: 4, signal: controller.signal })) {
      seen.push(delivery.data.toString());
      await delivery.ack();
      if (seen.length === 5) setTimeout(() => controller.abort(), 30);
    }
  }, { name: 'AbortError', code: 'ABORT_ERR' });
  assert.equal(seen.length, 5);
  assert.equal(engine.stats('q').acked, 5);
});

test('abort: before, during a wait and while queued; the reason is the cause', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  const consumer = engine.consumer('q');
  const aborted = AbortSignal.abort('why');
  await assert.rejects(consumer.consume({ signal: aborted }), (error) => {
    assert.equal(error.name, 'AbortError');
    assert.equal(error.cause, 'why');
    return true;
  });
  const controller = new AbortController();
  const started = Date.now();
  const waiting = consumer.consume({ signal: controller.signal });
  const queued = consumer.consume({ signal: controller.signal }); // waits for its turn
  setTimeout(() => controller.abort(), 50);
  await Promise.all([
    assert.rejects(waiting, { name: 'AbortError' }),
    assert.rejects(queued, { name: 'AbortError' }),
  ]);
  assert.ok(Date.now() - started < 2000);
  // the consumer goes on; no interrupt is left over
  await engine.publish('q', 'next');
  assert.equal((await consumer.consume({ timeoutMs: 1000 })).data.toString(), 'next');
  const timed = Date.now();
  assert.equal(await consumer.consume({ timeoutMs: 100 }), null);
  assert.ok(Date.now() - timed >= 90);
  await assert.rejects(consumer.consume({ signal: AbortSignal.timeout(50) }), { name: 'AbortError' });
});

test('interrupt(): the waiting consume resolves null at once, or the next one does', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  const consumer = engine.consumer('q');
  const started = Date.now();
  const waiting = consumer.consume();
  setTimeout(() => consumer.interrupt(), 40);
  assert.equal(await waiting, null);
  assert.ok(Date.now() - started < 2000);
  consumer.interrupt(); // none waits: the next consume returns at once, taking nothing
  await engine.publish('q', 'kept');
  assert.equal(await consumer.consume({ timeoutMs: 5000 }), null);
  assert.equal((await consumer.consume({ timeoutMs: 0 })).data.toString(), 'kept');
});

test('closing a consumer during a wait rejects that consume with CORQ_ECLOSED', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  await engine.publish('q', 'held');
  const consumer = engine.consumer('q');
  const held = await consumer.consume({ timeoutMs: 0 });
  const waiting = consumer.consume();
  await sleep(30);
  consumer.close();
  await rejectsCorq(waiting, 'CORQ_ECLOSED', /consumer is closed/);
  await rejectsCorq(held.ack(), 'CORQ_ECLOSED');
  await rejectsCorq(consumer.consume({ timeoutMs: 0 }), 'CORQ_ECLOSED');
  throwsCorq(() => consumer.interrupt(), 'CORQ_ECLOSED');
  consumer.close();
  // its unsettled delivery was released by the close
  await sleep(10);
  assert.equal(engine.stats('q').ready, 1);
});

test('closing the engine during waits rejects them with CORQ_ECLOSED and ends iterators', async () => {
  const engine = corq.open();
  engine.declareQueue('a');
  engine.declareQueue('b');
  const consumerA = engine.consumer('a');
  const consumerB = engine.consumer('b');
  const waiting = consumerA.consume();
  let iterated = 0;
  const loop = (async () => {
    for await (const delivery of consumerB) iterated += delivery ? 1 : 0;
    return 'ended';
  })();
  await sleep(40);
  engine.close();
  await rejectsCorq(waiting, 'CORQ_ECLOSED', /engine is closed/);
  assert.equal(await loop, 'ended');
  assert.equal(iterated, 0);
  assert.equal(consumerA.closed, true);
});

test('closing the engine while a consume waits for a thread, and while waits fill the pool', async () => {
  const engine = corq.open();
  const consumers = [];
  for (let i = 0; i < 8; i++) {
    engine.declareQueue(`q${i}`);
    consumers.push(engine.consumer(`q${i}`));
  }
  const waits = consumers.map((consumer) => consumer.consume());
  await sleep(50);
  engine.close();
  await Promise.all(waits.map((wait) => rejectsCorq(wait, 'CORQ_ECLOSED')));
});

test('more waiting consumers than libuv threads: each gets its message (the waits take turns)', async (t) => {
  const engine = memoryEngine(t);
  const count = 10;
  const consumers = [];
  for (let i = 0; i < count; i++) {
    engine.declareQueue(`q${i}`);
    consumers.push(engine.consumer(`q${i}`));
  }
  const waits = consumers.map((consumer) => consumer.consume({ timeoutMs: 10000 }));
  const loop = ticker(t);
  await sleep(60);
  const started = Date.now();
  // fs work still gets a thread: the gate leaves one to the rest of Node
  await require('node:fs/promises').readFile(__filename);
  for (let i = count - 1; i >= 0; i--) await engine.publish(`q${i}`, `for ${i}`);
  const got = await Promise.all(waits);
  loop.stop();
  assert.deepEqual(got.map((d) => d.data.toString()), consumers.map((_, i) => `for ${i}`));
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.ok(loop.ticks >= 2);
});

test('a queue deleted under a waiting consumer: CORQ_ENOENT with corq\'s detail', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('gone');
  const consumer = engine.consumer('gone');
  const waiting = consumer.consume();
  await sleep(30);
  engine.deleteQueue('gone');
  await rejectsCorq(waiting, 'CORQ_ENOENT', /./);
});

test('deliveries taken by an aborted consume are not lost: the next consume gets them', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  const consumer = engine.consumer('q');
  const controller = new AbortController();
  const waiting = consumer.consume({ signal: controller.signal });
  await sleep(30);
  // publish and abort in one turn of the event loop: the wait may have taken the message
  await engine.publish('q', 'raced');
  controller.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
  const delivery = await consumer.consume({ timeoutMs: 1000 });
  assert.equal(delivery.data.toString(), 'raced');
  assert.equal(engine.stats('q').delivered, 1);
});

test('a dropped consumer is freed by the GC safety net (no crash)', async () => {
  if (typeof global.gc !== 'function') return; // run with --expose-gc to exercise it
  const engine = corq.open();
  engine.declareQueue('q');
  (() => engine.consumer('q'))();
  global.gc();
  await sleep(10);
  engine.close();
});

test('Symbol.asyncDispose closes a waiting consumer and resolves once its handle is freed', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('q');
  const consumer = engine.consumer('q');
  const waiting = consumer.consume();
  await sleep(30);
  await consumer[Symbol.asyncDispose]();
  await rejectsCorq(waiting, 'CORQ_ECLOSED');
  assert.equal(consumer.closed, true);
  assert.equal(engine.stats('q').consumers, 0);
  const other = corq.open();
  other.declareQueue('q');
  const busy = other.consumer('q').consume();
  await sleep(30);
  await other[Symbol.asyncDispose]();
  await rejectsCorq(busy, 'CORQ_ECLOSED');
});
