// The messages that replace a delivery a worker is done with: the event's next attempt
// (through the namespace's delay exchange, or, Strict, in the head queue with the time it
// is due) or its dead letter. Each is published mandatory and resolves once the broker
// holds it; only then may the delivery it replaces be acknowledged. The head and
// dead-letter queues are reached through the namespace's direct exchange, by their names.
import { BROKER_DEATH_HEADERS, withoutHeaders } from '../../core/rabbit/broker.ts';
import { delayRoutingKey, type WebhookQueues } from '../../core/rabbit/topology.ts';
import {
  PUBLISH_MARK,
  type BrokerSession,
  type Delivery,
  type MessageProperties,
} from '../broker/session.ts';
import { traceHeaders } from '../tracing/context.ts';
import { HEADER, type EventMeta } from './event.ts';

/** Headers of the broker's and of earlier publishes, never carried into a new message. */
const NOT_CARRIED: readonly string[] = [...BROKER_DEATH_HEADERS, PUBLISH_MARK, HEADER.dueAt];

/** The properties a message that replaces `delivery` keeps. */
export function carried(delivery: Delivery): MessageProperties {
  return {
    ...(delivery.properties.messageId ? { messageId: delivery.properties.messageId } : {}),
    ...(delivery.properties.type ? { type: delivery.properties.type } : {}),
    ...(delivery.properties.contentType ? { contentType: delivery.properties.contentType } : {}),
    headers: withoutHeaders(delivery.properties.headers, NOT_CARRIED),
  };
}

/** The event, with why it failed for good, in the Webhook's dead-letter queue. */
export async function deadLetter(
  session: BrokerSession,
  topology: WebhookQueues,
  delivery: Delivery,
  meta: EventMeta,
  reason: string,
  at: Date,
): Promise<void> {
  const properties = carried(delivery);
  await session.publish(
    topology.directExchange,
    topology.deadLetterQueue,
    delivery.body,
    {
      ...properties,
      messageId: meta.id,
      type: meta.type,
      headers: {
        ...properties.headers,
        [HEADER.eventId]: meta.id,
        [HEADER.eventType]: meta.type,
        [HEADER.attempt]: meta.attempt,
        [HEADER.reason]: reason.slice(0, 1000),
        [HEADER.deadLetteredAt]: at.toISOString(),
      },
    },
    { mandatory: true },
  );
}

/**
 * The properties of the event's next attempt. It keeps the event's trace context (the one
 * its first attempt started, when it came without one), so every attempt is in one trace.
 */
export function nextAttempt(
  delivery: Delivery,
  meta: EventMeta,
): MessageProperties & { headers: Record<string, unknown> } {
  const properties = carried(delivery);
  const headers = {
    ...properties.headers,
    ...(meta.trace !== undefined ? traceHeaders(meta.trace) : {}),
    [HEADER.eventId]: meta.id,
    [HEADER.eventType]: meta.type,
    [HEADER.attempt]: meta.attempt + 1,
    [HEADER.firstSeen]: meta.firstSeen,
  };
  return { ...properties, messageId: meta.id, type: meta.type, headers };
}

/** Unordered: the next attempt waits out `delayMs` in the namespace's delay queues. */
export async function publishDelayed(
  session: BrokerSession,
  topology: WebhookQueues,
  delivery: Delivery,
  properties: MessageProperties,
  delayMs: number,
): Promise<void> {
  await session.publish(
    topology.delayExchange,
    delayRoutingKey(delayMs, topology.delayDestination),
    delivery.body,
    properties,
    { mandatory: true },
  );
}

/** Strict: the next attempt waits in the head queue, marked with the time it is due. */
export async function sendToHead(
  session: BrokerSession,
  topology: WebhookQueues,
  delivery: Delivery,
  properties: MessageProperties & { headers: Record<string, unknown> },
  dueAt: number,
): Promise<void> {
  await session.publish(
    topology.directExchange,
    topology.headQueue,
    delivery.body,
    { ...properties, headers: { ...properties.headers, [HEADER.dueAt]: dueAt } },
    { mandatory: true },
  );
}

/** Strict: the held head event, put back as it is (its due time included). */
export async function renewHead(
  session: BrokerSession,
  topology: WebhookQueues,
  delivery: Delivery,
): Promise<void> {
  await session.publish(
    topology.directExchange,
    topology.headQueue,
    delivery.body,
    { ...carried(delivery), headers: { ...delivery.properties.headers } },
    { mandatory: true },
  );
}
