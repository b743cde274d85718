'use strict';
// Exchanges and bindings (direct, fanout, topic, headers, exchange-to-exchange, alternate
// exchanges, mandatory), exchange stats, and request/respond.

const { test } = require('node:test');
const { memoryEngine, sleep, rejectsCorq, throwsCorq, assert, ticker } = require('./helpers');

async function drain(consumer) {
  return (await consumer.consumeMany(64, { timeoutMs: 0 })).map((d) => d.data.toString());
}

test('topic exchange fans one publish out to every matching queue, with one id', async (t) => {
  const engine = memoryEngine(t);
  engine.declareExchange('orders', 'topic');
  engine.declareExchange('orders', 'topic'); // idempotent
  throwsCorq(() => engine.declareExchange('orders', 'fanout'), 'CORQ_EEXIST');
  for (const [queue, pattern] of [['all', 'order.#'], ['placed', 'order.placed'], ['eu', 'order.*.eu']]) {
    engine.declareQueue(queue);
    engine.bind('orders', queue, pattern);
  }
  const placed = await engine.publishToExchange('orders', 'order.placed', 'o1', { headers: { id: '1' } });
  assert.equal(placed.routed, 2);
  assert.equal(typeof placed.messageId, 'bigint');
  assert.equal((await engine.publishToExchange('orders', 'order.shipped.eu', 'o2')).routed, 2);
  assert.equal((await engine.publishToExchange('orders', 'invoice.sent', 'x')).routed, 0);
  const all = engine.consumer('all');
  const [first] = await all.consumeMany(1, { timeoutMs: 0 });
  assert.equal(first.messageId, placed.messageId);
  assert.equal(first.headers['x-exchange'].toString(), 'orders');
  assert.equal(first.headers['x-routing-key'].toString(), 'order.placed');
  assert.equal(first.headers.id.toString(), '1');
  assert.deepEqual(await drain(all), ['o2']);
  assert.deepEqual(await drain(engine.consumer('placed')), ['o1']);
  assert.deepEqual(await drain(engine.consumer('eu')), ['o2']);
  const stats = engine.exchangeStats('orders');
  assert.deepEqual(stats, { bindings: 3, published: 3, routed: 4, unroutable: 1, alternated: 0 });
  engine.unbind('orders', 'eu', 'order.*.eu');
  throwsCorq(() => engine.unbind('orders', 'eu', 'order.*.eu'), 'CORQ_ENOENT');
  assert.equal(engine.exchangeStats('orders').bindings, 2);
});

test('mandatory publishes fail with CORQ_EUNROUTABLE; alternate exchanges take the rest', async (t) => {
  const engine = memoryEngine(t);
  engine.declareExchange('unrouted', 'fanout');
  engine.declareExchange('main', 'direct', { alternate_exchange: 'unrouted' });
  engine.declareQueue('lost');
  engine.bind('unrouted', 'lost');
  assert.equal((await engine.publishToExchange('main', 'nobody', 'x')).routed, 1);
  assert.equal(engine.exchangeStats('main').alternated, 1);
  engine.declareExchange('plain', 'direct');
  await rejectsCorq(engine.publishToExchange('plain', 'nobody', 'x', { mandatory: true }), 'CORQ_EUNROUTABLE');
  throwsCorq(() => engine.publishToExchangeSync('plain', 'nobody', 'x', { mandatory: true }), 'CORQ_EUNROUTABLE');
  assert.equal(engine.publishToExchangeSync('plain', 'nobody', 'x').routed, 0);
});

test('headers exchanges match arguments; a null argument matches presence', async (t) => {
  const engine = memoryEngine(t);
  engine.declareExchange('h', 'headers');
  engine.declareQueue('pdf');
  engine.declareQueue('anyUrgent');
  engine.bind('h', 'pdf', '', { 'x-match': 'all', format: 'pdf' });
  engine.bind('h', 'anyUrgent', '', [['x-match', 'any'], ['urgent', null]]);
  await engine.publishToExchange('h', '', 'a', { headers: { format: 'pdf' } });
  await engine.publishToExchange('h', '', 'b', { headers: { urgent: 'no' } });
  await engine.publishToExchange('h', '', 'c', { headers: { format: 'doc' } });
  assert.deepEqual(await drain(engine.consumer('pdf')), ['a']);
  assert.deepEqual(await drain(engine.consumer('anyUrgent')), ['b']);
  throwsCorq(() => engine.bind('h', 'pdf', '', { 'x-match': 'sometimes' }), 'CORQ_EINVAL', /x-match/);
  engine.unbind('h', 'anyUrgent', '', [['x-match', 'any'], ['urgent', null]]);
});

