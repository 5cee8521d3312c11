// Kafka ingest end to end with examples/anchor-platform as a user applies it (receiver URLs
// and the broker address pointed at the test environment): 10,000 events shaped like the
// Anchor Platform's produced to the topic TRANSACTION reach two wallets (Stellar
// signatures) and the business server (JWT), each filtered on /transaction/sep, while
// the dispatcher is killed mid-stream and restarted; records that are not events are
// dead-lettered with their reason and their partition moves on. All of it on each Kafka
// client the dispatcher can use.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Keypair } from '@stellar/stellar-base';
import amqp from 'amqplib';
import { KAFKA_CLIENTS } from '../../dispatcher/ingest/kafka-clients.ts';
import { restartKafka, restartRabbitMq } from '../env/env.ts';
import { freshNamespace, kafka, testEnv } from '../env/handles.ts';
import { queueDepth } from '../fixtures/broker.ts';
import { apply, getObject, waitForReady, waitForSourceInPlace } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { exampleManifests } from '../fixtures/examples.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { verifyJwt, verifyStellar } from '../fixtures/verifiers.ts';
import { eventually } from '../fixtures/wait.ts';

const TOPIC = 'TRANSACTION';
const EVENTS = 10_000;
const JWT_SECRET = 'callback-api-secret-for-tests';

interface AnchorEvent {
  type: string;
  id: string;
  sep: string;
  transaction?: { id: string; sep: string; kind: string; status: string };
  quote?: { id: string };
  customer?: { id: string };
}

/** Anchor Platform events: mostly transaction events of SEP 6, 24 and 31, some quotes and customers. */
function anchorEvents(count: number, run: string): AnchorEvent[] {
  const seps = ['6', '24', '31'];
  const transactionTypes = ['transaction_created', 'transaction_status_changed', 'transaction_error'];
  return Array.from({ length: count }, (_, i) => {
    const id = `${run}-${String(i).padStart(5, '0')}`;
    if (i % 20 === 7) return { type: 'quote_created', id, sep: '38', quote: { id: `q-${i}` } };
    if (i % 20 === 13) return { type: 'customer_updated', id, sep: '12', customer: { id: `c-${i}` } };
    const sep = seps[i % 3]!;
    return {
      type: transactionTypes[i % 3 === 0 ? 0 : (i >> 2) % 3]!,
      id,
      sep,
      transaction: {
        id: `tx-${i % 1000}`,
        sep,
        kind: sep === '31' ? 'receive' : 'deposit',
        status: 'pending_anchor',
      },
    };
  });
}

async function resetTopic(): Promise<void> {
  const admin = kafka('hookline-test-admin').admin();
  await admin.connect();
  try {
    if ((await admin.listTopics()).includes(TOPIC)) await admin.deleteTopics({ topics: [TOPIC] });
    await eventually(
      `topic ${TOPIC} created anew`,
      async () =>
        (await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }], waitForLeaders: true })) ||
        undefined,
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  } finally {
    await admin.disconnect();
  }
}

async function deadLetters(queue: string): Promise<{ reason: string; partition: number; offset: string }[]> {
  const connection = await amqp.connect(testEnv().rabbitmq.amqpUrl);
  try {
    const channel = await connection.createChannel();
    const found: { reason: string; partition: number; offset: string }[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: false });
      if (!message) break;
      const headers = message.properties.headers ?? {};
      found.push({
        reason: String(headers['x-hookline-reason']),
        partition: Number(headers['x-kafka-partition']),
        offset: String(headers['x-kafka-offset']),
      });
    }
    await channel.close(); // unacknowledged: they stay in the queue
    return found;
  } finally {
    await connection.close();
  }
}

