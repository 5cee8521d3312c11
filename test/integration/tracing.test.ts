// OpenTelemetry tracing end to end: a real OpenTelemetry Collector, the operator given the
// OTEL_* variables (as the chart gives them) and forwarding them to the dispatcher
// Deployments it writes, dispatchers started from those Deployments, the real RabbitMQ
// with its delay queues, and receivers that fail each event's first attempt. One trace
// runs from the producer's request through RabbitMQ to the receiver on every attempt.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { amqpConnect, freshNamespace, testEnv } from '../env/handles.ts';
import { apply, rabbitSourceManifests, waitForReady, waitForSourceInPlace } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import { startCollector, type Collector, type Span } from '../fixtures/otelcol.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver, type RecordedRequest } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

const TOKEN = 'tracing-token-5d1f';

interface Traceparent {
  traceId: string;
  parentId: string;
  flags: string;
}

function parse(value: string | string[] | undefined): Traceparent {
  assert.equal(typeof value, 'string', 'the request carries one traceparent');
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value as string);
  assert.ok(match, `"${String(value)}" is a version 00 traceparent`);
  return { traceId: match[1]!, parentId: match[2]!, flags: match[3]! };
}

/** A producer's own trace context: a fresh trace, sampled. */
function producerContext(): { traceparent: string; traceId: string; spanId: string } {
  const traceId = crypto.randomBytes(16).toString('hex');
  const spanId = crypto.randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

/** Answers 503 to the first request of each event and 200 to the rest. */
function failingOnce(): (request: RecordedRequest) => ReturnType<typeof answer.status> {
  const seen = new Set<string>();
  return (request) => {
    const id = String(request.headers['hookline-event-id']);
    if (seen.has(id)) return answer.status(200);
    seen.add(id);
    return answer.status(503, 'not yet');
  };
}

const requestsOf = (receiver: Receiver, id: string) =>
  receiver.requests.filter((r) => r.headers['hookline-event-id'] === id);

const inTrace = (spans: Span[], traceId: string) => spans.filter((s) => s.traceId === traceId);

describe('OpenTelemetry tracing', () => {
  let collector: Collector;
  let namespace: string;
  let operator: OperatorProcess;
  let orders: RunningProcess;
  let ledger: RunningProcess;
  let endpoint: string;
  let fulfilment: Receiver;
  let fraud: Receiver;
  let books: Receiver;
  const exchange = `tracing-ledger-${Date.now()}`;

  const endpointOf = (process: RunningProcess) =>
    `http://127.0.0.1:${String(process.logs.find((line) => line.msg === 'Dispatcher listening')?.port)}`;

  async function post(
    path: '/v1/events' | '/v1/events/before',
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    const response = await fetch(`${endpoint}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** The event's requests once there are two (its failed first attempt and its retry). */
  function twoAttempts(receiver: Receiver, id: string): Promise<RecordedRequest[]> {
    return eventually(`two attempts of ${id}`, () => {
      const found = requestsOf(receiver, id);
      return found.length >= 2 && found;
    });
  }

  async function startOrders(overrides: Record<string, string> = {}): Promise<void> {
    orders = await startDispatcher(namespace, 'orders', overrides);
    endpoint = endpointOf(orders);
    await eventually('the orders dispatcher to be ready', async () => (await fetch(`${endpoint}/readyz`)).ok);
  }

  before(async () => {
    collector = await startCollector();
    await installCrds();
    namespace = await freshNamespace('tracing');
    operator = startOperator({
      namespace,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpHttpEndpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=integration',
      },
    });
    fulfilment = await startReceiver(failingOnce());
    fraud = await startReceiver(answer.status(200));
    books = await startReceiver(failingOnce());
    await apply(
      namespace,
      `${rabbitSourceManifests('ledger', testEnv().rabbitmq.amqpUrl, exchange)}
---
apiVersion: v1
kind: Secret
metadata: {name: orders-ingest}
stringData: {tokens: ${TOKEN}}
---
apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: orders}
spec:
  http: {authSecretRef: {name: orders-ingest, key: tokens}}
---
apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: quick}
spec:
  retry: {schedule: [200ms, 200ms]}
  timeout: {connect: 1s, request: 2s}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: fulfilment}
spec:
  sourceRef: {name: orders}
  policyRef: {name: quick}
  url: ${fulfilment.url}/orders
  events: ['order.#']
  signing: {scheme: none}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: fraud-check}
spec:
  sourceRef: {name: orders}
  phase: Before
  url: ${fraud.url}/checks
  events: ['checkout.#']
  signing: {scheme: none}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: books}
spec:
  sourceRef: {name: ledger}
  policyRef: {name: quick}
  url: ${books.url}/ledger
  events: ['#']
  signing: {scheme: none}
