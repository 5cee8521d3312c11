// The session's consuming face: a consumer on its own channel, with its prefetch, closed by
// its owner (or by the broker), and deliveries settled at most once; acks gathered per turn
// of the event loop (acks.ts) and sent before the channel is closed.
import type amqp from 'amqplib';
import { Acks } from './acks.ts';
import { ExclusiveConsumerTaken, type Consumer, type Delivery } from './contract.ts';

function toDelivery(channel: amqp.Channel, acks: Acks, message: amqp.Message): Delivery {
  const tag = message.fields.deliveryTag;
  acks.received(tag);
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
    ack: () => settle(() => acks.ack(tag)),
    nack: (requeue) =>
      settle(() => {
        acks.settled(tag);
        channel.nack(message, false, requeue);
      }),
  };
}

/** Consumes `queue` on a channel of its own; an exclusive consumer another one holds fails with ExclusiveConsumerTaken. */
export async function openConsumer(
  connection: amqp.ChannelModel,
  queue: string,
  options: { prefetch: number; exclusive?: boolean },
  onMessage: (d: Delivery) => void,
): Promise<Consumer> {
  const channel = await connection.createChannel();
  const acks = new Acks(channel);
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
          acks.flush();
          void channel.close().catch(() => undefined);
          return;
        }
        onMessage(toDelivery(channel, acks, message));
      },
      { exclusive: options.exclusive ?? false },
    );
    return {
      closed: ended,
      async cancel() {
        await channel.cancel(consumerTag).catch(() => undefined);
      },
      async close() {
        acks.flush();
        await channel.close().catch(() => undefined);
        await ended;
      },
    };
  } catch (error) {
    await channel.close().catch(() => undefined);
    throw refusal ?? error;
  }
}
