import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Deadlines } from './deadlines.ts';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What `watch` reports, as a promise. */
const watched = <T>(deadlines: Deadlines, promise: Promise<T>) =>
  new Promise<T | undefined>((resolve, reject) =>
    deadlines.watch(
      promise,
      () => new Error('late'),
      (error, value) => (error ? reject(error) : resolve(value)),
    ),
  );

describe('Deadlines', () => {
  it('passes on what settles in time and fails what does not, within a sweep of the deadline', async () => {
    const deadlines = new Deadlines(150);
    const quick = watched(deadlines, Promise.resolve('confirmed'));
    const failing = watched(deadlines, Promise.reject(new Error('nacked')));
    const began = performance.now();
    const never = watched(deadlines, new Promise<string>(() => {}));
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
    const stuck = watched(deadlines, new Promise<void>(() => {}));
    const later = Array.from({ length: 50 }, (_, i) => watched(deadlines, Promise.resolve(i)));
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
    const racing = watched(deadlines, new Promise<string>((resolve) => (settle = resolve)));
    settle('in time');
    now = 5_000;
    assert.equal(await racing, 'in time');
  });

  it('reports once: a confirm that comes after the deadline is not reported too', async () => {
    const deadlines = new Deadlines(50);
    let settle!: (value: string) => void;
    const reports: string[] = [];
    deadlines.watch(
      new Promise<string>((resolve) => (settle = resolve)),
      () => new Error('late'),
      (error, value) => reports.push(error ? error.message : `value ${value}`),
    );
    await pause(200);
    settle('confirmed');
    await pause(10);
    assert.deepEqual(reports, ['late']);
  });

  it('keeps nothing of a settled request while it waits for the sweep', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const deadlines = new Deadlines(10_000);
    let reported = 0;
    // Made in a function of its own, so that nothing of this test's scope holds the request.
    const answered = (() => {
      const request = { body: Buffer.alloc(1024 * 1024) };
      deadlines.watch(
        Promise.resolve(),
        () => new Error('late'),
        () => (reported += request.body.length),
      );
      return new WeakRef(request);
    })();
    await pause(10);
    gc();
    assert.equal(reported, 1024 * 1024);
    assert.equal(deadlines.size, 1, 'the entry is still there, not yet swept');
    assert.ok(answered.deref() === undefined, 'the settled entry kept the request alive');
  });
});
