// A 3-node RabbitMQ cluster of the project's own, from the same Debian rabbitmq-server as
// the default environment's node: three nodes on loopback with their own names, ports and
// data directories, one Erlang port mapper and one cookie, the second and third joined to
// the first with `rabbitmqctl join_cluster`. Opt-in: the tests that need it bring it up
// (`upRabbitCluster`), and `npm run env:up -- --cluster` does too.
import fs from 'node:fs';
import path from 'node:path';
import { obtainAll } from '../obtain.ts';
import {
  assertPortsFree,
  isAlive,
  killDaemon,
  portOpen,
  readJsonFile,
  run,
  startDaemon,
  stopDaemon,
  waitUntil,
  writeJsonFile,
} from '../process.ts';
import {
  authorization,
  managementReady,
  nodeEnvironment,
  password,
  user,
  writeNodeConfiguration,
  type RabbitNode,
} from '../rabbitmq.ts';
import { clusterConfig, type ClusterConfig } from './config.ts';

/**
 * A quorum queue dead-letters at least once through a worker that publishes to the target
 * queues and, when a confirm does not come, publishes again after this long (180 s by
 * default). On RabbitMQ 3.10 a delay queue's worker lost confirms to queues declared a moment
 * before (the chaos soak's first retries waited three minutes in the delay queues); 5 s bounds
 * that wait. docs/operations.md recommends it for clusters.
 */
const ADVANCED_CONFIG = '[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 5000}]}].\n';

export interface RabbitClusterNode {
  name: string;
  /** The server's process (group); 0 while the node is down. */
  pid: number;
  amqpUrl: string;
  managementUrl: string;
}

export interface RabbitClusterState {
  epmdPid: number;
  nodes: RabbitClusterNode[];
}

export interface RabbitCluster extends RabbitClusterState {
  /** The nodes' AMQP URIs separated by commas: how Hookline is given a cluster. */
  amqpUri: string;
  /** The nodes' management API URLs, credentials included, separated by commas. */
  managementUri: string;
  user: string;
  password: string;
  /** True when this call started the cluster; false when it reused a running one. */
  started: boolean;
}

function nodesOf(config: ClusterConfig): RabbitNode[] {
  return config.rabbitmq.nodes.map((node, index) => ({
    dir: path.join(config.stateDir, 'rabbitmq', `node-${index + 1}`),
    name: node.name,
    amqp: node.amqp,
    management: node.management,
    dist: node.dist,
    epmd: config.rabbitmq.epmd,
  }));
}

function stateFile(config: ClusterConfig): string {
  return path.join(config.stateDir, 'rabbitmq.json');
}

function readClusterState(config: ClusterConfig): RabbitClusterState | undefined {
  return readJsonFile<RabbitClusterState>(stateFile(config));
}

function writeClusterState(config: ClusterConfig, state: RabbitClusterState | undefined): void {
  if (state === undefined) fs.rmSync(stateFile(config), { force: true });
  else writeJsonFile(stateFile(config), state);
}

function describe(state: RabbitClusterState, started: boolean): RabbitCluster {
  return {
    ...state,
    started,
    amqpUri: state.nodes.map((node) => node.amqpUrl).join(','),
    managementUri: state.nodes
      .map((node) => {
        const url = new URL(node.managementUrl);
        url.username = user;
        url.password = password;
        return url.toString();
      })
      .join(','),
    user,
    password,
  };
}

function logFileOf(config: ClusterConfig, node: RabbitNode): string {
  return path.join(config.stateDir, `rabbitmq-${node.name.split('@')[0]}.log`);
}

interface ApiNode {
  name: string;
  running: boolean;
}

/** The cluster's members as the management API of `managementUrl` reports them. */
async function clusterMembers(managementUrl: string): Promise<ApiNode[]> {
  const response = await fetch(`${managementUrl}/api/nodes?columns=name,running`, {
    headers: { authorization: authorization() },
    signal: AbortSignal.timeout(3000),
  });
  if (!response.ok) throw new Error(`GET /api/nodes: ${response.status}`);
  return (await response.json()) as ApiNode[];
}

/** Every node alive, and the first live node's management API reports all three running. */
async function clusterHealthy(state: RabbitClusterState): Promise<boolean> {
  if (!isAlive(state.epmdPid) || state.nodes.some((node) => !isAlive(node.pid))) return false;
  const members = await clusterMembers(state.nodes[0]!.managementUrl).catch(() => []);
  return state.nodes.every((node) => members.some((m) => m.name === node.name && m.running));
}

async function rabbitmqctl(node: RabbitNode, args: readonly string[]): Promise<void> {
  const { rabbitmqServer } = await obtainAll(clusterConfig().env);
  await run(path.join(path.dirname(rabbitmqServer), 'rabbitmqctl'), ['-n', node.name, ...args], {
    env: nodeEnvironment(node),
    timeoutMs: 120_000,
  });
}

async function startNode(config: ClusterConfig, node: RabbitNode): Promise<number> {
  const { rabbitmqServer } = await obtainAll(config.env);
  const logFile = logFileOf(config, node);
  const pid = startDaemon({ command: rabbitmqServer, args: [], env: nodeEnvironment(node), logFile });
  const managementUrl = `http://127.0.0.1:${node.management}`;
  await waitUntil(async () => (await portOpen(node.amqp)) && (await managementReady(managementUrl)), {
    what: `rabbitmq cluster node ${node.name}`,
    timeoutMs: 120_000,
    pid,
    logFile,
  });
  return pid;
}

