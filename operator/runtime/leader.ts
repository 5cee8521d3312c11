// Leader election through a coordination.k8s.io/v1 Lease, the way client-go does it: a
// candidate takes the lease when it is free or when its record has not changed for a whole
// lease duration (measured on the candidate's own clock, so clock skew does not matter),
// the leader renews it, and gives it up on shutdown so that another replica takes over at
// once. A leader that cannot renew within the renew deadline stops leading.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.ts';
import { isConflict, isNotFound, resourcePath, type KubeClient } from '../../core/kube/client.ts';
import { Retry, systemClock, type Clock } from '../../core/retry.ts';
import { kubeMicroTime } from '../../core/time.ts';

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  /** Reads the time and sleeps the retry period; tests pass one that does not wait. */
  clock?: Clock;
}

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #path: string;
  readonly #clock: Clock;
  #observedRecord = '';
  #observedAt = 0;

  constructor(options: LeaderElectionOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#path = resourcePath({
      group: 'coordination.k8s.io',
      version: 'v1',
      plural: 'leases',
      namespace: options.namespace,
      name: options.name,
    });
  }

  /** One attempt to take or renew the lease; true when this candidate holds it afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity, leaseDurationMs } = this.#o;
    const now = this.#clock.now();
    const existing = await client.find<Lease>(this.#path);
    const spec: Lease['spec'] = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      renewTime: kubeMicroTime(now),
    };
    if (!existing) {
      try {
        await client.create(
          resourcePath({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespace }),
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { ...spec, acquireTime: kubeMicroTime(now), leaseTransitions: 0 },
          } satisfies Lease,
        );
        this.#observe(JSON.stringify(spec), now);
        return true;
      } catch (error) {
        if (isConflict(error)) return false;
        throw error;
      }
    }
    const record = JSON.stringify({ h: existing.spec.holderIdentity, r: existing.spec.renewTime });
    if (record !== this.#observedRecord) this.#observe(record, now);
    const holder = existing.spec.holderIdentity;
    const heldByOther = holder && holder !== identity;
    const expired = now - this.#observedAt >= (existing.spec.leaseDurationSeconds ?? 15) * 1000;
    if (heldByOther && !expired) return false;
    const next: Lease = {
      ...existing,
      spec: {
        ...existing.spec,
        ...spec,
        acquireTime: holder === identity ? existing.spec.acquireTime : kubeMicroTime(now),
        leaseTransitions: (existing.spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
      },
    };
    try {
      await client.put(this.#path, next); // resourceVersion in metadata: optimistic concurrency
      this.#observe(JSON.stringify({ h: identity, r: next.spec.renewTime }), now);
      return true;
    } catch (error) {
      if (isConflict(error) || isNotFound(error)) return false;
      throw error;
    }
  }

  #observe(record: string, at: number): void {
    this.#observedRecord = record;
    this.#observedAt = at;
  }

  /**
   * Campaigns until leading, then calls `lead` with a signal that aborts when leadership is
   * lost; returns when `stop` aborts (after releasing the lease) or leadership is lost.
   */
  async run(lead: (lost: AbortSignal) => Promise<void>, stop: AbortSignal): Promise<'stopped' | 'lost'> {
    const { retryPeriodMs, renewDeadlineMs, logger } = this.#o;
    const campaign = new Retry({ kind: 'fixed', ms: retryPeriodMs }, { clock: this.#clock });
    while (!stop.aborted) {
      const acquired = await this.tryAcquireOrRenew().catch((error: unknown) => {
        logger.warn({ err: errorMessage(error) }, 'Could not reach the leader lease');
        return false;
      });
      if (acquired) break;
      await campaign.wait(stop);
    }
    if (stop.aborted) return 'stopped';

    logger.info('Became leader');
    const lost = new AbortController();
    const leading = lead(lost.signal);
    let lastRenew = this.#clock.now();
    let outcome: 'stopped' | 'lost' = 'stopped';
    while (!stop.aborted) {
      await this.#clock.sleep(retryPeriodMs, stop); // renews once per retry period
      if (stop.aborted) break;
      const renewed = await this.tryAcquireOrRenew().catch((error: unknown) => {
        logger.warn({ err: errorMessage(error) }, 'Could not renew the leader lease');
        return false;
      });
      if (renewed) lastRenew = this.#clock.now();
      else if (this.#clock.now() - lastRenew > renewDeadlineMs) {
        outcome = 'lost';
        break;
      }
    }
    lost.abort();
    await leading;
    if (outcome === 'stopped') await this.release();
    logger.info({ outcome }, outcome === 'lost' ? 'Lost leadership' : 'Stopped leading');
    return outcome;
  }

  /** Gives the lease up so that another candidate takes it without waiting for expiry. */
  async release(): Promise<void> {
    try {
      const existing = await this.#o.client.find<Lease>(this.#path);
      if (!existing || existing.spec.holderIdentity !== this.#o.identity) return;
      await this.#o.client.put(this.#path, {
        ...existing,
        spec: {
          ...existing.spec,
          holderIdentity: null,
          leaseDurationSeconds: 1,
          renewTime: kubeMicroTime(this.#clock.now()),
        },
      });
    } catch (error) {
      this.#o.logger.warn({ err: errorMessage(error) }, 'Could not release the leader lease');
    }
  }
}
