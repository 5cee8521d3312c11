import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import type { EventMeta } from './deliver/event.ts';
import type { HookConfig } from './hooks.ts';
import { noTracing, startTracing, type Tracing } from './tracing.ts';
import { traceIdOf } from './tracing/context.ts';

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const logger = pino({ level: 'silent' });

const aHook = (name: string, phase: 'After' | 'Before' = 'After') =>
  ({
    name,
    spec: { phase },
    url: new URL('https://user:secret@receiver.example:8443/hooks/orders?token=abc'),
  }) as unknown as HookConfig;

const meta = (attempt: number): EventMeta => ({ id: 'evt_1', type: 'order.created', attempt, firstSeen: 0 });

/** Tracing on, exporting into a list. */
function recorded(env: NodeJS.ProcessEnv = {}): { tracing: Tracing; spans: ReadableSpan[] } {
  const spans: ReadableSpan[] = [];
  const exporter: SpanExporter = {
    export: (batch, done) => {
      spans.push(...batch);
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: () => Promise.resolve(),
  };
  const tracing = startTracing({
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', ...env },
    namespace: 'shop',
    source: 'orders',
    logger,
    exporter,
  });
  return { tracing, spans };
}

function named(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `spans named ${name}: ${spans.map((s) => s.name).join(', ')}`);
  return found[0]!;
}

describe('tracing that is off', () => {
  it('answers one shared span, with no context, for an event without one', () => {
    const span = noTracing.ingest('evt_1', 'order.created', 'http', undefined);
    assert.equal(span.context, undefined);
    assert.equal(noTracing.call(aHook('orders'), meta(1), undefined), span);
    assert.equal(noTracing.gate('evt_1', 'x', undefined), span);
    const operation = Promise.resolve(1);
    assert.equal(span.until(operation), operation);
  });

  it('passes the context an event came with on, unchanged', () => {
    const context = { traceparent: PARENT, tracestate: 'a=b' };
    assert.equal(noTracing.ingest('evt_1', 'order.created', 'kafka', context).context, context);
    assert.equal(noTracing.call(aHook('orders'), meta(2), context).context, context);
  });

  it('is what startTracing answers without an endpoint', () => {
    assert.equal(startTracing({ env: {}, namespace: 'shop', source: 'orders', logger }), noTracing);
  });
});

