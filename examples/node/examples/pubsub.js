'use strict';
// Pub/sub: an order event is published once to the topic exchange "orders" and fanned out to
// every service whose binding matches its routing key — inventory takes every order event
// (order.#), email only placed orders (order.placed), analytics everything EU (*.*.eu). Each
// service consumes its own queue and settles its own copy. Exits 0 on success.
//
//   CORQ_LIBRARY=/path/to/libcorq.so node examples/pubsub.js

const assert = require('node:assert/strict');
const corq = require('..');

async function main() {
  const engine = corq.open();
  engine.declareExchange('orders', 'topic');
  const services = { inventory: 'order.#', email: 'order.placed', analytics: '*.*.eu' };
  for (const [service, pattern] of Object.entries(services)) {
    engine.declareQueue(service);
    engine.bind('orders', service, pattern);
  }

  const event = JSON.stringify({ order: 42, total: '19.90 EUR' });
  const placed = await engine.publishToExchange('orders', 'order.placed.eu', event, {
    headers: { 'content-type': 'application/json' },
    mandatory: true, // CORQ_EUNROUTABLE rather than a silent drop if nobody is bound
  });
  assert.equal(placed.routed, 2); // inventory and analytics; email wants order.placed exactly
  const shipped = await engine.publishToExchange('orders', 'order.placed', '{"order":43}');
  assert.equal(shipped.routed, 2); // inventory and email

  const received = {};
  await Promise.all(Object.keys(services).map(async (service) => {
    const consumer = engine.consumer(service);
    received[service] = [];
    for (;;) {
      const delivery = await consumer.consume({ timeoutMs: 100 });
      if (delivery === null) break; // nothing more within 100 ms
      received[service].push(`${delivery.headers['x-routing-key']} ${delivery.data}`);
      await delivery.ack();
    }
    consumer.close();
  }));
  const stats = engine.exchangeStats('orders');
  engine.close();

  assert.deepEqual(received.inventory, [`order.placed.eu ${event}`, 'order.placed {"order":43}']);
  assert.deepEqual(received.email, ['order.placed {"order":43}']);
  assert.deepEqual(received.analytics, [`order.placed.eu ${event}`]);
  assert.equal(stats.routed, 4);
  console.log('pubsub: 2 order events fanned out to 3 services (4 copies): ok');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
