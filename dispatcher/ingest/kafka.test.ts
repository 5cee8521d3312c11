import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { EventSourceSpec } from '../../core/api/v1alpha1/eventsource.ts';
import type { BrokerSession, MessageProperties } from '../broker/session.ts';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { SecretReader } from '../secrets.ts';
import { startTracing, type Tracing } from '../tracing.ts';
import { consumerSettings, KafkaIngest, planRecord, recordEventId } from './kafka.ts';
import type { KafkaRecord } from './kafka-client.ts';
import { kafkaClientOptions } from './kafka-kafkajs.ts';
import { platformaticOptions } from './kafka-platformatic.ts';

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
      publish: (exchange: string, routingKey: string, _b: Buffer, p: MessageProperties) =>
        exchange === 'dlq'
          ? attempt(`dead-letter ${exchange}`)
          : attempt(`event ${p.messageId} ${routingKey}`),
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
      target: { exchange: 'x', deadLetterExchange: 'dlq' },
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

  it('resends a chunk handed over while the one before it is in hand only after that one is done', async () => {
    // a1 fails late, b0 and b1 fail at once: b's resend must still come after a1's.
    const failLate = new Map([['a1', 60]]);
    const failNow = new Set(['b0', 'b1']);
    const sent: string[] = [];
    const session = {
      publish: (_e: string, _k: string, _b: Buffer, p: MessageProperties) => {
        const id = String(p.messageId);
        const delay = failLate.get(id);
        if (delay !== undefined) {
          failLate.delete(id);
          return new Promise((_, reject) => setTimeout(() => reject(new Error('channel closed')), delay));
        }
        if (failNow.delete(id)) return Promise.reject(new Error('channel closed'));
        sent.push(id);
        return Promise.resolve();
      },
      ready: () => Promise.resolve(),
    } as unknown as BrokerSession;
    const partitionRecord = (offset: number, id: string) => record(offset, '{"type":"t"}', {}, id);
    const kafka = ingest(session, { accepted: 0, deadLettered: 0 });
    const signal = new AbortController().signal;
    const done = await Promise.all([
      kafka.handle([partitionRecord(0, 'a0'), partitionRecord(1, 'a1')], signal),
      kafka.handle([partitionRecord(2, 'b0'), partitionRecord(3, 'b1')], signal),
    ]);
    assert.deepEqual(done, [2, 2]);
    assert.deepEqual(sent, ['a0', 'a1', 'b0', 'b1']);
  });

  it('stops when aborted and reports how many records are done', async () => {
    const { session } = fakeSession(2);
    const abort = new AbortController();
    abort.abort();
    assert.equal(await ingest(session, { accepted: 0, deadLettered: 0 }).handle(records, abort.signal), 0);
  });
});

