// A real Prometheus scraping a real operator and dispatcher, with the chart's alert rules
// loaded: a Webhook's backlog rises while its receiver is down (its circuit open, the events
// waiting in its queue) and falls once it is back; the circuit alert goes pending.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freshNamespace, testEnv } from '../env/handles.ts';
import { publishEvents } from '../fixtures/broker.ts';
import { apply, rabbitSourceManifests, waitForReady, waitForSourceInPlace } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { startPrometheus, type Prometheus } from '../fixtures/prometheus.ts';
import { answer, startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const EVENTS = 30;

const portOf = (process: RunningProcess, message: string) =>
  process.logs.find((l) => l.msg === message)?.port as number | undefined;

describe('Prometheus sees the backlog of a Webhook whose receiver is down', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  let receiver: Receiver;
  let prometheus: Prometheus;
  let down = true;

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('prom');
    exchange = `events.${namespace}`;
    operator = startOperator({ namespace });
    await apply(namespace, rabbitSourceManifests('orders', testEnv().rabbitmq.amqpUrl, exchange));
    await waitForSourceInPlace(namespace, 'orders');
    receiver = await startReceiver(() => (down ? answer.status(503, 'down') : answer.status(200)));
    await apply(
      namespace,
      `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: breaker}
spec:
  retry: {schedule: [1s, 1s, 1s]}
  circuitBreaker: {failures: 2, window: 1m, probeInterval: 3s}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: billing}
spec:
  sourceRef: {name: orders}
  url: http://127.0.0.1:${receiver.port}/billing
  events: ["billing.#"]
  policyRef: {name: breaker}
  signing: {scheme: none}
`,
    );
    await waitForReady(namespace, 'webhooks', 'billing', 'True', undefined, 60_000);
    dispatcher = await startDispatcher(namespace, 'orders', { HOOKLINE_SAMPLE_INTERVAL_MS: '1000' });
    await eventually('the worker', () => dispatcher.logs.some((l) => l.msg === 'Delivering to Webhook'));
    const operatorPort = await eventually('operator metrics port', () => portOf(operator, 'Serving metrics'));
    prometheus = await startPrometheus({
      scrapeTargets: [
        { job: 'hookline-operator', target: `127.0.0.1:${operatorPort}` },
        { job: 'hookline-dispatcher', target: `127.0.0.1:${portOf(dispatcher, 'Dispatcher listening')}` },
      ],
      scrapeInterval: '1s',
      ruleFiles: [path.join(repo, 'charts/hookline/files/alerts.yaml')],
    });
  });
  after(async () => {
    await prometheus?.stop();
    await dispatcher?.stop();
    await operator?.stop();
    await receiver?.close();
  });

  it('scrapes both processes', async () => {
    await prometheus.waitFor('up{job=~"hookline-.*"} == 1', (s) => s.length === 2, 30_000);
    await prometheus.waitFor('sum(hookline_leader)', (s) => s[0]?.value === 1, 30_000);
    await prometheus.waitFor(
      'process_resident_memory_bytes{job="hookline-dispatcher"}',
      (s) => s.length === 1,
    );
  });

  it('sees the backlog rise while the receiver is down and fall once it is back', async () => {
    await publishEvents(
      exchange,
      Array.from({ length: EVENTS }, (_, i) => ({
        routingKey: 'billing.created',
        messageId: `bill-${i}`,
        body: JSON.stringify({ n: i }),
      })),
    );
    const waiting = `max by (namespace, webhook) (hookline_webhook_queue_messages{namespace="${namespace}", webhook="billing", queue="waiting"})`;
    const risen = await prometheus.waitFor(waiting, (s) => (s[0]?.value ?? 0) >= EVENTS - 2, 40_000);
    await prometheus.waitFor(
      `hookline_webhook_circuit_open{namespace="${namespace}", webhook="billing"}`,
      (s) => s[0]?.value === 1,
    );
    // The chart's rule sees it: pending until its `for` has passed.
    const alert = await prometheus.waitFor(
      `ALERTS{alertname="HooklineCircuitOpen", namespace="${namespace}"}`,
      (s) => s.length > 0,
      30_000,
    );
    assert.equal(alert[0]!.metric.alertstate, 'pending');

    down = false;
    const fallen = await prometheus.waitFor(waiting, (s) => s[0]?.value === 0, 60_000);
    const delivered = await prometheus.waitFor(
      `sum(hookline_deliveries_total{namespace="${namespace}", webhook="billing", outcome="succeeded"})`,
      (s) => (s[0]?.value ?? 0) >= EVENTS,
      30_000,
    );
    await prometheus.waitFor(
      `hookline_webhook_circuit_open{namespace="${namespace}", webhook="billing"}`,
      (s) => s[0]?.value === 0,
    );
    process.stderr.write(
      `[prometheus] waiting rose to ${risen[0]!.value}, fell to ${fallen[0]!.value}; delivered ${delivered[0]!.value}\n`,
    );
    const ids = new Set(
      receiver.requests.filter((r) => r.body.length > 0).map((r) => r.headers['hookline-event-id']),
    );
    assert.equal(ids.size, EVENTS, 'every event arrived');
  });
});
