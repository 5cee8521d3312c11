import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Clock } from '../../core/retry.ts';
import { keepConsuming, keepReading } from './kafka-client.ts';

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

/**
 * A fake consumer whose streams are read by keepReading: each read resolves with the next of
 * `outcomes` (an Error: the stream failed; undefined: the consumer stopped), each open fails
 * the next `openFailures` times, and the consumer is a member while `member` says so.
 */
function fakeStreams(outcomes: (Error | undefined)[], clock: Clock, openFailures = 0) {
  const state = { read: [] as number[], opened: 1, lost: [] as unknown[], member: true, stopped: false };
  let failuresLeft = openFailures;
  const reading = {
    read: (stream: number, progress: () => void) => {
      state.read.push(stream);
      progress();
      return Promise.resolve(outcomes.shift());
    },
    open: () => {
      if (failuresLeft-- > 0) return Promise.reject(new Error('coordinator not available'));
      return Promise.resolve(++state.opened);
    },
    member: () => state.member,
    lost: (error: unknown) => void state.lost.push(error),
    stopped: () => state.stopped,
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
    clock,
  };
  return { state, reading };
}

describe('keepReading', () => {
  it('reads a new stream as the same member after one failed, and after an open that failed', async () => {
    const clock = noWait();
    const { state, reading } = fakeStreams([new Error('fetch failed 9 times.'), undefined], clock, 2);
    await keepReading(reading, 1);
    assert.deepEqual(state.read, [1, 2], 'the failed stream, then a new one');
    assert.equal(clock.slept.length, 3, 'a delay before each of the three opens');
    assert.ok(clock.slept.every((ms) => ms > 0));
    assert.deepEqual(state.lost, [], 'the consumer was kept: no second member in the group');
  });

  it('gives up the consumer only once it is no member of its group', async () => {
    const clock = noWait();
    const { state, reading } = fakeStreams([new Error('fetch failed 9 times.')], clock);
    state.member = false;
    await keepReading(reading, 1);
    assert.deepEqual(state.read, [1]);
    assert.equal(state.opened, 1, 'no new stream on a consumer that left its group');
    assert.equal((state.lost[0] as Error).message, 'fetch failed 9 times.');
  });

  it('reads nothing more after the consumer stopped, nor when its stream ended because it did', async () => {
    const clock = noWait();
    const stopping = fakeStreams([new Error('fetch failed 9 times.')], clock);
    stopping.state.stopped = true;
    await keepReading(stopping.reading, 1);
    assert.deepEqual([stopping.state.opened, stopping.state.lost.length], [1, 0]);
    const ended = fakeStreams([undefined], clock);
    await keepReading(ended.reading, 1);
    assert.deepEqual([ended.state.read, ended.state.opened, ended.state.lost.length], [[1], 1, 0]);
  });
});
