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
  /**
   * Tells the runner the object as a write of this reconcile answered it (a status apply, a
   * finalizer patch): until the informer has caught up, the next reconcile starts from it.
   */
  wrote(object: KubeObject): void;
}

export interface ErrorContext extends Omit<ReconcileContext, 'wrote'> {
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

/**
 * The objects this runner's own writes produced, by key, while the informer still has an
 * older version: `versions` are the resourceVersions from the one the reconcile started from
 * to the last write, `object` the last write's answer.
 */
interface OwnWrites<T> {
  versions: Set<string>;
  object: T;
  /**
   * The write answered the version it started from: the API server does that for the patch
   * that releases a deleted object's last finalizer, which deletes it. The informer's copy
   * at that version still has the finalizer until the deletion arrives.
   */
  final: boolean;
}

export class ControllerRunner<T extends KubeObject> {
  readonly #o: RunnerOptions<T>;
  readonly #queue: WorkQueue;
  readonly #failures = new Map<string, number>();
  readonly #written = new Map<string, OwnWrites<T>>();
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

  /**
   * The informer's object, or the newer one this runner wrote when the informer is still at
   * a version the write came from: a reconcile triggered meanwhile (by a Secret, say) must
   * not write again what the last one wrote.
   */
  #current(key: string): T | undefined {
    const cached = this.#o.informer.get(key);
    const own = this.#written.get(key);
    if (!own) return cached;
    const version = cached?.metadata.resourceVersion;
    if (
      cached &&
      version !== undefined &&
      own.versions.has(version) &&
      (version !== own.object.metadata.resourceVersion || own.final)
    )
      return own.object;
    this.#written.delete(key); // caught up, gone, or changed by someone else since
    return cached;
  }

  #recordWrite(key: string, from: T, written: KubeObject): void {
    const version = written.metadata.resourceVersion;
    if (version === undefined || written.metadata.uid !== from.metadata.uid) return;
    delete written.metadata.managedFields;
    const own = this.#written.get(key) ?? {
      versions: new Set([from.metadata.resourceVersion ?? '']),
      object: from,
      final: false,
    };
    own.final = version === from.metadata.resourceVersion;
    own.versions.add(version);
    own.object = { ...from, ...written, apiVersion: from.apiVersion, kind: from.kind };
    this.#written.set(key, own);
  }

  async #process(key: string): Promise<void> {
    const object = this.#current(key);
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
      const wrote = (written: KubeObject) => this.#recordWrite(key, object, written);
      action = await controller.reconcile(object, { key, logger, wrote });
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
