import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { KubeApiError, type KubeClient } from '../../core/kube/client.ts';
import type { Clock } from '../../core/retry.ts';
import { LeaderElector } from './leader.ts';

/** A clock that moves forward by each sleep at once, and says what was slept. */
function steppingClock(): Clock & { slept: number[] } {
  let now = Date.UTC(2026, 0, 1);
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string | null; leaseDurationSeconds?: number; leaseTransitions?: number };
}

/** One Lease in the API server; `failPuts` makes every update fail with a server error. */
function leaseStore(initial: Lease) {
  const store = { lease: initial, failPuts: false };
  let version = 1;
  const client = {
    fieldManager: 'test',
    find: () => Promise.resolve(structuredClone(store.lease)),
    put: (_path: string, body: Lease) => {
      if (store.failPuts) return Promise.reject(new KubeApiError(500, 'InternalError', 'etcd timed out'));
      store.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
      return Promise.resolve(store.lease);
    },
  } as unknown as KubeClient;
  return { client, store };
}

const heldByOther: Lease = {
  metadata: { name: 'hookline', namespace: 'hookline-system', resourceVersion: '1' },
  spec: { holderIdentity: 'other', leaseDurationSeconds: 10, leaseTransitions: 0 },
};

function elector(client: KubeClient, clock: Clock) {
  return new LeaderElector({
    client,
    namespace: 'hookline-system',
    name: 'hookline',
    identity: 'me',
    leaseDurationMs: 10_000,
    renewDeadlineMs: 5_000,
    retryPeriodMs: 2_000,
    logger: pino({ level: 'silent' }),
    clock,
  });
}

describe('LeaderElector', () => {
  it('tries again every retry period until the holder has not renewed for a lease duration', async () => {
    const clock = steppingClock();
    const { client, store } = leaseStore(structuredClone(heldByOther));
    const stop = new AbortController();
    const outcome = await elector(client, clock).run(() => {
      assert.equal(store.lease.spec.holderIdentity, 'me');
      stop.abort();
      return Promise.resolve();
    }, stop.signal);

    assert.equal(outcome, 'stopped');
    assert.deepEqual(clock.slept, [2_000, 2_000, 2_000, 2_000, 2_000]);
    assert.equal(store.lease.spec.leaseTransitions, 1);
    assert.equal(store.lease.spec.holderIdentity, null, 'released on stop');
  });

  it('renews every retry period, and stops leading once it could not within the renew deadline', async () => {
    const clock = steppingClock();
    const { client, store } = leaseStore({
      ...structuredClone(heldByOther),
      spec: { holderIdentity: null, leaseDurationSeconds: 1 },
    });
    let lostLeadership = false;
    const outcome = await elector(client, clock).run(async (lost) => {
      store.failPuts = true;
      await new Promise((resolve) => lost.addEventListener('abort', resolve, { once: true }));
      lostLeadership = true;
    }, new AbortController().signal);

    assert.equal(outcome, 'lost');
    assert.ok(lostLeadership);
    // Renewals fail at 2 s, 4 s and 6 s; 6 s is past the 5 s deadline.
    assert.deepEqual(clock.slept, [2_000, 2_000, 2_000]);
  });
});
