// The W3C trace context an event travels with (https://www.w3.org/TR/trace-context/): the
// `traceparent` and `tracestate` that came with it (an HTTP ingest request's headers, a
// Kafka record's headers, an AMQP message's headers), carried in the AMQP headers of every
// message Hookline publishes for the event and sent to the receiver on every attempt. Pure.
import { isSpanContextValid } from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/** Vendors must pass on at least 512 characters of tracestate; Hookline passes on no more. */
const MAX_TRACESTATE = 512;
const VISIBLE_ASCII = /^[\x20-\x7e]*$/;

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  return undefined;
}

/** A traceparent Hookline may pass on: well formed, with a valid trace and parent id. */
export function validTraceparent(value: string): boolean {
  const parsed = parseTraceParent(value);
  return parsed !== null && isSpanContextValid(parsed) && VISIBLE_ASCII.test(value);
}

/**
 * The trace context named by `get` (header names in lower case), or undefined when there is
 * none or its traceparent is not valid (it is then ignored, as the W3C recommendation asks).
 * A tracestate is kept only beside a valid traceparent, and only when it is short visible
 * ASCII: it is sent on as a header value. Allocates nothing when there is no traceparent.
 */
export function readTraceContext(get: (name: string) => unknown): TraceContext | undefined {
  const traceparent = text(get(TRACEPARENT))?.trim();
  if (traceparent === undefined || !validTraceparent(traceparent)) return undefined;
  const tracestate = text(get(TRACESTATE))?.trim();
  return tracestate && tracestate.length <= MAX_TRACESTATE && VISIBLE_ASCII.test(tracestate)
    ? { traceparent, tracestate }
    : { traceparent };
}

/** The trace context of a headers table (AMQP, Kafka), if any. */
export function traceContextOf(
  headers: Readonly<Record<string, unknown>> | undefined,
): TraceContext | undefined {
  if (headers === undefined || headers[TRACEPARENT] === undefined) return undefined;
  return readTraceContext((name) => headers[name]);
}

/** The headers that carry `context`: traceparent, and tracestate when there is one. */
export function traceHeaders(context: TraceContext): Record<string, string> {
  return context.tracestate === undefined
    ? { [TRACEPARENT]: context.traceparent }
    : { [TRACEPARENT]: context.traceparent, [TRACESTATE]: context.tracestate };
}

/** The trace id of a traceparent (32 hex digits), for logs and tests. */
export function traceIdOf(traceparent: string): string | undefined {
  return parseTraceParent(traceparent)?.traceId;
}
