// A typed user of the binding: `tsc --strict` must accept it against index.d.ts (test/types.test.js).
// It is compiled, never run: it only has to agree with the declarations.
import * as corq from '../../index';

async function workQueue(engine: corq.Engine): Promise<number> {
  engine.declareQueue('jobs', { max_attempts: 5, retry_delay_ms: 10, durable: false });
  const id: bigint = await engine.publish('jobs', 'resize 42.png', { headers: { user: 'ada' } });
  const producer: corq.Producer = engine.producer('jobs');
  const first: bigint = await producer.send(['a', Buffer.from('b'), { data: 'c', headers: { k: 'v' } }]);
  producer.close();
  const consumer = engine.consumer('jobs', { prefetch: 64 });
  const controller = new AbortController();
  let done = 0;
  for await (const delivery of consumer.deliveries({ signal: controller.signal })) {
    const text: string = delivery.data.toString();
    const tag: bigint = delivery.tag;
    if (text.startsWith('resize') && delivery.deliveryCount === 1) await delivery.nack();
    else await delivery.ack();
    if (++done === 4 || tag === first + id) controller.abort();
  }
  const one: corq.Delivery | null = await consumer.consume({ timeoutMs: 100 });
  if (one !== null) await one.release();
  const many: corq.Delivery[] = await consumer.consumeMany(16, { timeoutMs: 0 });
  if (many.length > 0) await consumer.ackUpto(many[many.length - 1].tag);
  consumer.close();
  const stats: corq.QueueStats = engine.stats('jobs');
  return stats.acked;
}

async function pubsub(engine: corq.Engine): Promise<void> {
  engine.declareExchange('orders', 'topic');
  for (const service of ['inventory', 'email', 'analytics']) {
    engine.declareQueue(service);
    engine.bind('orders', service, 'order.*');
  }
  const published: corq.Published = await engine.publishToExchange('orders', 'order.placed', '{}', {
    mandatory: true,
  });
  const routed: number = published.routed;
  const temp: string = engine.declareTempQueue();
  engine.bind('orders', temp, '#');
  try {
    await engine.request('', 'prices', 'tea', { timeoutMs: 100 });
  } catch (error) {
    if (error instanceof corq.CorqError) {
      const code: corq.CorqErrorCode = error.code;
      const detail: string = error.detail;
      console.log(code, error.errno, detail, routed);
    }
  }
}

async function streamsAndTransactions(engine: corq.Engine): Promise<void> {
  engine.declareStream('clicks', { partitions: 3 });
  const at: corq.Appended = await engine.append('clicks', 'page 7', { key: 'user-42' });
  const reader: corq.StreamReader = engine.streamReader('clicks', { partition: at.partition, start: 'earliest' });
  const records: corq.StreamRecord[] = await reader.read({ max: 100, timeoutMs: 100 });
  const offsets: bigint[] = records.map((r) => r.offset);
  reader.close();
  const member: corq.Consumer = engine.groupConsumer('clicks', 'billing', { mode: 'ordered' });
  const txn: corq.Transaction = engine.transaction();
  txn.publish('', 'jobs', 'from a transaction');
  txn.append('clicks', 'derived', { key: null });
  const d = await member.consume({ timeoutMs: 100 });
  if (d !== null) await txn.ack(d);
  await txn.commit({ timeoutMs: 1000 });
  member.close();
  const group: corq.GroupStats = engine.groupStats('clicks', 'billing');
  console.log(offsets, group);
}

export async function main(): Promise<void> {
  const engine: corq.Engine = corq.open(null, { sync: 'always' });
  console.log(corq.version(), corq.libraryPath, corq.codes.CORQ_EFULL);
  await workQueue(engine);
  await pubsub(engine);
  await streamsAndTransactions(engine);
  const json: string = engine.statsJson();
  console.log(json);
  engine.close();
}
