// Misuse that the declarations must reject (test/types.test.js expects exactly these errors).
import * as corq from '../../index';

export async function misuse(engine: corq.Engine): Promise<void> {
  await engine.publish(42, 'data'); // MISUSE: a queue name is a string
  const d = await engine.consumer('q').consume();
  d.ack(); // MISUSE: consume may give null
  const n: number = await engine.publish('q', 'x'); // MISUSE: a message id is a bigint
  engine.declareExchange('x', 'topic', { durable: ['no'] }); // MISUSE: option values are scalars
  console.log(n);
}
