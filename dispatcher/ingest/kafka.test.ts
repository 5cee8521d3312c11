import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { EventSourceSpec } from '../../operator/api/v1alpha1/eventsource.ts';
import type { BrokerSession, MessageProperties } from '../broker/session.ts';
import type { SecretReader } from '../secrets.ts';
import { KafkaIngest, planRecord, recordEventId } from './kafka.ts';
import type { KafkaRecord } from './kafka-client.ts';

const record = (
  offset: number,
  value: string | null,
  headers: Record<string, string> = {},
  key?: string,
): KafkaRecord => ({
  topic: 'TRANSACTION',
  partition: 0,
  offset: String(offset),
  key: key === undefined ? null : Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
  headers,
});

describe('planRecord', () => {
  it('publishes a JSON record under its header type, keyed by its record key', () => {
    assert.deepEqual(
      planRecord(record(7, '{"id":"e1"}', { type: 'quote_created' }, 'e1'), { header: 'type' }, 1024),
      {
        kind: 'event',
        id: 'e1',
        type: 'quote_created',
      },
    );
  });
  it('uses the coordinates when there is no key', () =>
    assert.equal(recordEventId(record(42, '{}')), 'kafka:TRANSACTION:0:42'));
  it('dead-letters a tombstone, a non-JSON, an oversized and an untyped record with their reasons', () => {
    const reasons = [
      record(1, null),
      record(2, 'oops'),
      record(3, JSON.stringify({ type: 'x'.repeat(2000) })),
      record(4, '{}'),
    ]
      .map((r) => planRecord(r, undefined, 1024))
      .map((plan) => (plan.kind === 'dead-letter' ? plan.reason : 'published'));
    assert.match(reasons[0]!, /not valid JSON/);
    assert.match(reasons[1]!, /not valid JSON/);
    assert.match(reasons[2]!, /larger than maxEventBytes/);
    assert.match(reasons[3]!, /\/type is missing/);
  });
});

describe('KafkaIngest.handle', () => {
  const spec = {
    kafka: { brokers: ['k:9092'], topic: 'T', startFrom: 'latest' },
    dispatcher: { maxEventBytes: 1024, replicas: 1 },
  } as unknown as EventSourceSpec;

  function fakeSession(failAtCall: number) {
    const sent: string[] = [];
    let calls = 0;
    const attempt = (what: string) => {
      calls++;
      if (calls === failAtCall) return Promise.reject(new Error('channel closed'));
      sent.push(what);
      return Promise.resolve();
    };
    const session = {
      publish: (_e: string, routingKey: string, _b: Buffer, p: MessageProperties) =>
        attempt(`event ${p.messageId} ${routingKey}`),
      sendToQueue: (queue: string) => attempt(`dead-letter ${queue}`),
      ready: () => Promise.resolve(),
    } as unknown as BrokerSession;
    return { session, sent };
  }

  function ingest(session: BrokerSession, counted: { accepted: number; deadLettered: number }) {
    return new KafkaIngest({
      namespace: 'ns',
      source: 'anchor',
      spec,
      session,
      target: { exchange: 'x', deadLetterQueue: 'dlq' },
      secrets: {} as SecretReader,
      consume: () => Promise.reject(new Error('unused')),
      counters: {
        accepted: (n) => (counted.accepted += n),
        deadLettered: (n) => (counted.deadLettered += n),
      },
      logger: pino({ level: 'silent' }),
    });
  }

  const records = [
    record(0, '{"type":"a"}', {}, 'e0'),
    record(1, 'not json'),
    record(2, '{"type":"b"}', {}, 'e2'),
    record(3, '{"type":"c"}', {}, 'e3'),
  ];

  it('publishes events and dead-letters the rest, all confirmed', async () => {
    const { session, sent } = fakeSession(0);
    const counted = { accepted: 0, deadLettered: 0 };
    const done = await ingest(session, counted).handle(records, new AbortController().signal);
    assert.equal(done, 4);
    assert.deepEqual(sent, ['event e0 a', 'dead-letter dlq', 'event e2 b', 'event e3 c']);
    assert.deepEqual(counted, { accepted: 3, deadLettered: 1 });
  });

  it('resends from the first unconfirmed record, keeping the order of first sends', async () => {
    const { session, sent } = fakeSession(3);
    const counted = { accepted: 0, deadLettered: 0 };
    const done = await ingest(session, counted).handle(records, new AbortController().signal);
    assert.equal(done, 4);
    // e2 failed: e3 went through in the same round and is sent again after e2.
    assert.deepEqual(sent, ['event e0 a', 'dead-letter dlq', 'event e3 c', 'event e2 b', 'event e3 c']);
    assert.deepEqual(counted, { accepted: 3, deadLettered: 1 });
  });

  it('stops when aborted and reports how many records are done', async () => {
    const { session } = fakeSession(2);
    const abort = new AbortController();
    abort.abort();
    assert.equal(await ingest(session, { accepted: 0, deadLettered: 0 }).handle(records, abort.signal), 0);
  });
});
