// bench/scale: N Webhooks (default 10,000) on one RabbitMQ EventSource, applied at once, with
// the operator and the source's dispatcher running as processes. Measures the time until all
// are Ready, the peak RSS of both processes, the broker's queues and memory (management API)
// and, once Ready, deliveries per second of 10,000 events spread over 1,000 of the Webhooks
// to a local receiver; then how long deleting them all takes.
// Baseline from the same run, as in bench/reconcile: the time the API server takes to accept
// the same N Webhooks (kubectl apply), the floor any operator starts from. Also, before it,
// the same apply with nothing of Hookline running, the API server's own floor on the machine.
// Targets: all Ready in under 2 minutes; operator peak RSS under 300 MiB; dispatcher peak RSS
// under 500 MiB; the broker's queues for the source ≤ 2 × Webhooks + a constant.
//
// The first `--hot` Webhooks are bound to `hot.<i>`, the others to `cold.<i>`; event n is
// published with routing key `hot.<n mod hot>`, so each event is delivered once, to one of
// the hot Webhooks, and the cold ones hold bindings, queues and consumers that match nothing.
//
// The Webhooks are applied by `--appliers` kubectl processes side by side (a GitOps tool syncs
// with several workers too), each with its share; the baseline is that same apply's time.
// `--queue-type` is the EventSource's queueType: a quorum queue reserves about three of the
// RabbitMQ node's file handles, and a node out of them accepts no new connection (see
// docs/operations.md, "Many Webhooks on one broker").
//
//   npm run bench:scale [-- --webhooks 10000 --hot 1000 --events 10000 --rounds 1 --appliers 4 --queue-type quorum]
//   BENCH_PROFILE=1 writes the operator's and the dispatcher's CPU profiles to /tmp/hookline-bench-profiles;
//   BENCH_HEAP=1 a heap snapshot of the dispatcher there once all are Ready.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { envConfig } from '../test/env/config.ts';
import { up } from '../test/env/env.ts';
import { freshNamespace, rabbitApi, testEnv } from '../test/env/handles.ts';
import { apply, rabbitSourceManifests } from '../test/fixtures/cluster.ts';
import { installCrds } from '../test/fixtures/crds.ts';
import { dispatcherDeployment, startDispatcher } from '../test/fixtures/dispatcher.ts';
import type { OperatorProcess } from '../test/fixtures/operator.ts';
import type { RunningProcess } from '../test/fixtures/process.ts';
import { treeCpuMs } from './cpu.ts';
import { writeResults } from './results-file.ts';
import { memoryLimit, quantityBytes, type MemoryLimit } from './memory-limit.ts';
import {
  deleteAllWebhooks,
  kubectl,
  PROFILE_DIR,
  peakRssMiB,
  sleep,
  startBenchOperator,
  waitForReadyWebhooks,
} from './webhooks.ts';

const { values } = parseArgs({
  options: {
    webhooks: { type: 'string', default: '10000' },
    hot: { type: 'string', default: '1000' },
    events: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '1' },
    appliers: { type: 'string', default: '4' },
    'queue-type': { type: 'string', default: 'quorum' },
  },
});
const WEBHOOKS = Number(values.webhooks);
const HOT = Math.min(Number(values.hot), WEBHOOKS);
const EVENTS = Number(values.events);
const ROUNDS = Number(values.rounds);
const APPLIERS = Number(values.appliers);
const QUEUE_TYPE = queueType(values['queue-type']);
if ([WEBHOOKS, HOT, EVENTS, ROUNDS, APPLIERS].some((n) => !Number.isInteger(n) || n < 1))
  throw new Error('--webhooks, --hot, --events, --rounds and --appliers take whole numbers of at least 1');

function queueType(value: string): 'quorum' | 'classic' {
  if (value !== 'quorum' && value !== 'classic')
    throw new Error(`--queue-type: "${value}" is not quorum or classic`);
  return value;
}

const TARGETS = { timeToAllReadyMs: 120_000, operatorPeakRssMiB: 300, dispatcherPeakRssMiB: 500 };

// A lean receiver: counts deliveries.
let received = 0;
let onReceived: (() => void) | undefined;
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received++;
    res.writeHead(200).end();
    onReceived?.();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const port = (receiver.address() as AddressInfo).port;

/** Resolves once `count` deliveries arrived, or `timeoutMs` passed: the caller reads `received`. */
function receivedOrTimeout(count: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      onReceived = undefined;
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    onReceived = () => {
      if (received >= count) done();
    };
    onReceived();
  });
}

