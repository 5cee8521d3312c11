// The dispatcher's Kafka interface (kafka-client.ts) on @platformatic/kafka, which is
// maintained: a consumer group member reading one topic as a stream, handing the records
// of each partition to the handler in offset order, and committing a partition's offset
// only after the handler is done with the records before it.
import { Consumer, type Message, type MessagesStream, type SASLOptions } from '@platformatic/kafka';
import { errorMessage } from '../../core/errors.ts';
import {
  headerText,
  keepConsuming,
  keepReading,
  SESSION_TIMEOUT_MS,
  tlsOptions,
  type KafkaConsume,
  type KafkaConsumerSettings,
  type KafkaRecord,
  type PartitionLag,
} from './kafka-client.ts';

/** Keys, values and headers as the broker sent them: no deserializers. */
type KafkaMessage = Message<Buffer, Buffer, Buffer, Buffer>;
type BufferConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;
type Stream = MessagesStream<Buffer, Buffer, Buffer, Buffer>;

const MECHANISMS = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
} as const;

/** Connection, TLS and SASL options of a consumer on @platformatic/kafka. */
export function platformaticOptions(settings: KafkaConsumerSettings) {
  const { tls, sasl } = settings;
  return {
    clientId: settings.clientId,
    bootstrapBrokers: settings.brokers,
    ...(tls ? { tls: tlsOptions(tls), ...(tls.serverName ? { tlsServerName: tls.serverName } : {}) } : {}),
    ...(sasl
      ? {
          sasl: {
            mechanism: MECHANISMS[sasl.mechanism],
            username: sasl.username,
            password: sasl.password,
          } satisfies SASLOptions,
        }
      : {}),
    retries: 8,
    retryDelay: 300,
  };
}

function toRecord(message: KafkaMessage): KafkaRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of message.headerEntries) {
    const key = name.toString('utf8');
    if (!(key in headers)) headers[key] = headerText(value);
  }
  return {
    topic: message.topic,
    partition: message.partition,
    offset: String(message.offset),
    key: message.key ?? null,
    value: message.value ?? null,
    headers,
  };
}

/** Chunks handed over before the oldest of them is done: two, so publishing overlaps confirms. */
const CHUNKS_IN_HAND = 2;

