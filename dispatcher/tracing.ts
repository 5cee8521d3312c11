// OpenTelemetry tracing of the dispatcher: a span for each ingested event (its publish and
// the broker's confirm), each delivery attempt, each Before gate request and each Before
// hook it calls, exported over OTLP (http/protobuf) by the OpenTelemetry SDK and configured
// by the standard OTEL_* variables (tracing/config.ts). Every span's W3C trace context
// travels on: in the AMQP headers of the event's messages, and to the receiver.
//
// Off unless an OTLP endpoint is set. Then every call answers one shared no-op span and
// allocates nothing, except that a trace context that came with an event is still passed
// through, unchanged, to the receivers.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.ts';
import { ingestExchangeName } from '../core/rabbit/topology.ts';
import type { EventMeta } from './deliver/event.ts';
import type { HttpResult } from './deliver/http.ts';
import type { HookConfig } from './hooks.ts';
import { tracingConfig } from './tracing/config.ts';
import { TRACEPARENT, TRACESTATE, type TraceContext } from './tracing/context.ts';

export { readTraceContext, traceContextOf, traceHeaders, type TraceContext } from './tracing/context.ts';

/** One span of the dispatcher's, or its stand-in when tracing is off. */
export interface TraceSpan {
  /**
   * The trace context that goes on as this span's child: into the AMQP headers of what is
   * published, to the receiver of a call. Undefined when tracing is off and the event came
   * without one.
   */
  readonly context: TraceContext | undefined;
  set(attribute: string, value: string | number | boolean): void;
  /** Ends a call's span with the receiver's answer; `failure` (why it does not count) makes it an error. */
  answered(result: HttpResult, failure?: string): void;
  /** Ends the span; `failure` makes it an error. */
  end(failure?: string): void;
  /** Ends the span when `operation` settles, an error if it rejects; answers `operation`. */
  until<T>(operation: Promise<T>): Promise<T>;
}

export interface Tracing {
  readonly enabled: boolean;
  /** `ingest <source>` (PRODUCER): one event published to the source's exchange, until it is confirmed. */
  ingest(id: string, type: string, path: 'http' | 'kafka', parent: TraceContext | undefined): TraceSpan;
  /** `gate <source>` (SERVER): one request to the Before gate. */
  gate(id: string, type: string, parent: TraceContext | undefined): TraceSpan;
  /**
   * `deliver <webhook>` (CLIENT): one attempt of an After hook, a child of the event's context;
   * `before <webhook>` for a Before hook called at the gate.
   */
  call(hook: HookConfig, meta: EventMeta, parent: TraceContext | undefined): TraceSpan;
  /** Exports what is left and stops. */
  shutdown(): Promise<void>;
}

const noop = (): void => undefined;

/** The span of tracing that is off, for an event that came without a trace context. */
const NO_SPAN: TraceSpan = { context: undefined, set: noop, answered: noop, end: noop, until: (o) => o };

/** The span of tracing that is off, for an event that came with one: passed on unchanged. */
class PassThrough implements TraceSpan {
  readonly context: TraceContext;
  constructor(context: TraceContext) {
    this.context = context;
  }
  set(): void {}
  answered(): void {}
  end(): void {}
  until<T>(operation: Promise<T>): Promise<T> {
    return operation;
  }
}

function passThrough(parent: TraceContext | undefined): TraceSpan {
  return parent === undefined ? NO_SPAN : new PassThrough(parent);
}

/** Tracing that is off. */
export const noTracing: Tracing = {
  enabled: false,
  ingest: (_id, _type, _path, parent) => passThrough(parent),
  gate: (_id, _type, parent) => passThrough(parent),
  call: (_hook, _meta, parent) => passThrough(parent),
  shutdown: () => Promise.resolve(),
};

const getter: TextMapGetter<TraceContext> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) =>
    key === TRACEPARENT ? carrier.traceparent : key === TRACESTATE ? carrier.tracestate : undefined,
};

const setter: TextMapSetter<Partial<TraceContext>> = {
  set: (carrier, key, value) => {
    if (key === TRACEPARENT) carrier.traceparent = value;
    else if (key === TRACESTATE) carrier.tracestate = value;
  },
};

const propagator = new W3CTraceContextPropagator();

function parentContext(parent: TraceContext | undefined): Context {
  return parent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, parent, getter);
}

function contextOf(span: Span): TraceContext {
  const carrier: Partial<TraceContext> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, setter);
  return carrier as TraceContext;
}

class SdkSpan implements TraceSpan {
  readonly #span: Span;
  readonly context: TraceContext;
  #errorType: string | undefined;

  constructor(span: Span) {
    this.#span = span;
    this.context = contextOf(span);
  }

  set(attribute: string, value: string | number | boolean): void {
    this.#span.setAttribute(attribute, value);
  }

