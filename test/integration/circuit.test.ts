// The circuit breaker and what an SRE sees of a receiver that is down, against the real
// broker, API server, operator and dispatcher: a receiver down for 60 s behind an open
// circuit spends no retry and loses nothing, delivery resumes within one probe interval
// of its return, in both orderings; the circuit, the backlog and what the receiver
// answered show in the status, the conditions, the Events and the metrics.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { freshNamespace, kubectl, testEnv } from '../env/handles.ts';
import { publishEvents } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  rabbitSourceManifests,
  waitForReady,
  waitForSourceInPlace,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver, type RecordedRequest } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

const PROBE_INTERVAL_MS = 5000;
const DOWN_MS = 60_000;
const EVENTS = 20;

interface Status {
  deliveries?: { succeeded?: number; retried?: number; deadLettered?: number; failed?: number };
  circuit?: { state: string; reason?: string; nextProbeAt?: string };
  backlog?: { waiting: number; deadLettered: number };
  conditions?: { type: string; status: string; reason: string; message: string }[];
  lastAttempt?: {
    statusCode?: number;
    outcome?: string;
    responseBody?: string;
    responseHeaders?: { contentType?: string; retryAfter?: string };
  };
}

const statusOf = async (namespace: string, name: string) =>
  ((await getObject(namespace, 'webhooks', name))?.status ?? {}) as Status;

const eventIdOf = (r: RecordedRequest) => String(r.headers['hookline-event-id']);