describe('tracing that is on', () => {
  it("makes the ingest span a child of the producer's context, and each attempt a child of the ingest span", async () => {
    const { tracing, spans } = recorded();
    const ingest = tracing.ingest('evt_1', 'order.created', 'http', {
      traceparent: PARENT,
      tracestate: 'a=b',
    });
    await ingest.until(Promise.resolve());
    const first = tracing.call(aHook('orders'), meta(1), ingest.context);
    first.answered({ kind: 'response', status: 503, body: '', durationMs: 5 }, 'HTTP 503');
    const second = tracing.call(aHook('orders'), meta(2), ingest.context);
    second.answered({ kind: 'response', status: 200, body: '', durationMs: 5 });
    await tracing.shutdown();

    for (const span of [ingest, first, second]) {
      assert.equal(traceIdOf(span.context!.traceparent), '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.equal(span.context!.tracestate, 'a=b');
    }
    const ingested = named(spans, 'ingest orders');
    assert.equal(ingested.kind, SpanKind.PRODUCER);
    assert.equal(ingested.parentSpanContext?.spanId, '00f067aa0ba902b7');
    assert.equal(
      ingest.context!.traceparent,
      `00-${ingested.spanContext().traceId}-${ingested.spanContext().spanId}-01`,
    );
    assert.deepEqual(ingested.attributes, {
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'hookline.shop.orders',
      'messaging.rabbitmq.destination.routing_key': 'order.created',
      'messaging.message.id': 'evt_1',
      'hookline.namespace': 'shop',
      'hookline.source': 'orders',
      'hookline.ingest': 'http',
      'hookline.event.id': 'evt_1',
      'hookline.event.type': 'order.created',
    });
    const attempts = spans.filter((s) => s.name === 'deliver orders');
    assert.equal(attempts.length, 2);
    for (const attempt of attempts) {
      assert.equal(attempt.kind, SpanKind.CLIENT);
      assert.equal(attempt.parentSpanContext?.spanId, ingested.spanContext().spanId);
    }
    const [failed, delivered] = attempts;
    assert.deepEqual(failed!.attributes, {
      'hookline.namespace': 'shop',
      'hookline.source': 'orders',
      'hookline.webhook': 'orders',
      'hookline.phase': 'After',
      'hookline.event.id': 'evt_1',
      'hookline.event.type': 'order.created',
      'hookline.attempt': 1,
      'http.request.method': 'POST',
      'url.full': 'https://receiver.example:8443/hooks/orders',
      'server.address': 'receiver.example',
      'http.response.status_code': 503,
      'error.type': '503',
    });
    assert.deepEqual(failed!.status, { code: SpanStatusCode.ERROR, message: 'HTTP 503' });
    assert.equal(delivered!.attributes['hookline.attempt'], 2);
    assert.equal(delivered!.attributes['http.response.status_code'], 200);
    assert.equal(delivered!.attributes['error.type'], undefined);
    assert.equal(delivered!.status.code, SpanStatusCode.UNSET);
    assert.equal(ingested.resource.attributes['service.name'], 'hookline-dispatcher');
    assert.equal(ingested.resource.attributes['k8s.namespace.name'], 'shop');
  });

  it('starts a trace for an event that came without one', async () => {
    const { tracing, spans } = recorded();
    const ingest = tracing.ingest('evt_2', 'order.created', 'kafka', undefined);
    ingest.end();
    await tracing.shutdown();
    assert.match(ingest.context!.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(named(spans, 'ingest orders').parentSpanContext, undefined);
  });

  it('names a Before hook call, and marks an unreachable hook and a failed publish as errors', async () => {
    const { tracing, spans } = recorded();
    const gate = tracing.gate('evt_3', 'app.created', undefined);
    const call = tracing.call(aHook('quota', 'Before'), meta(1), gate.context);
    call.answered(
      { kind: 'error', error: 'timeout', message: 'timed out after 5s', durationMs: 5000 },
      'timed out',
    );
    gate.set('hookline.gate.allowed', false);
    gate.end();
    const ingest = tracing.ingest('evt_4', 'app.created', 'http', undefined);
    await assert.rejects(ingest.until(Promise.reject(new Error('channel closed'))), /channel closed/);
    await tracing.shutdown();

    const gated = named(spans, 'gate orders');
    assert.equal(gated.kind, SpanKind.SERVER);
    assert.equal(gated.attributes['hookline.gate.allowed'], false);
    const before = named(spans, 'before quota');
    assert.equal(before.parentSpanContext?.spanId, gated.spanContext().spanId);
    assert.equal(before.attributes['hookline.phase'], 'Before');
    assert.equal(before.attributes['error.type'], 'timeout');
    assert.deepEqual(before.status, { code: SpanStatusCode.ERROR, message: 'timed out' });
    const failed = named(spans, 'ingest orders');
    assert.deepEqual(failed.status, { code: SpanStatusCode.ERROR, message: 'channel closed' });
    assert.equal(failed.attributes['error.type'], '_OTHER');
  });

  it('keeps the trace of an event its producer did not sample, recording nothing', async () => {
    const { tracing, spans } = recorded();
    const unsampled = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    const ingest = tracing.ingest('evt_5', 'order.created', 'http', { traceparent: unsampled });
    ingest.end();
    await tracing.shutdown();
    assert.equal(spans.length, 0);
    assert.match(ingest.context!.traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
  });

  it('takes the sampler of OTEL_TRACES_SAMPLER', async () => {
    const { tracing, spans } = recorded({ OTEL_TRACES_SAMPLER: 'always_off' });
    tracing.ingest('evt_6', 'order.created', 'http', undefined).end();
    await tracing.shutdown();
    assert.equal(spans.length, 0);
  });
});
