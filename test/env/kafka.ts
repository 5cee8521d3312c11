// A single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM),
// run from the jars that obtain.ts fetched from Maven Central.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import '../../dispatcher/ingest/kafkajs-queue.ts';
import { Kafka, logLevel } from 'kafkajs';
import type { EnvConfig } from './config.ts';
import type { Binaries } from './obtain.ts';
import { assertPortsFree, isAlive, portOpen, run, startDaemon, stopDaemon, waitUntil } from './process.ts';

export interface KafkaState {
  pid: number;
  brokers: string[];
}

function writeConfiguration(config: EnvConfig, dataDir: string): { properties: string; log4j: string } {
  const dir = path.join(config.stateDir, 'kafka');
  const { kafka, kafkaController } = config.ports;
  const properties = path.join(dir, 'server.properties');
  fs.writeFileSync(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${kafkaController}`,
      `listeners=PLAINTEXT://127.0.0.1:${kafka},CONTROLLER://127.0.0.1:${kafkaController}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${kafka}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${dataDir}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=4',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      '',
    ].join('\n'),
  );
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
  return { properties, log4j };
}

function javaArgs(bin: Binaries, log4j: string): string[] {
  return [
    '-Xms256m',
    '-Xmx768m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    path.join(bin.kafkaLibs, '*'),
  ];
}

/** The broker answers metadata requests once its controller has activated. */
async function brokerAnswers(brokers: string[]): Promise<boolean> {
  const admin = new Kafka({
    brokers,
    clientId: 'hookline-env',
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 2000,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
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
  // KRaft needs its log directory formatted with a cluster id before the first start.
  const clusterId = crypto.randomBytes(16).toString('base64url');
  await run(bin.java, [
    ...javaArgs(bin, log4j),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    properties,
  ]);
  const logFile = path.join(stateDir, 'kafka.log');
  const pid = startDaemon({
    command: bin.java,
    args: [...javaArgs(bin, log4j), 'kafka.Kafka', properties],
    logFile,
  });
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
  const pid = startDaemon({
    command: bin.java,
    args: [...javaArgs(bin, log4j), 'kafka.Kafka', properties],
    logFile,
  });
  await waitUntil(() => brokerAnswers(state.brokers), { what: 'kafka', timeoutMs: 90_000, pid, logFile });
  return { pid, brokers: state.brokers };
}

export async function stopKafka(state: KafkaState): Promise<void> {
  await stopDaemon(state.pid, 30_000);
}