/** Resolves once the stream has something to read, has ended, or failed (rejects). */
function readable(stream: Stream, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      stream.off('readable', done).off('end', done).off('close', done).off('error', failed);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const failed = (error: Error) => {
      done();
      reject(error);
    };
    stream.once('readable', done).once('end', done).once('close', done).once('error', failed);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The messages buffered in the stream, at most `max`, waiting for one when none is. Empty once it ended. */
async function nextMessages(stream: Stream, max: number, signal: AbortSignal) {
  for (;;) {
    const messages: KafkaMessage[] = [];
    while (messages.length < max) {
      const message = stream.read() as KafkaMessage | null;
      if (message === null) break;
      messages.push(message);
    }
    if (messages.length > 0 || signal.aborted) return messages;
    if (stream.errored) throw stream.errored;
    if (stream.destroyed || stream.readableEnded) return messages;
    await readable(stream, signal);
  }
}

/** The messages in groups of one partition each, each group in offset order. */
function byPartition(messages: KafkaMessage[]) {
  const groups = new Map<number, KafkaMessage[]>();
  for (const message of messages) {
    const group = groups.get(message.partition);
    if (group) group.push(message);
    else groups.set(message.partition, [message]);
  }
  return groups.values();
}

/**
 * A consumer group member on @platformatic/kafka. It commits explicitly, after each chunk
 * the handler finished; after its stream failed (a broker went away) it reads a new stream
 * as the same member, and it starts anew (new member, from the committed offsets) only once
 * it is no member any more.
 */
export const platformaticConsume: KafkaConsume = async (settings, handler, logger) => {
  const chunkSize = settings.chunkSize ?? 5000;
  const abort = new AbortController();
  let consumer: BufferConsumer | undefined;
  let joined = false;
  let stopped = false;
  let reading: Promise<void> = Promise.resolve();

  async function start(): Promise<void> {
    const current: BufferConsumer = new Consumer({
      ...platformaticOptions(settings),
      groupId: settings.groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      rebalanceTimeout: 60_000,
      heartbeatInterval: 3_000,
      autocommit: false,
      maxWaitTime: 500,
      highWaterMark: chunkSize,
    });
    consumer = current;
    current.on('consumer:group:join', (payload) => {
      joined = true;
      life.succeeded();
      logger.info(
        { groupId: settings.groupId, assignment: payload.assignments },
        'Joined the Kafka consumer group',
      );
    });
    current.on('consumer:group:leave', () => (joined = false));
    const first = await open(current);
    reading = keepReading(
      {
        read,
        open: () => reopen(current),
        member: () => !current.closed && current.memberId !== null,
        lost(error) {
          joined = false;
          logger.warn({ err: errorMessage(error), restart: false }, 'Kafka consumer crashed');
          void life.crashed(current);
        },
        stopped: () => stopped || consumer !== current,
        signal: abort.signal,
        logger,
      },
      first,
    );
  }

  /** A stream of the topic from the group's committed offsets; the consumer joins the group first if it must. */
  async function open(current: BufferConsumer): Promise<Stream> {
    const stream = await current.consume({
      topics: [settings.topic],
      mode: 'committed',
      fallbackMode: settings.fromBeginning ? 'earliest' : 'latest',
      autocommit: false,
    });
    // The stream fetches only while someone listens: a 'readable' listener for as long as
    // it lives keeps it fetching between our reads (Node sets a stream with none back to
    // not flowing, and this one then stops fetching).
    stream.on('readable', () => undefined);
    return stream;
  }

  /**
   * A stream after one failed. A join that failed (its coordinator had gone away) leaves the
   * consumer a member without heartbeats, whose commits wait until it is active again: it
   * rejoins first, as the same member.
   */
  async function reopen(current: BufferConsumer): Promise<Stream> {
    if (!current.isActive()) await current.joinGroup();
    return open(current);
  }

  /**
   * Hands one partition's records to the handler at once, and commits what it did once the
   * chunk before it on the partition (`before`) is done and committed. Resolves false when
   * this chunk or one before it was not done in full: nothing after it is committed.
   */
  async function handle(group: KafkaMessage[], before: Promise<boolean>): Promise<boolean> {
    const handled = handler(group.map(toRecord), abort.signal);
    const [done, previousDone] = await Promise.all([handled, before]);
    if (!previousDone || done === 0) return false;
    // Committed only once handled: the offset after the last record done. Not awaited
    // (the client sends one commit per partition at a time, the latest offset last, and
    // closing waits for it); a commit refused in a rebalance repeats records, loses none.
    void Promise.resolve(group[done - 1]!.commit()).catch((error: unknown) =>
      logger.debug({ err: errorMessage(error) }, 'A Kafka offset commit failed'),
    );
    return done === group.length;
  }

  /**
   * Reads the stream until it fails or ends, and resolves with why (undefined once stopped),
   * after the chunks still in hand are done: a stream read next starts from what they committed.
   */
  async function read(stream: Stream, progress: () => void): Promise<unknown> {
    /** Per partition, its latest chunk in hand. */
    const tails = new Map<number, Promise<boolean>>();
    /** Chunks in hand, oldest first: the next is read while the one before waits for its confirms. */
    const inHand: Promise<boolean[]>[] = [];
    try {
      for (;;) {
        const messages = await nextMessages(stream, chunkSize, abort.signal);
        if (messages.length === 0) break;
        progress();
        // The partitions' records go to the handler side by side (each partition in order),
        // so that one partition's confirms do not wait for another's.
        const chunk = [...byPartition(messages)].map((group) => {
          const partition = group[0]!.partition;
          const tail = handle(group, tails.get(partition) ?? Promise.resolve(true));
          tails.set(partition, tail);
          return tail;
        });
        inHand.push(Promise.all(chunk));
        if (inHand.length >= CHUNKS_IN_HAND && (await inHand.shift()!).includes(false)) return undefined;
      }
      return stopped ? undefined : new Error('The Kafka message stream ended');
    } catch (error) {
      return stopped ? undefined : error;
    } finally {
      // Whatever is still in hand finishes (or sees the abort) before the stream is left.
      await Promise.allSettled(inHand);
    }
  }

  const life = keepConsuming<BufferConsumer>({
    start,
    current: () => consumer,
    close: (crashed) => crashed.close(true),
    stopped: () => stopped,
    signal: abort.signal,
    logger,
  });
  await life.begin();

  return {
    get joined() {
      return joined;
    },
    async lag(): Promise<PartitionLag[]> {
      const current = consumer;
      if (!current) return [];
      const topics = [settings.topic];
      const [high, low] = await Promise.all([
        current.listOffsets({ topics }),
        current.listOffsets({ topics, timestamp: -2n }),
      ]);
      const highs = high.get(settings.topic) ?? [];
      const partitions = highs.map((_, partition) => partition);
      const committed = await current.listCommittedOffsets({
        topics: [{ topic: settings.topic, partitions }],
      });
      const done = committed.get(settings.topic) ?? [];
      const lows = low.get(settings.topic) ?? [];
      return highs.map((watermark, partition) => {
        const offset = done[partition] ?? -1n;
        const from = offset >= 0n ? offset : (lows[partition] ?? 0n);
        const lag = watermark - from;
        return { topic: settings.topic, partition, lag: lag > 0n ? Number(lag) : 0 };
      });
    },
    async stop() {
      stopped = true;
      abort.abort();
      await reading;
      await consumer?.close(true).catch(() => undefined);
      joined = false;
    },
  };
};
