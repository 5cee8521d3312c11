import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Retry, retryDelay, systemClock, type Clock } from './retry.ts';

function fakeClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return { slept, now: () => 0, sleep: (ms) => (slept.push(ms), Promise.resolve()) };
}

describe('retryDelay', () => {
  const cases = [
    { schedule: { kind: 'fixed', ms: 2000 } as const, failures: [1, 5], want: [2000, 2000] },
    {
      schedule: { kind: 'linear', stepMs: 500, maxMs: 5000 } as const,
      failures: [1, 3, 20],
      want: [500, 1500, 5000],
    },
    {
      schedule: { kind: 'exponential', baseMs: 250, maxMs: 10_000, jitter: 0 } as const,
      failures: [1, 2, 3, 10],
      want: [250, 500, 1000, 10_000],
    },
  ];
  for (const { schedule, failures, want } of cases) {
    it(`follows a ${schedule.kind} schedule`, () => {
      assert.deepEqual(
        failures.map((n) => retryDelay(schedule, n)),
        want,
      );
    });
  }
  it('jitters an exponential delay downwards, never past the ceiling', () => {
    const schedule = { kind: 'exponential', baseMs: 1000, maxMs: 8000, jitter: 0.5 } as const;
    assert.equal(
      retryDelay(schedule, 2, () => 0),
      2000,
    );
    assert.equal(
      retryDelay(schedule, 2, () => 1),
      1000,
    );
  });
});

describe('Retry', () => {
  it('counts consecutive failures, sleeps on its clock and starts again after a success', async () => {
    const clock = fakeClock();
    const retry = new Retry({ kind: 'linear', stepMs: 100, maxMs: 250 }, { clock });
    assert.equal(await retry.wait(), 100);
    assert.equal(await retry.wait(), 200);
    assert.equal(await retry.wait(), 250);
    assert.equal(retry.failures, 3);
    retry.succeeded();
    assert.equal(retry.failures, 0);
    assert.equal(await retry.wait(), 100);
    assert.deepEqual(clock.slept, [100, 200, 250, 100]);
  });

  it('stops sleeping on the system clock as soon as the signal aborts', async () => {
    const abort = new AbortController();
    const woke = (sleep: Promise<void>) =>
      Promise.race([
        sleep.then(() => 'woke'),
        new Promise((resolve) => setTimeout(resolve, 2000, 'still asleep').unref()),
      ]);
    const slept = systemClock.sleep(60_000, abort.signal);
    abort.abort();
    assert.equal(await woke(slept), 'woke');
    assert.equal(await woke(systemClock.sleep(60_000, abort.signal)), 'woke');
  });
});
