import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Deadlines } from './deadlines.ts';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Deadlines', () => {
  it('passes on what settles in time and fails what does not, within a sweep of the deadline', async () => {
    const deadlines = new Deadlines(150);
    const quick = deadlines.race(Promise.resolve('confirmed'), () => new Error('late'));
    const failing = deadlines.race(Promise.reject(new Error('nacked')), () => new Error('late'));
    const began = performance.now();
    const never = deadlines.race(new Promise<string>(() => {}), () => new Error('late'));
    assert.equal(await quick, 'confirmed');
    await assert.rejects(failing, /nacked/);
    await assert.rejects(never, /late/);
    const waited = performance.now() - began;
    assert.ok(waited >= 145 && waited < 150 + 100 + 100, `timed out after ${waited.toFixed(0)} ms`);
    await pause(120);
    assert.equal(deadlines.size, 0, 'nothing left once all settled');
  });

  it('fails a late request even when later ones settle first', async () => {
    const deadlines = new Deadlines(100);
    const stuck = deadlines.race(new Promise<void>(() => {}), () => new Error('late'));
    const later = Array.from({ length: 50 }, (_, i) =>
      deadlines.race(Promise.resolve(i), () => new Error('late')),
    );
    assert.deepEqual(
      await Promise.all(later),
      Array.from({ length: 50 }, (_, i) => i),
    );
    await assert.rejects(stuck, /late/);
  });

  it('does not fail what settled at the deadline it set, whatever the clock says later', async () => {
    let now = 0;
    const deadlines = new Deadlines(1_000, () => now);
    let settle!: (value: string) => void;
    const racing = deadlines.race(
      new Promise<string>((resolve) => (settle = resolve)),
      () => new Error('late'),
    );
    settle('in time');
    now = 5_000;
    assert.equal(await racing, 'in time');
  });
});
