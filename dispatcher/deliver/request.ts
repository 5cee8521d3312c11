// The HTTP request of one attempt to one Webhook: the payload in the Webhook's format, the
// static headers, the event id, type and attempt number, the W3C trace context,
// authentication and signatures. Shared by queued deliveries and the synchronous Before gate.
import type { HookConfig } from '../hooks.ts';
import type { TraceContext } from '../tracing/context.ts';
import type { EventMeta } from './event.ts';
import { buildPayload } from './payload.ts';

export interface AttemptRequest {
  headers: Record<string, string>;
  body: Buffer;
}

const USER_AGENT = 'Hookline/0.1';

/**
 * The request of one attempt. At once, unless the Webhook authenticates with a JWT (signed
 * asynchronously): a delivery does not wait a turn for headers it has in hand.
 */
export function attemptRequest(
  config: HookConfig,
  meta: EventMeta,
  event: { body: Buffer; json: unknown },
  started: Date,
  /** The attempt's trace context (traceparent, tracestate), when the event is traced. */
  trace?: TraceContext,
): AttemptRequest | Promise<AttemptRequest> {
  const auth = config.authenticate(started);
  return auth instanceof Promise
    ? auth.then((headers) => build(config, meta, event, started, headers, trace))
    : build(config, meta, event, started, auth, trace);
}

function build(
  config: HookConfig,
  meta: EventMeta,
  event: { body: Buffer; json: unknown },
  started: Date,
  auth: Record<string, string>,
  trace: TraceContext | undefined,
): AttemptRequest {
  const payload = buildPayload(config.spec.payload.format, {
    id: meta.id,
    type: meta.type,
    source: config.eventSource,
    time: new Date(meta.firstSeen),
    body: event.body,
    json: event.json,
  });
  // One object, filled in place: the delivery path makes no intermediate header objects.
  const headers: Record<string, string> = Object.assign({}, config.spec.headers, payload.headers);
  headers['user-agent'] = USER_AGENT;
  headers['Hookline-Event-Type'] = meta.type;
  headers['Hookline-Attempt'] = String(meta.attempt);
  // Standard Webhooks and ed25519 carry the id in webhook-id already.
  const scheme = config.spec.signing.scheme;
  if (scheme !== 'standard-webhooks' && scheme !== 'ed25519') headers['Hookline-Event-Id'] = meta.id;
  Object.assign(headers, auth);
  Object.assign(
    headers,
    config.signer({
      id: meta.id,
      timestamp: Math.floor(started.getTime() / 1000),
      body: payload.body,
      url: config.url,
    }),
  );
  // Set only when there is one: an untraced attempt allocates nothing more.
  if (trace !== undefined) {
    headers.traceparent = trace.traceparent;
    if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate;
  }
  return { headers, body: payload.body };
}
