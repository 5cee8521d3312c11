// A single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM),
// run from the jars that obtain.ts fetched from Maven Central. The 3-broker cluster of
// cluster/kafka.ts is configured and started with the same pieces, exported here.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import '../../dispatcher/ingest/kafkajs-queue.ts';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { EnvConfig } from './config.ts';
import type { Binaries } from './obtain.ts';
import { assertPortsFree, isAlive, portOpen, run, startDaemon, stopDaemon, waitUntil } from './process.ts';

export interface KafkaState {
  pid: number;
  brokers: string[];
}

/** A KRaft node (broker and controller in one JVM) and its loopback ports. */
export interface KraftNode {
  nodeId: number;
  client: number;
  controller: number;
}

/** Partitions of `__consumer_offsets`, which decide each group's coordinator. */
export const OFFSETS_TOPIC_PARTITIONS = 4;

/**
 * The server.properties of one node of a quorum of `voters` (itself among them): internal
 * topics replicated `replicas` times, kept writable with `minIsr` of them in sync, and the
 * `extra` lines after the common ones.
 */
export function kraftProperties(
  node: KraftNode,
  voters: readonly KraftNode[],
  dataDir: string,
  replication: { replicas: number; minIsr: number },
  extra: readonly string[] = [],
): string {
  const { replicas, minIsr } = replication;
  return [
    'process.roles=broker,controller',
    `node.id=${node.nodeId}`,
    `controller.quorum.voters=${voters.map((v) => `${v.nodeId}@127.0.0.1:${v.controller}`).join(',')}`,
    `listeners=PLAINTEXT://127.0.0.1:${node.client},CONTROLLER://127.0.0.1:${node.controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${node.client}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    `offsets.topic.replication.factor=${replicas}`,
    `offsets.topic.num.partitions=${OFFSETS_TOPIC_PARTITIONS}`,
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${replicas}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    ...extra,
    '',
  ].join('\n');
}

/** Kafka's log4j2 configuration in `dir`: warnings and errors to stdout (the daemon's log). */
export function writeLog4j(dir: string): string {
  const log4j = path.join(dir, 'log4j2.properties');
  fs.writeFileSync(
    log4j,
    [
      'rootLogger.level=WARN',
      'rootLogger.appenderRef.stdout.ref=STDOUT',
      'appender.stdout.type=Console',
      'appender.stdout.name=STDOUT',
      'appender.stdout.layout.type=PatternLayout',
      'appender.stdout.layout.pattern=[%d] %p %m (%c)%n',
      '',
    ].join('\n'),
  );
  return log4j;
}

function writeConfiguration(config: EnvConfig, dataDir: string): { properties: string; log4j: string } {
  const dir = path.join(config.stateDir, 'kafka');
  const node = { nodeId: 1, client: config.ports.kafka, controller: config.ports.kafkaController };
  const properties = path.join(dir, 'server.properties');
  fs.writeFileSync(properties, kraftProperties(node, [node], dataDir, { replicas: 1, minIsr: 1 }));
  return { properties, log4j: writeLog4j(dir) };
}

/** The JVM's arguments before its main class: heap, G1, logging, and Kafka's jars. */
export function javaArgs(bin: Pick<Binaries, 'kafkaLibs'>, log4j: string, maxHeap = '768m'): string[] {
  return [
    '-Xms256m',
    `-Xmx${maxHeap}`,
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    path.join(bin.kafkaLibs, '*'),
  ];
}

/** KRaft needs each log directory formatted with the cluster's id before the first start. */
export async function formatStorage(
  bin: Pick<Binaries, 'java' | 'kafkaLibs'>,
  jvm: string[],
  properties: string,
  clusterId: string,
): Promise<void> {
  await run(bin.java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties]);
}

/** Starts a broker (`kafka.Kafka`) as a daemon and returns its pid at once. */
export function startBrokerDaemon(
  bin: Pick<Binaries, 'java'>,
  jvm: string[],
  properties: string,
  logFile: string,
): number {
  return startDaemon({ command: bin.java, args: [...jvm, 'kafka.Kafka', properties], logFile });
}

/**
 * A new KRaft cluster id: 16 random bytes in base64url, as `kafka-storage random-uuid`
 * prints, and like Kafka's own never starting with '-', which kafka-storage would take for
 * an option (one id in 64 did, and the broker was not formatted).
 */
export function newClusterId(random: (size: number) => Buffer = crypto.randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** An admin client for one look at the brokers: silent, no retries, quick to give up on a connection. */
export function probeAdmin(brokers: string[]): Admin {
  return new Kafka({
    brokers,
    clientId: 'hookline-env',
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 2000,
  }).admin();
}

/**
 * The brokers answer metadata requests once their controller has activated, with at least
 * `registered` brokers in the cluster.
 */
export async function brokerAnswers(brokers: string[], registered = 1): Promise<boolean> {
  const admin = probeAdmin(brokers);
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length >= registered && cluster.controller !== null;
  } finally {
    await admin.disconnect();
  }
}

export async function kafkaHealthy(state: KafkaState, config: EnvConfig): Promise<boolean> {
  return (
    isAlive(state.pid) &&
    (await portOpen(config.ports.kafka)) &&
    brokerAnswers(state.brokers).catch(() => false)
  );
}

export async function startKafka(config: EnvConfig, bin: Binaries): Promise<KafkaState> {
  const { ports, stateDir } = config;
  await assertPortsFree('kafka', [ports.kafka, ports.kafkaController]);
  const dir = path.join(stateDir, 'kafka');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const dataDir = path.join(dir, 'data');
  const { properties, log4j } = writeConfiguration(config, dataDir);
  await formatStorage(bin, javaArgs(bin, log4j), properties, newClusterId());
  const logFile = path.join(stateDir, 'kafka.log');
  const pid = startBrokerDaemon(bin, javaArgs(bin, log4j), properties, logFile);
  const brokers = [`127.0.0.1:${ports.kafka}`];
  try {
    await waitUntil(() => brokerAnswers(brokers), { what: 'kafka', timeoutMs: 90_000, pid, logFile });
  } catch (error) {
    await stopDaemon(pid);
    throw error;
  }
  return { pid, brokers };
}

/** Stops the broker and starts it again on the same data, for tests of what survives a restart. */
export async function restartKafkaBroker(
  config: EnvConfig,
  bin: Binaries,
  state: KafkaState,
): Promise<KafkaState> {
  await stopDaemon(state.pid, 30_000);
  const { properties, log4j } = writeConfiguration(config, path.join(config.stateDir, 'kafka', 'data'));
  const logFile = path.join(config.stateDir, 'kafka.log');
  const pid = startBrokerDaemon(bin, javaArgs(bin, log4j), properties, logFile);
  await waitUntil(() => brokerAnswers(state.brokers), { what: 'kafka', timeoutMs: 90_000, pid, logFile });
  return { pid, brokers: state.brokers };
}

export async function stopKafka(state: KafkaState): Promise<void> {
  await stopDaemon(state.pid, 30_000);
}
