// The dispatcher's own small interface to RabbitMQ (publish with confirms, consume, get,
// inspect, purge), so that the client library can be swapped; implemented on amqplib.
// The session reconnects by itself with backoff after the broker restarts; consumers are
// re-established by their owners, who wait on `ready()`.
import { EventEmitter } from 'node:events';
import amqp from 'amqplib';
import type { Logger } from 'pino';
import { redactUri } from '../../core/rabbit/broker.ts';
import { errorMessage } from '../../core/errors.ts';
import { backoffDelay } from '../../core/backoff.ts';

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

export interface BrokerSession {
  ready(): Promise<void>;
  readonly connected: boolean;
  publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    properties?: MessageProperties,
    options?: PublishOptions,
  ): Promise<void>;
  sendToQueue(
    queue: string,
    body: Buffer,
    properties?: MessageProperties,
    options?: PublishOptions,
  ): Promise<void>;
  consume(
    queue: string,
    options: { prefetch: number; exclusive?: boolean },
    onMessage: (d: Delivery) => void,
  ): Promise<Consumer>;
  get(queue: string): Promise<Delivery | undefined>;
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

function toDelivery(channel: amqp.Channel, message: amqp.Message): Delivery {
  let settled = false;
  const settle = (action: () => void) => {
    if (settled) return;
    settled = true;
    try {
      action();
    } catch {
      // The channel closed meanwhile: the broker redelivers the message (at-least-once).
    }
  };
  return {
    body: message.content,
    exchange: message.fields.exchange,
    routingKey: message.fields.routingKey,
    redelivered: message.fields.redelivered,
    properties: {
      messageId: message.properties.messageId as string | undefined,
      timestamp: message.properties.timestamp as number | undefined,
      type: message.properties.type as string | undefined,
      contentType: message.properties.contentType as string | undefined,
      headers: message.properties.headers ?? {},
    },
    ack: () => settle(() => channel.ack(message)),
    nack: (requeue) => settle(() => channel.nack(message, false, requeue)),
  };
}

