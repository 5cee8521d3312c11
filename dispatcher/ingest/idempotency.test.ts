import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdempotencyCache } from './idempotency.ts';

const body = Buffer.from('{"a":1}');

describe('IdempotencyCache', () => {
  it('replays the first outcome for the same key and body', async () => {
    const cache = new IdempotencyCache();
    const first = cache.lookup('k', body);
    assert.equal(first.kind, 'new');
    if (first.kind !== 'new') return;
    first.settle(Promise.resolve({ id: 'evt_1', type: 't' }));
    const again = cache.lookup('k', body);
    assert.equal(again.kind, 'replay');
    if (again.kind === 'replay') assert.deepEqual(await again.outcome, { id: 'evt_1', type: 't' });
  });

  it('refuses the same key with another body', () => {
    const cache = new IdempotencyCache();
    const first = cache.lookup('k', body);
    if (first.kind === 'new') first.settle(Promise.resolve({ id: 'evt_1', type: 't' }));
    assert.equal(cache.lookup('k', Buffer.from('{"a":2}')).kind, 'mismatch');
  });

  it('forgets a key whose publish failed, so that the retry publishes', async () => {
    const cache = new IdempotencyCache();
    const first = cache.lookup('k', body);
    if (first.kind !== 'new') throw new Error('expected new');
    const failed = Promise.reject(new Error('no confirm'));
    first.settle(failed);
    await failed.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cache.lookup('k', body).kind, 'new');
  });

  it('forgets keys older than the ttl and evicts the oldest beyond its size', () => {
    let now = 0;
    const cache = new IdempotencyCache({ ttlMs: 1000, maxEntries: 2, now: () => now });
    for (const key of ['a', 'b', 'c']) {
      const lookup = cache.lookup(key, body);
      if (lookup.kind === 'new') lookup.settle(Promise.resolve({ id: key, type: 't' }));
    }
    assert.equal(cache.size, 2);
    assert.equal(cache.lookup('a', body).kind, 'new');
    assert.equal(cache.lookup('c', body).kind, 'replay');
    now = 1500;
    assert.equal(cache.lookup('c', body).kind, 'new');
  });
});
