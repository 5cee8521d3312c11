import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planTopology, webhookTopology } from './topology.ts';

const names = { namespace: 'shop', webhook: 'hook' };
const base = {
  ...names,
  sourceExchange: 'events',
  events: ['invoice.*', 'payment.#'],
  retries: 2,
  ordering: 'Unordered' as const,
};

describe('webhookTopology', () => {
  it('names every queue after the namespace and Webhook', () => {
    const t = webhookTopology(base);
    assert.equal(t.queue, 'hookline.shop.hook');
    assert.deepEqual(t.retryQueues, ['hookline.shop.hook.retry.1', 'hookline.shop.hook.retry.2']);
    assert.equal(t.deadLetterQueue, 'hookline.shop.hook.dlq');
    assert.equal(t.returnTo, 'hookline.shop.hook');
    assert.deepEqual(t.bindings, ['invoice.*', 'payment.#']);
  });

  it('returns retried events to the head queue under Strict ordering', () => {
    assert.equal(webhookTopology({ ...base, ordering: 'Strict' }).returnTo, 'hookline.shop.hook.head');
  });

  it('deduplicates patterns and keeps one retry queue when a policy has none', () => {
    const t = webhookTopology({ ...base, events: ['a', 'a'], retries: 0 });
    assert.deepEqual(t.bindings, ['a']);
    assert.equal(t.retryQueues.length, 1);
  });
});

describe('planTopology', () => {
  const cases = [
    {
      name: 'binds everything the first time',
      applied: undefined,
      desired: webhookTopology(base),
      expected: {
        bind: [
          { exchange: 'events', pattern: 'invoice.*' },
          { exchange: 'events', pattern: 'payment.#' },
        ],
        unbind: [],
        deleteRetryQueues: [],
        unbindReturn: [],
      },
    },
    {
      name: 'unbinds a pattern that left events',
      applied: {
        exchange: 'events',
        bindings: ['invoice.*', 'old.*'],
        retryQueues: 2,
        returnTo: 'hookline.shop.hook',
      },
      desired: webhookTopology({ ...base, events: ['invoice.*'] }),
      expected: {
        bind: [{ exchange: 'events', pattern: 'invoice.*' }],
        unbind: [{ exchange: 'events', pattern: 'old.*' }],
        deleteRetryQueues: [],
        unbindReturn: [],
      },
    },
    {
      name: 'unbinds everything from an exchange the source no longer uses',
      applied: { exchange: 'old-exchange', bindings: ['invoice.*'], retryQueues: 2 },
      desired: webhookTopology({ ...base, events: ['invoice.*'] }),
      expected: {
        bind: [{ exchange: 'events', pattern: 'invoice.*' }],
        unbind: [{ exchange: 'old-exchange', pattern: 'invoice.*' }],
        deleteRetryQueues: [],
        unbindReturn: [],
      },
    },
    {
      name: 'drops retry queues beyond the policy and moves the return binding on an ordering change',
      applied: {
        exchange: 'events',
        bindings: ['invoice.*', 'payment.#'],
        retryQueues: 4,
        returnTo: 'hookline.shop.hook',
      },
      desired: webhookTopology({ ...base, ordering: 'Strict' }),
      expected: {
        bind: [
          { exchange: 'events', pattern: 'invoice.*' },
          { exchange: 'events', pattern: 'payment.#' },
        ],
        unbind: [],
        deleteRetryQueues: ['hookline.shop.hook.retry.3', 'hookline.shop.hook.retry.4'],
        unbindReturn: ['hookline.shop.hook'],
      },
    },
  ];
  for (const { name, applied, desired, expected } of cases) {
    it(name, () => assert.deepEqual(planTopology(desired, applied, names), expected));
  }
});
