// Hands ingested events to RabbitMQ: an event to the source's exchange under its type, an
// input that is not an event to the source's ingest dead-letter queue (through the fanout
// exchange of its name) with its reason.
// Both wait for the broker's confirm, which is what lets Kafka commit and HTTP answer 202.
import type { BrokerSession, MessageProperties } from '../broker/session.ts';
import { HEADER } from '../deliver/event.ts';
import { traceHeaders, type TraceContext } from '../tracing/context.ts';

export interface IngestTarget {
  exchange: string;
  deadLetterExchange: string;
}

export interface IngestedEvent {
  id: string;
  type: string;
  body: Buffer;
  /** The event's trace context: that of its ingest span, or the one it came with. */
  trace?: TraceContext;
}

/**
 * The event under its type (the routing key, which is what the workers read as the type)
 * with its id as messageId, and nothing more: no type, timestamp or content type property
 * (an ingested event is JSON), no headers table unless it carries a trace context. Small
 * properties are the broker's saving, not ours: RabbitMQ spends about a quarter more CPU
 * on a message once its properties take more than 64 bytes.
 */
export function publishEvent(
  session: BrokerSession,
  target: IngestTarget,
  event: IngestedEvent,
): Promise<void> {
  const properties: MessageProperties = { messageId: event.id };
  if (event.trace !== undefined) properties.headers = traceHeaders(event.trace);
  return session.publish(target.exchange, event.type, event.body, properties);
}

export function deadLetterInput(
  session: BrokerSession,
  target: IngestTarget,
  body: Buffer,
  reason: string,
  origin: Record<string, string | number>,
): Promise<void> {
  return session.publish(target.deadLetterExchange, '', body, {
    headers: {
      ...origin,
      [HEADER.reason]: reason.slice(0, 1000),
      'x-hookline-dead-lettered-at': new Date().toISOString(),
    },
  });
}
