// bench/ingest-http: accepted posts per second and the time to each 202 at the dispatcher's
// HTTP ingest endpoint (bearer token, validation, event type from a template, a confirmed
// publish per event), at 16 and 128 concurrent producers with events of about 600 bytes,
// next to a minimal baseline (bench/baseline-ingest-http.ts: node:http → amqplib confirm
// channel → 202) measured in the same run, in alternating rounds. Both publish to an
// exchange with one quorum queue bound, as a Webhook's would be; after each round the
// queue must hold exactly the events that were answered 202. Each round also reports the CPU
// time the endpoint, RabbitMQ and the load generator spent per 1,000 accepted posts.
//
//   npm run bench:ingest-http [-- --seconds 10 --rounds 9 --concurrency 16,128]
//   BENCH_PROFILE=1 writes both endpoints' CPU profiles to /tmp/hookline-bench-profiles.
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { Pool } from 'undici';
import { envConfig } from '../test/env/config.ts';
import { up } from '../test/env/env.ts';
import { freshNamespace, testEnv } from '../test/env/handles.ts';
import { apply, httpSourceManifests, waitForSourceInPlace } from '../test/fixtures/cluster.ts';
import { installCrds } from '../test/fixtures/crds.ts';
import { startDispatcher } from '../test/fixtures/dispatcher.ts';
import { startOperator } from '../test/fixtures/operator.ts';
import { startProcess } from '../test/fixtures/process.ts';
import { treeCpuMs } from './cpu.ts';
import { writeResults } from './results-file.ts';
import { anchorEvent } from './events.ts';
import { PROFILE_DIR } from './webhooks.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '9' },
    concurrency: { type: 'string', default: '16,128' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const WARMUP_SECONDS = 2;
const LEVELS = values.concurrency.split(',').map(Number);
if (LEVELS.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error('--concurrency: a list of whole numbers ≥ 1');
const TOKEN = 'bench-ingest-http-token-5f2a9c';

await up(envConfig());
await installCrds();
const amqpUrl = testEnv().rabbitmq.amqpUrl;
const namespace = await freshNamespace('bench-ingest-http');
const source = 'api';
const operator = startOperator({ namespace, env: { HOOKLINE_LOG_LEVEL: 'warn' } });
await apply(namespace, httpSourceManifests(source, TOKEN));
await waitForSourceInPlace(namespace, source, 60_000);
// The dispatcher reads its source once; the operator would only compete for the CPU.
// BENCH_PROFILE=1: both endpoints write a CPU profile at exit, for bench/profile-summary.
const profiling = process.env.BENCH_PROFILE
  ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}` }
  : undefined;
const dispatcher = await startDispatcher(namespace, source, profiling);
const hooklinePort = Number(dispatcher.logs.find((l) => l.msg === 'Dispatcher listening')?.port);
await operator.stop();

const connection = await amqp.connect(amqpUrl);
const channel = await connection.createChannel();
const baselineExchange = `baseline.${namespace}`;
await channel.assertExchange(baselineExchange, 'topic', { durable: true });
const queues = { hookline: `bench.${namespace}.hookline`, baseline: `bench.${namespace}.baseline` } as const;
for (const [which, queue] of Object.entries(queues)) {
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(
    queue,
    which === 'hookline' ? `hookline.${namespace}.${source}` : baselineExchange,
    '#',
  );
}
const baseline = startProcess(
  'baseline-ingest-http',
  [path.join(import.meta.dirname, 'baseline-ingest-http.ts'), amqpUrl, baselineExchange],
  { ...process.env, ...profiling },
);
const baselinePort = Number(
  (await baseline.waitForLog('start', (l) => l.msg === 'Baseline started', 30_000)).port,
);

/** The `n`th event of producer `producer`, about 600 bytes. */
const event = (producer: number, n: number) => anchorEvent(`${producer}-${n}`, n, 270).json;

interface Figures {
  postsPerSecond: number;
  accepted: number;
  refused: number;
  p50Ms: number;
  p99Ms: number;
  /** Messages the queue held after the round: must equal `accepted`. */
  queued: number;
  /** CPU ms per 1,000 accepted posts: the endpoint's process, RabbitMQ's, and this load generator's. */
  cpuPer1000: { endpoint: number; broker: number; client: number };
}

const percentile = (sorted: number[], p: number) =>
  +(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN).toFixed(1);

async function measure(which: keyof typeof queues, concurrency: number, seconds = SECONDS): Promise<Figures> {
  const port = which === 'hookline' ? hooklinePort : baselinePort;
  const endpointPid = (which === 'hookline' ? dispatcher : baseline).child.pid!;
  const cpuBefore = {
    endpoint: treeCpuMs(endpointPid),
    broker: treeCpuMs(testEnv().rabbitmq.serverPid),
    client: process.cpuUsage(),
  };
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency, keepAliveTimeout: 30_000 });
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const latencies: number[] = [];
  let accepted = 0;
  let refused = 0;
  const began = performance.now();
  const end = began + seconds * 1000;
  const producer = async (p: number) => {
    for (let n = 0; performance.now() < end; n++) {
      const sent = performance.now();
      const response = await pool.request({ path: '/v1/events', method: 'POST', headers, body: event(p, n) });
      await response.body.dump();
      latencies.push(performance.now() - sent);
      if (response.statusCode === 202) accepted++;
      else refused++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, p) => producer(p)));
  const elapsed = (performance.now() - began) / 1000;
  const client = process.cpuUsage(cpuBefore.client);
  const per1000 = (ms: number) => Math.round((ms * 1000) / Math.max(accepted, 1));
  const cpuPer1000 = {
    endpoint: per1000(treeCpuMs(endpointPid) - cpuBefore.endpoint),
    broker: per1000(treeCpuMs(testEnv().rabbitmq.serverPid) - cpuBefore.broker),
    client: per1000((client.user + client.system) / 1000),
  };
  await pool.close();
  const { messageCount: queued } = await channel.checkQueue(queues[which]);
  await channel.purgeQueue(queues[which]);
  const sorted = latencies.sort((a, b) => a - b);
  return {
    postsPerSecond: Math.round(accepted / elapsed),
    accepted,
    refused,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    queued,
    cpuPer1000,
  };
}

// Warm both up (connections, JIT) before the first round counts: 200 requests one by one
// left the pipeline measured first about 17 % short of its later rounds.
for (const which of ['hookline', 'baseline'] as const)
  for (const concurrency of LEVELS) await measure(which, concurrency, WARMUP_SECONDS);

const samples: Record<string, Figures[]> = {};
for (let round = 1; round <= ROUNDS; round++) {
  for (const concurrency of LEVELS) {
    const order = round % 2 === 1 ? (['hookline', 'baseline'] as const) : (['baseline', 'hookline'] as const);
    for (const which of order) {
      const figures = await measure(which, concurrency);
      (samples[`${which}, concurrency ${concurrency}`] ??= []).push(figures);
      console.log(`round ${round} ${which} at ${concurrency}: ${JSON.stringify(figures)}`);
    }
  }
}
await dispatcher.stop();
await baseline.stop();
for (const queue of Object.values(queues)) await channel.deleteQueue(queue);
await channel.deleteExchange(baselineExchange);
await connection.close();

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const medians = Object.fromEntries(
  Object.entries(samples).map(([name, figures]) => [
    name,
    {
      postsPerSecond: median(figures.map((f) => f.postsPerSecond)),
      p50Ms: median(figures.map((f) => f.p50Ms)),
      p99Ms: median(figures.map((f) => f.p99Ms)),
      cpuPer1000: {
        endpoint: median(figures.map((f) => f.cpuPer1000.endpoint)),
        broker: median(figures.map((f) => f.cpuPer1000.broker)),
        client: median(figures.map((f) => f.cpuPer1000.client)),
      },
    },
  ]),
);
const ratios = Object.fromEntries(
  LEVELS.map((c) => [
    c,
    +(
      medians[`hookline, concurrency ${c}`]!.postsPerSecond /
      medians[`baseline, concurrency ${c}`]!.postsPerSecond
    ).toFixed(3),
  ]),
);
const lost = Object.values(samples)
  .flat()
  .filter((f) => f.queued !== f.accepted).length;
console.log(`
bench/ingest-http: medians of ${ROUNDS} alternating rounds of ${SECONDS} s, events of ~600 bytes, quorum queue bound
${Object.entries(medians)
  .map(
    ([name, f]) =>
      `  ${name.padEnd(26)} ${String(f.postsPerSecond).padStart(6)} accepted posts/s   p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms   CPU ms per 1,000: endpoint ${f.cpuPer1000.endpoint}, broker ${f.cpuPer1000.broker}, client ${f.cpuPer1000.client}`,
  )
  .join('\n')}
  hookline / baseline: ${LEVELS.map((c) => `${ratios[c]}× (concurrency ${c})`).join(', ')}   target ≥ 0.95×, ≥ 3,000 posts/s at 128
  rounds whose queue did not hold exactly the accepted events: ${lost}`);
await writeResults('ingest-http.json', {
  seconds: SECONDS,
  rounds: ROUNDS,
  concurrency: LEVELS,
  medians,
  ratios,
  samples,
  date: new Date().toISOString(),
});
process.exit(0);
