// bench/dispatch: deliveries per second and end-to-end latency of the dispatcher with
// standard-webhooks signing, for 1, 100 and 1,000 Webhooks, next to a minimal baseline
// pipeline (bench/baseline-pipeline.ts: amqplib consume → undici POST signed the same way →
// ack) on the same broker, the same receiver and the same concurrency, measured in the same run.
// Targets: ≥ 0.95× the baseline's deliveries per second; p99 latency at 1,000 events/s no
// more than 10 ms above the baseline's (the latency Hookline adds).
//
// Each round also records the CPU time (from /proc) the pipeline's process and RabbitMQ spent
// per 1,000 deliveries of its throughput phase: on a machine whose cores the broker, both
// pipelines and the load generator share, the throughput of one pipeline is bounded by the
// CPU the others leave it, and the CPU per delivery is the steadier figure.
//
// Both pipelines use queues of one type (`--queue-type`, default quorum, Hookline's default
// for new Webhooks), so that the comparison is of the pipelines, not of the queue types.
//
//   npm run bench:dispatch [-- --hooks 1,100,1000 --events 20000 --rate 1000 --seconds 10 --rounds 9 --queue-type quorum]
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { delayTopology, webhookQueues, type QueueType } from '../core/rabbit/topology.ts';
import { envConfig } from '../test/env/config.ts';
import { up } from '../test/env/env.ts';
import { freshNamespace, testEnv } from '../test/env/handles.ts';
import { apply, rabbitSourceManifests, waitForReady } from '../test/fixtures/cluster.ts';
import { installCrds } from '../test/fixtures/crds.ts';
import { startDispatcher } from '../test/fixtures/dispatcher.ts';
import { startOperator } from '../test/fixtures/operator.ts';
import { startProcess } from '../test/fixtures/process.ts';
import { treeCpuMs } from './cpu.ts';
import { writeResults } from './results-file.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '9' },
    'queue-type': { type: 'string', default: 'quorum' },
    hooks: { type: 'string', default: '1,100,1000' },
  },
});
const queueType = values['queue-type'];
if (queueType !== 'quorum' && queueType !== 'classic') throw new Error('--queue-type: quorum or classic');
const QUEUE_TYPE: QueueType = queueType;
const EVENTS = Number(values.events);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const COUNTS = values.hooks.split(',').map(Number);
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error('--hooks: a list of whole numbers ≥ 1');
const HOOKS = Math.max(...COUNTS);

// A lean receiver: counts deliveries and their latency from the publish time in the body.
const latencies: number[] = [];
let received = 0;
let onReceived: (() => void) | undefined;
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = performance.timeOrigin + performance.now();
    const sent = (JSON.parse(Buffer.concat(chunks).toString()) as { t: number }).t;
    latencies.push(now - sent);
    received++;
    res.writeHead(200).end();
    onReceived?.();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const port = (receiver.address() as AddressInfo).port;

await up(envConfig());
await installCrds();
const amqpUrl = testEnv().rabbitmq.amqpUrl;
const namespace = await freshNamespace('bench-dispatch');
const hooklineExchange = `bench.${namespace}`;
const baselineExchange = `baseline.${namespace}`;

/**
 * Leaves the broker as it was, whether the run completed or failed: the 2,000 idle quorum
 * queues of a failed run kept RabbitMQ at a quarter of a core, and weighed on the next run.
 * Deleting a queue that was never declared is no error.
 */
async function removeQueues(): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  const cleanup = await connection.createChannel();
  for (let i = 0; i < HOOKS; i++) {
    const queues = webhookQueues(namespace, `hook-${i}`);
    for (const queue of [`baseline.${namespace}.${i}`, queues.queue, queues.deadLetterQueue])
      await cleanup.deleteQueue(queue);
  }
  // The namespace's delay queues too: the operator keeps them while the namespace has Webhooks.
  const delay = delayTopology(namespace, QUEUE_TYPE);
  for (const queue of [...delay.levels.map((level) => level.queue), delay.unroutedQueue])
    await cleanup.deleteQueue(queue);
  await cleanup.deleteExchange(baselineExchange);
  await connection.close();
}
interface Figures {
  deliveriesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU ms per 1,000 deliveries of the throughput phase: the pipeline's process, and RabbitMQ's. */
  pipelineCpuMs: number;
  brokerCpuMs: number;
}

