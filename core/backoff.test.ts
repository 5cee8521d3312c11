import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay } from './backoff.ts';

describe('backoffDelay', () => {
  const options = { baseMs: 100, maxMs: 10_000, jitter: 0.5 };
  const cases: [number, number, number][] = [
    // failures, random, expected
    [1, 0, 100],
    [2, 0, 200],
    [3, 0, 400],
    [3, 1, 200],
    [20, 0, 10_000],
    [20, 1, 5_000],
  ];
  for (const [failures, random, expected] of cases) {
    it(`${failures} failures, random ${random} → ${expected} ms`, () =>
      assert.equal(
        backoffDelay(failures, options, () => random),
        expected,
      ));
  }
});
