// The baseline of bench/ingest: the least a Kafka → RabbitMQ bridge can do without losing
// events — a consumer group on either Kafka client the dispatcher can use, each batch
// published with amqplib on a confirm channel, confirms awaited, then the offsets
// committed — with no event typing beyond a header, no validation, no dead-lettering.
// Run as its own process, like the dispatcher.
//
//   node bench/baseline-ingest.ts <kafkajs|platformatic> <brokers> <topic> <group> <amqp-uri> <exchange>
import { Consumer, type Message } from '@platformatic/kafka';
import amqp from 'amqplib';
import '../dispatcher/ingest/kafkajs-queue.ts';
import { Kafka, logLevel } from 'kafkajs';

const [client, brokers, topic, groupId, uri, exchange] = process.argv.slice(2);
if (!client || !brokers || !topic || !groupId || !uri || !exchange) {
  console.error(
    'usage: baseline-ingest.ts <kafkajs|platformatic> <brokers> <topic> <group> <amqp-uri> <exchange>',
  );
  process.exit(2);
}
const connection = await amqp.connect(uri);
const channel = await connection.createConfirmChannel();

async function onKafkajs(): Promise<() => Promise<void>> {
  const consumer = new Kafka({
    brokers: brokers!.split(','),
    clientId: 'baseline',
    logLevel: logLevel.WARN,
  }).consumer({ groupId: groupId! });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic!], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async (payload) => {
      const { batch } = payload;
      for (const message of batch.messages) {
        const type = message.headers?.type?.toString() ?? 'unknown';
        channel.publish(exchange!, type, message.value ?? Buffer.alloc(0), { persistent: true });
      }
      await channel.waitForConfirms();
      const last = batch.messages.at(-1);
      if (!last) return;
      payload.resolveOffset(last.offset);
      await consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
      ]);
    },
  });
  return () => consumer.disconnect();
}

async function onPlatformatic(): Promise<() => Promise<void>> {
  const consumer = new Consumer({
    clientId: 'baseline',
    bootstrapBrokers: brokers!.split(','),
    groupId: groupId!,
    autocommit: false,
    maxWaitTime: 500,
    highWaterMark: 5000,
  });
  const stream = await consumer.consume({ topics: [topic!], mode: 'earliest', autocommit: false });
  const TYPE = Buffer.from('type');
  let stopped = false;
  stream.on('readable', () => undefined);
  void (async () => {
    while (!stopped) {
      const batch: Message[] = [];
      for (let m = stream.read() as Message | null; m; m = stream.read() as Message | null) batch.push(m);
      if (batch.length === 0) {
        await new Promise<void>((resolve) => stream.once('readable', () => resolve()));
        continue;
      }
      const last = new Map<number, Message>();
      for (const message of batch) {
        const type = message.headerEntries.find(([name]) => name.equals(TYPE))?.[1].toString() ?? 'unknown';
        channel.publish(exchange!, type, message.value ?? Buffer.alloc(0), { persistent: true });
        last.set(message.partition, message);
      }
      await channel.waitForConfirms();
      for (const message of last.values()) void message.commit();
    }
  })();
  return async () => {
    stopped = true;
    await consumer.close(true);
  };
}

const close = client === 'platformatic' ? await onPlatformatic() : await onKafkajs();
console.log(JSON.stringify({ level: 30, msg: 'Baseline started' }));
const stop = async () => {
  await close();
  await connection.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
