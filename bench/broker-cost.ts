// bench/broker-cost: what Webhooks cost RabbitMQ's CPU, step by step, for classic and for
// quorum queues: declaring a Webhook's two queues (its queue, with the arguments Hookline
// gives it, and its dead-letter queue), binding it, opening its consumer (a channel, a
// prefetch, a consume), holding them idle, and the backlog sampler's passive declares at its
// pace. Each step's figure is the broker's CPU time (from /proc) divided by the Webhooks; the
// idle and sampler steps also as the share of one core they kept busy. For sizing a broker,
// not a speed target: nothing here is compared with a baseline.
//
//   npm run bench:broker-cost [-- --webhooks 2000 --idle-seconds 20 --queue-types classic,quorum]
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { queueArguments, type QueueType } from '../core/rabbit/topology.ts';
import { envConfig } from '../test/env/config.ts';
import { up } from '../test/env/env.ts';
import { testEnv } from '../test/env/handles.ts';
import { treeCpuMs } from './cpu.ts';
import { writeResults } from './results-file.ts';
import { sleep } from './webhooks.ts';

const { values } = parseArgs({
  options: {
    webhooks: { type: 'string', default: '2000' },
    'idle-seconds': { type: 'string', default: '20' },
    'queue-types': { type: 'string', default: 'classic,quorum' },
  },
});
const WEBHOOKS = Number(values.webhooks);
const IDLE_SECONDS = Number(values['idle-seconds']);
const QUEUE_TYPES = values['queue-types'].split(',');
if (!Number.isInteger(WEBHOOKS) || WEBHOOKS < 1 || !(IDLE_SECONDS > 0))
  throw new Error('--webhooks takes a whole number of at least 1, --idle-seconds a number above 0');
for (const type of QUEUE_TYPES)
  if (type !== 'classic' && type !== 'quorum')
    throw new Error(`--queue-types: "${type}" is not classic or quorum`);

/** Probes a second in the sampler step (a dispatcher asks at most half as many: dispatcher/backlog.ts). */
const PROBES_PER_SECOND = 200;
/** Declares and binds go out on this many channels at once, as the operator's admin spreads them. */
const CHANNELS = 8;

interface Step {
  wallSeconds: number;
  brokerCpuSeconds: number;
  brokerCpuMsPerWebhook: number;
  /** Of one core, over the step's time. */
  brokerBusyShare: number;
}

async function step(name: string, work: () => Promise<void>): Promise<Step> {
  const pid = testEnv().rabbitmq.serverPid;
  const cpuBefore = treeCpuMs(pid);
  const began = performance.now();
  await work();
  const wallMs = performance.now() - began;
  const cpuMs = treeCpuMs(pid) - cpuBefore;
  const figures = {
    wallSeconds: Number((wallMs / 1000).toFixed(1)),
    brokerCpuSeconds: Number((cpuMs / 1000).toFixed(1)),
    brokerCpuMsPerWebhook: Number((cpuMs / WEBHOOKS).toFixed(2)),
    brokerBusyShare: Number((cpuMs / wallMs).toFixed(2)),
  };
  console.log(
    `  ${name.padEnd(34)} ${String(figures.brokerCpuMsPerWebhook).padStart(6)} ms of broker CPU per Webhook, ` +
      `${Math.round(figures.brokerBusyShare * 100)} % of a core for ${figures.wallSeconds} s`,
  );
  return figures;
}

async function measure(queueType: QueueType): Promise<Record<string, Step>> {
  const prefix = `bench-broker-cost.${queueType}.${Date.now().toString(36)}`;
  const queue = (i: number) => `${prefix}.${i}`;
  const deadLetterQueue = (i: number) => `${prefix}.${i}.dlq`;
  const exchange = `${prefix}.events`;
  const admin = await amqp.connect(testEnv().rabbitmq.amqpUrl);
  const consumers = await amqp.connect(testEnv().rabbitmq.amqpUrl);
  const steps: Record<string, Step> = {};
  try {
    const channels = await Promise.all(Array.from({ length: CHANNELS }, () => admin.createChannel()));
    const on = (i: number) => channels[i % CHANNELS]!;
    await on(0).assertExchange(exchange, 'topic', { durable: true });
    console.log(`${queueType} queues, ${WEBHOOKS} Webhooks`);
    steps.declare = await step('declare queue and dead-letter queue', async () => {
      await Promise.all(
        Array.from({ length: WEBHOOKS }, (_, i) =>
          Promise.all([
            on(i).assertQueue(queue(i), {
              durable: true,
              arguments: queueArguments(queueType, deadLetterQueue(i)),
            }),
            on(i + 1).assertQueue(deadLetterQueue(i), {
              durable: true,
              arguments: queueArguments(queueType),
            }),
          ]),
        ),
      );
    });
    steps.bind = await step('bind', async () => {
      await Promise.all(
        Array.from({ length: WEBHOOKS }, (_, i) => on(i).bindQueue(queue(i), exchange, `cold.${i}`)),
      );
    });
    steps.consume = await step('channel, prefetch and consume', async () => {
      await Promise.all(
        Array.from({ length: WEBHOOKS }, async (_, i) => {
          const channel = await consumers.createChannel();
          await channel.prefetch(10);
          await channel.consume(queue(i), () => undefined);
        }),
      );
    });
    steps.idle = await step(`idle for ${IDLE_SECONDS} s`, async () => {
      await sleep(IDLE_SECONDS * 1000);
    });
    steps.sampler = await step(`backlog probes, ${PROBES_PER_SECOND} a second`, async () => {
      const gapMs = 1000 / PROBES_PER_SECOND;
      for (let i = 0; i < 2 * WEBHOOKS; i++) {
        const began = performance.now();
        await on(0).checkQueue(i % 2 === 0 ? queue(i >> 1) : deadLetterQueue(i >> 1));
        const left = gapMs - (performance.now() - began);
        if (left > 0) await sleep(left);
      }
    });
  } finally {
    await consumers.close().catch(() => undefined);
    // Cleaning up on a connection of its own: a failed step may have closed a channel of the admin's.
    const cleaner = await amqp.connect(testEnv().rabbitmq.amqpUrl);
    const channel = await cleaner.createChannel();
    for (let i = 0; i < WEBHOOKS; i++) {
      await channel.deleteQueue(queue(i));
      await channel.deleteQueue(deadLetterQueue(i));
    }
    await channel.deleteExchange(exchange);
    await cleaner.close();
    await admin.close().catch(() => undefined);
  }
  return steps;
}

await up(envConfig());
const results: Record<string, Record<string, Step>> = {};
for (const type of QUEUE_TYPES) results[type] = await measure(type as QueueType);
await writeResults('broker-cost.json', {
  webhooks: WEBHOOKS,
  idleSeconds: IDLE_SECONDS,
  channels: CHANNELS,
  results,
  date: new Date().toISOString(),
});