for (const client of Object.keys(KAFKA_CLIENTS))
  describe(`Kafka ingest (examples/anchor-platform) on ${client}`, () => {
    /** The dispatcher's own environment, and the Kafka client under test. */
    const withClient = (env: Record<string, string> = {}) => ({ ...env, HOOKLINE_KAFKA_CLIENT: client });
    let namespace: string;
    let operator: OperatorProcess;
    const dispatchers: RunningProcess[] = [];
    const receivers: Record<'sep24' | 'sep6' | 'business', Receiver> = {} as never;
    const anchor = Keypair.random();
    const run = crypto.randomBytes(4).toString('hex');
    const events = anchorEvents(EVENTS, run);
    const expected = {
      sep24: new Set(events.filter((e) => e.transaction?.sep === '24').map((e) => e.id)),
      sep6: new Set(events.filter((e) => e.transaction?.sep === '6').map((e) => e.id)),
      business: new Set(events.filter((e) => e.transaction).map((e) => e.id)),
    };
    const idsAt = (receiver: Receiver) =>
      new Set(receiver.requests.map((r) => String(r.headers['hookline-event-id'])));

    before(async () => {
      await installCrds();
      namespace = await freshNamespace('ingest-kafka');
      await resetTopic();
      operator = startOperator({ namespace });
      receivers.sep24 = await startReceiver();
      receivers.sep6 = await startReceiver();
      receivers.business = await startReceiver();
      const urls: Record<string, string> = {
        'wallet-sep24': `${receivers.sep24.url}/callbacks/anchor`,
        'wallet-sep6': `${receivers.sep6.url}/anchor-callbacks`,
        'business-server': `${receivers.business.url}/event`,
      };
      await apply(
        namespace,
        exampleManifests('anchor-platform', (doc) => {
          if (doc.kind === 'Secret' && doc.metadata.name === 'anchor-signing-seed')
            return { ...doc, stringData: { seed: anchor.secret() } };
          if (doc.kind === 'Secret') return { ...doc, stringData: { secret: JWT_SECRET } };
          if (doc.kind === 'EventSource') {
            const spec = doc.spec as { kafka: Record<string, unknown> };
            return {
              ...doc,
              spec: {
                ...spec,
                kafka: { ...spec.kafka, brokers: testEnv().kafka.brokers },
                dispatcher: { maxEventBytes: 65_536 },
              },
            };
          }
          if (doc.kind === 'Webhook') return { ...doc, spec: { ...doc.spec, url: urls[doc.metadata.name] } };
          return doc;
        }),
      );
      await waitForSourceInPlace(namespace, 'anchor-events');
      for (const name of Object.keys(urls)) await waitForReady(namespace, 'webhooks', name, 'True');
    });

    after(async () => {
      for (const dispatcher of dispatchers) await dispatcher.stop();
      await operator?.stop();
      await Promise.all(Object.values(receivers).map((r) => r.close()));
    });

    it('delivers 10,000 events through a dispatcher killed mid-stream, nothing lost', async () => {
      const first = await startDispatcher(namespace, 'anchor-events', withClient());
      dispatchers.push(first);
      const producer = kafka('anchor-platform').producer();
      await producer.connect();
      // Three records that are not events, among the others: not JSON, too large, no type.
      const poison: { key: string; value: string; headers: Record<string, string> }[] = [
        { key: `${run}-poison-1`, value: 'this is not json', headers: { type: 'transaction_created' } },
        {
          key: `${run}-poison-2`,
          value: JSON.stringify({ blob: 'x'.repeat(100_000) }),
          headers: { type: 'quote_created' },
        },
        { key: `${run}-poison-3`, value: JSON.stringify({ id: 'no type header' }), headers: {} },
      ];
      const records: { key: string; value: string; headers: Record<string, string> }[] = events.map(
        (event) => ({
          key: event.id,
          value: JSON.stringify(event),
          headers: { type: event.type },
        }),
      );
      records.splice(100, 0, poison[0]!);
      records.splice(5000, 0, poison[1]!);
      records.splice(9000, 0, poison[2]!);
      for (let i = 0; i < records.length; i += 1000)
        await producer.send({ topic: TOPIC, messages: records.slice(i, i + 1000) });
      await producer.disconnect();

      // Kill the dispatcher once deliveries are well under way, and start it again.
      await eventually('3,000 deliveries before the kill', () => receivers.business.requests.length >= 3000, {
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      await first.kill();
      const deliveredAtKill = receivers.business.requests.length;
      // Sampling every second, so that the lag metric below follows the committed offsets.
      dispatchers.push(
        await startDispatcher(
          namespace,
          'anchor-events',
          withClient({ HOOKLINE_SAMPLE_INTERVAL_MS: '1000' }),
        ),
      );

      for (const [name, receiver] of Object.entries(receivers)) {
        const want = expected[name as keyof typeof expected];
        await eventually(
          `all ${want.size} events at ${name}`,
          () => {
            const got = idsAt(receiver);
            return [...want].every((id) => got.has(id)) && got;
          },
          { timeoutMs: 120_000, intervalMs: 500 },
        );
        const got = idsAt(receiver);
        // Exactly the events its match selects, none of the others (quotes, customers, other SEPs).
        assert.deepEqual(
          [...got].filter((id) => !want.has(id)),
          [],
          `${name} received events it does not match`,
        );
      }
      assert.ok(deliveredAtKill < expected.business.size, `killed mid-stream (${deliveredAtKill} delivered)`);

      // Every wallet request carries a Stellar signature over host:port that verifies.
      for (const name of ['sep24', 'sep6'] as const) {
        const receiver = receivers[name];
        const host = `127.0.0.1:${receiver.port}`;
        const bad = receiver.requests.filter((r) => !verifyStellar(r, anchor.publicKey(), host));
        assert.equal(
          bad.length,
          0,
          `${bad.length} of ${receiver.requests.length} ${name} signatures do not verify`,
        );
        assert.ok(
          receiver.requests.every(
            (r) => r.path === (name === 'sep24' ? '/callbacks/anchor' : '/anchor-callbacks'),
          ),
        );
      }
      // The business server gets a fresh HS256 JWT with iat and exp 30 s later at <base>/event.
      const now = Math.floor(Date.now() / 1000);
      for (const request of receivers.business.requests) {
        assert.equal(request.path, '/event');
        const claims = verifyJwt(request, JWT_SECRET);
        assert.ok(claims, 'JWT verifies');
        assert.equal(claims.exp - claims.iat, 30);
        assert.ok(claims.iat <= now + 1 && claims.iat >= now - 600);
      }
      // The event id is the record key; the body is the record value byte for byte.
      const sample = receivers.sep24.requests[0]!;
      const event = JSON.parse(sample.body.toString()) as AnchorEvent;
      assert.equal(sample.headers['hookline-event-id'], event.id);
      assert.equal(sample.headers['hookline-event-type'], event.type);

      // The three records that are not events are in the ingest dead-letter queue with their reasons.
      const letters = await deadLetters(`hookline-ingest.${namespace}.anchor-events.dlq`);
      const reasons = letters.map((l) => l.reason).sort();
      assert.equal(letters.length, 3, JSON.stringify(reasons));
      assert.match(reasons.join('\n'), /event is not valid JSON/);
      assert.match(reasons.join('\n'), /larger than maxEventBytes \(65536\)/);
      assert.match(reasons.join('\n'), /header "type" is missing/);

      // The status counts the deliveries: all those made after the restart, and of those
      // before, the ones written back before the kill (a SIGKILL loses at most the last
      // status interval's counts, never an event). The queues are empty.
      const restartedAt = receivers.business.requests[deliveredAtKill - 1]?.receivedAt ?? 0;
      for (const [hook, receiver] of [
        ['wallet-sep24', receivers.sep24],
        ['wallet-sep6', receivers.sep6],
        ['business-server', receivers.business],
      ] as const) {
        const afterRestart = receiver.requests.filter((r) => r.receivedAt > restartedAt).length;
        const succeeded = await eventually(
          `${hook} status counting the deliveries since the restart`,
          async () => {
            const object = await getObject(namespace, 'webhooks', hook);
            const count = (object?.status?.deliveries as { succeeded: number } | undefined)?.succeeded ?? 0;
            return count >= afterRestart && count;
          },
        );
        assert.ok(
          succeeded <= receiver.requests.length,
          `${hook}: ${succeeded} counted, ${receiver.requests.length} received`,
        );
        console.log(
          `${hook}: ${expected[hook === 'wallet-sep24' ? 'sep24' : hook === 'wallet-sep6' ? 'sep6' : 'business'].size} events, ` +
            `${receiver.requests.length} requests received, ${succeeded} counted in status`,
        );
        assert.equal(await queueDepth(`hookline.${namespace}.${hook}`), 0);
      }
    });

    it('takes in new records after the restart, and the committed offsets cover everything', async () => {
      const producer = kafka('anchor-platform').producer();
      await producer.connect();
      const late: AnchorEvent = {
        type: 'transaction_status_changed',
        id: `${run}-late`,
        sep: '24',
        transaction: { id: 'tx-late', sep: '24', kind: 'deposit', status: 'completed' },
      };
      // A producer's trace context in a record header travels with the event to the receiver.
      const traceparent = `00-${crypto.randomBytes(16).toString('hex')}-${crypto.randomBytes(8).toString('hex')}-01`;
      await producer.send({
        topic: TOPIC,
        messages: [
          {
            key: late.id,
            value: JSON.stringify(late),
            headers: { type: late.type, traceparent, tracestate: 'anchor=late' },
          },
        ],
      });
      await producer.disconnect();
      await eventually('the late event at the sep24 wallet', () => idsAt(receivers.sep24).has(late.id));
      const delivered = receivers.sep24.requests.find((r) => r.headers['hookline-event-id'] === late.id)!;
      assert.equal(delivered.headers.traceparent, traceparent, 'the record header traceparent, passed on');
      assert.equal(delivered.headers.tracestate, 'anchor=late');
      const admin = kafka('hookline-test-admin').admin();
      await admin.connect();
      try {
        const groupId = `hookline.${namespace}.anchor-events`;
        const ends = await admin.fetchTopicOffsets(TOPIC);
        await eventually('committed offsets at the end of every partition', async () => {
          const [committed] = await admin.fetchOffsets({ groupId, topics: [TOPIC] });
          return ends.every(
            (end) => committed?.partitions.find((p) => p.partition === end.partition)?.offset === end.offset,
          );
        });
      } finally {
        await admin.disconnect();
      }
      // The dispatcher's lag metric agrees: a series per partition of the topic, each at zero.
      const dispatcher = dispatchers.at(-1)!;
      const port = dispatcher.logs.find((l) => l.msg === 'Dispatcher listening')?.port as number;
      const lags = await eventually('hookline_kafka_consumer_lag at zero on every partition', async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const series = text
          .split('\n')
          .filter((line) => line.startsWith('hookline_kafka_consumer_lag{'))
          .filter(
            (line) => line.includes(`namespace="${namespace}"`) && line.includes('source="anchor-events"'),
          );
        return series.length === 3 && series.every((line) => line.endsWith(' 0')) ? series : undefined;
      });
      assert.deepEqual(
        lags.map((line) => /partition="(\d+)"/.exec(line)?.[1]).sort(),
        ['0', '1', '2'],
        `one series per partition of ${TOPIC}: ${lags.join('; ')}`,
      );
    });

    it('loses nothing when the Kafka broker restarts mid-stream', async () => {
      const dispatcher = dispatchers.at(-1)!;
      const batch = anchorEvents(3000, `${run}-restart`).filter((e) => e.transaction);
      const producer = kafka('anchor-platform').producer();
      await producer.connect();
      const messages = batch.map((e) => ({ key: e.id, value: JSON.stringify(e), headers: { type: e.type } }));
      await producer.send({ topic: TOPIC, messages: messages.slice(0, 1500) });
      await producer.disconnect();
      const want = new Set(batch.map((e) => e.id));
      const arrived = () => [...idsAt(receivers.business)].filter((id) => want.has(id)).length;
      await eventually('the first events of the batch', () => arrived() > 0, { intervalMs: 20 });
      const started = Date.now();
      await restartKafka();
      const restartMs = Date.now() - started;
      const again = kafka('anchor-platform').producer();
      await again.connect();
      await again.send({ topic: TOPIC, messages: messages.slice(1500) });
      await again.disconnect();
      await eventually(`all ${want.size} events after the restart`, () => arrived() === want.size, {
        timeoutMs: 120_000,
        intervalMs: 500,
      });
      console.log(`Kafka restarted in ${restartMs} ms; all ${want.size} events arrived`);
      assert.equal(dispatcher.child.exitCode, null, 'the dispatcher kept running');
      assert.ok(
        dispatcher.logs.some((l) => l.msg === 'Joined the Kafka consumer group'),
        'the consumer (re)joined its group',
      );
    });

    it('loses nothing when RabbitMQ restarts while records are taken in', async () => {
      const dispatcher = dispatchers.at(-1)!;
      const batch = anchorEvents(6000, `${run}-rabbit`).filter((e) => e.transaction);
      const want = new Set(batch.map((e) => e.id));
      const arrived = () => [...idsAt(receivers.business)].filter((id) => want.has(id)).length;
      const messages = batch.map((e) => ({ key: e.id, value: JSON.stringify(e), headers: { type: e.type } }));
      const producer = kafka('anchor-platform').producer();
      await producer.connect();
      await producer.send({ topic: TOPIC, messages: messages.slice(0, 2000) });
      await eventually('the first events of the batch', () => arrived() > 0, { intervalMs: 20 });
      // The rest is produced while the broker is down: the ingest reads it and cannot publish.
      const restarting = restartRabbitMq();
      await producer.send({ topic: TOPIC, messages: messages.slice(2000) });
      await producer.disconnect();
      await restarting;
      await eventually(`all ${want.size} events after the restart`, () => arrived() === want.size, {
        timeoutMs: 180_000,
        intervalMs: 500,
      });
      assert.equal(dispatcher.child.exitCode, null, 'the dispatcher kept running');
    });

    it('loses nothing when a second replica joins and one leaves mid-stream (rebalances)', async () => {
      const batch = anchorEvents(4000, `${run}-rebalance`).filter((e) => e.transaction);
      const want = new Set(batch.map((e) => e.id));
      const arrived = () => [...idsAt(receivers.business)].filter((id) => want.has(id)).length;
      const producer = kafka('anchor-platform').producer();
      await producer.connect();
      const messages = batch.map((e) => ({ key: e.id, value: JSON.stringify(e), headers: { type: e.type } }));
      // A second replica joins: the group rebalances while the first half is taken in.
      const joining = startDispatcher(namespace, 'anchor-events', withClient());
      await producer.send({ topic: TOPIC, messages: messages.slice(0, 1800) });
      const second = await joining;
      dispatchers.push(second);
      await second.waitForLog('group join', (l) => l.msg === 'Joined the Kafka consumer group', 60_000);
      // The first replica leaves (a rolling update): the other one takes its partitions.
      const first = dispatchers.at(-2)!;
      const leaving = first.stop();
      await producer.send({ topic: TOPIC, messages: messages.slice(1800) });
      await producer.disconnect();
      assert.equal(await leaving, 0, 'the replica stopped cleanly');
      await eventually(`all ${want.size} events across the rebalances`, () => arrived() === want.size, {
        timeoutMs: 120_000,
        intervalMs: 500,
      });
      // The rejoin can be logged after the last event arrived: the group rebalances on its own time.
      await eventually(
        'the remaining replica rejoined after the other left',
        () => second.logs.filter((l) => l.msg === 'Joined the Kafka consumer group').length >= 2,
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    });
  });