export function amqpSession(uri: string, logger: Logger, name = 'hookline-dispatcher'): BrokerSession {
  const events = new EventEmitter();
  let connection: amqp.ChannelModel | undefined;
  let publisher: amqp.ConfirmChannel | undefined;
  let connecting: Promise<amqp.ChannelModel> | undefined;
  let closed = false;
  let everConnected = false;

  async function connect(): Promise<amqp.ChannelModel> {
    let failures = 0;
    for (;;) {
      if (closed) throw new Error('the broker session is closed');
      try {
        const c = await amqp.connect(uri, { timeout: 5000, clientProperties: { connection_name: name } });
        c.on('error', (error: Error) => logger.warn({ err: error.message }, 'Broker connection error'));
        c.once('close', () => {
          connection = undefined;
          publisher = undefined;
          if (!closed) {
            logger.warn('Lost the broker connection; reconnecting');
            events.emit('lost');
          }
        });
        publisher = await openPublisher(c);
        connection = c;
        if (everConnected)
          logger.info({ broker: redactUri(uri), attempts: failures + 1 }, 'Reconnected to the broker');
        everConnected = true;
        return c;
      } catch (error) {
        failures++;
        const delay = backoffDelay(failures, { baseMs: 250, maxMs: 10_000 });
        logger.warn(
          {
            broker: redactUri(uri),
            err: errorMessage(error).replaceAll(uri, redactUri(uri)),
            retryInMs: delay,
          },
          'Cannot reach the broker',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async function current(): Promise<amqp.ChannelModel> {
    if (connection) return connection;
    connecting ??= connect().finally(() => (connecting = undefined));
    return connecting;
  }

  /** Marks of mandatory messages the broker returned; read when their confirm arrives (after the return). */
  const returned = new Set<string>();
  let marks = 0;
  /** The last error that closed a publisher channel: a 404 means the exchange does not exist. */
  let publisherError: { code?: number; message: string } | undefined;

  async function openPublisher(c: amqp.ChannelModel): Promise<amqp.ConfirmChannel> {
    const channel = await c.createConfirmChannel();
    publisherError = undefined;
    channel.on('error', (error: Error & { code?: number }) => (publisherError = error));
    channel.on('return', (message: amqp.Message) => {
      const mark = message.properties.headers?.[PUBLISH_MARK] as unknown;
      if (typeof mark === 'string') returned.add(mark);
    });
    channel.once('close', () => {
      if (publisher === channel) publisher = undefined;
    });
    return channel;
  }

  async function confirmChannel(): Promise<amqp.ConfirmChannel> {
    await current();
    publisher ??= await openPublisher(connection!);
    return publisher;
  }

  async function publishConfirmed(
    send: (
      channel: amqp.ConfirmChannel,
      options: amqp.Options.Publish,
      callback: (error: unknown) => void,
    ) => void,
    properties: MessageProperties,
    options: PublishOptions,
    target: string,
  ): Promise<void> {
    const channel = await confirmChannel();
    const mark = options.mandatory ? `${process.pid}.${++marks}` : undefined;
    const publishOptions: amqp.Options.Publish = {
      persistent: true,
      ...properties,
      ...(mark ? { mandatory: true, headers: { ...properties.headers, [PUBLISH_MARK]: mark } } : {}),
    };
    let failure: Error | undefined;
    await new Promise<void>((resolve, reject) =>
      send(channel, publishOptions, (error) =>
        error
          ? reject(error instanceof Error ? error : new Error('the broker did not confirm the message'))
          : resolve(),
      ),
    ).catch((error: unknown) => (failure = error instanceof Error ? error : new Error(String(error))));
    // RabbitMQ sends a mandatory message's basic.return before its confirm.
    const wasReturned = mark !== undefined && returned.delete(mark);
    if (failure !== undefined) {
      if (publisherError?.code === 404)
        throw new Unroutable(`${target} does not exist: ${publisherError.message}`, { cause: failure });
      throw failure;
    }
    if (wasReturned) throw new Unroutable(`the broker could not route the message to ${target}`);
  }

  async function withChannel<T>(operation: (channel: amqp.Channel) => Promise<T>): Promise<T> {
    const channel = await (await current()).createChannel();
    channel.on('error', () => undefined);
    try {
      return await operation(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  return {
    get connected() {
      return connection !== undefined;
    },
    async ready() {
      await current();
    },
    async publish(exchange, routingKey, body, properties = {}, options = {}) {
      await publishConfirmed(
        (channel, publishOptions, callback) =>
          channel.publish(exchange, routingKey, body, publishOptions, callback),
        properties,
        options,
        `exchange "${exchange}" (routing key "${routingKey}")`,
      );
    },
    async sendToQueue(queue, body, properties = {}, options = {}) {
      await publishConfirmed(
        (channel, publishOptions, callback) => channel.sendToQueue(queue, body, publishOptions, callback),
        properties,
        options,
        `queue "${queue}"`,
      );
    },
    async consume(queue, options, onMessage) {
      const channel = await (await current()).createChannel();
      let finish!: () => void;
      const ended = new Promise<void>((resolve) => (finish = resolve));
      let refusal: Error | undefined;
      channel.on('error', (error: Error & { code?: number }) => {
        if (error.code === 403 || /exclusive/i.test(error.message))
          refusal = new ExclusiveConsumerTaken(error.message);
      });
      channel.once('close', () => finish());
      try {
        await channel.prefetch(options.prefetch);
        const { consumerTag } = await channel.consume(
          queue,
          (message) => {
            if (message === null) {
              finish(); // cancelled by the broker (queue deleted)
              void channel.close().catch(() => undefined);
              return;
            }
            onMessage(toDelivery(channel, message));
          },
          { exclusive: options.exclusive ?? false },
        );
        return {
          closed: ended,
          async cancel() {
            await channel.cancel(consumerTag).catch(() => undefined);
          },
          async close() {
            await channel.close().catch(() => undefined);
            await ended;
          },
        };
      } catch (error) {
        await channel.close().catch(() => undefined);
        throw refusal ?? error;
      }
    },
    async get(queue) {
      const channel = await confirmChannel();
      const message = await channel.get(queue, { noAck: false });
      return message ? toDelivery(channel, message) : undefined;
    },
    async messageCount(queue) {
      try {
        return await withChannel(async (channel) => (await channel.checkQueue(queue)).messageCount);
      } catch (error) {
        if ((error as { code?: number }).code === 404) return undefined;
        throw error;
      }
    },
    async purge(queue) {
      try {
        return await withChannel(async (channel) => (await channel.purgeQueue(queue)).messageCount);
      } catch (error) {
        if ((error as { code?: number }).code === 404) return 0;
        throw error;
      }
    },
    async close() {
      closed = true;
      await connection?.close().catch(() => undefined);
    },
  };
}
