// One timer for the publish timeouts of all requests in flight instead of one each: every
// request waits the same time, so deadlines come due in the order they were set, and a
// sweep every SWEEP_MS drops the settled ones from the front and fails the overdue ones.
// A timeout fires up to SWEEP_MS late.
const SWEEP_MS = 100;

interface Entry {
  at: number;
  /**
   * Dropped once the request settled: a settled entry waits for the sweep (100 ms and more
   * under load) and must not keep its request's answer, and with it the request, alive.
   */
  expire: (() => void) | undefined;
}

export class Deadlines {
  readonly #ms: number;
  readonly #now: () => number;
  #pending: Entry[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number, now: () => number = () => performance.now()) {
    this.#ms = ms;
    this.#now = now;
  }

  /**
   * Calls `done` once: as `promise` settles, or with `expired()` once the deadline passed
   * first. A callback, not a promise of its own: one turn of the event loop less a request.
   */
  watch<T>(
    promise: Promise<T>,
    expired: () => Error,
    done: (error: Error | undefined, value?: T) => void,
  ): void {
    const entry: Entry = { at: this.#now() + this.#ms, expire: () => done(expired()) };
    this.#pending.push(entry);
    this.#timer ??= this.#startSweeping();
    promise.then(
      (value) => {
        if (entry.expire === undefined) return;
        entry.expire = undefined;
        done(undefined, value);
      },
      (error: unknown) => {
        if (entry.expire === undefined) return;
        entry.expire = undefined;
        done(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  /** Apart from watch(): a timer made there would keep that request's closures alive while it runs. */
  #startSweeping(): NodeJS.Timeout {
    return setInterval(() => this.#sweep(), SWEEP_MS).unref();
  }

  /** Requests waiting (settled ones not yet swept included). */
  get size(): number {
    return this.#pending.length - this.#head;
  }

  #sweep(): void {
    const now = this.#now();
    while (this.#head < this.#pending.length) {
      const entry = this.#pending[this.#head]!;
      const expire = entry.expire;
      if (expire !== undefined && entry.at > now) break;
      this.#head++;
      if (expire !== undefined) {
        entry.expire = undefined;
        expire();
      }
    }
    if (this.#head === this.#pending.length) {
      this.#pending = [];
      this.#head = 0;
      clearInterval(this.#timer);
      this.#timer = undefined;
    } else if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }
}
