// The baseline of bench/ingest-http: the least an HTTP ingest endpoint can do — node:http
// reads the body, JSON.parse takes the event type for the routing key, an amqplib confirm
// channel publishes it persistent, and 202 answers once the broker confirmed — with no
// authentication, limits, idempotency or tracing. Run as its own process, like the dispatcher.
//
//   node bench/baseline-ingest-http.ts <amqp-uri> <exchange>
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import amqp from 'amqplib';

const [uri, exchange] = process.argv.slice(2);
if (!uri || !exchange) {
  console.error('usage: baseline-ingest-http.ts <amqp-uri> <exchange>');
  process.exit(2);
}
const connection = await amqp.connect(uri);
const channel = await connection.createConfirmChannel();
let ids = 0;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    let type: string;
    try {
      type = String((JSON.parse(body.toString('utf8')) as { type: unknown }).type);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const id = `evt_${process.pid}_${++ids}`;
    channel.publish(exchange, type, body, { persistent: true, messageId: id, type }, (error) => {
      if (error) res.writeHead(503).end();
      else res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id, type }));
    });
  });
});
server.keepAliveTimeout = 30_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
console.log(JSON.stringify({ msg: 'Baseline started', port: (server.address() as AddressInfo).port }));
process.once('SIGTERM', () => {
  server.close();
  void connection.close().finally(() => process.exit(0));
});
