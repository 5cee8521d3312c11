// The test environment as a whole: brings each component up (or reuses it when it already
// runs and is healthy), records what runs in a state file, and stops what it started.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { envConfig, versions, type EnvConfig } from './config.ts';
import { kafkaHealthy, restartKafkaBroker, startKafka, stopKafka, type KafkaState } from './kafka.ts';
import { interruptApiServer, kubeHealthy, startKube, stopKube, type KubeState } from './kube.ts';
import { obtainAll, type Binaries } from './obtain.ts';
import { readJsonFile, writeJsonFile } from './process.ts';
import { rabbitHealthy, restartRabbit, startRabbit, stopRabbit, type RabbitState } from './rabbitmq.ts';

export interface EnvState {
  versions: typeof versions;
  kube?: KubeState;
  rabbitmq?: RabbitState;
  kafka?: KafkaState;
  binaries?: Binaries;
}

/** What tests and tools need to reach the environment. */
export interface EnvInfo {
  kubeconfig: string;
  apiServer: string;
  /** The control plane's processes, for benchmarks that count their CPU time. */
  kubePids: { apiServer: number; etcd: number };
  kubectl: string;
  helm: string;
  /** serverPid: the node's process, for benchmarks that count its CPU time. */
  rabbitmq: { amqpUrl: string; managementUrl: string; user: string; password: string; serverPid: number };
  kafka: { brokers: string[] };
  stateDir: string;
}

const componentNames = ['kube', 'rabbitmq', 'kafka'] as const;
type ComponentName = (typeof componentNames)[number];

interface Component<S> {
  name: ComponentName;
  healthy(state: S, config: EnvConfig): Promise<boolean>;
  start(config: EnvConfig, bin: Binaries): Promise<S>;
  stop(state: S): Promise<void>;
}

const components = {
  kube: {
    name: 'kube',
    healthy: kubeHealthy,
    start: startKube,
    stop: stopKube,
  } satisfies Component<KubeState>,
  rabbitmq: {
    name: 'rabbitmq',
    healthy: rabbitHealthy,
    start: startRabbit,
    stop: stopRabbit,
  } satisfies Component<RabbitState>,
  kafka: {
    name: 'kafka',
    healthy: kafkaHealthy,
    start: startKafka,
    stop: stopKafka,
  } satisfies Component<KafkaState>,
};

function stateFile(config: EnvConfig): string {
  return path.join(config.stateDir, 'state.json');
}

export function readState(config: EnvConfig = envConfig()): EnvState | undefined {
  return readJsonFile<EnvState>(stateFile(config));
}

function writeState(config: EnvConfig, state: EnvState): void {
  writeJsonFile(stateFile(config), state);
}

export function envInfo(state: EnvState, config: EnvConfig = envConfig()): EnvInfo {
  const { kube, rabbitmq, kafka, binaries } = state;
  if (!kube || !rabbitmq || !kafka || !binaries) {
    throw new Error(
      'the test environment is not up: run `npm run env:up` (or `npm test`, which brings it up)',
    );
  }
  return {
    kubeconfig: kube.kubeconfig,
    apiServer: kube.server,
    kubePids: { apiServer: kube.apiServerPid, etcd: kube.etcdPid },
    kubectl: binaries.kubectl,
    helm: binaries.helm,
    rabbitmq: {
      amqpUrl: rabbitmq.amqpUrl,
      managementUrl: rabbitmq.managementUrl,
      user: rabbitmq.user,
      password: rabbitmq.password,
      serverPid: rabbitmq.serverPid,
    },
    kafka: { brokers: kafka.brokers },
    stateDir: config.stateDir,
  };
}

function note(message: string): void {
  process.stderr.write(`[hookline env] ${message}\n`);
}

export interface UpResult {
  info: EnvInfo;
  /** The components this call started (the others were already running and are reused). */
  started: ComponentName[];
  timings: Record<string, number>;
}

/**
 * Whether a component that ran is still healthy, asked up to five times over some 10 s: a
 * control plane that is merely slow on a loaded machine must not be judged dead, since
 * starting it again wipes what every other user of the environment has in it.
 */
async function stillHealthy<S>(component: Component<S>, state: S, config: EnvConfig): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    if (await component.healthy(state, config).catch(() => false)) return true;
    if (attempt === 5) return false;
    note(`${component.name} did not answer its health check (attempt ${attempt} of 5); asking again`);
    await sleep(2000);
  }
}

async function ensureComponent<S>(
  component: Component<S>,
  previous: S | undefined,
  config: EnvConfig,
  bin: Binaries,
): Promise<{ state: S; started: boolean; ms: number }> {
  const began = Date.now();
  if (previous && (await stillHealthy(component, previous, config))) {
    return { state: previous, started: false, ms: Date.now() - began };
  }
  if (previous) await component.stop(previous);
  const state = await component.start(config, bin);
  note(`${component.name} is up (${Date.now() - began} ms)`);
  return { state, started: true, ms: Date.now() - began };
}

