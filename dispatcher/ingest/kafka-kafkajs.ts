// The dispatcher's Kafka interface (kafka-client.ts) on kafkajs, which is no longer
// maintained upstream; kept next to @platformatic/kafka (kafka-platformatic.ts) as the
// other choice of HOOKLINE_KAFKA_CLIENT.
import './kafkajs-queue.ts';
import { Kafka, logLevel, type Admin, type Consumer, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.ts';
import {
  headerText,
  keepConsuming,
  SESSION_TIMEOUT_MS,
  tlsOptions,
  type KafkaConsume,
  type KafkaConsumerSettings,
  type KafkaRecord,
  type PartitionLag,
} from './kafka-client.ts';

function toText(value: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : headerText(first);
}

/** Client and consumer retry alike; past this the consumer restarts (see restartLater). */
const RETRY = { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 };

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'debug',
  [logLevel.DEBUG]: 'debug',
};

/** kafkajs logs through pino; its informational chatter only at debug level. */
function logCreator(logger: Logger) {
  const child = logger.child({ library: 'kafkajs' });
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _name, ...rest } = log;
      child[LEVELS[level] ?? 'debug'](rest, message);
    };
}

export function kafkaClientOptions(settings: KafkaConsumerSettings) {
  const { tls, sasl } = settings;
  return {
    clientId: settings.clientId,
    brokers: settings.brokers,
    ...(tls ? { ssl: tlsOptions(tls) } : {}),
    ...(sasl
      ? {
          sasl: {
            mechanism: sasl.mechanism,
            username: sasl.username,
            password: sasl.password,
          } as SASLOptions,
        }
      : {}),
    retry: RETRY,
  };
}

/** High watermark minus committed offset per partition; a partition never committed counts from its low watermark. */
async function partitionLags(admin: Admin, groupId: string, topic: string): Promise<PartitionLag[]> {
  const [watermarks, [committed]] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const done = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  return watermarks.map(({ partition, high, low }) => {
    const offset = done.get(partition) ?? -1;
    const from = offset >= 0 ? offset : Number(low);
    return { topic, partition, lag: Math.max(0, Number(high) - from) };
  });
}

/**
 * A consumer group member on kafkajs. It commits explicitly, after each chunk the handler
 * finished, and rejoins by itself after a crash the library does not restart from.
 */
export const kafkajsConsume: KafkaConsume = async (settings, handler, logger) => {
  const kafka = new Kafka({
    ...kafkaClientOptions(settings),
    logLevel: logLevel.INFO,
    logCreator: logCreator(logger),
  });
  const chunkSize = settings.chunkSize ?? 5000;
  const abort = new AbortController();
  let consumer: Consumer | undefined;
  let joined = false;
  let stopped = false;

  async function start(): Promise<void> {
    const current = kafka.consumer({
      groupId: settings.groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      rebalanceTimeout: 60_000,
      heartbeatInterval: 3_000,
      retry: RETRY,
    });
    consumer = current;
    current.on(current.events.GROUP_JOIN, (event) => {
      joined = true;
      life.succeeded();
      logger.info(
        { groupId: settings.groupId, assignment: event.payload.memberAssignment },
        'Joined the Kafka consumer group',
      );
    });
    current.on(current.events.CRASH, (event) => {
      joined = false;
      const { error, restart } = event.payload;
      logger.warn({ err: errorMessage(error), restart }, 'Kafka consumer crashed');
      if (!restart && !stopped) void life.crashed(current);
    });
    current.on(current.events.STOP, () => (joined = false));
    await current.connect();
    await current.subscribe({ topics: [settings.topic], fromBeginning: settings.fromBeginning });
    await current.run({
      autoCommit: true,
      autoCommitInterval: 1000,
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const records: KafkaRecord[] = batch.messages.map((message) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: message.offset,
          key: message.key,
          value: message.value,
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {})
              .map(([name, value]) => [name, toText(value)] as const)
              .filter((entry): entry is readonly [string, string] => entry[1] !== undefined),
          ),
        }));
        for (let start = 0; start < records.length; start += chunkSize) {
          if (!payload.isRunning() || payload.isStale() || abort.signal.aborted) return;
          const chunk = records.slice(start, start + chunkSize);
          const done = await handler(chunk, abort.signal);
          if (done === 0) return;
          const last = chunk[done - 1]!;
          // Resolved only once confirmed: the library commits resolved offsets (every second,
          // and when the group rebalances or the consumer stops), never beyond them.
          payload.resolveOffset(last.offset);
          await payload.commitOffsetsIfNecessary();
          await payload.heartbeat();
          if (done < chunk.length) return;
        }
      },
    });
  }

  const life = keepConsuming<Consumer>({
    start,
    current: () => consumer,
    close: (crashed) => crashed.disconnect(),
    stopped: () => stopped,
    signal: abort.signal,
    logger,
  });
  await life.begin();

  let admin: Admin | undefined;
  return {
    get joined() {
      return joined;
    },
    async lag() {
      if (!admin) {
        admin = kafka.admin({ retry: { retries: 0 } });
        await admin.connect();
      }
      return partitionLags(admin, settings.groupId, settings.topic);
    },
    async stop() {
      stopped = true;
      abort.abort();
      await consumer?.disconnect().catch(() => undefined);
      await admin?.disconnect().catch(() => undefined);
      joined = false;
    },
  };
};
