// A 3-broker Apache Kafka cluster in KRaft mode for the tests that need replication: each
// JVM is broker and controller, the three form the controller quorum, and every topic is
// replicated on all three and stays writable with two in sync (min.insync.replicas=2), so
// that one broker can be killed mid-stream. Opt-in: a test that needs it starts it (or
// reuses the one its state file names), from the same cached jars as the default
// environment's single broker (../kafka.ts).
import fs from 'node:fs';
import path from 'node:path';
import {
  brokerAnswers,
  formatStorage,
  javaArgs,
  kraftProperties,
  newClusterId,
  OFFSETS_TOPIC_PARTITIONS,
  probeAdmin,
  startBrokerDaemon,
  writeLog4j,
} from '../kafka.ts';
import { obtainAll, type Binaries } from '../obtain.ts';
import {
  assertPortsFree,
  EnvError,
  isAlive,
  killDaemon,
  portOpen,
  readJsonFile,
  stopDaemon,
  waitUntil,
  writeJsonFile,
} from '../process.ts';
import { CLUSTER_SIZE, clusterConfig, type ClusterConfig } from './config.ts';

export interface KafkaClusterMember {
  nodeId: number;
  /** Its JVM's pid; 0 once killed. */
  pid: number;
  /** Its client listener, `127.0.0.1:<port>`. */
  address: string;
}

/** What `<stateDir>/kafka.json` records of the running cluster. */
export interface KafkaClusterState {
  clusterId: string;
  /** The bootstrap list: every broker's client listener. */
  brokers: string[];
  members: KafkaClusterMember[];
  /** What restarts a broker: the JVM and Kafka's jars. */
  binaries: Pick<Binaries, 'java' | 'kafkaLibs'>;
}

export interface KafkaCluster {
  brokers: string[];
  members: KafkaClusterMember[];
  /** True when this call started the cluster; false when it reused a running one. */
  started: boolean;
}

/** Three JVMs on a machine shared with the rest of the environment: smaller heaps than the single broker's. */
const MAX_HEAP = '512m';
const START_TIMEOUT_MS = 120_000;
/** A restarted broker catches up with the others before it is back in every partition's in-sync replicas. */
const REJOIN_TIMEOUT_MS = 120_000;

function stateFile(config: ClusterConfig): string {
  return path.join(config.stateDir, 'kafka.json');
}

export function readKafkaClusterState(
  config: ClusterConfig = clusterConfig(),
): KafkaClusterState | undefined {
  return readJsonFile<KafkaClusterState>(stateFile(config));
}

function writeState(config: ClusterConfig, state: KafkaClusterState): void {
  writeJsonFile(stateFile(config), state);
}

function brokerOf(config: ClusterConfig, nodeId: number) {
  const broker = config.kafka.brokers.find((b) => b.nodeId === nodeId);
  if (!broker) {
    throw new EnvError(
      'UnknownBroker',
      `kafka cluster: there is no broker ${nodeId} (node ids 1 to ${CLUSTER_SIZE})`,
    );
  }
  return broker;
}

/** Where broker `nodeId` keeps its configuration and data, and the log it writes. */
function brokerFiles(config: ClusterConfig, nodeId: number) {
  const dir = path.join(config.stateDir, `kafka-${nodeId}`);
  return {
    dir,
    dataDir: path.join(dir, 'data'),
    properties: path.join(dir, 'server.properties'),
    logFile: path.join(config.stateDir, `kafka-${nodeId}.log`),
  };
}

/** Writes broker `nodeId`'s server.properties and log4j2 configuration; returns the JVM's arguments. */
function writeConfiguration(config: ClusterConfig, bin: KafkaClusterState['binaries'], nodeId: number) {
  const files = brokerFiles(config, nodeId);
  fs.mkdirSync(files.dir, { recursive: true });
  const replication = { replicas: CLUSTER_SIZE, minIsr: 2 };
  fs.writeFileSync(
    files.properties,
    kraftProperties(brokerOf(config, nodeId), config.kafka.brokers, files.dataDir, replication, [
      `default.replication.factor=${replication.replicas}`,
      `min.insync.replicas=${replication.minIsr}`,
      'unclean.leader.election.enable=false',
    ]),
  );
  return { ...files, jvm: javaArgs(bin, writeLog4j(files.dir), MAX_HEAP) };
}

