import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../../core/retry.ts';
import { CircuitBreaker } from './circuit.ts';

/** A clock that moves only when told, or by the sleeps it is asked for. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  return {
    now: () => now,
    advance: (ms) => (now += ms),
    sleep: (ms, signal) => {
      if (!signal?.aborted) now += ms;
      return Promise.resolve();
    },
  };
}

const settings = { failures: 3, windowMs: 10_000, probeIntervalMs: 5_000 };

describe('CircuitBreaker', () => {
  it('opens on the threshold of failures within the window, not before', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(settings, clock);
    assert.equal(breaker.record(false), undefined);
    assert.equal(breaker.record(false), undefined);
    assert.equal(breaker.open, false);
    assert.equal(breaker.record(false), 'opened');
    assert.equal(breaker.open, true);
    assert.equal(breaker.nextProbeAt, clock.now() + 5_000);
  });

  it('forgets failures older than the window', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(settings, clock);
    breaker.record(false);
    breaker.record(false);
    clock.advance(10_001);
    assert.equal(breaker.record(false), undefined, 'the first two fell out of the window');
    assert.equal(breaker.record(false), undefined);
    assert.equal(breaker.record(false), 'opened');
  });

  it('starts a new count after a success', () => {
    const breaker = new CircuitBreaker(settings, manualClock());
    breaker.record(false);
    breaker.record(false);
    assert.equal(breaker.record(true), undefined);
    breaker.record(false);
    breaker.record(false);
    assert.equal(breaker.open, false);
  });

  it('aborts its opened signal when it opens, and gives a fresh one after it closes', () => {
    const breaker = new CircuitBreaker(settings, manualClock());
    const first = breaker.opened;
    for (let i = 0; i < 3; i++) breaker.record(false);
    assert.equal(first.aborted, true);
    assert.equal(breaker.record(true), 'closed');
    assert.equal(breaker.open, false);
    assert.equal(breaker.opened.aborted, false);
  });

  it('lets one probe through per interval while open', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(settings, clock);
    for (let i = 0; i < 3; i++) breaker.record(false);
    const opened = clock.now();
    assert.equal(await breaker.untilProbe(new AbortController().signal), true);
    assert.equal(clock.now(), opened + 5_000, 'waited out the probe interval');
    // A failed probe keeps it open; the next one is an interval later.
    assert.equal(breaker.record(false), undefined);
    assert.equal(breaker.open, true);
    assert.equal(await breaker.untilProbe(new AbortController().signal), true);
    assert.equal(clock.now(), opened + 10_000);
    assert.equal(breaker.record(true), 'closed');
    assert.equal(
      await breaker.untilProbe(new AbortController().signal),
      false,
      'closed: no probe to wait for',
    );
  });

  it('stops waiting for a probe when the worker stops', async () => {
    const breaker = new CircuitBreaker(settings, manualClock());
    for (let i = 0; i < 3; i++) breaker.record(false);
    const stop = new AbortController();
    stop.abort();
    assert.equal(await breaker.untilProbe(stop.signal), false);
  });
});
