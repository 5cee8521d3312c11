// The dispatcher's own small interface to RabbitMQ (publish with confirms, consume, inspect,
// purge), so that the client library can be swapped. session.ts implements it on amqplib
// and exports it again, for the code that imports it from there. It has no way to publish
// to the default exchange: a dispatcher's broker user has no right to it (one that had could
// put messages in every queue of the vhost), so every queue it publishes to is bound by
// name on an exchange of its own namespace.

export interface MessageProperties {
  messageId?: string;
  timestamp?: number;
  type?: string;
  contentType?: string;
  headers?: Record<string, unknown>;
  expiration?: string;
  persistent?: boolean;
}

export interface PublishOptions {
  /** The broker must route the message to a queue; one it cannot route fails with Unroutable. */
  mandatory?: boolean;
}

export interface Delivery {
  body: Buffer;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  properties: MessageProperties;
  ack(): void;
  /** Returns the message to its queue (requeue) or drops it. */
  nack(requeue: boolean): void;
}

export interface Consumer {
  /** Resolves when the consumer's channel closes (by close(), or because the connection dropped). */
  readonly closed: Promise<void>;
  /** Stops new deliveries; messages in hand can still be acknowledged. */
  cancel(): Promise<void>;
  /** Closes the channel: unacknowledged messages go back to the queue. */
  close(): Promise<void>;
}

/**
 * A lock this session's connection holds: an exclusive queue, which the broker lets one
 * connection at a time declare (cluster-wide) and deletes when that connection closes.
 */
export interface BrokerLock {
  /** Resolves when the lock is gone: released, or its channel or connection closed. */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

export interface BrokerSession {
  ready(): Promise<void>;
  readonly connected: boolean;
  /** The dispatcher is stopping: a connection lost from now on is not opened again. */
  drain(): void;
  publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    properties?: MessageProperties,
    options?: PublishOptions,
  ): Promise<void>;
  /** `key`: the channels of one key (a Webhook's) are on one connection. */
  consume(
    queue: string,
    options: { prefetch: number; exclusive?: boolean; key?: string },
    onMessage: (d: Delivery) => void,
  ): Promise<Consumer>;
  /** Takes the lock of that name; undefined when another connection holds it (RabbitMQ 405). */
  lock(name: string, key?: string): Promise<BrokerLock | undefined>;
  messageCount(queue: string): Promise<number | undefined>;
  purge(queue: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * A mandatory message the broker could not route (returned), or an exchange that does not
 * exist: it was not stored anywhere, so the message it replaces must be kept.
 */
export class Unroutable extends Error {
  readonly code = 'Unroutable';
}

/** Marks each mandatory publish so that a basic.return can be matched to its confirm. */
export const PUBLISH_MARK = 'x-hookline-publish';

/** A consumer refused because another one holds the queue exclusively (RabbitMQ 403). */
export class ExclusiveConsumerTaken extends Error {
  readonly code = 'ExclusiveConsumerTaken';
}
