// Kafka ingest for a `kafka` EventSource: a consumer group member that turns each record
// into an event (its type from the source's eventType rule, its id from the record key)
// and publishes it to the source's exchange; a record that cannot be an event goes to the
// ingest dead-letter queue with its reason. Offsets are committed only after the broker
// confirmed everything before them, so a crash, a rebalance or a broker restart can repeat
// events but never lose one.
import type { Logger } from 'pino';
import type { EventSourceSpec } from '../../core/api/v1alpha1/eventsource.ts';
import { errorMessage } from '../../core/errors.ts';
import { Retry, systemClock, type Clock, type RetrySchedule } from '../../core/retry.ts';
import type { BrokerSession } from '../broker/session.ts';
import type { SecretReader } from '../secrets.ts';
import { noTracing, traceContextOf, type TraceSpan, type Tracing } from '../tracing.ts';
import { intake, type TypeRule } from './intake.ts';
import type {
  KafkaConsume,
  KafkaConsumerSettings,
  KafkaRecord,
  KafkaSubscription,
  PartitionLag,
} from './kafka-client.ts';
import { deadLetterInput, publishEvent, type IngestTarget } from './publish.ts';

export interface IngestCounters {
  accepted(count: number): void;
  deadLettered(count: number): void;
}

export interface KafkaIngestOptions {
  namespace: string;
  source: string;
  spec: EventSourceSpec;
  session: BrokerSession;
  target: IngestTarget;
  secrets: SecretReader;
  consume: KafkaConsume;
  counters: IngestCounters;
  logger: Logger;
  clock?: Clock;
  /** Off when not given. */
  tracing?: Tracing;
}

/** After the broker did not confirm a chunk: 200 ms more for each failure in a row, up to 5 s. */
const RESEND_RETRY: RetrySchedule = { kind: 'linear', stepMs: 200, maxMs: 5000 };
/** How long a resend waits, at most, for the broker to be back. */
const BROKER_WAIT_MS = 10_000;

/** Keys longer than this are not ids; the record's coordinates are used instead. */
const MAX_KEY_ID = 200;

/** The event id of a record: its key (the Anchor Platform's event id), else its coordinates. */
export function recordEventId(record: KafkaRecord): string {
  const key = record.key?.toString('utf8');
  if (key && key.length <= MAX_KEY_ID && !key.includes('\uFFFD')) return key;
  return `kafka:${record.topic}:${record.partition}:${record.offset}`;
}

function origin(record: KafkaRecord): Record<string, string | number> {
  return {
    'x-kafka-topic': record.topic,
    'x-kafka-partition': record.partition,
    'x-kafka-offset': record.offset,
  };
}

/** What happens to one record: publish it as an event, or dead-letter it with a reason. */
export function planRecord(
  record: KafkaRecord,
  rule: TypeRule | undefined,
  maxEventBytes: number,
): { kind: 'event'; id: string; type: string } | { kind: 'dead-letter'; reason: string } {
  const body = record.value ?? Buffer.alloc(0);
  const result = intake({ body, maxEventBytes, rule, header: (name) => record.headers[name] });
  if (!result.ok) return { kind: 'dead-letter', reason: result.reason };
  return { kind: 'event', id: recordEventId(record), type: result.type };
}

/** The consumer settings of a kafka source, its TLS and SASL material read from its Secrets. */
export async function consumerSettings(
  namespace: string,
  source: string,
  spec: NonNullable<EventSourceSpec['kafka']>,
  secrets: SecretReader,
): Promise<KafkaConsumerSettings> {
  const { tls, sasl } = spec;
  const read = async (ref: { name: string; key: string } | undefined, field: string) =>
    ref ? await secrets.entry(ref.name, ref.key, field) : undefined;
  return {
    clientId: `hookline-${namespace}-${source}`,
    brokers: spec.brokers,
    topic: spec.topic,
    groupId: spec.groupId ?? `hookline.${namespace}.${source}`,
    fromBeginning: spec.startFrom === 'earliest',
    ...(tls
      ? {
          tls: {
            ca: await read(tls.caSecretRef, 'spec.kafka.tls.caSecretRef'),
            cert: await read(tls.certSecretRef, 'spec.kafka.tls.certSecretRef'),
            key: await read(tls.keySecretRef, 'spec.kafka.tls.keySecretRef'),
            serverName: tls.serverName,
            rejectUnauthorized: !tls.insecureSkipVerify,
          },
        }
      : {}),
    ...(sasl
      ? {
          sasl: {
            mechanism: sasl.mechanism,
            username: await secrets.entry(
              sasl.secretRef.name,
              sasl.secretRef.usernameKey,
              'spec.kafka.sasl.secretRef',
            ),
            password: await secrets.entry(
              sasl.secretRef.name,
              sasl.secretRef.passwordKey,
              'spec.kafka.sasl.secretRef',
            ),
          },
        }
      : {}),
  };
}

