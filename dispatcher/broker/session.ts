// The dispatcher's RabbitMQ session on amqplib, behind the interface of contract.ts: a
// connection that reconnects by itself with backoff after the broker restarts
// (connection.ts), a confirm channel to publish on (publisher.ts), and a channel per
// consumer (consumer.ts), on more connections as the channels outgrow one (carriers.ts).
// Consumers are re-established by their owners, who wait on `ready()`.
import type amqp from 'amqplib';
import type { Logger } from 'pino';
import { Carriers } from './carriers.ts';
import { brokerConnection } from './connection.ts';
import { openConsumer } from './consumer.ts';
import type { BrokerLock, BrokerSession } from './contract.ts';
import { confirmPublisher } from './publisher.ts';

export {
  type BrokerLock,
  ExclusiveConsumerTaken,
  PUBLISH_MARK,
  Unroutable,
  type BrokerSession,
  type Consumer,
  type Delivery,
  type MessageProperties,
  type PublishOptions,
} from './contract.ts';

export function amqpSession(uri: string, logger: Logger, name = 'hookline-dispatcher'): BrokerSession {
  const publisher = confirmPublisher(() => connection.current());
  const connection = brokerConnection({
    uri,
    name,
    logger,
    onOpen: (c) => publisher.open(c),
    onClose: () => publisher.forget(),
  });
  const carriers = new Carriers(connection, (index) =>
    brokerConnection({
      uri,
      name: `${name} #${index + 1}`,
      logger,
      onOpen: () => Promise.resolve(),
      onClose: () => undefined,
    }),
  );

  // Queue inspections (message counts, purges) share one channel, one at a time: a sample
  // of every Webhook's queues opens no channels. A missing queue (404) closes that channel;
  // the next inspection opens another.
  let inspector: Promise<amqp.Channel> | undefined;
  let inspections: Promise<unknown> = Promise.resolve();
  async function openInspector(): Promise<amqp.Channel> {
    const channel = await (await connection.current()).createChannel();
    channel.on('error', () => undefined);
    channel.once('close', () => (inspector = undefined));
    return channel;
  }
  function withChannel<T>(operation: (channel: amqp.Channel) => Promise<T>): Promise<T> {
    const run = inspections.then(async () => {
      inspector ??= openInspector();
      const opening = inspector;
      try {
        return await operation(await opening);
      } catch (error) {
        // After a 404 the broker has closed the channel already; after anything else, close it.
        if (inspector === opening) inspector = undefined;
        void opening.then((channel) => channel.close()).catch(() => undefined);
        throw error;
      }
    });
    inspections = run.catch(() => undefined);
    return run;
  }

  return {
    get connected() {
      return connection.connected;
    },
    async ready() {
      await connection.current();
    },
    // Handed straight through: an async wrapper here cost each ingested event a promise and a turn.
    publish: (exchange, routingKey, body, properties = {}, options = {}) =>
      publisher.publish(exchange, routingKey, body, properties, options),
    consume: (queue, options, onMessage) =>
      carriers.open(
        options.key,
        (c) => openConsumer(c, queue, options, onMessage),
        (consumer) => consumer.closed,
      ),
    lock: (name, key) =>
      carriers.open(
        key,
        (c) => takeLock(c, name),
        async (lock) => lock?.lost,
      ),
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
    drain: () => carriers.connections.forEach((c) => c.drain()),
    async close() {
      await inspector?.then((c) => c.close()).catch(() => undefined);
      await Promise.all(carriers.connections.map((c) => c.close()));
    },
  };
}

/** Declares `name` as an exclusive queue on a channel of its own, kept open while the lock is held. */
async function takeLock(connection: amqp.ChannelModel, name: string): Promise<BrokerLock | undefined> {
  const channel = await connection.createChannel();
  let refused = false;
  channel.on('error', (error: Error & { code?: number }) => {
    if (error.code === 405) refused = true; // RESOURCE_LOCKED: another connection's exclusive queue
  });
  const lost = new Promise<void>((resolve) => channel.once('close', () => resolve()));
  try {
    await channel.assertQueue(name, { exclusive: true, durable: false, autoDelete: false });
  } catch (error) {
    await channel.close().catch(() => undefined);
    if (refused) return undefined;
    throw error;
  }
  return {
    lost,
    async release() {
      await channel.deleteQueue(name).catch(() => undefined);
      await channel.close().catch(() => undefined);
    },
  };
}
