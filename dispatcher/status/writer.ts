// Batched status write-back: deliveries are recorded in memory per Webhook and written at
// most about once per second per Webhook, however high the event rate. Each write adds
// this replica's delta to the latest stored status under optimistic concurrency
// (resourceVersion), so several replicas never lose each other's counts; while the API is
// unreachable the deltas accumulate and are written once it answers again. A write the API
// server refuses as invalid (422) would be refused again: it is reported and dropped.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { WebhookStatus } from '../../core/api/v1alpha1/webhook.ts';
import { errorMessage } from '../../core/errors.ts';
import type { EventRecorder } from '../../core/kube/events.ts';
import { isConflict, isInvalid, isNotFound, resourcePath, type KubeClient } from '../../core/kube/client.ts';
import {
  applyDelta,
  combine,
  emptyDelta,
  isEmpty,
  recordAttempt,
  type AttemptRecord,
  type BacklogStatus,
  type CircuitStatus,
  type Delta,
} from './delta.ts';
import { kubeTime } from '../../core/time.ts';

export interface StoredWebhook {
  metadata: { resourceVersion: string; uid?: string };
  status?: WebhookStatus;
}

export interface StatusWriterOptions {
  client: KubeClient;
  namespace: string;
  logger: Logger;
  intervalMs?: number;
  /** Writes per interval across all Webhooks (default 10); the rest wait their turn, oldest first. */
  maxWritesPerInterval?: number;
  /**
   * Writes waiting on the API server at once (default 4). A slow API server gets fewer
   * writes a second rather than a growing pile of them: a dispatcher does not add to the
   * load that slows it.
   */
  maxInFlight?: number;
  /** The Webhook as the informer last saw it, to write without reading it first. */
  cached?: (webhook: string) => StoredWebhook | undefined;
  /** Called after each successful status write (for the metric). */
  onWrite?: () => void;
  /** Called for each write the API server refused as invalid and that was dropped (for the metric). */
  onRefused?: (webhook: string) => void;
  /** Called for each write that failed and was kept for the next tick (for the metric). */
  onFailed?: (webhook: string) => void;
  /** Tells of a refused write with a Warning Event on the Webhook. */
  recorder?: EventRecorder;
}

export class StatusWriter {
  readonly #o: StatusWriterOptions;
  readonly #pending = new Map<string, Delta>();
  readonly #flushing = new Set<string>();
  /**
   * What this writer's last status write returned, per Webhook, until the informer's copy
   * is as new: only Webhooks whose watch lags are kept.
   */
  readonly #written = new Map<string, StoredWebhook>();
  #timer: NodeJS.Timeout | undefined;
  /** Writes made, for metrics and tests. */
  writes = 0;

  constructor(options: StatusWriterOptions) {
    this.#o = options;
  }