export class KafkaIngest {
  readonly #o: KafkaIngestOptions;
  #subscription: KafkaSubscription | undefined;
  /** Per partition, the latest chunk being handled: a chunk after it resends only once it is done. */
  readonly #tails = new Map<string, Promise<number>>();

  constructor(options: KafkaIngestOptions) {
    this.#o = options;
  }

  get joined(): boolean {
    return this.#subscription?.joined ?? false;
  }

  async start(): Promise<void> {
    const { namespace, source, spec, secrets, logger } = this.#o;
    const settings = await consumerSettings(namespace, source, spec.kafka!, secrets);
    logger.info(
      { topic: settings.topic, groupId: settings.groupId, brokers: settings.brokers },
      'Starting Kafka ingest',
    );
    this.#subscription = await this.#o.consume(
      settings,
      (records, signal) => this.handle(records, signal),
      logger,
    );
  }

  /** The consumer group's lag per partition, once the consumer runs. */
  async lag(): Promise<PartitionLag[] | undefined> {
    return this.#subscription?.lag();
  }

  async stop(): Promise<void> {
    await this.#subscription?.stop();
    this.#subscription = undefined;
  }

  /**
   * Publishes a chunk of records, pipelined: all sent, then all confirms awaited. After a
   * failure (the broker went away) it waits for the broker and resends from the first
   * record not confirmed, so the events of a partition keep their order. A chunk handed
   * over while the one before it on its partition is still in hand is sent at once, but
   * resends only after that one is done, so resends keep the order too.
   */
  async handle(records: KafkaRecord[], signal: AbortSignal): Promise<number> {
    if (records.length === 0) return 0;
    const key = `${records[0]!.topic}:${records[0]!.partition}`;
    const current = this.#publish(records, signal, this.#tails.get(key));
    this.#tails.set(key, current);
    try {
      return await current;
    } finally {
      if (this.#tails.get(key) === current) this.#tails.delete(key);
    }
  }

  async #publish(records: KafkaRecord[], signal: AbortSignal, before?: Promise<number>): Promise<number> {
    const { spec, session, target, logger } = this.#o;
    const clock = this.#o.clock ?? systemClock;
    const plans = records.map((record) => planRecord(record, spec.eventType, spec.dispatcher.maxEventBytes));
    const spans = this.#spans(records, plans);
    let from = 0;
    const retry = new Retry(RESEND_RETRY, { clock });
    while (from < records.length) {
      if (signal.aborted) return from;
      const sends = records.slice(from).map((record, i) => {
        const plan = plans[from + i]!;
        const body = record.value ?? Buffer.alloc(0);
        if (plan.kind !== 'event') return deadLetterInput(session, target, body, plan.reason, origin(record));
        // Traced: the ingest span's context; else the record's own, passed on unchanged.
        const trace = spans ? spans[from + i]?.context : traceContextOf(record.headers);
        return publishEvent(session, target, { id: plan.id, type: plan.type, body, trace });
      });
      const results = await Promise.allSettled(sends);
      const failed = results.findIndex((r) => r.status === 'rejected');
      const confirmed = failed === -1 ? results.length : failed;
      if (spans) for (let k = from; k < from + confirmed; k++) spans[k]?.end();
      this.#count(plans.slice(from, from + confirmed));
      from += confirmed;
      if (failed === -1) break;
      const error = (results[failed] as PromiseRejectedResult).reason as unknown;
      logger.warn(
        { err: errorMessage(error), offset: records[from]!.offset, partition: records[from]!.partition },
        'The broker did not confirm ingested records; resending',
      );
      await before?.catch(() => undefined);
      await retry.wait(signal);
      await Promise.race([session.ready(), clock.sleep(BROKER_WAIT_MS, signal)]).catch(() => undefined);
    }
    return from;
  }

  /** When tracing is on, an ingest span for each record that is an event, ended once it is confirmed. */
  #spans(
    records: KafkaRecord[],
    plans: ReturnType<typeof planRecord>[],
  ): (TraceSpan | undefined)[] | undefined {
    const tracing = this.#o.tracing ?? noTracing;
    if (!tracing.enabled) return undefined;
    return plans.map((plan, i) =>
      plan.kind === 'event'
        ? tracing.ingest(plan.id, plan.type, 'kafka', traceContextOf(records[i]!.headers))
        : undefined,
    );
  }

  #count(plans: ReturnType<typeof planRecord>[]): void {
    let accepted = 0;
    for (const plan of plans) {
      if (plan.kind === 'event') {
        accepted++;
        continue;
      }
      this.#o.logger.warn({ reason: plan.reason }, 'Dead-lettered a Kafka record that is not an event');
    }
    if (accepted > 0) this.#o.counters.accepted(accepted);
    if (plans.length > accepted) this.#o.counters.deadLettered(plans.length - accepted);
  }
}
