import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BrokerAdmin } from '../../core/rabbit/broker.ts';
import { DelayInfrastructure } from './delay.ts';

/** A broker admin that counts the operations asked of it. */
function countingAdmin() {
  const calls = { declares: 0, deletes: 0 };
  const admin = new Proxy({} as BrokerAdmin, {
    get: (_target, name: string) => () => {
      if (name.startsWith('delete')) calls.deletes++;
      else calls.declares++;
      return Promise.resolve({ messageCount: 0, consumerCount: 0, existed: false });
    },
  });
  return { admin, calls };
}

describe('DelayInfrastructure', () => {
  it('removes a namespace’s delay infrastructure once, however many of its Webhooks ask at once', async () => {
    const { admin, calls } = countingAdmin();
    const delays = new DelayInfrastructure({ maxAgeMs: 60_000 });
    await delays.ensure(admin, 'default', 'shop', 'quorum');
    const declared = calls.declares;
    assert.ok(declared > 0);
    for (let i = 0; i < 100; i++) await delays.remove(admin, 'default', 'shop');
    const removal = calls.deletes;
    assert.equal(removal, 2 * 28 + 4, 'the levels’ exchanges and queues, deliver, unrouted (both), direct');
    await delays.remove(admin, 'default', 'orders');
    assert.equal(calls.deletes, 2 * removal, 'another namespace is its own');
    // A Webhook applied after the removal declares it again, and a later removal removes it again.
    await delays.ensure(admin, 'default', 'shop', 'quorum');
    assert.equal(calls.declares, 2 * declared);
    await delays.remove(admin, 'default', 'shop');
    assert.equal(calls.deletes, 3 * removal);
  });
});
