// The controller contract (after kube-rs): `reconcile(object, ctx)` compares desired with
// observed and returns what to do next; `errorPolicy(object, error, ctx)` decides how a
// failed reconcile is retried. The runner feeds both from a work queue that informer
// callbacks only ever add keys to, and resyncs every key periodically.
import type { Logger } from 'pino';
import { errorMessage, HooklineError, isTransient } from '../../core/errors.ts';
import type { Informer, KubeObject } from '../../core/kube/informer.ts';
import { backoffDelay } from '../../core/backoff.ts';
import { WorkQueue } from './workqueue.ts';

export type Action = { kind: 'requeue'; afterMs: number } | { kind: 'await' };

export const requeueAfter = (afterMs: number): Action => ({ kind: 'requeue', afterMs });
export const awaitChange = (): Action => ({ kind: 'await' });

export interface ReconcileContext {
  key: string;
  logger: Logger;
}

export interface ErrorContext extends ReconcileContext {
  /** Consecutive failed reconciles of this key, this one included. */
  failures: number;
}

export interface Controller<T extends KubeObject> {
  readonly kind: string;
  reconcile(object: T, ctx: ReconcileContext): Promise<Action>;
  errorPolicy(object: T, error: unknown, ctx: ErrorContext): Action;
}

/** Transient errors back off exponentially with jitter; terminal ones wait for a change. */
export function defaultErrorPolicy(error: unknown, ctx: ErrorContext): Action {
  if (!isTransient(error)) return awaitChange();
  return requeueAfter(backoffDelay(ctx.failures, { baseMs: 1000, maxMs: 5 * 60_000 }));
}

export interface RunnerOptions<T extends KubeObject> {
  controller: Controller<T>;
  informer: Informer<T>;
  logger: Logger;
  concurrency?: number;
  resyncMs?: number;
  onReconciled?: (outcome: 'success' | 'error', durationMs: number) => void;
}

export class ControllerRunner<T extends KubeObject> {
  readonly #o: RunnerOptions<T>;
  readonly #queue: WorkQueue;
  readonly #failures = new Map<string, number>();
  #resync: NodeJS.Timeout | undefined;

  constructor(options: RunnerOptions<T>) {
    this.#o = options;
    this.#queue = new WorkQueue({
      concurrency: options.concurrency ?? 8,
      process: (key) => this.#process(key),
    });
  }

  enqueue(key: string): void {
    this.#queue.add(key);
  }

  get queueLength(): number {
    return this.#queue.length;
  }

  async start(): Promise<void> {
    this.#o.informer.start();
    await this.#o.informer.waitForSync();
    for (const key of this.#o.informer.keys()) this.enqueue(key);
    const resyncMs = this.#o.resyncMs ?? 5 * 60_000;
    this.#resync = setInterval(() => {
      for (const key of this.#o.informer.keys()) this.enqueue(key);
    }, resyncMs);
    this.#resync.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#resync);
    await this.#queue.shutdown();
  }

  async #process(key: string): Promise<void> {
    const object = this.#o.informer.get(key);
    if (!object) {
      this.#failures.delete(key);
      return; // gone; finalizers make sure cleanup ran while it still existed
    }
    const { controller } = this.#o;
    const logger = this.#o.logger.child({
      kind: controller.kind,
      namespace: object.metadata.namespace,
      name: object.metadata.name,
      generation: object.metadata.generation,
    });
    const began = performance.now();
    let action: Action;
    try {
      action = await controller.reconcile(object, { key, logger });
      this.#failures.delete(key);
      this.#o.onReconciled?.('success', performance.now() - began);
    } catch (error) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      this.#o.onReconciled?.('error', performance.now() - began);
      try {
        action = controller.errorPolicy(object, error, { key, logger, failures });
      } catch (policyError) {
        action = defaultErrorPolicy(policyError, { key, logger, failures });
      }
      const retryInMs = action.kind === 'requeue' ? action.afterMs : undefined;
      if (error instanceof HooklineError && error.reported) {
        logger.info({ reason: error.code, failures, retryInMs }, 'Waiting: not ready yet');
      } else {
        logger.warn({ err: errorMessage(error), failures, retryInMs }, 'Reconcile failed');
      }
    }
    if (action.kind === 'requeue') this.#queue.addAfter(key, action.afterMs);
  }
}
