// The baseline of bench/dispatch: the least a webhook dispatcher can do — amqplib consume,
// undici POST signed as Hookline signs it (standard-webhooks: HMAC-SHA256 of
// "<id>.<timestamp>.<body>"), ack — with no policy, status or filtering. Run as its own
// process, like the dispatcher.
//
//   node bench/baseline-pipeline.ts <amqp-uri> <queue,queue,...> <url-prefix> <concurrency>
// Queue i is delivered to <url-prefix>/<i>.
import crypto from 'node:crypto';
import amqp from 'amqplib';
import { Agent, request } from 'undici';

const [uri, queueList, urlPrefix, concurrencyText] = process.argv.slice(2);
if (!uri || !queueList || !urlPrefix || !concurrencyText) {
  console.error('usage: baseline-pipeline.ts <amqp-uri> <queues> <url-prefix> <concurrency>');
  process.exit(2);
}
const key = crypto.createSecretKey(crypto.randomBytes(32));
function signed(id: string, body: Buffer): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const hmac = crypto.createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': `v1,${hmac.digest('base64')}`,
  };
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
      headers: signed(String(message.properties.messageId), message.content),
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
