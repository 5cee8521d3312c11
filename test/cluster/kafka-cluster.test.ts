// Kafka ingest from a replicated topic on a 3-broker KRaft cluster (test/env/cluster/kafka.ts:
// replication factor 3, min.insync.replicas=2) while one broker, the leader of a partition and
// the coordinator of the dispatcher's group, is killed with SIGKILL mid-stream. A producer
// with acks=all keeps sending records with unique ids to all three partitions; while the
// broker is down the dispatcher's consumer takes in the records sent after the kill and
// commits again, as the group member it was; once the broker is back every acknowledged
// record has reached the Webhook's receiver (repeats allowed, counted). Kubernetes and
// RabbitMQ are the default environment's. On the dispatcher's default Kafka client
// (@platformatic/kafka); HOOKLINE_KAFKA_CLIENT=kafkajs runs it on kafkajs, whose consumer
// keeps committing to the coordinator it first found until that broker is back.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import '../../dispatcher/ingest/kafkajs-queue.ts';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import {
  downKafkaCluster,
  kafkaGroupCoordinator,
  killKafkaBroker,
  startKafkaBroker,
  upKafkaCluster,
  type KafkaCluster,
} from '../env/cluster/kafka.ts';
import { freshNamespace } from '../env/handles.ts';
import { apply, waitForReady, waitForSourceInPlace } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { aWebhook, anEventSource, without } from '../fixtures/manifests.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

const CLIENT = process.env.HOOKLINE_KAFKA_CLIENT ?? 'platformatic';
const PARTITIONS = 3;
/** Each partition gets this many records at a time, then a pause: some 150 records a second in all. */
const BATCH = 5;
const PAUSE_MS = 100;
/** How long a batch may go unacknowledged before the test gives up on the cluster. */
const ACK_TIMEOUT_MS = 90_000;
const EVENT_TYPE = 'stream.record';

interface Sent {
  partition: number;
  /** When its batch was first handed to the producer, and when the cluster acknowledged it. */
  sentAt: number;
  ackedAt: number;
}

/**
 * Sends records continuously, each partition on its own (a partition whose leader is gone
 * does not hold the others back), every batch again until the cluster acknowledges it
 * (acks=all). Only acknowledged records count as produced; a batch sent again may be in
 * the topic twice.
 */
class RecordStream {
  readonly acked = new Map<string, Sent>();
  failedSends = 0;
  lastSendError: string | undefined;
  readonly #producer: Producer;
  readonly #topic: string;
  readonly #run: string;
  #stopping = false;
  #abandoned = false;
  #error: Error | undefined;
  #loops: Promise<void>[] = [];

  constructor(producer: Producer, topic: string, run: string) {
    this.#producer = producer;
    this.#topic = topic;
    this.#run = run;
  }

  start(): void {
    this.#loops = Array.from({ length: PARTITIONS }, (_, partition) =>
      this.#produce(partition).catch((error: unknown) => {
        this.#error ??= error instanceof Error ? error : new Error(String(error));
      }),
    );
  }

  /** Stops once the batches in hand are acknowledged; throws if one never was. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#loops);
    if (this.#error) throw this.#error;
  }

  /** Stops at once, batches in hand or not (a test that failed). */
  async abandon(): Promise<void> {
    this.#abandoned = true;
    await this.stop().catch(() => undefined);
  }

  async #produce(partition: number): Promise<void> {
    for (let seq = 0; !this.#stopping && !this.#error; seq += BATCH) {
      const ids = Array.from(
        { length: BATCH },
        (_, i) => `${this.#run}-p${partition}-${String(seq + i).padStart(6, '0')}`,
      );
      const sentAt = Date.now();
      if (!(await this.#sendUntilAcked(partition, ids))) return;
      const ackedAt = Date.now();
      for (const id of ids) this.acked.set(id, { partition, sentAt, ackedAt });
      await sleep(PAUSE_MS);
    }
  }

  /** True once acknowledged; false when abandoned first. */
  async #sendUntilAcked(partition: number, ids: string[]): Promise<boolean> {
    const messages = ids.map((id) => ({
      partition,
      key: id,
      value: JSON.stringify({ id, partition }),
      headers: { type: EVENT_TYPE },
    }));
    const deadline = Date.now() + ACK_TIMEOUT_MS;
    while (!this.#abandoned) {
      try {
        await this.#producer.send({ topic: this.#topic, acks: -1, messages });
        return true;
      } catch (error) {
        this.failedSends++;
        this.lastSendError = error instanceof Error ? error.message : String(error);
        if (Date.now() > deadline) {
          throw new Error(
            `partition ${partition}: a batch was not acknowledged in ${ACK_TIMEOUT_MS} ms (${this.lastSendError})`,
          );
        }
        await sleep(250);
      }
    }
    return false;
  }
}