describe('KafkaIngest, tracing', () => {
  const spec = {
    kafka: { brokers: ['k:9092'], topic: 'T', startFrom: 'latest' },
    dispatcher: { maxEventBytes: 1024, replicas: 1 },
  } as unknown as EventSourceSpec;
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const traced = [
    record(0, '{"type":"a"}', { traceparent, tracestate: 'a=b' }, 'e0'),
    record(1, '{"type":"b"}', {}, 'e1'),
  ];

  function capture() {
    const published: MessageProperties[] = [];
    const session = {
      publish: (_e: string, _k: string, _b: Buffer, p: MessageProperties) => {
        published.push(p);
        return Promise.resolve();
      },
      ready: () => Promise.resolve(),
    } as unknown as BrokerSession;
    return { session, published };
  }

  const ingestWith = (session: BrokerSession, tracing?: Tracing) =>
    new KafkaIngest({
      namespace: 'ns',
      source: 'anchor',
      spec,
      session,
      target: { exchange: 'x', deadLetterExchange: 'dlq' },
      secrets: {} as SecretReader,
      consume: () => Promise.reject(new Error('unused')),
      counters: { accepted: () => undefined, deadLettered: () => undefined },
      logger: pino({ level: 'silent' }),
      tracing,
    });

  it("passes a record's trace context on unchanged when tracing is off, and adds no headers to the rest", async () => {
    const { session, published } = capture();
    await ingestWith(session).handle(traced, new AbortController().signal);
    assert.deepEqual(published[0]!.headers, { traceparent, tracestate: 'a=b' });
    assert.equal('headers' in published[1]!, false);
  });

  it('publishes each event with the context of its own ingest span when tracing is on', async () => {
    const { session, published } = capture();
    const spans: ReadableSpan[] = [];
    const tracing = startTracing({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
      namespace: 'ns',
      source: 'anchor',
      logger: pino({ level: 'silent' }),
      exporter: {
        export: (batch, done) => {
          spans.push(...batch);
          done({ code: ExportResultCode.SUCCESS });
        },
        shutdown: () => Promise.resolve(),
      },
    });
    await ingestWith(session, tracing).handle(traced, new AbortController().signal);
    await tracing.shutdown();
    assert.equal(spans.length, 2);
    const [first, second] = spans;
    assert.equal(first!.parentSpanContext?.spanId, '00f067aa0ba902b7');
    assert.equal(first!.attributes['hookline.ingest'], 'kafka');
    assert.equal(
      published[0]!.headers?.traceparent,
      `00-${first!.spanContext().traceId}-${first!.spanContext().spanId}-01`,
    );
    assert.equal(first!.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(second!.parentSpanContext, undefined);
    assert.equal(
      published[1]!.headers?.traceparent,
      `00-${second!.spanContext().traceId}-${second!.spanContext().spanId}-01`,
    );
  });
});

describe('consumerSettings', () => {
  const secretData: Record<string, Record<string, string>> = {
    'kafka-tls': { 'ca.crt': 'CA PEM', 'tls.crt': 'CERT PEM', 'tls.key': 'KEY PEM' },
    'kafka-user': { username: 'anchor', password: 's3cret' },
  };
  const secrets = {
    entry: (name: string, key: string, field: string) => {
      const value = secretData[name]?.[key];
      return value === undefined
        ? Promise.reject(new Error(`${field}: Secret ${name} has no key "${key}"`))
        : Promise.resolve(value);
    },
  } as unknown as SecretReader;

  it('defaults the group to hookline.<namespace>.<name> and starts from the latest offset', async () => {
    const settings = await consumerSettings(
      'anchor',
      'events',
      { brokers: ['k:9092'], topic: 'TRANSACTION', startFrom: 'latest' },
      secrets,
    );
    assert.equal(settings.groupId, 'hookline.anchor.events');
    assert.equal(settings.fromBeginning, false);
    assert.equal(settings.tls, undefined);
    assert.equal(settings.sasl, undefined);
  });

  it('reads TLS material and SASL credentials from their Secrets', async () => {
    const settings = await consumerSettings(
      'anchor',
      'events',
      {
        brokers: ['k:9093'],
        topic: 'TRANSACTION',
        groupId: 'anchor-hooks',
        startFrom: 'earliest',
        tls: {
          caSecretRef: { name: 'kafka-tls', key: 'ca.crt' },
          certSecretRef: { name: 'kafka-tls', key: 'tls.crt' },
          keySecretRef: { name: 'kafka-tls', key: 'tls.key' },
          serverName: 'kafka.internal',
          insecureSkipVerify: false,
        },
        sasl: {
          mechanism: 'scram-sha-512',
          secretRef: { name: 'kafka-user', usernameKey: 'username', passwordKey: 'password' },
        },
      },
      secrets,
    );
    assert.equal(settings.groupId, 'anchor-hooks');
    assert.equal(settings.fromBeginning, true);
    const options = kafkaClientOptions(settings);
    assert.deepEqual(options.ssl, {
      rejectUnauthorized: true,
      ca: ['CA PEM'],
      cert: 'CERT PEM',
      key: 'KEY PEM',
      servername: 'kafka.internal',
    });
    assert.deepEqual(options.sasl, { mechanism: 'scram-sha-512', username: 'anchor', password: 's3cret' });
    const platformatic = platformaticOptions(settings);
    assert.deepEqual(platformatic.bootstrapBrokers, ['k:9093']);
    assert.deepEqual(platformatic.tls, {
      rejectUnauthorized: true,
      ca: ['CA PEM'],
      cert: 'CERT PEM',
      key: 'KEY PEM',
      servername: 'kafka.internal',
    });
    assert.equal(platformatic.tlsServerName, 'kafka.internal');
    assert.deepEqual(platformatic.sasl, {
      mechanism: 'SCRAM-SHA-512',
      username: 'anchor',
      password: 's3cret',
    });
  });

  it('passes no TLS or SASL to either client when the source names none', () => {
    const settings = {
      clientId: 'c',
      brokers: ['k:9092'],
      topic: 'T',
      groupId: 'g',
      fromBeginning: false,
    };
    for (const options of [kafkaClientOptions(settings), platformaticOptions(settings)]) {
      assert.equal('ssl' in options || 'tls' in options, false);
      assert.equal('sasl' in options, false);
    }
  });

  it('names the field whose Secret entry is missing', async () => {
    await assert.rejects(
      consumerSettings(
        'anchor',
        'events',
        {
          brokers: ['k:9093'],
          topic: 'T',
          startFrom: 'latest',
          sasl: {
            mechanism: 'plain',
            secretRef: { name: 'absent', usernameKey: 'username', passwordKey: 'password' },
          },
        },
        secrets,
      ),
      /spec\.kafka\.sasl\.secretRef: Secret absent has no key "username"/,
    );
  });
});