const baselineName = (hooks: number) => `baseline, ${hooks} queue${hooks === 1 ? '' : 's'}`;
const hooklineName = (hooks: number) => `hookline, ${hooks} Webhook${hooks === 1 ? '' : 's'}`;
/** The processes this run started, stopped before its queues are removed. */
const started: { stop(): Promise<unknown> }[] = [];
const samples: Record<string, Figures[]> = {};
try {
  // Topology: HOOKS Webhooks, Webhook i bound to routing key e.<i>; the baseline's own 100 queues likewise.
  const operator = startOperator({
    namespace,
    env: { HOOKLINE_LOG_LEVEL: 'warn', HOOKLINE_DEFAULT_QUEUE_TYPE: QUEUE_TYPE },
  });
  started.push(operator);
  await apply(
    namespace,
    [
      rabbitSourceManifests('bench', amqpUrl, hooklineExchange),
      `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: default}
spec:
  concurrency: ${CONCURRENCY}
`,
    ].join('---\n'),
  );
  // In batches: kubectl applies one object after another, and 1,000 in one call can outlast its
  // timeout on a loaded two-core machine while the operator reconciles the first ones.
  const webhook = (i: number) => `apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: hook-${i}}
spec:
  sourceRef: {name: bench}
  url: http://127.0.0.1:${port}/${i}
  events: ["e.${i}"]
  signing: {scheme: standard-webhooks}
`;
  for (let first = 0; first < HOOKS; first += 100)
    await apply(
      namespace,
      Array.from({ length: Math.min(100, HOOKS - first) }, (_, i) => webhook(first + i)).join('---\n'),
    );
  for (let i = 0; i < HOOKS; i++)
    await waitForReady(namespace, 'webhooks', `hook-${i}`, 'True', undefined, 120_000);
  const setup = await amqp.connect(amqpUrl);
  const setupChannel = await setup.createChannel();
  await setupChannel.assertExchange(baselineExchange, 'topic', { durable: true });
  const baselineQueues: string[] = [];
  for (let i = 0; i < HOOKS; i++) {
    const queue = `baseline.${namespace}.${i}`;
    await setupChannel.assertQueue(queue, {
      durable: true,
      arguments: QUEUE_TYPE === 'quorum' ? { 'x-queue-type': 'quorum' } : {},
    });
    await setupChannel.bindQueue(queue, baselineExchange, `e.${i}`);
    baselineQueues.push(queue);
  }
  await setup.close();
  // The topology is in place. In a cluster the operator runs on another node; on this
  // 2-core machine it would compete with the dispatcher for CPU on every status write.
  await operator.stop();

  const publisher = await amqp.connect(amqpUrl);
  const channel = await publisher.createConfirmChannel();

  function event(hooks: number, n: number): { key: string; body: Buffer } {
    return {
      key: `e.${n % hooks}`,
      body: Buffer.from(
        JSON.stringify({ t: performance.timeOrigin + performance.now(), n, pad: 'x'.repeat(200) }),
      ),
    };
  }

  function waitForReceived(count: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${received} of ${count} deliveries within ${timeoutMs} ms`)),
        timeoutMs,
      );
      onReceived = () => {
        if (received >= count) {
          clearTimeout(timer);
          onReceived = undefined;
          resolve();
        }
      };
      onReceived();
    });
  }

  function percentile(sorted: number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  }

  async function measure(exchange: string, hooks: number, pipelinePid: number): Promise<Figures> {
    // Throughput: publish as fast as the broker confirms; the pipeline is the bottleneck.
    received = 0;
    latencies.length = 0;
    const brokerPid = testEnv().rabbitmq.serverPid;
    const cpuBefore = { pipeline: treeCpuMs(pipelinePid), broker: treeCpuMs(brokerPid) };
    const began = performance.now();
    for (let n = 0; n < EVENTS; n++) {
      const { key, body } = event(hooks, n);
      if (!channel.publish(exchange, key, body, { persistent: true, messageId: `tp-${n}` }))
        await new Promise((r) => channel.once('drain', r));
    }
    await channel.waitForConfirms();
    await waitForReceived(EVENTS, 300_000);
    const deliveriesPerSecond = EVENTS / ((performance.now() - began) / 1000);
    const per1000 = (ms: number) => Math.round((ms * 1000) / EVENTS);
    const pipelineCpuMs = per1000(treeCpuMs(pipelinePid) - cpuBefore.pipeline);
    const brokerCpuMs = per1000(treeCpuMs(brokerPid) - cpuBefore.broker);

    // Latency at a steady rate.
    received = 0;
    latencies.length = 0;
    const total = RATE * SECONDS;
    const start = performance.now();
    for (let n = 0; n < total; n++) {
      const due = start + (n * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const { key, body } = event(hooks, n);
      channel.publish(exchange, key, body, { persistent: true, messageId: `lat-${n}` });
    }
    await channel.waitForConfirms();
    await waitForReceived(total, 120_000);
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      deliveriesPerSecond: Math.round(deliveriesPerSecond),
      p50Ms: +percentile(sorted, 50).toFixed(1),
      p99Ms: +percentile(sorted, 99).toFixed(1),
      maxMs: +(sorted.at(-1) ?? 0).toFixed(1),
      pipelineCpuMs,
      brokerCpuMs,
    };
  }

  // Both pipelines run side by side, each on its own exchange and queues, and are measured
  // in alternating rounds, so that the machine's drift affects them alike; medians are reported.
  const baseline = startProcess(
    'baseline',
    [
      path.join(import.meta.dirname, 'baseline-pipeline.ts'),
      amqpUrl,
      baselineQueues.join(','),
      `http://127.0.0.1:${port}`,
      String(CONCURRENCY),
    ],
    process.env,
  );
  started.push(baseline);
  await baseline.waitForLog('start', (l) => l.msg === 'Baseline started', 30_000);
  const dispatcher = await startDispatcher(namespace, 'bench');
  started.push(dispatcher);
  // Ready when every queue of both pipelines has delivered one event: all consumers are open.
  received = 0;
  for (const exchange of [baselineExchange, hooklineExchange])
    for (let n = 0; n < HOOKS; n++) {
      const { key, body } = event(HOOKS, n);
      channel.publish(exchange, key, body, { persistent: true, messageId: `warm-${exchange}-${n}` });
    }
  await channel.waitForConfirms();
  await waitForReceived(2 * HOOKS, 120_000);

  const pids = { baseline: baseline.child.pid!, hookline: dispatcher.child.pid! };
  const scenarios: [string, string, number, number][] = COUNTS.flatMap(
    (hooks): [string, string, number, number][] => [
      [baselineName(hooks), baselineExchange, hooks, pids.baseline],
      [hooklineName(hooks), hooklineExchange, hooks, pids.hookline],
    ],
  );
  for (let round = 1; round <= ROUNDS; round++) {
    // Within each count, the pipeline measured first changes every round.
    for (let i = 0; i < scenarios.length; i += 2) {
      const pair = round % 2 === 1 ? [scenarios[i]!, scenarios[i + 1]!] : [scenarios[i + 1]!, scenarios[i]!];
      for (const [name, exchange, hooks, pid] of pair)
        (samples[name] ??= []).push(await measure(exchange, hooks, pid));
    }
  }
  await publisher.close();
} finally {
  for (const child of started) await child.stop();
  receiver.close();
  await removeQueues();
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const results: Record<string, Figures> = Object.fromEntries(
  Object.entries(samples).map(([name, figures]) => [
    name,
    {
      deliveriesPerSecond: median(figures.map((f) => f.deliveriesPerSecond)),
      p50Ms: median(figures.map((f) => f.p50Ms)),
      p99Ms: median(figures.map((f) => f.p99Ms)),
      maxMs: median(figures.map((f) => f.maxMs)),
      pipelineCpuMs: median(figures.map((f) => f.pipelineCpuMs)),
      brokerCpuMs: median(figures.map((f) => f.brokerCpuMs)),
    },
  ]),
);

function figure(name: string): Figures {
  const found = results[name];
  if (!found) throw new Error(`no figures for ${name}`);
  return found;
}
const ratios = Object.fromEntries(
  COUNTS.map((hooks) => [
    hooks,
    +(
      figure(hooklineName(hooks)).deliveriesPerSecond / figure(baselineName(hooks)).deliveriesPerSecond
    ).toFixed(3),
  ]),
);
const addedP99Ms = Object.fromEntries(
  COUNTS.map((hooks) => [
    hooks,
    +(figure(hooklineName(hooks)).p99Ms - figure(baselineName(hooks)).p99Ms).toFixed(1),
  ]),
);
const rows = Object.entries(results).map(
  ([name, f]) =>
    `  ${name.padEnd(24)} ${String(f.deliveriesPerSecond).padStart(7)} deliveries/s (CPU ms per 1,000: pipeline ${f.pipelineCpuMs}, broker ${f.brokerCpuMs})   latency at ${RATE}/s: p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, max ${f.maxMs} ms`,
);
const each = (figures: Record<number, number>, unit: string) =>
  COUNTS.map((hooks) => `${figures[hooks]}${unit} (${hooks})`).join(', ');
console.log(`
bench/dispatch: medians of ${ROUNDS} alternating rounds; ${EVENTS} events for throughput, ${RATE}/s for ${SECONDS} s for latency, concurrency ${CONCURRENCY}, standard-webhooks signing in both, ${QUEUE_TYPE} queues
${rows.join('\n')}
  hookline / baseline deliveries/s: ${each(ratios, '×')}   target ≥ 0.95×
  p99 latency hookline adds at ${RATE}/s: ${each(addedP99Ms, ' ms')}   target < 10 ms`);
await writeResults(`dispatch-${QUEUE_TYPE}.json`, {
  events: EVENTS,
  rate: RATE,
  seconds: SECONDS,
  concurrency: CONCURRENCY,
  rounds: ROUNDS,
  queueType: QUEUE_TYPE,
  hooks: COUNTS,
  results,
  samples,
  ratios,
  addedP99Ms,
  date: new Date().toISOString(),
});
