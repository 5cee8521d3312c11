// A token bucket: `perSecond` sustained, up to `burst` at once.
import { systemClock } from '../../core/retry.ts';

export class TokenBucket {
  readonly #perSecond: number;
  readonly #burst: number;
  #tokens: number;
  #updated: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(
    perSecond: number,
    burst: number,
    now: () => number = () => performance.now(),
    sleep: (ms: number) => Promise<void> = (ms) => systemClock.sleep(ms),
  ) {
    this.#perSecond = perSecond;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#now = now;
    this.#sleep = sleep;
    this.#updated = now();
  }

  /** Milliseconds to wait before a token is free; takes it when it is free now. */
  tryTake(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#updated) / 1000) * this.#perSecond);
    this.#updated = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) / this.#perSecond) * 1000);
  }

  /** Waits until a token is free, and takes it. */
  async take(): Promise<void> {
    for (let wait = this.tryTake(); wait > 0; wait = this.tryTake()) await this.#sleep(wait);
  }
}
