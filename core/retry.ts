// The one way Hookline waits before trying again: a schedule (fixed, linear or exponential
// with jitter) counted over consecutive failures, and a clock that can be replaced in tests.
import { backoffDelay } from './backoff.ts';

/** Time as the retry loop sees it; tests pass a clock that does not wait. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref?.();
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export type RetrySchedule =
  | { kind: 'fixed'; ms: number }
  | { kind: 'linear'; stepMs: number; maxMs: number }
  | { kind: 'exponential'; baseMs: number; maxMs: number; jitter?: number };

/** The delay before the next try after `failures` consecutive failures (failures ≥ 1). */
export function retryDelay(
  schedule: RetrySchedule,
  failures: number,
  random: () => number = Math.random,
): number {
  switch (schedule.kind) {
    case 'fixed':
      return schedule.ms;
    case 'linear':
      return Math.min(schedule.stepMs * Math.max(1, failures), schedule.maxMs);
    case 'exponential':
      return backoffDelay(failures, schedule, random);
  }
}

/**
 * Consecutive failures of one supervised loop. `failed()` counts one and answers the delay;
 * `wait()` counts one and sleeps it; `succeeded()` starts the count again.
 */
export class Retry {
  readonly #schedule: RetrySchedule;
  readonly #clock: Clock;
  readonly #random: () => number;
  #failures = 0;

  constructor(schedule: RetrySchedule, options: { clock?: Clock; random?: () => number } = {}) {
    this.#schedule = schedule;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  get failures(): number {
    return this.#failures;
  }

  failed(): number {
    this.#failures++;
    return retryDelay(this.#schedule, this.#failures, this.#random);
  }

  succeeded(): void {
    this.#failures = 0;
  }

  /** Counts a failure and sleeps its delay (shorter if `signal` aborts); answers the delay. */
  async wait(signal?: AbortSignal): Promise<number> {
    const delay = this.failed();
    await this.#clock.sleep(delay, signal);
    return delay;
  }

  /** Sleeps the delay `failed()` answered, on this retry's clock. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.#clock.sleep(ms, signal);
  }
}
