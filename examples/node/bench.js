'use strict';
// bench.js — the binding's throughput next to the other bindings and the C baseline (the lead
// runs them side by side). In the public API, as a user would write it: an in-memory engine, the
// transient queue "bench", a consumer with prefetch 256, and N/64 rounds of
//   single        64 x `await engine.publish()` of one 64-byte message, then 64 x
//                 `await consumer.consume({ timeoutMs: 0 })` + `await delivery.ack()`
//   batch         one `await producer.send()` of 64 messages, consumeMany until 64 were taken,
//                 one `await consumer.ackUpto()` of the last tag
//   single-async  as single, but each consume goes to a libuv thread (tryFirst: false): the cost
//                 of the worker-thread path that a consume which has to wait takes
//   batch-async   as batch, its consumes on a libuv thread
// after an untimed warm-up of min(N/10, 10000) messages the same way. One JSON line per mode:
//   {"binding":"node","mode":"single","messages":N,"seconds":S}
//
//   node bench.js [--mode single|batch|single-async|batch-async[,...]] [--messages N]

const corq = require('.');

const ROUND = 64;

function parseArgs(argv) {
  const args = { modes: ['single', 'batch'], messages: 200000 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--mode') {
      args.modes = value.split(',');
      i++;
    } else if (arg === '--messages') {
      args.messages = Number(value);
      i++;
    } else {
      throw new Error(`unknown argument ${arg} (use --mode single|batch|single-async|batch-async --messages N)`);
    }
  }
  for (const mode of args.modes) {
    if (!['single', 'batch', 'single-async', 'batch-async'].includes(mode)) throw new Error(`unknown mode ${mode}`);
  }
  if (!Number.isInteger(args.messages) || args.messages <= 0 || args.messages % ROUND !== 0) {
    throw new Error(`--messages must be a positive multiple of ${ROUND}`);
  }
  return args;
}

async function singleRounds(engine, consumer, payload, rounds, consumeOptions) {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < ROUND; i++) await engine.publish('bench', payload);
    for (let i = 0; i < ROUND; i++) {
      const delivery = await consumer.consume(consumeOptions);
      await delivery.ack();
    }
  }
}

async function batchRounds(producer, consumer, batch, rounds, consumeOptions) {
  for (let r = 0; r < rounds; r++) {
    await producer.send(batch);
    let taken = 0;
    let last = null;
    while (taken < ROUND) {
      const deliveries = await consumer.consumeMany(ROUND - taken, consumeOptions);
      taken += deliveries.length;
      if (deliveries.length > 0) last = deliveries[deliveries.length - 1];
    }
    await consumer.ackUpto(last.tag);
  }
}

async function measure(mode, messages) {
  const engine = corq.open();
  try {
    // max_length 8192: the ready ring's first lap (page faults) falls in the warm-up, as in
    // bench/bindings/c_bench.c.
    engine.declareQueue('bench', { durable: false, max_length: 8192 });
    const consumer = engine.consumer('bench', { prefetch: 256 });
    const producer = engine.producer('bench');
    const payload = Buffer.alloc(64, 0x61);
    const batch = Array.from({ length: ROUND }, () => payload);
    const async = mode.endsWith('-async');
    const consumeOptions = async ? { timeoutMs: 1000, tryFirst: false } : { timeoutMs: 0 };
    const run = (rounds) => (mode.startsWith('single')
      ? singleRounds(engine, consumer, payload, rounds, consumeOptions)
      : batchRounds(producer, consumer, batch, rounds, consumeOptions));
    await run(Math.max(1, Math.floor(Math.min(messages / 10, 10000) / ROUND)));
    const started = process.hrtime.bigint();
    await run(messages / ROUND);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (engine.stats('bench').acked < messages) throw new Error('not every message was acked');
    return seconds;
  } finally {
    engine.close();
  }
}

async function main() {
  const { modes, messages } = parseArgs(process.argv.slice(2));
  for (const mode of modes) {
    const seconds = await measure(mode, messages);
    console.log(JSON.stringify({ binding: 'node', mode, messages, seconds: Number(seconds.toFixed(6)) }));
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
