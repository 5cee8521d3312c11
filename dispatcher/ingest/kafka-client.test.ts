import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Clock } from '../../core/retry.ts';
import { keepConsuming } from './kafka-client.ts';

/** A clock that does not wait, and remembers what it was asked to wait. */
function noWait(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return { slept, now: () => 0, sleep: (ms) => (slept.push(ms), Promise.resolve()) };
}

/** A fake client kept consuming: each start makes a new consumer, failing the first `failures` times. */
function fakeClient(failures: number, clock: Clock) {
  const state = {
    started: 0,
    closed: [] as number[],
    current: undefined as number | undefined,
    stopped: false,
  };
  const start = () => {
    state.started++;
    state.current = state.started;
    return state.started <= failures ? Promise.reject(new Error('no broker')) : Promise.resolve();
  };
  const life = keepConsuming<number>({
    start,
    current: () => state.current,
    close: (c) => (state.closed.push(c), Promise.resolve()),
    stopped: () => state.stopped,
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
    clock,
  });
  return { state, life };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('keepConsuming', () => {
  it('starts again after each failed start, after a delay, closing each failed consumer', async () => {
    const clock = noWait();
    const { state, life } = fakeClient(2, clock);
    await life.begin();
    await settle();
    assert.equal(state.started, 3, 'two failed starts, then one that worked');
    assert.deepEqual(state.closed, [1, 2]);
    assert.equal(clock.slept.length, 2);
    assert.ok(clock.slept[1]! > 0 && clock.slept[0]! > 0);
  });

  it('restarts a consumer that crashed, but not one already replaced, nor after stop', async () => {
    const clock = noWait();
    const { state, life } = fakeClient(0, clock);
    await life.begin();
    await life.crashed(1);
    assert.equal(state.started, 2, 'the crashed consumer was replaced');
    await life.crashed(1);
    assert.equal(state.started, 2, 'a stale crash report starts nothing');
    state.stopped = true;
    await life.crashed(2);
    assert.equal(state.started, 2, 'nothing starts after stop');
    assert.deepEqual(state.closed, [1, 1, 2]);
  });
});
