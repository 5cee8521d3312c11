// Kafka consumer lag as the dispatcher reports it (hookline_kafka_consumer_lag), against a
// real Kafka broker: records produced and not yet committed by the group count on their
// partition; once the handler is done and its chunk committed, the lag falls to zero. The
// consumer is Hookline's own, on each Kafka client it can use, its handler held back by the test.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { KafkaRecord, KafkaSubscription } from '../../dispatcher/ingest/kafka-client.ts';
import { KAFKA_CLIENTS } from '../../dispatcher/ingest/kafka-clients.ts';
import { kafka, testEnv } from '../env/handles.ts';
import { eventually } from '../fixtures/wait.ts';

for (const [client, consume] of Object.entries(KAFKA_CLIENTS))
  describe(`Kafka consumer lag (${client})`, () => {
    const topic = `lag-${crypto.randomBytes(4).toString('hex')}`;
    const producer = kafka('hookline-lag-producer').producer();
    const held: (() => void)[] = [];
    const seen: KafkaRecord[] = [];
    let holding = true;
    let subscription: KafkaSubscription;

    const produce = (partition: number, count: number) =>
      producer.send({
        topic,
        messages: Array.from({ length: count }, (_, i) => ({ partition, value: `record ${i}` })),
      });
    const lagOf = async () =>
      Object.fromEntries((await subscription.lag()).map(({ partition, lag }) => [partition, lag]));

    before(async () => {
      const admin = kafka('hookline-lag-admin').admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
      await admin.disconnect();
      await producer.connect();
      subscription = await consume(
        {
          clientId: `hookline-lag-test-${client}`,
          brokers: testEnv().kafka.brokers,
          topic,
          groupId: `${topic}-group`,
          fromBeginning: true,
        },
        async (records: KafkaRecord[]) => {
          seen.push(...records);
          if (holding) await new Promise<void>((resolve) => held.push(resolve));
          return records.length;
        },
        pino({ level: 'warn' }),
      );
      await eventually('the consumer joined its group', () => subscription.joined || undefined, {
        timeoutMs: 60_000,
      });
    });

    after(async () => {
      holding = false;
      for (const release of held.splice(0)) release();
      await subscription?.stop();
      await producer.disconnect();
    });

    it('counts what the group has not committed, per partition, and falls to zero once done', async () => {
      assert.deepEqual(await lagOf(), { 0: 0, 1: 0 }, 'an empty topic has no lag');

      await produce(0, 40);
      await produce(1, 15);
      await eventually('the handler holds the first batch', () => held.length >= 1 || undefined, {
        timeoutMs: 30_000,
      });
      assert.deepEqual(
        await lagOf(),
        { 0: 40, 1: 15 },
        'nothing committed while the handler holds the records',
      );

      holding = false;
      for (const release of held.splice(0)) release();
      const drained = await eventually(
        'the lag falls to zero once the chunks are committed',
        async () => {
          const lag = await lagOf();
          return lag[0] === 0 && lag[1] === 0 ? lag : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      assert.deepEqual(drained, { 0: 0, 1: 0 });
      assert.equal(seen.length, 55);

      holding = true;
      await produce(1, 7);
      await eventually('the handler holds the new records', () => held.length >= 1 || undefined, {
        timeoutMs: 30_000,
      });
      assert.deepEqual(await lagOf(), { 0: 0, 1: 7 }, 'the lag rises again with new records');
    });
  });