`,
    );
    await waitForSourceInPlace(namespace, 'orders');
    await waitForSourceInPlace(namespace, 'ledger');
    for (const name of ['fulfilment', 'fraud-check', 'books'])
      await waitForReady(namespace, 'webhooks', name, 'True');
    await startOrders();
    ledger = await startDispatcher(namespace, 'ledger');
    await eventually('the ledger worker', () => ledger.logs.some((l) => l.msg === 'Delivering to Webhook'));
  });

  after(async () => {
    await orders?.stop();
    await ledger?.stop();
    await operator?.stop();
    for (const receiver of [fulfilment, fraud, books]) await receiver?.close();
    await collector?.stop();
  });

  it("carries the producer's trace from HTTP ingest through RabbitMQ to the receiver on every attempt", async () => {
    const producer = producerContext();
    const response = await post(
      '/v1/events',
      { type: 'order.created', order: 1 },
      { traceparent: producer.traceparent, tracestate: 'shop=checkout' },
    );
    assert.equal(response.status, 202);
    const id = String(response.body.id);
    const [first, second] = await twoAttempts(fulfilment, id);
    const seen = [first!, second!].map((r) => parse(r.headers.traceparent));
    for (const [i, request] of [first!, second!].entries()) {
      assert.equal(seen[i]!.traceId, producer.traceId, `attempt ${i + 1} is in the producer's trace`);
      assert.equal(seen[i]!.flags, '01');
      assert.equal(request.headers.tracestate, 'shop=checkout');
    }
    assert.notEqual(seen[0]!.parentId, seen[1]!.parentId, 'each attempt is its own span');
    assert.notEqual(seen[0]!.parentId, producer.spanId);

    // The collector's file holds the ingest span and a span for each attempt.
    const spans = await collector.waitForSpans(
      (all) => inTrace(all, producer.traceId).filter((s) => s.name === 'deliver fulfilment').length >= 2,
    );
    const trace = inTrace(spans, producer.traceId);
    const ingest = trace.filter((s) => s.name === 'ingest orders');
    assert.equal(ingest.length, 1, trace.map((s) => s.name).join(', '));
    assert.equal(ingest[0]!.parentSpanId, producer.spanId);
    assert.equal(ingest[0]!.kind, 'PRODUCER');
    assert.equal(ingest[0]!.status.code, 'UNSET');
    assert.deepEqual(
      {
        system: ingest[0]!.attributes['messaging.system'],
        destination: ingest[0]!.attributes['messaging.destination.name'],
        namespace: ingest[0]!.attributes['hookline.namespace'],
        source: ingest[0]!.attributes['hookline.source'],
        id: ingest[0]!.attributes['hookline.event.id'],
        type: ingest[0]!.attributes['hookline.event.type'],
      },
      {
        system: 'rabbitmq',
        destination: `hookline.${namespace}.orders`,
        namespace,
        source: 'orders',
        id,
        type: 'order.created',
      },
    );
    assert.equal(ingest[0]!.resource['service.name'], 'hookline-dispatcher');
    assert.equal(ingest[0]!.resource['deployment.environment.name'], 'integration');
    assert.equal(ingest[0]!.resource['k8s.namespace.name'], namespace);

    const attempts = trace
      .filter((s) => s.name === 'deliver fulfilment')
      .sort((a, b) => Number(a.attributes['hookline.attempt']) - Number(b.attributes['hookline.attempt']));
    assert.equal(attempts.length, 2);
    for (const [i, attempt] of attempts.entries()) {
      assert.equal(attempt.kind, 'CLIENT');
      assert.equal(attempt.parentSpanId, ingest[0]!.spanId, 'every attempt is a child of the ingest span');
      assert.equal(attempt.spanId, seen[i]!.parentId, "the receiver's traceparent names the attempt's span");
      assert.equal(attempt.attributes['hookline.webhook'], 'fulfilment');
      assert.equal(attempt.attributes['hookline.event.id'], id);
      assert.equal(attempt.attributes['hookline.attempt'], i + 1);
      assert.equal(attempt.attributes['url.full'], `${fulfilment.url}/orders`);
    }
    assert.equal(attempts[0]!.attributes['http.response.status_code'], 503);
    assert.deepEqual(attempts[0]!.status, { code: 'ERROR', message: 'HTTP 503: not yet' });
    assert.equal(attempts[1]!.attributes['http.response.status_code'], 200);
    assert.equal(attempts[1]!.status.code, 'UNSET');
  });

  it('starts a trace for an event posted without one, and the receiver gets it on every attempt', async () => {
    const response = await post('/v1/events', { type: 'order.paid', order: 2 });
    assert.equal(response.status, 202);
    const id = String(response.body.id);
    const [first, second] = await twoAttempts(fulfilment, id);
    const { traceId } = parse(first!.headers.traceparent);
    assert.equal(parse(second!.headers.traceparent).traceId, traceId);
    assert.equal(first!.headers.tracestate, undefined);
    const spans = await collector.waitForSpans(
      (all) => inTrace(all, traceId).filter((s) => s.name === 'deliver fulfilment').length >= 2,
    );
    const ingest = inTrace(spans, traceId).find((s) => s.name === 'ingest orders');
    assert.ok(ingest, 'the ingest span is in the trace');
    assert.equal(ingest.parentSpanId, '', 'the ingest span is the root');
    assert.equal(ingest.attributes['hookline.event.id'], id);
  });

  it('gives each Before hook call at the gate a span, a child of the request', async () => {
    const producer = producerContext();
    const response = await post(
      '/v1/events/before',
      { type: 'checkout.started', cart: 3 },
      { traceparent: producer.traceparent },
    );
    assert.equal(response.status, 200);
    const call = fraud.requests.find((r) => r.headers['hookline-event-id'] === response.body.id);
    assert.ok(call, 'the Before hook was called');
    const sent = parse(call.headers.traceparent);
    assert.equal(sent.traceId, producer.traceId);
    const spans = await collector.waitForSpans((all) =>
      inTrace(all, producer.traceId).some((s) => s.name === 'before fraud-check'),
    );
    const gate = inTrace(spans, producer.traceId).find((s) => s.name === 'gate orders');
    const before = inTrace(spans, producer.traceId).find((s) => s.name === 'before fraud-check');
    assert.ok(gate && before);
    assert.equal(gate.parentSpanId, producer.spanId);
    assert.equal(gate.kind, 'SERVER');
    assert.equal(gate.attributes['hookline.gate.allowed'], true);
    assert.equal(before.parentSpanId, gate.spanId);
    assert.equal(before.spanId, sent.parentId);
    assert.equal(before.kind, 'CLIENT');
    assert.equal(before.attributes['hookline.phase'], 'Before');
    assert.equal(before.attributes['http.response.status_code'], 200);
  });

  it("follows a traceparent in an AMQP message's headers, and keeps one trace for an event that had none", async () => {
    const producer = producerContext();
    const connection = await amqpConnect();
    try {
      const channel = await connection.createConfirmChannel();
      const body = (n: number) => Buffer.from(JSON.stringify({ entry: n }));
      channel.publish(exchange, 'entry.posted', body(1), {
        messageId: 'ledger-traced',
        contentType: 'application/json',
        headers: { traceparent: producer.traceparent },
      });
      channel.publish(exchange, 'entry.posted', body(2), {
        messageId: 'ledger-untraced',
        contentType: 'application/json',
      });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    const traced = await twoAttempts(books, 'ledger-traced');
    for (const request of traced) assert.equal(parse(request.headers.traceparent).traceId, producer.traceId);
    const spans = await collector.waitForSpans(
      (all) => inTrace(all, producer.traceId).filter((s) => s.name === 'deliver books').length >= 2,
    );
    for (const attempt of inTrace(spans, producer.traceId))
      assert.equal(attempt.parentSpanId, producer.spanId, "each attempt is a child of the producer's span");

    // Without one, the first attempt starts the trace and the retry joins it.
    const [first, second] = await twoAttempts(books, 'ledger-untraced');
    const started = parse(first!.headers.traceparent);
    assert.equal(parse(second!.headers.traceparent).traceId, started.traceId);
    const untraced = await collector.waitForSpans(
      (all) => inTrace(all, started.traceId).filter((s) => s.name === 'deliver books').length >= 2,
    );
    const [root, retry] = inTrace(untraced, started.traceId).sort(
      (a, b) => Number(a.attributes['hookline.attempt']) - Number(b.attributes['hookline.attempt']),
    );
    assert.equal(root!.parentSpanId, '');
    assert.equal(root!.spanId, started.parentId);
    assert.equal(retry!.parentSpanId, root!.spanId);
  });

  it('passes an incoming traceparent on unchanged, and adds none, when tracing is off', async () => {
    await orders.stop();
    await startOrders({ OTEL_EXPORTER_OTLP_ENDPOINT: '' });
    const producer = producerContext();
    const traced = await post(
      '/v1/events',
      { type: 'order.shipped', order: 4 },
      { traceparent: producer.traceparent, tracestate: 'shop=dispatch' },
    );
    const plain = await post('/v1/events', { type: 'order.shipped', order: 5 });
    assert.equal(traced.status, 202);
    assert.equal(plain.status, 202);
    for (const request of await twoAttempts(fulfilment, String(traced.body.id))) {
      assert.equal(request.headers.traceparent, producer.traceparent);
      assert.equal(request.headers.tracestate, 'shop=dispatch');
    }
    for (const request of await twoAttempts(fulfilment, String(plain.body.id))) {
      assert.equal(request.headers.traceparent, undefined);
      assert.equal(request.headers.tracestate, undefined);
    }
    // Nothing was exported: the collector flushes every 100 ms, the SDK would every 100 ms.
    await sleep(1500);
    assert.deepEqual(inTrace(await collector.spans(), producer.traceId), []);
  });
});
