// Stands in for the kubelet's readiness probes and the deployment controller's counts where
// dispatchers run as local processes: probes each replica's /readyz about once a second and
// writes what it sees into the Deployment's status subresource (observedGeneration,
// replicas, readyReplicas, availableReplicas, updatedReplicas), only when that changes. A
// replica whose process exited is no longer counted; with none left, the counts are 0.
import type { KubeClient } from '../../core/kube/client.ts';
import { resourcePath } from '../../core/kube/client.ts';

/** A running replica: the pod template it was started from, and how to probe it. */
export interface ProbedReplica {
  template: string;
  ready: () => Promise<boolean>;
}

export interface DeploymentCounts {
  observedGeneration: number;
  replicas: number;
  readyReplicas: number;
  availableReplicas: number;
  updatedReplicas: number;
}

interface ObservedDeployment {
  metadata: { generation?: number };
  spec: { template: unknown };
  status?: Partial<DeploymentCounts>;
}

/**
 * The status a deployment controller would write for these replicas: updated are those
 * started from the current template, available are the ready ones (no minReadySeconds).
 */
export function deploymentCounts(
  generation: number,
  template: string,
  replicas: readonly { template: string; ready: boolean }[],
): DeploymentCounts {
  const ready = replicas.filter((r) => r.ready).length;
  return {
    observedGeneration: generation,
    replicas: replicas.length,
    readyReplicas: ready,
    availableReplicas: ready,
    updatedReplicas: replicas.filter((r) => r.template === template).length,
  };
}

/** True when the stored status already says this (absent counts read as 0, as the API omits them). */
export function countsMatch(
  stored: Partial<DeploymentCounts> | undefined,
  counts: DeploymentCounts,
): boolean {
  return (Object.keys(counts) as (keyof DeploymentCounts)[]).every(
    (key) => (stored?.[key] ?? 0) === counts[key],
  );
}

/** The template a replica was started from, in the form the reporter compares. */
export const templateOf = (deployment: { spec: { template: unknown } }): string =>
  JSON.stringify(deployment.spec.template);

/** A readiness probe of a dispatcher on a loopback port: /readyz answers 200 within a second. */
export function readyzProbe(port: number): () => Promise<boolean> {
  return async () => {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      return response.status === 200;
    } catch {
      return false;
    }
  };
}

export interface ReporterOptions {
  client: KubeClient;
  namespace: string;
  /** The Deployment's name. */
  name: string;
  intervalMs?: number;
}

/** Reports the readiness of one Deployment's local replicas into its status. */
export class ReadinessReporter {
  readonly #o: ReporterOptions;
  readonly #replicas = new Set<ProbedReplica>();
  readonly #path: string;
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: ReporterOptions) {
    this.#o = options;
    this.#path = resourcePath({
      group: 'apps',
      version: 'v1',
      plural: 'deployments',
      namespace: options.namespace,
      name: options.name,
    });
  }

  /** Starts the periodic probes; the first pass runs at once. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.report(), this.#o.intervalMs ?? 1000);
    this.#timer.unref();
    void this.report();
  }

  /** Counts a replica from now on; the returned function stops counting it and reports at once. */
  add(replica: ProbedReplica): () => Promise<void> {
    this.#replicas.add(replica);
    void this.report();
    return () => {
      this.#replicas.delete(replica);
      return this.report();
    };
  }

  get size(): number {
    return this.#replicas.size;
  }

  /**
   * One pass: probe every replica, write the counts if they differ from the stored ones.
   * Serialized. A pass that fails (the API server away) is made good by the next one, as a
   * kubelet's next status sync would.
   */
  report(): Promise<void> {
    this.#pass = this.#pass.then(() => this.#reportOnce()).catch(() => undefined);
    return this.#pass;
  }

  async #reportOnce(): Promise<void> {
    if (this.#closed) return;
    const deployment = await this.#o.client.find<ObservedDeployment>(this.#path);
    if (!deployment) return;
    const replicas = await Promise.all(
      [...this.#replicas].map(async (r) => ({ template: r.template, ready: await r.ready() })),
    );
    const counts = deploymentCounts(deployment.metadata.generation ?? 0, templateOf(deployment), replicas);
    if (countsMatch(deployment.status, counts)) return;
    await this.#o.client.mergePatch(`${this.#path}/status`, { status: counts });
  }

  /** Stops probing after a last pass (which reports whatever replicas are still counted). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.report();
    this.#closed = true;
  }
}
