// Stands in for the kubelet on this machine: follows the dispatcher Deployments the
// operator writes and runs each replica as a local process, with the container's
// arguments and environment (Secret references resolved) and the image's entry point
// mapped to hookline.ts. A Deployment whose pod template changed (the operator
// rolls it when a Secret or the source changes) is restarted; a deleted one is stopped.
// Each replica gets its own loopback port; http sources are reached there. What the kubelet
// and the deployment controller would report, the replicas' readiness, goes into each
// Deployment's status (readiness.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { KubeClient } from '../../core/kube/client.ts';
import { resourcePath } from '../../core/kube/client.ts';
import { ReadinessReporter, readyzProbe, templateOf } from './readiness.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

export interface DispatcherDeployment {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: {
    replicas?: number;
    template: {
      metadata?: { annotations?: Record<string, string> };
      spec: {
        containers: {
          args?: string[];
          env?: EnvVar[];
          resources?: { limits?: Record<string, string | number> };
        }[];
      };
    };
  };
}

export const DISPATCHER_SELECTOR = 'app.kubernetes.io/name=hookline-dispatcher';

/** The dispatcher container's arguments and environment, its Secret references read. */
export async function containerCommand(
  client: KubeClient,
  deployment: DispatcherDeployment,
): Promise<{ args: string[]; env: Record<string, string> }> {
  const container = deployment.spec.template.spec.containers[0]!;
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    const ref = variable.valueFrom?.secretKeyRef;
    if (!ref) continue;
    const secret = await client.get<{ data?: Record<string, string> }>(
      resourcePath({
        group: '',
        version: 'v1',
        plural: 'secrets',
        namespace: deployment.metadata.namespace,
        name: ref.name,
      }),
    );
    const value = secret.data?.[ref.key];
    if (value === undefined) throw new Error(`Secret ${ref.name} has no key ${ref.key}`);
    env[variable.name] = Buffer.from(value, 'base64').toString('utf8');
  }
  return { args: container.args ?? [], env };
}

export interface LocalDispatcher {
  namespace: string;
  source: string;
  replica: number;
  port: number;
  pid: number | undefined;
  log: string;
}

interface Running extends LocalDispatcher {
  child: ChildProcess;
  template: string;
  /** Stops counting the replica in its Deployment's status. */
  uncount: () => Promise<void>;
}

export interface RunnerOptions {
  client: KubeClient;
  kubeconfig: string;
  logDir: string;
  /** Ports handed to replicas, lowest free first. */
  ports: { first: number; count: number };
  /** Only this namespace; all when unset. */
  namespace?: string;
  /** Extra environment for the processes (e.g. the log level). */
  env?: Record<string, string>;
  onChange?: (event: 'started' | 'stopped', dispatcher: LocalDispatcher) => void;
  pollMs?: number;
}