/** The manifests of Webhooks `from` to `to` (excluded). */
function webhooksManifest(from: number, to: number): string {
  return Array.from({ length: to - from }, (_, k) => from + k)
    .map((i) =>
      JSON.stringify({
        apiVersion: 'hookline.dev/v1alpha1',
        kind: 'Webhook',
        metadata: { name: `hook-${i}` },
        spec: {
          sourceRef: { name: 'bench' },
          url: `http://127.0.0.1:${port}/${i}`,
          events: [i < HOT ? `hot.${i}` : `cold.${i}`],
        },
      }),
    )
    .join('\n---\n');
}

/**
 * The same apply into a namespace that no operator or dispatcher follows: what the API
 * server and etcd take alone on this machine, with the CPU they spent; the Webhooks are
 * deleted again (none has a finalizer there).
 */
async function applyAlone(): Promise<Round['apiServerAlone']> {
  const namespace = await freshNamespace('bench-scale-alone');
  const { kubePids } = testEnv();
  const cpu = () => treeCpuMs(kubePids.apiServer) + treeCpuMs(kubePids.etcd);
  const cpuBefore = cpu();
  const began = performance.now();
  await applyWebhooks(namespace);
  const acceptsAllMs = Math.round(performance.now() - began);
  const cpuSeconds = Number(((cpu() - cpuBefore) / 1000).toFixed(1));
  await deleteAllWebhooks(namespace);
  console.log(
    `  API server alone accepts them in ${(acceptsAllMs / 1000).toFixed(1)} s (API server and etcd: ${cpuSeconds} s of CPU)`,
  );
  return { acceptsAllMs, cpuSeconds };
}

/** Applies all the Webhooks, each of the APPLIERS kubectl processes its share of them. */
async function applyWebhooks(namespace: string): Promise<void> {
  const share = Math.ceil(WEBHOOKS / APPLIERS);
  await Promise.all(
    Array.from({ length: APPLIERS }, (_, a) =>
      kubectl(
        ['apply', '-n', namespace, '-f', '-'],
        webhooksManifest(a * share, Math.min(WEBHOOKS, (a + 1) * share)),
      ),
    ),
  );
}

interface Broker {
  /** Queues of the benchmark's namespace. */
  queues: number;
  /** Queues on the broker, whoever declared them (other tests share it). */
  allQueues: number;
  memoryMiB: number;
}

const MiB = 1024 * 1024;

async function brokerMemoryMiB(): Promise<number> {
  const nodes = (await rabbitApi<{ mem_used: number }[]>('/nodes')) ?? [];
  return Math.round(nodes.reduce((sum, n) => sum + n.mem_used, 0) / MiB);
}

async function broker(namespace: string): Promise<Broker> {
  const name = encodeURIComponent(`^hookline\\.${namespace.replaceAll('.', '\\.')}\\.`);
  const ours = await rabbitApi<{ filtered_count: number }>(
    `/queues?page=1&page_size=1&columns=name&use_regex=true&name=${name}`,
  );
  const overview = await rabbitApi<{ object_totals: { queues: number } }>('/overview');
  return {
    queues: ours?.filtered_count ?? 0,
    allQueues: overview?.object_totals.queues ?? 0,
    memoryMiB: await brokerMemoryMiB(),
  };
}

/** The broker's highest memory use seen while `work` runs, sampled every 2 s. */
async function withBrokerPeak<T>(work: () => Promise<T>): Promise<{ result: T; peakMiB: number }> {
  let peakMiB = await brokerMemoryMiB();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sleep(2000);
      peakMiB = Math.max(peakMiB, await brokerMemoryMiB().catch(() => 0));
    }
  })();
  try {
    return { result: await work(), peakMiB };
  } finally {
    sampling = false;
    await sampler;
  }
}

interface Round {
  webhooks: number;
  allReady: boolean;
  ready: number;
  timeToAllReadyMs: number;
  apiServerAcceptsAllMs: number;
  /**
   * The same apply with nothing of Hookline running (into a namespace no operator follows):
   * the API server's and etcd's own floor on this machine, and their CPU seconds for it.
   */
  apiServerAlone: { acceptsAllMs: number; cpuSeconds: number };
  perWebhookBeyondBaselineMs: number;
  operatorPeakRssMiB: number;
  dispatcherPeakRssAtReadyMiB: number;
  dispatcherPeakRssMiB: number;
  /** The cgroup the dispatcher ran in, as its pod's container limit. */
  dispatcherMemoryLimit: { limitMiB: number; cgroupPeakMiB: number; oomKills: number } | 'none';
  broker: { before: Broker; atReady: Broker; peakMemoryMiB: number; afterDeletion: Broker };
  delivery: { hot: number; events: number; delivered: number; deliveredPerSecond: number; warmUpMs: number };
  /**
   * CPU seconds each process spent from the start of the apply until all were Ready: on a
   * machine whose cores they share, where the time went. `bench` is this process and its
   * kubectl appliers.
   */
  cpuSecondsToReady: CpuSplit;
  deletedAllMs: number;
  loadAverage: { before: number; after: number };
}