const addressOf = (port: number) => `127.0.0.1:${port}`;

/** A member's JVM runs (a killed member's pid is 0, which `isAlive` would take for our own process group). */
const running = (member: KafkaClusterMember) => member.pid > 0 && isAlive(member.pid);

/** Broker `nodeId` answers on its own listener, in a cluster where all brokers are registered and unfenced. */
function memberAnswers(config: ClusterConfig, nodeId: number): Promise<boolean> {
  return brokerAnswers([addressOf(brokerOf(config, nodeId).client)], CLUSTER_SIZE);
}

/** Every broker runs and answers, and all of them are registered with the quorum. */
export async function kafkaClusterHealthy(
  state: KafkaClusterState,
  config: ClusterConfig = clusterConfig(),
): Promise<boolean> {
  for (const member of state.members) {
    if (!running(member) || !(await portOpen(brokerOf(config, member.nodeId).client))) return false;
  }
  return brokerAnswers(state.brokers, CLUSTER_SIZE).catch(() => false);
}

/** running (every broker alive and answering), stopped (not started), or unhealthy. */
export async function kafkaClusterStatus(
  config: ClusterConfig = clusterConfig(),
): Promise<'running' | 'stopped' | 'unhealthy'> {
  const state = readKafkaClusterState(config);
  if (!state) return 'stopped';
  return (await kafkaClusterHealthy(state, config)) ? 'running' : 'unhealthy';
}

/** Waits until broker `nodeId` answers and the cluster counts all its brokers; the error names the broker and its log. */
function waitForMember(config: ClusterConfig, nodeId: number, pid: number, timeoutMs: number): Promise<void> {
  return waitUntil(() => memberAnswers(config, nodeId), {
    what: `kafka cluster broker ${nodeId}`,
    timeoutMs,
    intervalMs: 500,
    pid,
    logFile: brokerFiles(config, nodeId).logFile,
  });
}

/**
 * Starts the three brokers on fresh data directories formatted with one new cluster id, or
 * reuses the cluster that the state file names when all of its brokers are alive and healthy.
 */
export async function upKafkaCluster(config: ClusterConfig = clusterConfig()): Promise<KafkaCluster> {
  const previous = readKafkaClusterState(config);
  if (previous && (await kafkaClusterHealthy(previous, config))) {
    return { brokers: previous.brokers, members: previous.members, started: false };
  }
  if (previous) await downKafkaCluster(config);
  const { java, kafkaLibs } = await obtainAll(config.env);
  const binaries = { java, kafkaLibs };
  const brokers = config.kafka.brokers;
  await assertPortsFree(
    'kafka cluster',
    brokers.flatMap((b) => [b.client, b.controller]),
  );
  const began = Date.now();
  const clusterId = newClusterId();
  const configured = brokers.map((broker) => {
    const files = brokerFiles(config, broker.nodeId);
    fs.rmSync(files.dir, { recursive: true, force: true });
    fs.rmSync(files.logFile, { force: true });
    return {
      nodeId: broker.nodeId,
      address: addressOf(broker.client),
      ...writeConfiguration(config, binaries, broker.nodeId),
    };
  });
  await Promise.all(configured.map((b) => formatStorage(binaries, b.jvm, b.properties, clusterId)));
  const members = configured.map((b) => ({
    nodeId: b.nodeId,
    address: b.address,
    pid: startBrokerDaemon(binaries, b.jvm, b.properties, b.logFile),
  }));
  const state: KafkaClusterState = { clusterId, brokers: members.map((m) => m.address), members, binaries };
  // Recorded at once, so that `downKafkaCluster` finds the brokers even if they never come up.
  writeState(config, state);
  try {
    await Promise.all(members.map((m) => waitForMember(config, m.nodeId, m.pid, START_TIMEOUT_MS)));
  } catch (error) {
    await downKafkaCluster(config);
    throw error;
  }
  process.stderr.write(
    `[hookline env] kafka cluster (${CLUSTER_SIZE} brokers) is up (${Date.now() - began} ms)\n`,
  );
  return { brokers: state.brokers, members, started: true };
}

