// A work queue keyed by `namespace/name`: a key waits at most once, is processed by one
// worker at a time (a key added while it is processed runs again afterwards), total
// concurrency is bounded, and keys can be scheduled for later (the earliest time wins).
export interface WorkQueueOptions {
  concurrency: number;
  process: (key: string) => Promise<void>;
  /** Timer functions, injectable for tests. */
  setTimer?: (callback: () => void, ms: number) => NodeJS.Timeout;
  clearTimer?: (timer: NodeJS.Timeout) => void;
  now?: () => number;
}

export class WorkQueue {
  readonly #options: Required<WorkQueueOptions>;
  readonly #ready: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  #running = 0;
  #stopped = false;
  #idle: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.#options = {
      setTimer: (callback, ms) => setTimeout(callback, ms),
      clearTimer: (timer) => clearTimeout(timer),
      now: () => Date.now(),
      ...options,
    };
  }

  get length(): number {
    return this.#ready.length;
  }

  /** Queues the key now. A pending delayed add of the same key is dropped. */
  add(key: string): void {
    if (this.#stopped) return;
    this.#cancelDelayed(key);
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#ready.push(key);
    this.#pump();
  }

  /** Queues the key after `ms`, unless it is already due earlier. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) return this.add(key);
    const at = this.#options.now() + ms;
    const existing = this.#delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.#options.clearTimer(existing.timer);
    const timer = this.#options.setTimer(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.#delayed.set(key, { at, timer });
  }

  /** Stops taking keys, drops delayed ones and resolves when in-flight work is done. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    for (const key of [...this.#delayed.keys()]) this.#cancelDelayed(key);
    this.#ready.length = 0;
    this.#queued.clear();
    if (this.#running === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #cancelDelayed(key: string): void {
    const delayed = this.#delayed.get(key);
    if (delayed) {
      this.#options.clearTimer(delayed.timer);
      this.#delayed.delete(key);
    }
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#options.concurrency && this.#ready.length > 0) {
      const key = this.#ready.shift()!;
      this.#queued.delete(key);
      this.#processing.add(key);
      this.#running++;
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#options.process(key);
    } catch {
      // The process function owns its errors (the controller's error policy); a throw
      // here must not stop the queue.
    } finally {
      this.#processing.delete(key);
      this.#running--;
      if (this.#dirty.delete(key)) this.add(key);
      if (this.#running === 0 && this.#stopped) for (const resolve of this.#idle.splice(0)) resolve();
      this.#pump();
    }
  }
}