type CpuSplit = Record<'apiServer' | 'etcd' | 'rabbitmq' | 'operator' | 'dispatcher' | 'bench', number>;

/** CPU ms used so far by each part of the run (see Round.cpuSecondsToReady). */
function cpuNow(operator: OperatorProcess, dispatcher: RunningProcess): CpuSplit {
  const { kubePids, rabbitmq } = testEnv();
  const operatorMs = treeCpuMs(operator.child.pid!);
  const dispatcherMs = treeCpuMs(dispatcher.child.pid!);
  return {
    apiServer: treeCpuMs(kubePids.apiServer),
    etcd: treeCpuMs(kubePids.etcd),
    rabbitmq: treeCpuMs(rabbitmq.serverPid),
    operator: operatorMs,
    dispatcher: dispatcherMs,
    bench: treeCpuMs(process.pid) - operatorMs - dispatcherMs,
  };
}

/** Seconds of CPU each part spent between two readings. */
function cpuSpent(from: CpuSplit, to: CpuSplit): CpuSplit {
  const spent = { ...to };
  for (const key of Object.keys(spent) as (keyof CpuSplit)[])
    spent[key] = Number(((to[key] - from[key]) / 1000).toFixed(1));
  return spent;
}

async function deliver(exchange: string): Promise<Round['delivery']> {
  const connection = await amqp.connect(testEnv().rabbitmq.amqpUrl);
  const channel = await connection.createConfirmChannel();
  const publish = async (prefix: string, count: number) => {
    for (let n = 0; n < count; n++) {
      const body = Buffer.from(JSON.stringify({ n, pad: 'x'.repeat(200) }));
      if (
        !channel.publish(exchange, `hot.${n % HOT}`, body, { persistent: true, messageId: `${prefix}-${n}` })
      )
        await new Promise((resolve) => channel.once('drain', resolve));
    }
    await channel.waitForConfirms();
  };
  // Warm up: one event per hot Webhook, so that every consumer is open before the clock starts.
  received = 0;
  const warming = performance.now();
  await publish('warm', HOT);
  await receivedOrTimeout(HOT, 300_000);
  const warmUpMs = Math.round(performance.now() - warming);
  received = 0;
  const began = performance.now();
  await publish('event', EVENTS);
  await receivedOrTimeout(EVENTS, 600_000);
  const seconds = (performance.now() - began) / 1000;
  await connection.close();
  return {
    hot: HOT,
    events: EVENTS,
    delivered: received,
    deliveredPerSecond: Math.round(received / seconds),
    warmUpMs,
  };
}

async function round(): Promise<Round> {
  const apiServerAlone = await applyAlone();
  const namespace = await freshNamespace('bench-scale');
  const exchange = `bench.${namespace}`;
  const operator = await startBenchOperator(namespace);
  try {
    await apply(
      namespace,
      rabbitSourceManifests('bench', testEnv().rabbitmq.amqpUrl, exchange, '', QUEUE_TYPE),
    );
    return { ...(await measure(namespace, exchange, operator)), apiServerAlone };
  } finally {
    await operator.stop();
  }
}

/** One round with the operator running and the source applied. */
async function measure(
  namespace: string,
  exchange: string,
  operator: OperatorProcess,
): Promise<Omit<Round, 'apiServerAlone'>> {
  const loadBefore = os.loadavg()[0]!;
  const before = await broker(namespace);
  // The dispatcher logs at info: the fixture waits for its start-up lines.
  fs.mkdirSync(PROFILE_DIR, { recursive: true });
  const nodeOptions = [
    ...(process.env.BENCH_PROFILE ? [`--cpu-prof --cpu-prof-dir=${PROFILE_DIR}`] : []),
    ...(process.env.BENCH_HEAP ? [`--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${PROFILE_DIR}`] : []),
  ];
  // The memory limit the operator gave the dispatcher's container, applied as its pod would.
  const deployment = await dispatcherDeployment(namespace, 'bench');
  const limit = deployment.spec.template.spec.containers[0]?.resources?.limits?.memory;
  const cgroup =
    limit === undefined ? undefined : memoryLimit('hookline-bench-dispatcher', quantityBytes(limit));
  console.log(
    cgroup
      ? `  dispatcher under its Deployment's memory limit, ${limit} (a cgroup)`
      : `  dispatcher WITHOUT a memory limit (${limit === undefined ? 'its Deployment sets none' : 'no writable cgroup memory controller here'})`,
  );
  const dispatcher = await startDispatcher(
    namespace,
    'bench',
    nodeOptions.length > 0 ? { NODE_OPTIONS: nodeOptions.join(' ') } : {},
    30_000,
    cgroup?.prefix,
  );
  try {
    return await measureWith(namespace, exchange, operator, dispatcher, { loadBefore, before, cgroup });
  } finally {
    await dispatcher.stop();
    cgroup?.remove();
  }
}