test('exchange-to-exchange bindings, deletes and bad input', async (t) => {
  const engine = memoryEngine(t);
  engine.declareExchange('edge', 'fanout');
  engine.declareExchange('inner', 'direct');
  engine.bindExchange('edge', 'inner', '');
  engine.declareQueue('q');
  engine.bind('inner', 'q', 'k');
  assert.equal((await engine.publishToExchange('edge', 'k', 'through')).routed, 1);
  engine.unbindExchange('edge', 'inner', '');
  throwsCorq(() => engine.unbindExchange('edge', 'inner', ''), 'CORQ_ENOENT');
  assert.equal((await engine.publishToExchange('edge', 'k', 'stops')).routed, 0);
  throwsCorq(() => engine.declareExchange('x', 'sideways'), 'CORQ_EINVAL');
  throwsCorq(() => engine.declareExchange('', 'direct'), 'CORQ_EINVAL');
  throwsCorq(() => engine.bind('missing', 'q', 'k'), 'CORQ_ENOENT');
  throwsCorq(() => engine.bind('inner', 'missing', 'k'), 'CORQ_ENOENT');
  throwsCorq(() => engine.bind('inner', 'q', 'k'.repeat(256)), 'CORQ_EINVAL');
  assert.throws(() => engine.bind('inner', 'q', 5), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => engine.bind('inner', 'q', 'k', 'x-match=all'), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsCorq(engine.publishToExchange('missing', 'k', 'x'), 'CORQ_ENOENT');
  throwsCorq(() => engine.exchangeStats('missing'), 'CORQ_ENOENT');
  engine.deleteExchange('inner');
  throwsCorq(() => engine.deleteExchange('inner'), 'CORQ_ENOENT');
  engine.declareExchange('internal', 'direct', { internal: true });
  await rejectsCorq(engine.publishToExchange('internal', 'k', 'x'), 'CORQ_EINVAL');
});

test('request and respond: a responder answers through its consumer, in this process', async (t) => {
  const engine = memoryEngine(t);
  engine.declareQueue('rpc');
  const responder = engine.consumer('rpc');
  const serving = (async () => {
    for await (const request of responder) {
      assert.ok(request.headers['x-reply-to']);
      assert.ok(request.headers['x-correlation-id']);
      await request.respond(`echo ${request.data}`, { headers: { served: 'yes' } });
    }
  })();
  const replies = await Promise.all(
    ['a', 'b', 'c', 'd', 'e'].map((text) => engine.request('', 'rpc', text, { timeoutMs: 5000, headers: { n: text } })),
  );
  assert.deepEqual(replies.map((r) => r.data.toString()), ['echo a', 'echo b', 'echo c', 'echo d', 'echo e']);
  assert.equal(replies[0].headers.served.toString(), 'yes');
  assert.ok(replies[0].headers['x-correlation-id']);
  assert.ok(JSON.stringify(JSON.parse(engine.statsJson())).includes('requests'));
  responder.wakeup();
  await serving;
});

test('request errors: unroutable, timeout, unknown exchange, bad arguments', async (t) => {
  const engine = memoryEngine(t);
  await rejectsCorq(engine.request('', 'nobody', 'x', { timeoutMs: 1000 }), 'CORQ_EUNROUTABLE', /no responder/);
  engine.declareQueue('silent');
  const started = Date.now();
  await rejectsCorq(engine.request('', 'silent', 'x', { timeoutMs: 80 }), 'CORQ_ETIMEDOUT', /80 ms/);
  assert.ok(Date.now() - started >= 70);
  await rejectsCorq(engine.request('missing', 'k', 'x', { timeoutMs: 100 }), 'CORQ_ENOENT');
  const many = Object.fromEntries(Array.from({ length: 63 }, (_, i) => [`h${i}`, 'v']));
  await rejectsCorq(engine.request('', 'silent', 'x', { headers: many }), 'CORQ_EINVAL', /62 headers/);
  await assert.rejects(engine.request('', 'silent', 'x', { timeoutMs: -5 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(engine.request(1, 'silent', 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
  // respond to a delivery that is no request: EINVAL, nothing acked
  await engine.publish('silent', 'plain');
  const consumer = engine.consumer('silent');
  const deliveries = await consumer.consumeMany(8, { timeoutMs: 0 });
  const plain = deliveries.find((d) => d.data.toString() === 'plain');
  await rejectsCorq(plain.respond('no'), 'CORQ_EINVAL', /x-reply-to/);
  await plain.ack();
  await rejectsCorq(plain.respond('late'), 'CORQ_ESTATE');
});

test('a request waits off the main thread; the engine close ends it with CORQ_ECLOSED', async (t) => {
  const { corq } = require('./helpers');
  const engine = corq.open();
  engine.declareQueue('slow');
  const loop = ticker(t);
  const pending = engine.request('', 'slow', 'x', { timeoutMs: -1 });
  await sleep(60);
  assert.ok(loop.ticks >= 2);
  engine.close(); // the request's engine memory is kept until it returned
  await rejectsCorq(pending, 'CORQ_ECLOSED');
  loop.stop();
});
