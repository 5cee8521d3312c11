// The dispatcher's own small interface to Kafka (a consumer group reading one topic, with
// offsets committed only once the records before them are handled), so that the client
// library can be swapped: @platformatic/kafka (kafka-platformatic.ts) or kafkajs
// (kafka-kafkajs.ts), chosen by HOOKLINE_KAFKA_CLIENT.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.ts';
import { Retry, type Clock, type RetrySchedule } from '../../core/retry.ts';

export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Record headers as text; a header sent several times keeps its first value. */
  headers: Record<string, string>;
}

export interface KafkaTlsSettings {
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
  rejectUnauthorized: boolean;
}

export interface KafkaSaslSettings {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

export interface KafkaConsumerSettings {
  clientId: string;
  brokers: string[];
  topic: string;
  groupId: string;
  fromBeginning: boolean;
  tls?: KafkaTlsSettings;
  sasl?: KafkaSaslSettings;
  /** Records handed to the handler at most at once; their offsets are committed after each hand-over. */
  chunkSize?: number;
}

/**
 * Handles records of one partition, in offset order; a client may hand several partitions'
 * records over at the same time, each in a call of its own. Resolves with how many of them, from
 * the first, are done (all of them, unless `signal` aborted): only those are committed.
 */
export type RecordHandler = (records: KafkaRecord[], signal: AbortSignal) => Promise<number>;

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Records past the group's committed offset, up to the partition's high watermark. */
  lag: number;
}

export interface KafkaSubscription {
  /** True once the consumer has joined its group and until it stops or crashes. */
  readonly joined: boolean;
  /** The group's lag on every partition of the topic. */
  lag(): Promise<PartitionLag[]>;
  stop(): Promise<void>;
}

export type KafkaConsume = (
  settings: KafkaConsumerSettings,
  handler: RecordHandler,
  logger: Logger,
) => Promise<KafkaSubscription>;

/** A source's TLS settings as Node's TLS connection options, which both clients take. */
export function tlsOptions(tls: KafkaTlsSettings) {
  return {
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.ca ? { ca: [tls.ca] } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
  };
}

export interface ConsumerLife<C> {
  /** Starts the consumer (the first time, or anew); it sets `current` before it may fail. */
  start(): Promise<void>;
  /** The consumer started last. */
  current(): C | undefined;
  /** Closes a consumer that crashed or could not start. */
  close(crashed: C): Promise<void>;
  /** True once the subscription stopped: no restart then. */
  stopped(): boolean;
  signal: AbortSignal;
  logger: Logger;
  /** The system's unless a test gives one. */
  clock?: Clock;
}

/**
 * Keeps a consumer running on either client: `begin` starts it, and `crashed` (called by
 * the client's code when it crashed for good) or a start that failed starts it anew after
 * a RESTART delay that grows with each failure in a row until `succeeded` (its group join).
 */
export function keepConsuming<C>(life: ConsumerLife<C>) {
  const restarts = new Retry(RESTART, { clock: life.clock });
  async function crashed(consumer: C | undefined): Promise<void> {
    const delay = restarts.failed();
    if (consumer !== undefined) await life.close(consumer).catch(() => undefined);
    await restarts.sleep(delay, life.signal);
    if (life.stopped() || life.current() !== consumer) return;
    try {
      await life.start();
    } catch (error) {
      life.logger.warn(
        { err: errorMessage(error), retryInMs: delay },
        'Cannot start the Kafka consumer; retrying',
      );
      void crashed(life.current());
    }
  }
  return {
    async begin(): Promise<void> {
      try {
        await life.start();
      } catch (error) {
        life.logger.warn({ err: errorMessage(error) }, 'Cannot start the Kafka consumer; retrying');
        void crashed(life.current());
      }
    },
    crashed,
    succeeded: () => restarts.succeeded(),
  };
}

export interface StreamReading<S> {
  /**
   * Reads `stream` until it fails or ends, and resolves with why (undefined once the consumer
   * stops); it calls `progress` whenever it hands records over.
   */
  read(stream: S, progress: () => void): Promise<unknown>;
  /** A new stream on the same consumer, from the group's committed offsets. */
  open(): Promise<S>;
  /** True while the consumer is a member of its group, or rejoining as that member. */
  member(): boolean;
  /** The consumer is a member no more: it must be replaced (`keepConsuming`'s `crashed`). */
  lost(error: unknown): void;
  /** True once the consumer stopped or was replaced: nothing more to read. */
  stopped(): boolean;
  signal: AbortSignal;
  logger: Logger;
  /** The system's unless a test gives one. */
  clock?: Clock;
}

/**
 * Reads a consumer's streams one after another, for a client whose stream fails with its
 * first failed fetch (@platformatic/kafka: when a partition's leader went away, until the
 * metadata names the new one). The consumer is still a member of its group then, so a new
 * stream on it, after a RESTART delay, goes on from the committed offsets. Only a consumer
 * that is no member any more is `lost`: a new consumer would join beside the old member,
 * whose leave may not have reached a coordinator that went away with the broker, and the
 * group would wait a whole session timeout for it before assigning any partition.
 */
export async function keepReading<S>(reading: StreamReading<S>, first: S): Promise<void> {
  const retry = new Retry(RESTART, { clock: reading.clock });
  const progress = () => retry.succeeded();
  let stream = first;
  for (;;) {
    let failure = await reading.read(stream, progress);
    if (failure === undefined || reading.stopped()) return;
    for (;;) {
      if (!reading.member()) {
        reading.lost(failure);
        return;
      }
      const delay = retry.failed();
      reading.logger.warn(
        { err: errorMessage(failure), retryInMs: delay },
        'The Kafka message stream failed; reading again as the same group member',
      );
      await retry.sleep(delay, reading.signal);
      if (reading.stopped()) return;
      try {
        stream = await reading.open();
        break;
      } catch (error) {
        failure = error;
      }
    }
  }
}

/** A record header's value as text. */
export function headerText(value: Buffer | string): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : value;
}

/** Between restarts of a consumer that crashed for good: from 500 ms, doubling up to 15 s, with jitter. */
export const RESTART: RetrySchedule = { kind: 'exponential', baseMs: 500, maxMs: 15_000 };

/**
 * How long the group waits for a member that stopped heartbeating (every 3 s) before its
 * partitions go to the others: a replica killed without leaving the group holds its
 * partitions this long. 15 s: five heartbeats of margin for a busy process, half of the
 * 30 s it was.
 */
export const SESSION_TIMEOUT_MS = 15_000;
