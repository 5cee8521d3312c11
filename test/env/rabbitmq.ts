// A RabbitMQ node of the project's own (Debian's rabbitmq-server), beside any system
// node: its own node name, ports, Erlang port mapper, cookie and data directory, with
// the management plugin enabled.
import fs from 'node:fs';
import path from 'node:path';
import type { EnvConfig } from './config.ts';
import type { Binaries } from './obtain.ts';
import { assertPortsFree, isAlive, portOpen, startDaemon, stopDaemon, waitUntil } from './process.ts';

export interface RabbitState {
  epmdPid: number;
  serverPid: number;
  amqpUrl: string;
  managementUrl: string;
  user: string;
  password: string;
}

export const user = 'guest';
export const password = 'guest';

/** Where one node keeps its files and which name and ports it has. */
export interface RabbitNode {
  dir: string;
  name: string;
  amqp: number;
  management: number;
  dist: number;
  epmd: number;
}

function singleNode(config: EnvConfig): RabbitNode {
  const { ports } = config;
  return {
    dir: path.join(config.stateDir, 'rabbitmq'),
    name: 'hookline@localhost',
    amqp: ports.amqp,
    management: ports.rabbitManagement,
    dist: ports.rabbitDist,
    epmd: ports.epmd,
  };
}

export function nodeEnvironment(node: RabbitNode): NodeJS.ProcessEnv {
  const { dir } = node;
  return {
    ...process.env,
    HOME: dir,
    RABBITMQ_NODENAME: node.name,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(node.amqp),
    RABBITMQ_DIST_PORT: String(node.dist),
    ERL_EPMD_PORT: String(node.epmd),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
    RABBITMQ_LOGS: '-',
  };
}

/** A fresh data directory and configuration for `node`. */
export function writeNodeConfiguration(node: RabbitNode): void {
  const { dir } = node;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'log'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
  fs.writeFileSync(
    path.join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${node.amqp}`,
      `management.tcp.ip = 127.0.0.1`,
      `management.tcp.port = ${node.management}`,
      `default_user = ${user}`,
      `default_pass = ${password}`,
      'log.console = true',
      'log.console.level = warning',
      'log.file = false',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[rabbitmq_management].\n');
  fs.writeFileSync(path.join(dir, '.erlang.cookie'), 'HOOKLINETESTCOOKIE', { mode: 0o400 });
}

export function authorization(): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export async function managementReady(managementUrl: string): Promise<boolean> {
  const response = await fetch(`${managementUrl}/api/overview`, {
    headers: { authorization: authorization() },
    signal: AbortSignal.timeout(2000),
  });
  return response.ok;
}

export async function rabbitHealthy(state: RabbitState, config: EnvConfig): Promise<boolean> {
  return (
    isAlive(state.serverPid) &&
    (await portOpen(config.ports.amqp)) &&
    (await managementReady(state.managementUrl).catch(() => false))
  );
}

export async function startRabbit(config: EnvConfig, bin: Binaries): Promise<RabbitState> {
  const { ports, stateDir } = config;
  await assertPortsFree('rabbitmq', [ports.amqp, ports.rabbitManagement, ports.rabbitDist, ports.epmd]);
  const node = singleNode(config);
  writeNodeConfiguration(node);
  const env = nodeEnvironment(node);
  const epmdPid = startDaemon({
    command: bin.epmd,
    args: ['-port', String(ports.epmd), '-address', '127.0.0.1'],
    env,
    logFile: path.join(stateDir, 'epmd.log'),
  });
  await waitUntil(() => portOpen(ports.epmd), { what: 'epmd', timeoutMs: 10_000, pid: epmdPid });
  const logFile = path.join(stateDir, 'rabbitmq.log');
  const serverPid = startDaemon({ command: bin.rabbitmqServer, args: [], env, logFile });
  const managementUrl = `http://127.0.0.1:${ports.rabbitManagement}`;
  try {
    await waitUntil(async () => (await portOpen(ports.amqp)) && (await managementReady(managementUrl)), {
      what: 'rabbitmq',
      timeoutMs: 90_000,
      pid: serverPid,
      logFile,
    });
  } catch (error) {
    await stopDaemon(serverPid);
    await stopDaemon(epmdPid);
    throw error;
  }
  return {
    epmdPid,
    serverPid,
    amqpUrl: `amqp://${user}:${password}@127.0.0.1:${ports.amqp}`,
    managementUrl,
    user,
    password,
  };
}

/**
 * Restarts the RabbitMQ node with its data (durable queues and persistent messages survive),
 * as a broker restart in production would. Answers the new state.
 */
export async function restartRabbit(
  config: EnvConfig,
  bin: Binaries,
  state: RabbitState,
): Promise<RabbitState> {
  await stopDaemon(state.serverPid, 30_000);
  const logFile = path.join(config.stateDir, 'rabbitmq.log');
  const serverPid = startDaemon({
    command: bin.rabbitmqServer,
    args: [],
    env: nodeEnvironment(singleNode(config)),
    logFile,
  });
  await waitUntil(
    async () => (await portOpen(config.ports.amqp)) && (await managementReady(state.managementUrl)),
    {
      what: 'rabbitmq (restart)',
      timeoutMs: 90_000,
      pid: serverPid,
      logFile,
    },
  );
  return { ...state, serverPid };
}

export async function stopRabbit(state: RabbitState): Promise<void> {
  await stopDaemon(state.serverPid, 30_000);
  await stopDaemon(state.epmdPid);
}