async function measureWith(
  namespace: string,
  exchange: string,
  operator: OperatorProcess,
  dispatcher: RunningProcess,
  at: { loadBefore: number; before: Broker; cgroup: MemoryLimit | undefined },
): Promise<Omit<Round, 'apiServerAlone'>> {
  const { result, peakMiB } = await withBrokerPeak(async () => {
    const cpuBefore = cpuNow(operator, dispatcher);
    const began = performance.now();
    await applyWebhooks(namespace);
    const appliedMs = performance.now() - began;
    const ready = await waitForReadyWebhooks(namespace, WEBHOOKS, began);
    const readyMs = performance.now() - began;
    const cpu = cpuSpent(cpuBefore, cpuNow(operator, dispatcher));
    return { appliedMs, ready, readyMs, cpu, atReady: await broker(namespace) };
  });
  const { appliedMs, ready, readyMs, cpu, atReady } = result;
  const dispatcherPeakRssAtReadyMiB = peakRssMiB(dispatcher.child.pid!);
  if (process.env.BENCH_HEAP) await heapSnapshot(dispatcher.child.pid!);
  console.log(
    `  ${ready}/${WEBHOOKS} Webhooks Ready after ${(readyMs / 1000).toFixed(1)} s (API server ${(appliedMs / 1000).toFixed(1)} s); ` +
      `broker: ${atReady.queues} queues, ${atReady.memoryMiB} MiB`,
  );
  const delivery =
    ready === WEBHOOKS
      ? await deliver(exchange)
      : { hot: HOT, events: EVENTS, delivered: 0, deliveredPerSecond: 0, warmUpMs: 0 };
  console.log(`  ${delivery.delivered}/${EVENTS} events delivered, ${delivery.deliveredPerSecond}/s`);
  const operatorPeakRssMiB = peakRssMiB(operator.child.pid!);
  const dispatcherPeakRssMiB = peakRssMiB(dispatcher.child.pid!);
  const dispatcherLimit = at.cgroup && {
    limitMiB: at.cgroup.limitMiB,
    cgroupPeakMiB: at.cgroup.peakMiB(),
    oomKills: at.cgroup.oomKills(),
  };

  // Clean up with the operator and the dispatcher still running: the operator deletes each
  // Webhook's queues, the dispatcher sees its consumers cancelled.
  const deletedAllMs = await deleteAllWebhooks(namespace);
  const afterDeletion = await broker(namespace);
  const figures: Omit<Round, 'apiServerAlone'> = {
    webhooks: WEBHOOKS,
    allReady: ready === WEBHOOKS,
    ready,
    timeToAllReadyMs: Math.round(readyMs),
    apiServerAcceptsAllMs: Math.round(appliedMs),
    perWebhookBeyondBaselineMs: Number(((readyMs - appliedMs) / WEBHOOKS).toFixed(1)),
    operatorPeakRssMiB,
    dispatcherPeakRssAtReadyMiB,
    dispatcherPeakRssMiB,
    dispatcherMemoryLimit: dispatcherLimit ?? 'none',
    broker: { before: at.before, atReady, peakMemoryMiB: peakMiB, afterDeletion },
    delivery,
    cpuSecondsToReady: cpu,
    deletedAllMs: Math.round(deletedAllMs),
    loadAverage: { before: at.loadBefore, after: os.loadavg()[0]! },
  };
  console.log(`  all deleted after ${(deletedAllMs / 1000).toFixed(1)} s`);
  return figures;
}

/** Has the process write a heap snapshot (it was started with --heapsnapshot-signal) and waits until it is written. */
async function heapSnapshot(pid: number): Promise<void> {
  const snapshots = () => fs.readdirSync(PROFILE_DIR).filter((f) => f.endsWith('.heapsnapshot'));
  const before = new Set(snapshots());
  process.kill(pid, 'SIGUSR2');
  let size = -1;
  for (;;) {
    await sleep(2000);
    const file = snapshots().find((f) => !before.has(f));
    if (!file) continue;
    const now = fs.statSync(path.join(PROFILE_DIR, file)).size;
    if (now === size) return console.log(`  heap snapshot: ${path.join(PROFILE_DIR, file)}`);
    size = now;
  }
}

