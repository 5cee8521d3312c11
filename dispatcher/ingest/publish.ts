// Hands ingested events to RabbitMQ: an event to the source's exchange under its type, an
// input that is not an event to the source's ingest dead-letter queue with its reason.
// Both wait for the broker's confirm, which is what lets Kafka commit and HTTP answer 202.
import type { BrokerSession, MessageProperties } from '../broker/session.ts';
import { HEADER } from '../deliver/event.ts';
import { traceHeaders, type TraceContext } from '../tracing/context.ts';

export interface IngestTarget {
  exchange: string;
  deadLetterQueue: string;
}

export interface IngestedEvent {
  id: string;
  type: string;
  body: Buffer;
  contentType?: string;
  /** The event's trace context: that of its ingest span, or the one it came with. */
  trace?: TraceContext;
}

export function publishEvent(
  session: BrokerSession,
  target: IngestTarget,
  event: IngestedEvent,
): Promise<void> {
  const properties: MessageProperties = {
    messageId: event.id,
    type: event.type,
    timestamp: Math.floor(Date.now() / 1000),
    contentType: event.contentType ?? 'application/json',
  };
  // The id and type travel as messageId and type, which the workers read; no headers
  // table to encode on the hot path unless the event carries a trace context.
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
  return session.sendToQueue(target.deadLetterQueue, body, {
    headers: {
      ...origin,
      [HEADER.reason]: reason.slice(0, 1000),
      'x-hookline-dead-lettered-at': new Date().toISOString(),
    },
  });
}