/** The partition a record id names (`<run>-p<partition>-<seq>`). */
const partitionOf = (id: string) => Number(/-p(\d+)-\d+$/.exec(id)?.[1]);

/** Each record id the receiver got, with when it first arrived, and how many requests it got. */
function ingestLog(receiver: Receiver) {
  const firstAt = new Map<string, number>();
  let counted = 0;
  return () => {
    for (const request of receiver.requests.slice(counted)) {
      const id = String(request.headers['hookline-event-id']);
      if (!firstAt.has(id)) firstAt.set(id, request.receivedAt);
    }
    counted = receiver.requests.length;
    return { firstAt, requests: counted };
  };
}

async function partitionLeaders(admin: Admin, topic: string): Promise<Map<number, number>> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  return new Map((topics[0]?.partitions ?? []).map((p) => [p.partitionId, p.leader]));
}

const endOffsets = async (admin: Admin, topic: string) =>
  new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.offset)]));

/** True when the group committed at least `ends` (partition → offset) on every partition. */
async function committedUpTo(admin: Admin, groupId: string, topic: string, ends: Map<number, number>) {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const offsets = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  return [...ends].every(([partition, end]) => (offsets.get(partition) ?? -1) >= end);
}

/** Seconds from `from` to `to`, for the log. */
const seconds = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`;

describe(`Kafka ingest from a 3-broker cluster, a broker killed mid-stream (${CLIENT})`, () => {
  const run = crypto.randomBytes(4).toString('hex');
  const topic = `replicated-${run}`;
  let cluster: KafkaCluster;
  let admin: Admin;
  let producer: Producer;
  let stream: RecordStream | undefined;
  let namespace: string;
  let operator: OperatorProcess;
  let receiver: Receiver;
  const dispatchers: RunningProcess[] = [];

  before(async () => {
    [cluster] = await Promise.all([upKafkaCluster(), installCrds()]);
    // The test's clients are quiet: the sends that fail while a broker is gone are counted and printed.
    process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
    const kafka = new Kafka({
      brokers: cluster.brokers,
      clientId: 'hookline-cluster-test',
      logLevel: logLevel.NOTHING,
    });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }],
      waitForLeaders: true,
    });
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();

    namespace = await freshNamespace('kafka-cluster');
    operator = startOperator({ namespace });
    receiver = await startReceiver();
    const source = without(
      anEventSource(
        { kafka: { brokers: cluster.brokers, topic, startFrom: 'earliest' }, eventType: { header: 'type' } },
        'stream',
      ),
      'rabbitmq',
    );
    const hook = aWebhook(
      { sourceRef: { name: 'stream' }, url: `${receiver.url}/hook`, signing: { scheme: 'none' } },
      'sink',
    );
    await apply(namespace, [source, hook].map((m) => JSON.stringify(m)).join('\n---\n'));
    await waitForSourceInPlace(namespace, 'stream');
    await waitForReady(namespace, 'webhooks', 'sink', 'True');
  });

  after(async () => {
    await stream?.abandon();
    for (const dispatcher of dispatchers) await dispatcher.stop();
    await operator?.stop();
    await receiver?.close();
    await producer?.disconnect();
    await admin?.disconnect();
    if (cluster?.started && process.env.HOOKLINE_KEEP_ENV !== '1') await downKafkaCluster();
  });

  it('takes in every acknowledged record, and goes on while the broker is down', async () => {
    const began = Date.now();
    const dispatcher = await startDispatcher(namespace, 'stream', { HOOKLINE_KAFKA_CLIENT: CLIENT });
    dispatchers.push(dispatcher);
    await dispatcher.waitForLog('group join', (l) => l.msg === 'Joined the Kafka consumer group', 60_000);
    const ingested = ingestLog(receiver);
    const records = new RecordStream(producer, topic, run);
    stream = records;
    records.start();
    await eventually('records flowing through before the kill', () => ingested().firstAt.size >= 300, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });

    // The victim: the group's coordinator when it leads a partition too, else partition 0's leader.
    const groupId = `hookline.${namespace}.stream`;
    const leaders = await partitionLeaders(admin, topic);
    const coordinator = await eventually('the group coordinator', () =>
      kafkaGroupCoordinator(cluster.brokers, groupId),
    );
    const victim = [...leaders.values()].includes(coordinator) ? coordinator : leaders.get(0)!;
    const led = [...leaders].filter(([, leader]) => leader === victim).map(([partition]) => partition);
    const endsBeforeKill = await endOffsets(admin, topic);
    const killedAt = Date.now();
    await killKafkaBroker(victim);
    const producedBeforeKill = records.acked.size;
    console.log(
      `killed broker ${victim} (leader of partition ${led.join(', ')}` +
        `${victim === coordinator ? ', coordinator of the group' : ''}) with ${producedBeforeKill} records produced`,
    );

    // While it is down, the records sent after the kill to the partitions it led are taken in…
    const sentAfterKill = (partition: number) =>
      [...records.acked].filter(([, sent]) => sent.partition === partition && sent.sentAt > killedAt);
    const resumedAt = await eventually(
      `records sent after the kill to partition ${led.join(', ')} taken in while broker ${victim} is down`,
      () => {
        const { firstAt } = ingested();
        const firsts = led.map((partition) =>
          Math.min(...sentAfterKill(partition).flatMap(([id]) => firstAt.get(id) ?? [])),
        );
        return firsts.every(Number.isFinite) && firsts;
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    for (const [i, partition] of led.entries()) {
      const producedAt = Math.min(...sentAfterKill(partition).map(([, sent]) => sent.ackedAt));
      console.log(
        `partition ${partition}: produced again ${seconds(killedAt, producedAt)} after the kill, ` +
          `taken in again ${seconds(killedAt, resumedAt[i]!)} after it`,
      );
    }
    // …and the group commits again, past what the topic held at the kill: the consumer found
    // its group's new coordinator.
    await eventually(
      `commits past the kill while broker ${victim} is down`,
      () => committedUpTo(admin, groupId, topic, endsBeforeKill),
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    // Producing goes on while the broker comes back, and a little after.
    const restarting = Date.now();
    await startKafkaBroker(victim);
    const restarted = Date.now();
    await sleep(2000);
    await records.stop();

    const produced = [...records.acked.keys()];
    await eventually(
      'every acknowledged record taken in',
      () => produced.every((id) => ingested().firstAt.has(id)),
      { timeoutMs: 120_000, intervalMs: 500 },
    ).catch(() => undefined);
    const { firstAt, requests } = ingested();
    const missing = produced.filter((id) => !firstAt.has(id));
    const crashes = dispatcher.logs.filter((l) => l.msg === 'Kafka consumer crashed').length;
    console.log(
      `${produced.length} records produced (${records.failedSends} sends failed and were repeated` +
        `${records.lastSendError ? `, the last: ${records.lastSendError}` : ''}), ` +
        `${firstAt.size} taken in, ${missing.length} missing, ${requests - firstAt.size} duplicates; ` +
        `broker ${victim} back in ${seconds(restarting, restarted)}; consumer crashes: ${crashes}; ` +
        `${seconds(began, Date.now())} in all`,
    );
    assert.deepEqual(
      missing.slice(0, 10),
      [],
      `${missing.length} of ${produced.length} acknowledged records never taken in, on partitions ` +
        [...new Set(missing.map(partitionOf))].join(', '),
    );
    assert.equal(firstAt.size, produced.length, 'the receiver got only records the test produced');
    assert.ok(produced.length > producedBeforeKill, 'records were produced after the kill');
    assert.equal(dispatcher.child.exitCode, null, 'the dispatcher kept running');
    // A new consumer would join beside the old member, whose leave could not reach the broker
    // that went away, and the group would wait a session timeout for it: the consumer stays
    // the member it was.
    assert.equal(crashes, 0, 'the consumer never crashed: it stayed the same group member');

    // The commits caught up too: the group's offsets at the end of every partition.
    const ends = await endOffsets(admin, topic);
    await eventually('committed offsets at the end of every partition', () =>
      committedUpTo(admin, groupId, topic, ends),
    );
  });
});