function summary(r: Round): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const meets = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const queueConstant = r.broker.atReady.queues - 2 * r.webhooks;
  const rows: [string, string, string][] = [
    [
      `${r.webhooks} Webhooks all Ready`,
      `${s(r.timeToAllReadyMs)} (${r.ready}/${r.webhooks})`,
      `< 120 s: ${meets(r.allReady && r.timeToAllReadyMs < TARGETS.timeToAllReadyMs)}`,
    ],
    ['  baseline: API server accepts them', s(r.apiServerAcceptsAllMs), `${APPLIERS} × kubectl apply`],
    ['  per Webhook beyond the baseline', `${r.perWebhookBeyondBaselineMs} ms`, ''],
    [
      '  API server alone accepts them',
      s(r.apiServerAlone.acceptsAllMs),
      `nothing of Hookline running; API server and etcd: ${r.apiServerAlone.cpuSeconds} s of CPU`,
    ],
    [
      'operator peak RSS',
      `${r.operatorPeakRssMiB} MiB`,
      `< ${TARGETS.operatorPeakRssMiB} MiB: ${meets(r.operatorPeakRssMiB < TARGETS.operatorPeakRssMiB)}`,
    ],
    [
      'dispatcher peak RSS',
      `${r.dispatcherPeakRssMiB} MiB (${r.dispatcherPeakRssAtReadyMiB} at Ready), ` +
        (r.dispatcherMemoryLimit === 'none'
          ? 'no memory limit'
          : `limit ${r.dispatcherMemoryLimit.limitMiB} MiB, ${r.dispatcherMemoryLimit.oomKills} OOM kills`),
      `< ${TARGETS.dispatcherPeakRssMiB} MiB: ${meets(r.dispatcherPeakRssMiB < TARGETS.dispatcherPeakRssMiB)}`,
    ],
    [
      'broker queues of the source',
      `${r.broker.atReady.queues} (${r.broker.atReady.allQueues} on the broker)`,
      `≤ 2 × ${r.webhooks} + a constant: 2 × ${r.webhooks} + ${queueConstant}`,
    ],
    [
      'broker memory',
      `${r.broker.atReady.memoryMiB} MiB at Ready, peak ${r.broker.peakMemoryMiB} MiB (${r.broker.before.memoryMiB} before)`,
      '',
    ],
    [
      `${r.delivery.events} events to ${r.delivery.hot} Webhooks`,
      `${r.delivery.deliveredPerSecond} delivered/s (${r.delivery.delivered} delivered)`,
      '',
    ],
    [
      'CPU until all Ready',
      Object.entries(r.cpuSecondsToReady)
        .map(([part, seconds]) => `${part} ${seconds} s`)
        .join(', '),
      `${os.cpus().length} cores × ${s(r.timeToAllReadyMs)}`,
    ],
    ['all deleted', s(r.deletedAllMs), ''],
    [
      'load average (1 min)',
      `${r.loadAverage.before.toFixed(2)} before, ${r.loadAverage.after.toFixed(2)} after`,
      '',
    ],
  ];
  const width = Math.max(...rows.map((row) => row[0].length));
  const valueWidth = Math.max(...rows.map((row) => row[1].length));
  return rows
    .map(([what, value, target]) => `  ${what.padEnd(width)}  ${value.padEnd(valueWidth)}  ${target}`)
    .join('\n');
}

await up(envConfig());
await installCrds();
const all: Round[] = [];
try {
  for (let r = 1; r <= ROUNDS; r++) {
    console.log(`round ${r}/${ROUNDS}`);
    all.push(await round());
  }
} finally {
  receiver.close();
}
for (const [i, r] of all.entries()) console.log(`\nbench/scale, round ${i + 1}/${ROUNDS}\n${summary(r)}`);
await writeResults(`scale-${QUEUE_TYPE}.json`, {
  webhooks: WEBHOOKS,
  queueType: QUEUE_TYPE,
  appliers: APPLIERS,
  hot: HOT,
  events: EVENTS,
  rounds: ROUNDS,
  targets: { ...TARGETS, brokerQueues: '2 × webhooks + a constant' },
  everyRound: all,
  date: new Date().toISOString(),
});
if (all.some((r) => !r.allReady || r.delivery.delivered < EVENTS)) process.exitCode = 1;
