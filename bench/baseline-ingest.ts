// The baseline of bench/ingest: the least a Kafka → RabbitMQ bridge can do without losing
// events — a kafkajs consumer group, each batch published with amqplib on a confirm
// channel, confirms awaited, then the offsets committed — with no event typing, no
// validation, no dead-lettering. Run as its own process, like the dispatcher.
//
//   node bench/baseline-ingest.ts <brokers> <topic> <group> <amqp-uri> <exchange>
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';

const [brokers, topic, groupId, uri, exchange] = process.argv.slice(2);
if (!brokers || !topic || !groupId || !uri || !exchange) {
  console.error('usage: baseline-ingest.ts <brokers> <topic> <group> <amqp-uri> <exchange>');
  process.exit(2);
}
const connection = await amqp.connect(uri);
const channel = await connection.createConfirmChannel();
const consumer = new Kafka({
  brokers: brokers.split(','),
  clientId: 'baseline',
  logLevel: logLevel.WARN,
}).consumer({
  groupId,
});
await consumer.connect();
await consumer.subscribe({ topics: [topic], fromBeginning: true });
await consumer.run({
  autoCommit: false,
  eachBatch: async (payload) => {
    const { batch } = payload;
    for (const message of batch.messages) {
      const type = message.headers?.type?.toString() ?? 'unknown';
      channel.publish(exchange, type, message.value ?? Buffer.alloc(0), { persistent: true });
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
console.log(JSON.stringify({ level: 30, msg: 'Baseline started' }));
const stop = async () => {
  await consumer.disconnect();
  await connection.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
