import { publishEvents } from './test/fixtures/broker.ts';
import amqp from 'amqplib';
import { testEnv } from './test/env/handles.ts';
const c = await amqp.connect(testEnv().rabbitmq.amqpUrl);
const ch = await c.createChannel();
await ch.assertExchange('probe-x', 'topic');
await c.close();
const t0 = performance.now();
await publishEvents(
  'probe-x',
  Array.from({ length: 10000 }, (_, i) => ({ routingKey: 'a.b', messageId: `m${i}`, body: `{"n":${i}}` })),
);
console.log('published 10k in', Math.round(performance.now() - t0));