export class LocalDispatchers {
  readonly #o: RunnerOptions;
  readonly #running = new Map<string, Running>();
  /** By `namespace/deployment`. */
  readonly #reporters = new Map<string, ReadinessReporter>();
  #timer: NodeJS.Timeout | undefined;
  #sync: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: RunnerOptions) {
    this.#o = options;
    fs.mkdirSync(options.logDir, { recursive: true });
  }

  get running(): LocalDispatcher[] {
    return [...this.#running.values()].map(({ child: _c, template: _t, uncount: _u, ...rest }) => rest);
  }

  /** The loopback port of the first replica of a source's dispatcher. */
  port(namespace: string, source: string): number | undefined {
    return this.running.find((d) => d.namespace === namespace && d.source === source && d.replica === 0)
      ?.port;
  }

  start(): void {
    const tick = () => {
      this.#sync = this.#sync.then(() => this.#reconcile()).catch(() => undefined);
    };
    tick();
    this.#timer = setInterval(tick, this.#o.pollMs ?? 1000);
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const { client, namespace } = this.#o;
    const path = namespace
      ? `/apis/apps/v1/namespaces/${namespace}/deployments`
      : '/apis/apps/v1/deployments';
    const list = await client.get<{ items: DispatcherDeployment[] }>(path, {
      labelSelector: DISPATCHER_SELECTOR,
    });
    const wanted = new Map<string, DispatcherDeployment>();
    for (const deployment of list.items) {
      const replicas = deployment.spec.replicas ?? 1;
      for (let replica = 0; replica < replicas; replica++)
        wanted.set(`${deployment.metadata.namespace}/${deployment.metadata.name}/${replica}`, deployment);
    }
    for (const [key, running] of this.#running) {
      const deployment = wanted.get(key);
      if (!deployment || templateOf(deployment) !== running.template) await this.#stopOne(key, running);
    }
    await this.#followReporters(list.items);
    for (const [key, deployment] of wanted) {
      if (this.#running.has(key) || this.#stopped) continue;
      await this.#startOne(key, deployment, Number(key.split('/')[2]));
    }
  }

  /** A reporter per listed Deployment (one of 0 replicas too); those of deleted ones closed. */
  async #followReporters(deployments: DispatcherDeployment[]): Promise<void> {
    const listed = new Set(deployments.map((d) => `${d.metadata.namespace}/${d.metadata.name}`));
    for (const [key, reporter] of this.#reporters) {
      if (listed.has(key)) continue;
      this.#reporters.delete(key);
      await reporter.close();
    }
    for (const deployment of deployments) this.#reporterOf(deployment);
  }

  #reporterOf(deployment: DispatcherDeployment): ReadinessReporter {
    const { namespace, name } = deployment.metadata;
    const key = `${namespace}/${name}`;
    let reporter = this.#reporters.get(key);
    if (!reporter) {
      reporter = new ReadinessReporter({ client: this.#o.client, namespace, name });
      this.#reporters.set(key, reporter);
      reporter.start();
    }
    return reporter;
  }

  #freePort(): number {
    const used = new Set([...this.#running.values()].map((r) => r.port));
    for (let port = this.#o.ports.first; port < this.#o.ports.first + this.#o.ports.count; port++)
      if (!used.has(port)) return port;
    throw new Error('no free port left for another local dispatcher');
  }

  async #startOne(key: string, deployment: DispatcherDeployment, replica: number): Promise<void> {
    const { args, env } = await containerCommand(this.#o.client, deployment);
    const port = this.#freePort();
    const { namespace } = deployment.metadata;
    const source = env.HOOKLINE_SOURCE ?? deployment.metadata.name.replace(/^hookline-dispatcher-/, '');
    const log = path.join(this.#o.logDir, `${namespace}.${source}.${replica}.log`);
    const out = fs.openSync(log, 'a');
    const child = spawn(process.execPath, [path.join(repo, 'hookline.ts'), ...args], {
      env: {
        ...process.env,
        ...env,
        ...this.#o.env,
        KUBECONFIG: this.#o.kubeconfig,
        HOOKLINE_PORT: String(port),
      },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const template = templateOf(deployment);
    const running: Running = {
      namespace,
      source,
      replica,
      port,
      pid: child.pid,
      log,
      child,
      template,
      uncount: this.#reporterOf(deployment).add({ template, ready: readyzProbe(port) }),
    };
    this.#running.set(key, running);
    // A dispatcher that exits by itself is started again on a later pass, like a pod's restart.
    child.once('exit', () => {
      void running.uncount();
      if (this.#running.get(key) === running) this.#running.delete(key);
    });
    this.#o.onChange?.('started', running);
  }

  async #stopOne(key: string, running: Running): Promise<void> {
    this.#running.delete(key);
    if (running.child.exitCode === null && running.child.signalCode === null) {
      const exited = new Promise((resolve) => running.child.once('exit', resolve));
      running.child.kill('SIGTERM');
      const timer = setTimeout(() => running.child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    this.#o.onChange?.('stopped', running);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#sync;
    await Promise.all([...this.#running].map(([key, running]) => this.#stopOne(key, running)));
    // Their exits were counted: the last reports say 0 replicas ready.
    await Promise.all([...this.#reporters.values()].map((reporter) => reporter.close()));
    this.#reporters.clear();
  }
}
