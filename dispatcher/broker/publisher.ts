// The session's publishing face: one confirm channel per connection, every message
// persistent and confirmed; a mandatory one the broker returned, or one sent to an exchange
// that does not exist, fails with Unroutable. A nack retires the channel: the next message
// goes on a fresh one. On a RabbitMQ cluster a channel that began publishing to quorum queues
// while their leader's node was being lost can go on nacking every message long after new
// leaders were elected (measured: over 60 s, by test/cluster/rabbitmq-cluster.test.ts); a
// fresh channel finds the queues' current leaders.
import type amqp from 'amqplib';
import { PUBLISH_MARK, Unroutable, type MessageProperties, type PublishOptions } from './contract.ts';

type Send = (
  channel: amqp.ConfirmChannel,
  options: amqp.Options.Publish,
  callback: (error: unknown) => void,
) => void;

export interface ConfirmPublisher {
  /** Opens the confirm channel of a new connection. */
  open(connection: amqp.ChannelModel): Promise<void>;
  /** Forgets the channel of a connection that closed. */
  forget(): void;
  publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    properties: MessageProperties,
    options: PublishOptions,
  ): Promise<void>;
}

export function confirmPublisher(current: () => Promise<amqp.ChannelModel>): ConfirmPublisher {
  let publisher: amqp.ConfirmChannel | undefined;
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

  let opening: Promise<amqp.ConfirmChannel> | undefined;

  async function confirmChannel(): Promise<amqp.ConfirmChannel> {
    if (publisher) return publisher;
    opening ??= current()
      .then(openPublisher)
      .then((channel) => (publisher = channel))
      .finally(() => (opening = undefined));
    return opening;
  }

  /** New messages go on a fresh channel; this one closes once its outstanding confirms arrived. */
  function retire(channel: amqp.ConfirmChannel): void {
    if (publisher !== channel) return;
    publisher = undefined;
    void channel
      .waitForConfirms()
      .catch(() => undefined)
      .then(() => channel.close())
      .catch(() => undefined);
  }

  /** The error a refused publish fails with: Unroutable when its exchange does not exist. */
  function refusal(error: unknown, target: string): Error {
    const failure =
      error instanceof Error ? error : new Error('the broker did not confirm the message', { cause: error });
    if (publisherError?.code === 404)
      return new Unroutable(`${target} does not exist: ${publisherError.message}`, { cause: failure });
    return failure;
  }

  /** On the open channel, one promise per message; settled by the broker's confirm. */
  function sendConfirmed(
    channel: amqp.ConfirmChannel,
    send: Send,
    options: amqp.Options.Publish,
    target: string,
    mark: string | undefined,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        send(channel, options, (error) => {
          // RabbitMQ sends a mandatory message's basic.return before its confirm.
          const wasReturned = mark !== undefined && returned.delete(mark);
          if (error) {
            retire(channel);
            reject(refusal(error, target));
          } else if (wasReturned)
            reject(new Unroutable(`the broker could not route the message to ${target}`));
          else resolve();
        });
      } catch (error) {
        // amqplib throws at once on a channel that closed meanwhile.
        if (mark !== undefined) returned.delete(mark);
        reject(refusal(error, target));
      }
    });
  }

  function publishConfirmed(
    send: Send,
    properties: MessageProperties,
    options: PublishOptions,
    target: string,
  ): Promise<void> {
    const mark = options.mandatory ? `${process.pid}.${++marks}` : undefined;
    const publishOptions: amqp.Options.Publish = mark
      ? {
          persistent: true,
          ...properties,
          mandatory: true,
          headers: { ...properties.headers, [PUBLISH_MARK]: mark },
        }
      : { persistent: true, ...properties };
    // The open channel at once; only a missing one is waited for.
    if (publisher) return sendConfirmed(publisher, send, publishOptions, target, mark);
    return confirmChannel().then((channel) => sendConfirmed(channel, send, publishOptions, target, mark));
  }

  return {
    async open(c) {
      publisher = await openPublisher(c);
    },
    forget() {
      publisher = undefined;
    },
    publish(exchange, routingKey, body, properties, options) {
      return publishConfirmed(
        (channel, publishOptions, callback) =>
          channel.publish(exchange, routingKey, body, publishOptions, callback),
        properties,
        options,
        `exchange "${exchange}" (routing key "${routingKey}")`,
      );
    },
  };
}