  answered(result: HttpResult, failure?: string): void {
    if (result.kind === 'response') this.#span.setAttribute('http.response.status_code', result.status);
    this.#errorType = result.kind === 'response' ? String(result.status) : result.error;
    this.end(failure);
  }

  end(failure?: string): void {
    if (failure !== undefined) {
      // The semantic conventions' fallback when there is no better class of error.
      this.#span.setAttribute('error.type', this.#errorType ?? '_OTHER');
      this.#span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
    }
    this.#span.end();
  }

  until<T>(operation: Promise<T>): Promise<T> {
    return operation.then(
      (value) => {
        this.end();
        return value;
      },
      (error: unknown) => {
        this.end(errorMessage(error));
        throw error;
      },
    );
  }
}

/** The URL a span names: no credentials, no query (they may hold secrets). */
function spanUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export interface SdkTracingOptions {
  namespace: string;
  source: string;
  tracer: Tracer;
  shutdown: () => Promise<void>;
}

/** Tracing on an OpenTelemetry tracer. */
export function sdkTracing(options: SdkTracingOptions): Tracing {
  const { namespace, source, tracer } = options;
  const exchange = ingestExchangeName(namespace, source);
  const start = (
    name: string,
    kind: SpanKind,
    parent: TraceContext | undefined,
    attributes: Record<string, string | number | boolean>,
  ) => new SdkSpan(tracer.startSpan(name, { kind, attributes }, parentContext(parent)));
  return {
    enabled: true,
    ingest: (id, type, path, parent) =>
      start(`ingest ${source}`, SpanKind.PRODUCER, parent, {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'send',
        'messaging.destination.name': exchange,
        'messaging.rabbitmq.destination.routing_key': type,
        'messaging.message.id': id,
        'hookline.namespace': namespace,
        'hookline.source': source,
        'hookline.ingest': path,
        'hookline.event.id': id,
        'hookline.event.type': type,
      }),
    gate: (id, type, parent) =>
      start(`gate ${source}`, SpanKind.SERVER, parent, {
        'hookline.namespace': namespace,
        'hookline.source': source,
        'hookline.event.id': id,
        'hookline.event.type': type,
      }),
    call: (hook, meta, parent) =>
      start(`${hook.spec.phase === 'Before' ? 'before' : 'deliver'} ${hook.name}`, SpanKind.CLIENT, parent, {
        'hookline.namespace': namespace,
        'hookline.source': source,
        'hookline.webhook': hook.name,
        'hookline.phase': hook.spec.phase,
        'hookline.event.id': meta.id,
        'hookline.event.type': meta.type,
        'hookline.attempt': meta.attempt,
        'http.request.method': 'POST',
        'url.full': spanUrl(hook.url),
        'server.address': hook.url.hostname,
      }),
    shutdown: options.shutdown,
  };
}

/** Passes every export on, and logs failed ones (at most once a minute). */
function loggingExporter(exporter: SpanExporter, logger: Logger, now = Date.now): SpanExporter {
  let warned = -Infinity;
  return {
    export: (spans, done) =>
      exporter.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS && now() - warned >= 60_000) {
          warned = now();
          logger.warn({ err: result.error?.message, spans: spans.length }, 'Could not export spans');
        }
        done(result);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

export interface TracingOptions {
  env: NodeJS.ProcessEnv;
  namespace: string;
  source: string;
  logger: Logger;
  /** The exporter to use instead of OTLP's (tests). */
  exporter?: SpanExporter;
}

/**
 * Starts the SDK when an OTLP endpoint is set, else answers `noTracing`. Throws when the
 * variables ask for what Hookline cannot do (another OTLP protocol than http/protobuf).
 */
export function startTracing(options: TracingOptions): Tracing {
  const { env, namespace, source, logger } = options;
  const config = tracingConfig(env, { 'k8s.namespace.name': namespace, 'hookline.source': source });
  for (const warning of config.warnings) logger.warn({ reason: warning }, 'Ignored a tracing setting');
  if (!config.enabled) {
    logger.debug({ reason: config.why }, 'Tracing is off');
    return noTracing;
  }
  const exporter = options.exporter ?? new OTLPTraceExporter({ url: config.url });
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes(config.resource)),
    sampler: config.sampler,
    spanProcessors: [
      new BatchSpanProcessor({ ...config.batch, exporter: loggingExporter(exporter, logger) }),
    ],
  });
  logger.info(
    { endpoint: new URL(config.url).origin, serviceName: config.resource['service.name'] },
    'Tracing: exporting spans over OTLP',
  );
  return sdkTracing({
    namespace,
    source,
    tracer: provider.getTracer('hookline-dispatcher'),
    shutdown: () =>
      provider.shutdown().catch((error: unknown) => {
        logger.warn({ err: errorMessage(error) }, 'Could not export the last spans');
      }),
  });
}