  #delta(webhook: string): Delta {
    let delta = this.#pending.get(webhook);
    if (!delta) {
      delta = emptyDelta();
      this.#pending.set(webhook, delta);
    }
    return delta;
  }

  record(webhook: string, record: AttemptRecord): void {
    recordAttempt(this.#delta(webhook), record);
  }

  filtered(webhook: string): void {
    this.#delta(webhook).filtered++;
  }

  /** An event that never became an attempt (not JSON, too large) went to the dead-letter queue. */
  deadLettered(webhook: string): void {
    this.#delta(webhook).deadLettered++;
  }

  disable(webhook: string, reason: string, at: Date): void {
    this.#delta(webhook).disable ??= { reason, at: kubeTime(at) };
  }

  /** The circuit breaker opened or closed. */
  circuit(webhook: string, state: CircuitStatus): void {
    this.#delta(webhook).circuit = state;
  }

  /** What the broker holds for the Webhook, as last sampled. */
  backlog(webhook: string, sample: BacklogStatus): void {
    this.#delta(webhook).backlog = sample;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#tick(), this.#o.intervalMs ?? 1000);
    this.#timer.unref();
  }

  /**
   * One interval's writes within the budget: the Webhooks waiting longest first, those with
   * deliveries, a circuit or a disabling to tell before those with only a backlog sample. With
   * thousands of Webhooks the samples alone exceed the budget; counts do not wait behind them.
   */
  async #tick(): Promise<void> {
    const budget = Math.min(
      this.#o.maxWritesPerInterval ?? 10,
      (this.#o.maxInFlight ?? 4) - this.#flushing.size,
    );
    if (budget <= 0) return;
    const due: string[] = [];
    const samples: string[] = [];
    for (const [webhook, delta] of this.#pending) {
      if (this.#flushing.has(webhook)) continue;
      if (!onlyBacklog(delta)) due.push(webhook);
      else if (samples.length < budget) samples.push(webhook);
      if (due.length >= budget) break;
    }
    due.push(...samples.slice(0, budget - due.length));
    await Promise.all(due.map((webhook) => this.#flushOne(webhook)));
  }

  /** Writes every pending delta now, whatever the budget (disabling, shutting down). */
  async flush(): Promise<void> {
    await Promise.all([...this.#pending.keys()].map((webhook) => this.#flushOne(webhook)));
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  pendingFor(webhook: string): Delta | undefined {
    return this.#pending.get(webhook);
  }

  async #flushOne(webhook: string): Promise<void> {
    if (this.#flushing.has(webhook)) return;
    const delta = this.#pending.get(webhook);
    if (!delta || isEmpty(delta)) return;
    this.#flushing.add(webhook);
    this.#pending.delete(webhook);
    const path = resourcePath({
      group: 'hookline.dev',
      version: 'v1alpha1',
      plural: 'webhooks',
      namespace: this.#o.namespace,
      name: webhook,
    });
    let stored: StoredWebhook | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        // A known copy saves a read; a conflict means it was stale, so read afresh.
        const known = attempt === 1 ? this.#known(webhook) : undefined;
        stored = known ?? (await this.#o.client.get<StoredWebhook>(path));
        const status = applyDelta(stored.status, delta);
        if (changesNothing(stored.status, status)) return;
        try {
          const written = await this.#o.client.mergePatch<StoredWebhook | undefined>(`${path}/status`, {
            metadata: { resourceVersion: stored.metadata.resourceVersion },
            status,
          });
          if (written?.metadata?.resourceVersion)
            this.#written.set(webhook, {
              metadata: { resourceVersion: written.metadata.resourceVersion, uid: written.metadata.uid },
              status: written.status,
            });
          this.writes++;
          this.#o.onWrite?.();
          return;
        } catch (error) {
          if (!isConflict(error) || attempt >= 10) throw error;
        }
      }
    } catch (error) {
      this.#written.delete(webhook);
      if (isNotFound(error)) return; // the Webhook is gone; so are its counts
      if (isInvalid(error)) return await this.#refused(webhook, stored, delta, error);
      // Keep the delta, ahead of anything recorded meanwhile, for the next tick.
      const newer = this.#pending.get(webhook);
      this.#pending.set(webhook, newer ? combine(delta, newer) : delta);
      this.#o.onFailed?.(webhook);
      this.#o.logger.warn(
        { webhook, err: errorMessage(error) },
        'Could not write delivery status; will retry',
      );
    } finally {
      this.#flushing.delete(webhook);
    }
  }

  /**
   * The newer of the informer's copy and what this writer's last write returned. The
   * informer sees a write only when the API server's watch delivers it, which lags behind
   * under load: writing on its older copy would meet a conflict and cost a read. Which is
   * newer is judged by resourceVersion as a number (etcd's revision); should that judgement
   * ever be wrong, the precondition refuses the write and the Webhook is read afresh.
   */
  #known(webhook: string): StoredWebhook | undefined {
    const cached = this.#o.cached?.(webhook);
    const written = this.#written.get(webhook);
    if (!cached || !written) return cached ?? written;
    const revision = (w: StoredWebhook) => Number(w.metadata.resourceVersion);
    if (revision(written) > revision(cached)) return written;
    this.#written.delete(webhook);
    return cached;
  }

  /** A write refused as invalid is refused every time: said in the log, a metric and an Event, and dropped. */
  async #refused(
    webhook: string,
    stored: StoredWebhook | undefined,
    delta: Delta,
    error: unknown,
  ): Promise<void> {
    const dropped = `${delta.attempts} attempts, ${delta.filtered} filtered and ${delta.deadLettered} dead-lettered events`;
    this.#o.onRefused?.(webhook);
    this.#o.logger.error(
      { webhook, err: errorMessage(error), attempts: delta.attempts },
      'Status write refused by the API server; dropped it',
    );
    await this.#o.recorder?.warning(
      {
        apiVersion: 'hookline.dev/v1alpha1',
        kind: 'Webhook',
        metadata: { name: webhook, namespace: this.#o.namespace, uid: stored?.metadata.uid },
      },
      'StatusWriteRefused',
      `Dropped the delivery status of ${dropped}: the API server refused it: ${errorMessage(error)}`,
    );
  }
}

/** A delta with nothing but a backlog sample. */
function onlyBacklog(delta: Delta): boolean {
  return delta.backlog !== undefined && isEmpty({ ...delta, backlog: undefined });
}

/**
 * Whether writing `patch` over `stored` would leave it as it is: a replica that starts reports
 * its circuit closed, which a status without a circuit says already (thousands of Webhooks
 * would otherwise cost as many writes at each start).
 */
function changesNothing(stored: WebhookStatus | undefined, patch: Partial<WebhookStatus>): boolean {
  for (const [key, value] of Object.entries(patch) as [keyof WebhookStatus, unknown][]) {
    const current = stored?.[key];
    if (key === 'deliveries') {
      // An absent counter is a zero one.
      const counts = (current ?? {}) as Record<string, number | undefined>;
      if (
        Object.entries(value as Record<string, number>).some(([counter, n]) => (counts[counter] ?? 0) !== n)
      )
        return false;
    } else if (!(current === undefined && isZero(key, value)) && !isDeepStrictEqual(current, value))
      return false;
  }
  return true;
}

/** What an absent status field means already: no attempts, no failures in a row, a closed circuit. */
function isZero(key: keyof WebhookStatus, value: unknown): boolean {
  switch (key) {
    case 'attempts':
    case 'consecutiveFailures':
      return value === 0;
    case 'circuit':
      return (value as CircuitStatus).state === 'Closed';
    default:
      return false;
  }
}