async function metricsOf(dispatcher: RunningProcess): Promise<string> {
  const port = dispatcher.logs.find((l) => l.msg === 'Dispatcher listening')?.port as number;
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The value of one series in a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('a receiver down for 60 s behind an open circuit', () => {
  /** eventually(), saying on a timeout what the status and the dispatcher's warnings were. */
  async function explained<T>(
    name: string,
    what: string,
    probe: () => Promise<T | undefined | false>,
    options: { timeoutMs?: number },
  ): Promise<T> {
    try {
      return await eventually(what, probe, options);
    } catch (error) {
      const status = await statusOf(namespace, name);
      const warnings = dispatcher.logs
        .filter((l) => l.level >= 40)
        .map((l) => JSON.stringify(l).slice(0, 300));
      throw new Error(
        `${(error as Error).message}\nstatus: ${JSON.stringify(status)}\n${warnings.slice(-10).join('\n')}`,
      );
    }
  }

  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  const receivers: Record<string, Receiver> = {};
  let down = true;
  const upAt: Record<string, number> = {};

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('circuit');
    exchange = `events.${namespace}`;
    operator = startOperator({ namespace, env: { HOOKLINE_RESYNC_PERIOD: '5s' } });
    await apply(namespace, rabbitSourceManifests('orders', testEnv().rabbitmq.amqpUrl, exchange));
    await waitForSourceInPlace(namespace, 'orders');
    const downOrUp = (): ReturnType<typeof answer.status> =>
      down
        ? answer.status(503, '{"error":"maintenance"}', {
            'content-type': 'application/json',
            'retry-after': '1',
          })
        : answer.status(200);
    for (const name of ['unordered', 'strict']) receivers[name] = await startReceiver(() => downOrUp());
    const policy = (name: string, ordering: string) => `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: ${name}}
spec:
  ordering: ${ordering}
  retry: {schedule: [1s, 1s, 1s]}
  onExhausted: {deadLetter: true}
  circuitBreaker: {failures: 3, window: 1m, probeInterval: 5s}
`;
    const hook = (name: string) => `apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${name}}
spec:
  sourceRef: {name: orders}
  url: http://127.0.0.1:${receivers[name]!.port}/${name}
  events: ["${name}.#"]
  policyRef: {name: ${name}}
  signing: {scheme: none}
`;
    await apply(
      namespace,
      [policy('unordered', 'Unordered'), policy('strict', 'Strict'), hook('unordered'), hook('strict')].join(
        '---\n',
      ),
    );
    for (const name of ['unordered', 'strict'])
      await waitForReady(namespace, 'webhooks', name, 'True', undefined, 60_000);
    dispatcher = await startDispatcher(namespace, 'orders', { HOOKLINE_SAMPLE_INTERVAL_MS: '1000' });
    await eventually(
      'two workers',
      () => dispatcher.logs.filter((l) => l.msg === 'Delivering to Webhook').length >= 2,
    );
  });
  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    for (const receiver of Object.values(receivers)) await receiver.close();
  });

  it('spends no retry while open, loses nothing, and resumes within one probe interval', async () => {
    for (const name of ['unordered', 'strict'])
      await publishEvents(
        exchange,
        Array.from({ length: EVENTS }, (_, i) => ({
          routingKey: `${name}.created`,
          messageId: `${name}-${i}`,
          body: JSON.stringify({ n: i }),
        })),
      );
    const started = Date.now();

    // The circuit opens: visible in the status, as a condition, a column, an Event and a metric.
    const retriedAtOpen: Record<string, number> = {};
    for (const name of ['unordered', 'strict']) {
      const status = await explained(
        name,
        `${name}: circuit open`,
        async () => {
          const s = await statusOf(namespace, name);
          return s.circuit?.state === 'Open' && s.conditions?.some((c) => c.type === 'Degraded') && s;
        },
        { timeoutMs: 30_000 },
      );
      const degraded = status.conditions!.find((c) => c.type === 'Degraded')!;
      assert.equal(degraded.reason, 'CircuitOpen');
      assert.match(degraded.message, /3 failed attempts within 1m/);
      retriedAtOpen[name] = status.deliveries?.retried ?? 0;
      assert.ok(
        retriedAtOpen[name] <= 2,
        `${name}: ${retriedAtOpen[name]} retries before the circuit opened`,
      );
    }
    const table = await kubectl(['get', 'webhooks', '-n', namespace, '-o', 'wide']);
    assert.match(table.stdout, /CIRCUIT/);
    assert.match(table.stdout, /unordered\s.*Open/);
    const events = await kubectl([
      'get',
      'events',
      '-n',
      namespace,
      '--field-selector',
      'reason=CircuitOpened',
    ]);
    assert.match(events.stdout, /Circuit opened after 3 failed attempts/);
    const metrics = await metricsOf(dispatcher);
    assert.equal(sample(metrics, 'hookline_webhook_circuit_open', { namespace, webhook: 'unordered' }), 1);

    // While open: events wait in the queue (the backlog says so), one probe per interval.
    const backlog = await eventually(
      'backlog sampled',
      async () => {
        const s = await statusOf(namespace, 'unordered');
        return (s.backlog?.waiting ?? 0) >= EVENTS - 3 && s.backlog;
      },
      { timeoutMs: 20_000 },
    );
    assert.equal(backlog.deadLettered, 0);
    const waitingMetric = sample(await metricsOf(dispatcher), 'hookline_webhook_queue_messages', {
      namespace,
      webhook: 'unordered',
      queue: 'waiting',
    });
    assert.ok((waitingMetric ?? 0) >= EVENTS - 3, `waiting metric ${waitingMetric}`);

    // What the receiver answered is in the attempt record.
    const last = (await statusOf(namespace, 'unordered')).lastAttempt!;
    assert.equal(last.statusCode, 503);
    assert.equal(last.responseBody, '{"error":"maintenance"}');
    assert.equal(last.responseHeaders?.contentType, 'application/json');
    assert.equal(last.responseHeaders?.retryAfter, '1');

    const openedAt = Date.now();
    await sleep(Math.max(0, DOWN_MS - (Date.now() - started)));
    const duringOpen = (name: string) =>
      receivers[name]!.requests.filter((r) => r.receivedAt >= openedAt).length;
    for (const name of ['unordered', 'strict']) {
      const status = await statusOf(namespace, name);
      assert.equal(status.circuit?.state, 'Open', `${name} still open while down`);
      assert.equal(
        status.deliveries?.retried ?? 0,
        retriedAtOpen[name],
        `${name}: no retry spent while open`,
      );
      assert.equal(status.deliveries?.deadLettered ?? 0, 0, `${name}: nothing dead-lettered`);
      // One probe per 5 s over the time it was watched, give or take one.
      const probes = duringOpen(name);
      const most = Math.ceil((Date.now() - openedAt) / PROBE_INTERVAL_MS) + 1;
      assert.ok(probes <= most, `${name}: ${probes} requests while open (at most ${most})`);
      assert.ok(probes >= 3, `${name}: it probed (${probes})`);
      process.stderr.write(
        `[circuit] ${name}: ${retriedAtOpen[name]} retries before opening, ${probes} requests in ${Date.now() - openedAt} ms open\n`,
      );
    }

    // The receiver comes back: the next probe closes the circuit and everything arrives.
    down = false;
    const back = Date.now();
    for (const name of ['unordered', 'strict']) {
      const firstSuccess = await eventually(
        `${name}: first delivery after the return`,
        () => receivers[name]!.requests.find((r) => r.receivedAt >= back),
        { timeoutMs: PROBE_INTERVAL_MS + 5000 },
      );
      upAt[name] = firstSuccess.receivedAt;
      process.stderr.write(
        `[circuit] ${name}: resumed ${firstSuccess.receivedAt - back} ms after the return\n`,
      );
      assert.ok(
        firstSuccess.receivedAt - back <= PROBE_INTERVAL_MS + 1000,
        `${name}: resumed ${firstSuccess.receivedAt - back} ms after the return`,
      );
      await eventually(
        `${name}: all ${EVENTS} events delivered`,
        () => {
          const ok = new Set(receivers[name]!.requests.filter((r) => r.receivedAt >= back).map(eventIdOf));
          return ok.size === EVENTS;
        },
        { timeoutMs: 30_000 },
      );
    }
    // Strict kept its order through the open circuit.
    const strictOrder = receivers
      .strict!.requests.filter((r) => r.receivedAt >= back)
      .map((r) => Number(eventIdOf(r).split('-')[1]));
    assert.deepEqual(
      strictOrder,
      Array.from({ length: EVENTS }, (_, i) => i),
    );

    for (const name of ['unordered', 'strict']) {
      const status = await eventually(
        `${name}: circuit closed and Degraded gone`,
        async () => {
          const s = await statusOf(namespace, name);
          return (
            s.circuit?.state === 'Closed' &&
            !s.conditions?.some((c) => c.type === 'Degraded') &&
            (s.deliveries?.succeeded ?? 0) >= EVENTS &&
            s
          );
        },
        { timeoutMs: 30_000 },
      );
      assert.equal(status.deliveries?.deadLettered ?? 0, 0);
      assert.equal(
        status.deliveries?.retried,
        retriedAtOpen[name],
        `${name}: no retry spent at all after opening`,
      );
    }
    const closed = await kubectl([
      'get',
      'events',
      '-n',
      namespace,
      '--field-selector',
      'reason=CircuitClosed',
    ]);
    assert.match(closed.stdout, /a probe delivery succeeded/);
    const after = await metricsOf(dispatcher);
    assert.equal(sample(after, 'hookline_webhook_circuit_open', { namespace, webhook: 'unordered' }), 0);
    await eventually(
      'backlog drained',
      async () => (await statusOf(namespace, 'unordered')).backlog?.waiting === 0,
      {
        timeoutMs: 20_000,
      },
    );
  });
});
