// The baseline of bench/dispatch: the least a webhook dispatcher can do — amqplib consume,
// undici POST, ack — with no signing, policy, status or filtering. Run as its own process,
// like the dispatcher.
//
//   node bench/baseline-pipeline.ts <amqp-uri> <queue,queue,...> <url-prefix> <concurrency>
// Queue i is delivered to <url-prefix>/<i>.
import amqp from 'amqplib';
import { Agent, request } from 'undici';

const [uri, queueList, urlPrefix, concurrencyText] = process.argv.slice(2);
if (!uri || !queueList || !urlPrefix || !concurrencyText) {
  console.error('usage: baseline-pipeline.ts <amqp-uri> <queues> <url-prefix> <concurrency>');
  process.exit(2);
}
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 64 });
const connection = await amqp.connect(uri);
const queues = queueList.split(',');
for (const [index, queue] of queues.entries()) {
  const channel = await connection.createChannel();
  await channel.prefetch(Number(concurrencyText));
  const url = `${urlPrefix}/${index}`;
  await channel.consume(queue, (message) => {
    if (!message) return;
    void request(url, {
      method: 'POST',
      dispatcher: agent,
      body: message.content,
      headers: { 'content-type': 'application/json' },
    })
      .then(async (response) => {
        await response.body.dump();
        if (response.statusCode < 300) channel.ack(message);
        else channel.nack(message, false, true);
      })
      .catch(() => channel.nack(message, false, true));
  });
}
console.log(JSON.stringify({ msg: 'Baseline started', queues: queues.length }));
process.once('SIGTERM', () => {
  void connection.close().finally(() => process.exit(0));
});