async function startCluster(config: ClusterConfig): Promise<RabbitClusterState> {
  const nodes = nodesOf(config);
  await assertPortsFree('rabbitmq cluster', [
    config.rabbitmq.epmd,
    ...nodes.flatMap((node) => [node.amqp, node.management, node.dist]),
  ]);
  const { epmd } = await obtainAll(config.env);
  fs.mkdirSync(config.stateDir, { recursive: true });
  for (const node of nodes) {
    writeNodeConfiguration(node);
    fs.writeFileSync(nodeEnvironment(node).RABBITMQ_ADVANCED_CONFIG_FILE!, ADVANCED_CONFIG);
  }
  const epmdPid = startDaemon({
    command: epmd,
    args: ['-port', String(config.rabbitmq.epmd), '-address', '127.0.0.1'],
    env: nodeEnvironment(nodes[0]!),
    logFile: path.join(config.stateDir, 'epmd.log'),
  });
  const state: RabbitClusterState = {
    epmdPid,
    nodes: nodes.map((node) => ({
      name: node.name,
      pid: 0,
      amqpUrl: `amqp://${user}:${password}@127.0.0.1:${node.amqp}`,
      managementUrl: `http://127.0.0.1:${node.management}`,
    })),
  };
  try {
    await waitUntil(() => portOpen(config.rabbitmq.epmd), {
      what: 'epmd (rabbitmq cluster)',
      timeoutMs: 10_000,
      pid: epmdPid,
    });
    const pids = await Promise.all(nodes.map((node) => startNode(config, node)));
    pids.forEach((pid, index) => (state.nodes[index]!.pid = pid));
    writeClusterState(config, state);
    for (const node of nodes.slice(1)) {
      await rabbitmqctl(node, ['stop_app']);
      await rabbitmqctl(node, ['join_cluster', nodes[0]!.name]);
      await rabbitmqctl(node, ['start_app']);
    }
    await waitUntil(() => clusterHealthy(state), { what: 'rabbitmq cluster (joined)', timeoutMs: 60_000 });
  } catch (error) {
    await stopCluster(state);
    writeClusterState(config, undefined);
    throw error;
  }
  return state;
}

async function stopCluster(state: RabbitClusterState): Promise<void> {
  await Promise.all(state.nodes.map((node) => stopDaemon(node.pid || undefined, 30_000)));
  await stopDaemon(state.epmdPid);
}

/** The cluster, started (fresh data) unless one is already running and healthy. */
export async function upRabbitCluster(config: ClusterConfig = clusterConfig()): Promise<RabbitCluster> {
  const previous = readClusterState(config);
  if (previous && (await clusterHealthy(previous))) return describe(previous, false);
  if (previous) await stopCluster(previous);
  const began = Date.now();
  const state = await startCluster(config);
  process.stderr.write(`[hookline env] rabbitmq cluster (3 nodes) is up (${Date.now() - began} ms)\n`);
  return describe(state, true);
}

function nodeIndex(config: ClusterConfig, state: RabbitClusterState, name: string): number {
  const index = state.nodes.findIndex((node) => node.name === name);
  if (index < 0) throw new Error(`no node ${name} in the rabbitmq cluster at ${stateFile(config)}`);
  return index;
}

/** `kill -9` of one node (its whole process group): no shutdown, as a crashed host. */
export async function killRabbitNode(name: string, config: ClusterConfig = clusterConfig()): Promise<void> {
  const state = readClusterState(config);
  if (!state) throw new Error('the rabbitmq cluster is not up');
  const index = nodeIndex(config, state, name);
  const { pid } = state.nodes[index]!;
  if (pid) await killDaemon(pid);
  state.nodes[index]!.pid = 0;
  writeClusterState(config, state);
}

/**
 * Starts a node that was killed, on its data (it rejoins the cluster by itself), and waits
 * until the cluster reports it running again.
 */
export async function startRabbitNode(name: string, config: ClusterConfig = clusterConfig()): Promise<void> {
  const state = readClusterState(config);
  if (!state) throw new Error('the rabbitmq cluster is not up');
  const index = nodeIndex(config, state, name);
  const node = nodesOf(config)[index]!;
  const pid = await startNode(config, node);
  state.nodes[index]!.pid = pid;
  writeClusterState(config, state);
  await waitUntil(() => clusterHealthy(state), {
    what: `rabbitmq cluster node ${name} (rejoined)`,
    timeoutMs: 60_000,
    logFile: logFileOf(config, node),
  });
}

export async function downRabbitCluster(config: ClusterConfig = clusterConfig()): Promise<void> {
  const state = readClusterState(config);
  if (!state) return;
  await stopCluster(state);
  writeClusterState(config, undefined);
}

export async function rabbitClusterStatus(
  config: ClusterConfig = clusterConfig(),
): Promise<'running' | 'stopped' | 'unhealthy'> {
  const state = readClusterState(config);
  if (!state) return 'stopped';
  return (await clusterHealthy(state)) ? 'running' : 'unhealthy';
}
