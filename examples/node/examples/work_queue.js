'use strict';
// A work queue: a producer publishes jobs; two workers take them, one at a time each, ack what
// they finished, and nack what failed (retried after the queue's backoff, dead-lettered after
// max_attempts). Checks its own outcome and exits 0 on success.
//
//   CORQ_LIBRARY=/path/to/libcorq.so node examples/work_queue.js

const assert = require('node:assert/strict');
const corq = require('..');

async function worker(name, consumer, done, stopAll) {
  for await (const job of consumer) {
    const n = Number(job.data.toString().split(' ')[1]);
    if (n % 5 === 0 && job.deliveryCount === 1) {
      await job.nack(); // a transient failure: retried after retry_delay_ms
      continue;
    }
    done.push(`${name}:${n}`);
    await job.ack();
    if (done.length === 20) stopAll(); // the last job: stop both workers
  }
}

async function main() {
  const engine = corq.open(); // in memory; corq.open('/var/lib/app/queue') keeps durable queues
  engine.declareQueue('jobs', { max_attempts: 3, retry_delay_ms: 10, lease_ms: 10000 });

  const consumers = [engine.consumer('jobs', { prefetch: 1 }), engine.consumer('jobs', { prefetch: 1 })];
  const stopAll = () => consumers.forEach((consumer) => consumer.wakeup()); // graceful: loops end
  const done = [];
  const workers = consumers.map((consumer, i) => worker(`worker${i + 1}`, consumer, done, stopAll));

  const producer = engine.producer('jobs');
  await producer.send(Array.from({ length: 10 }, (_, i) => `job ${i}`)); // one atomic batch
  for (let i = 10; i < 20; i++) await engine.publish('jobs', `job ${i}`, { headers: { source: 'web' } });

  await Promise.all(workers);
  const stats = engine.stats('jobs');
  engine.close();

  assert.equal(done.length, 20);
  assert.deepEqual([...new Set(done.map((d) => Number(d.split(':')[1])))].sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i));
  assert.equal(stats.acked, 20);
  assert.equal(stats.nacked, 4); // jobs 0, 5, 10 and 15 failed once
  assert.equal(stats.ready + stats.inFlight + stats.delayed, 0);
  console.log(`work_queue: 20 jobs done by two workers (${stats.nacked} retried): ok`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
