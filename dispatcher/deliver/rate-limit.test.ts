import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from './rate-limit.ts';

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    assert.deepEqual([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()], [0, 0, 0]);
    assert.equal(bucket.tryTake(), 100);
    now = 100;
    assert.equal(bucket.tryTake(), 0);
    assert.equal(bucket.tryTake(), 100);
  });

  it('never stores more than the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(1, 2, () => now);
    now = 60_000;
    assert.deepEqual([bucket.tryTake(), bucket.tryTake(), bucket.tryTake() > 0], [0, 0, true]);
  });
});