export async function up(config: EnvConfig = envConfig()): Promise<UpResult> {
  fs.mkdirSync(config.stateDir, { recursive: true });
  const began = Date.now();
  const previous = readState(config);
  const binaries = await obtainAll(config);
  const obtainedMs = Date.now() - began;
  const settled = await Promise.allSettled([
    ensureComponent(components.kube, previous?.kube, config, binaries),
    ensureComponent(components.rabbitmq, previous?.rabbitmq, config, binaries),
    ensureComponent(components.kafka, previous?.kafka, config, binaries),
  ]);
  const [kube, rabbitmq, kafka] = settled;
  const state: EnvState = {
    versions,
    binaries,
    kube: kube.status === 'fulfilled' ? kube.value.state : undefined,
    rabbitmq: rabbitmq.status === 'fulfilled' ? rabbitmq.value.state : undefined,
    kafka: kafka.status === 'fulfilled' ? kafka.value.state : undefined,
  };
  writeState(config, state);
  const failures = settled.flatMap((result) =>
    result.status === 'rejected' ? [result.reason as unknown] : [],
  );
  if (failures.length > 0) {
    // Leave nothing half-up behind: stop what this call started.
    const startedHere = settled.flatMap((result, index) =>
      result.status === 'fulfilled' && result.value.started ? [componentNames[index]!] : [],
    );
    await down(config, startedHere);
    const messages = failures.map((failure) =>
      failure instanceof Error ? failure.message : String(failure),
    );
    throw new Error(`the test environment did not come up:\n- ${messages.join('\n- ')}`, {
      cause: failures[0],
    });
  }
  const started: ComponentName[] = [];
  const timings: Record<string, number> = { obtain: obtainedMs };
  for (const [name, result] of [
    ['kube', kube],
    ['rabbitmq', rabbitmq],
    ['kafka', kafka],
  ] as const) {
    if (result.status === 'fulfilled') {
      timings[name] = result.value.ms;
      if (result.value.started) started.push(name);
    }
  }
  timings.total = Date.now() - began;
  return { info: envInfo(state, config), started, timings };
}

/** Stops the named components (all by default) and forgets them. */
export async function down(
  config: EnvConfig = envConfig(),
  only: readonly ComponentName[] = ['kube', 'rabbitmq', 'kafka'],
): Promise<void> {
  const state = readState(config);
  if (!state) return;
  await Promise.all([
    only.includes('kube') && state.kube ? components.kube.stop(state.kube) : undefined,
    only.includes('rabbitmq') && state.rabbitmq ? components.rabbitmq.stop(state.rabbitmq) : undefined,
    only.includes('kafka') && state.kafka ? components.kafka.stop(state.kafka) : undefined,
  ]);
  writeState(config, {
    ...state,
    kube: only.includes('kube') ? undefined : state.kube,
    rabbitmq: only.includes('rabbitmq') ? undefined : state.rabbitmq,
    kafka: only.includes('kafka') ? undefined : state.kafka,
  });
}

export async function status(
  config: EnvConfig = envConfig(),
): Promise<Record<ComponentName, 'running' | 'stopped' | 'unhealthy'>> {
  const state = readState(config);
  const check = async <S>(component: Component<S>, s: S | undefined) =>
    s === undefined
      ? 'stopped'
      : (await component.healthy(s, config).catch(() => false))
        ? 'running'
        : 'unhealthy';
  return {
    kube: await check(components.kube, state?.kube),
    rabbitmq: await check(components.rabbitmq, state?.rabbitmq),
    kafka: await check(components.kafka, state?.kafka),
  };
}

/** Restarts RabbitMQ keeping its data, for tests of what survives a broker restart. */
export async function restartRabbitMq(config: EnvConfig = envConfig()): Promise<void> {
  const state = readState(config);
  if (!state?.rabbitmq || !state.binaries) throw new Error('the test environment is not up');
  writeState(config, { ...state, rabbitmq: await restartRabbit(config, state.binaries, state.rabbitmq) });
}

export async function restartKafka(config: EnvConfig = envConfig()): Promise<void> {
  const state = readState(config);
  if (!state?.kafka || !state.binaries) throw new Error('the test environment is not up');
  writeState(config, { ...state, kafka: await restartKafkaBroker(config, state.binaries, state.kafka) });
}

/** Takes the Kubernetes API away for `outageMs` (etcd keeps its data), for tests of what survives. */
export async function interruptKubeApi(outageMs: number, config: EnvConfig = envConfig()): Promise<void> {
  const state = readState(config);
  if (!state?.kube || !state.binaries) throw new Error('the test environment is not up');
  writeState(config, {
    ...state,
    kube: await interruptApiServer(config, state.binaries, state.kube, outageMs),
  });
}