function requireState(config: ClusterConfig): KafkaClusterState {
  const state = readKafkaClusterState(config);
  if (!state)
    throw new EnvError('NotUp', 'kafka cluster: not up (no state file); start it with upKafkaCluster()');
  return state;
}

function memberOf(state: KafkaClusterState, nodeId: number): KafkaClusterMember {
  const member = state.members.find((m) => m.nodeId === nodeId);
  if (!member) throw new EnvError('UnknownBroker', `kafka cluster: there is no broker ${nodeId}`);
  return member;
}

/** Kills broker `nodeId`'s JVM with SIGKILL, as `kill -9` does: no controlled shutdown, no flush. */
export async function killKafkaBroker(
  nodeId: number,
  config: ClusterConfig = clusterConfig(),
): Promise<void> {
  const state = requireState(config);
  const member = memberOf(state, nodeId);
  if (running(member)) await killDaemon(member.pid);
  writeState(config, {
    ...state,
    members: state.members.map((m) => (m.nodeId === nodeId ? { ...m, pid: 0 } : m)),
  });
}

/** Broker `nodeId` is in the in-sync replicas of every partition it holds a replica of, internal topics too. */
async function backInSync(brokers: string[], nodeId: number): Promise<boolean> {
  const admin = probeAdmin(brokers);
  try {
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata();
    return topics.every((topic) =>
      topic.partitions.every((p) => !p.replicas.includes(nodeId) || p.isr.includes(nodeId)),
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * Starts broker `nodeId` again on its data directory (after `killKafkaBroker`) and waits
 * until it has rejoined: registered and unfenced, and back in the in-sync replicas of
 * every partition it holds.
 */
export async function startKafkaBroker(
  nodeId: number,
  config: ClusterConfig = clusterConfig(),
): Promise<KafkaClusterMember> {
  const state = requireState(config);
  const member = memberOf(state, nodeId);
  if (running(member)) {
    throw new EnvError('BrokerRunning', `kafka cluster: broker ${nodeId} still runs (pid ${member.pid})`);
  }
  const files = writeConfiguration(config, state.binaries, nodeId);
  const pid = startBrokerDaemon(state.binaries, files.jvm, files.properties, files.logFile);
  const restarted = { ...member, pid };
  writeState(config, {
    ...state,
    members: state.members.map((m) => (m.nodeId === nodeId ? restarted : m)),
  });
  await waitForMember(config, nodeId, pid, START_TIMEOUT_MS);
  await waitUntil(() => backInSync(state.brokers, nodeId), {
    what: `kafka cluster broker ${nodeId} back in the in-sync replicas`,
    timeoutMs: REJOIN_TIMEOUT_MS,
    intervalMs: 500,
    pid,
    logFile: files.logFile,
  });
  return restarted;
}

/** Stops every broker and forgets the cluster (its data is removed on the next start). */
export async function downKafkaCluster(config: ClusterConfig = clusterConfig()): Promise<void> {
  const state = readKafkaClusterState(config);
  if (!state) return;
  await Promise.all(state.members.map((m) => stopDaemon(m.pid || undefined, 30_000)));
  fs.rmSync(stateFile(config), { force: true });
}

/** Java's String.hashCode, by which Kafka places a group on a partition of `__consumer_offsets`. */
function javaHashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0;
  return hash;
}

/** The partition of `__consumer_offsets` that holds `groupId` (Kafka's `Utils.abs(hashCode) % partitions`). */
export function groupPartition(groupId: string, partitions = OFFSETS_TOPIC_PARTITIONS): number {
  const hash = javaHashCode(groupId);
  return (hash === -2147483648 ? 0 : Math.abs(hash)) % partitions;
}

/** The broker that coordinates `groupId`: the leader of its partition of `__consumer_offsets`. */
export async function kafkaGroupCoordinator(brokers: string[], groupId: string): Promise<number | undefined> {
  const partition = groupPartition(groupId);
  const admin = probeAdmin(brokers);
  try {
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] });
    return topics[0]?.partitions.find((p) => p.partitionId === partition)?.leader;
  } finally {
    await admin.disconnect();
  }
}
