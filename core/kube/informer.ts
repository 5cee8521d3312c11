// A supervised informer: lists, then watches from the list's resourceVersion with
// bookmarks, keeps a cache keyed by `namespace/name`, and calls `onChange` for every key
// whose object appeared, changed or vanished. It relists after a 410 Gone, restarts a
// watch that has gone silent for too long (watches can stop without an error), and
// restarts with backoff after any error. It never stops by itself.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import { KubeApiError, type KubeClient, type WatchEvent } from './client.ts';
import { Retry, systemClock, type Clock } from '../retry.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    [key: string]: unknown;
  };
}

interface List<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export function objectKey(object: KubeObject): string {
  return object.metadata.namespace
    ? `${object.metadata.namespace}/${object.metadata.name}`
    : object.metadata.name;
}

export interface InformerOptions<T extends KubeObject> {
  client: KubeClient;
  /** The collection path, e.g. /apis/hookline.dev/v1alpha1/webhooks (all namespaces). */
  path: string;
  /** apiVersion and kind of the listed objects (lists do not set them on items). */
  apiVersion: string;
  kind: string;
  labelSelector?: string;
  logger: Logger;
  /** The object now cached (undefined: gone) and the one it replaced (undefined: new). */
  onChange: (key: string, object: T | undefined, previous: T | undefined) => void;
  /**
   * What of an object to keep; by default all but metadata.managedFields, which no
   * controller reads and which is a third to half of a small object.
   */
  transform?: (object: T) => T;
  /** Server-side watch timeout; the watch is re-opened from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** A watch with no event or bookmark for this long is considered stalled. */
  stallMs?: number;
  pageSize?: number;
  /** Times the backoff after errors and the stall of a watch; tests pass one that does not wait. */
  clock?: Clock;
}

class Gone extends Error {}

/** The object without metadata.managedFields (changed in place: a listed object is not shared). */
export function stripManagedFields<T extends KubeObject>(object: T): T {
  delete object.metadata.managedFields;
  return object;
}

export class Informer<T extends KubeObject> {
  readonly #options: InformerOptions<T>;
  readonly #clock: Clock;
  readonly #cache = new Map<string, T>();
  readonly #abort = new AbortController();
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #loop: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  get synced(): boolean {
    return this.#synced;
  }

  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /**
   * Puts `object`, read by name, in the place of the cached object of its key when that one
   * has the same resourceVersion (what the watch brings of a newer version is not replaced),
   * through the same transform as listed objects; answers whether it did.
   */
  fill(object: T): boolean {
    const stamped = this.#stamp(object);
    const key = objectKey(stamped);
    const cached = this.#cache.get(key);
    if (!cached || cached.metadata.resourceVersion !== stamped.metadata.resourceVersion) return false;
    this.#cache.set(key, stamped);
    return true;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const retry = new Retry({ kind: 'exponential', baseMs: 500, maxMs: 30_000 }, { clock: this.#clock });
    while (!this.#abort.signal.aborted) {
      try {
        let resourceVersion = await this.#relist();
        retry.succeeded();
        for (;;) {
          resourceVersion = await this.#watch(resourceVersion);
          if (this.#abort.signal.aborted) return;
        }
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        if (error instanceof Gone) {
          this.#options.logger.debug({ path: this.#options.path }, 'Watch expired (410); relisting');
          continue;
        }
        const delay = retry.failed();
        this.#options.logger.warn(
          { path: this.#options.path, err: errorMessage(error), retryInMs: delay },
          'Informer failed; restarting',
        );
        await retry.sleep(delay);
      }
    }
  }

  #stamp(object: T): T {
    object.apiVersion ??= this.#options.apiVersion;
    object.kind ??= this.#options.kind;
    return (this.#options.transform ?? stripManagedFields)(object);
  }

  async #relist(): Promise<string> {
    const { client, path, labelSelector, pageSize = 500 } = this.#options;
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const query: Record<string, string> = { limit: String(pageSize) };
      if (labelSelector) query.labelSelector = labelSelector;
      if (continueToken) query.continue = continueToken;
      const page = await client.get<List<T>>(path, query);
      for (const item of page.items) fresh.set(objectKey(item), this.#stamp(item));
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (continueToken);

    const changed: string[] = [];
    for (const [key, object] of fresh) {
      if (this.#cache.get(key)?.metadata.resourceVersion !== object.metadata.resourceVersion)
        changed.push(key);
    }
    const removed = [...this.#cache.entries()].filter(([key]) => !fresh.has(key));
    const previous = new Map(changed.map((key) => [key, this.#cache.get(key)]));
    this.#cache.clear();
    for (const [key, object] of fresh) this.#cache.set(key, object);
    this.#markSynced();
    for (const key of changed) this.#options.onChange(key, this.#cache.get(key), previous.get(key));
    for (const [key, object] of removed) this.#options.onChange(key, undefined, object);
    return resourceVersion;
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const resolve of this.#syncWaiters.splice(0)) resolve();
  }

  /** One watch request; resolves with the last resourceVersion seen when it ends. */
  async #watch(fromVersion: string): Promise<string> {
    const { client, path, labelSelector, watchTimeoutSeconds = 300 } = this.#options;
    const stallMs = this.#options.stallMs ?? (watchTimeoutSeconds + 30) * 1000;
    let resourceVersion = fromVersion;
    const local = new AbortController();
    const onAbort = () => local.abort();
    this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    let stalled = false;
    const stall = this.#stallTimer(stallMs, () => ((stalled = true), local.abort()));
    const query: Record<string, string> = {
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(watchTimeoutSeconds),
    };
    if (labelSelector) query.labelSelector = labelSelector;
    try {
      await client.watch<T>(
        path,
        query,
        (event: WatchEvent<T>) => {
          stall.touch();
          if (event.type === 'ERROR') {
            const status = event.object as unknown as { code?: number; message?: string };
            if (status.code === 410) throw new Gone(status.message);
            throw new KubeApiError(status.code ?? 500, 'WatchError', status.message ?? 'watch error');
          }
          resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
          if (event.type === 'BOOKMARK') return;
          const object = this.#stamp(event.object);
          const key = objectKey(object);
          const previous = this.#cache.get(key);
          if (event.type === 'DELETED') {
            this.#cache.delete(key);
            this.#options.onChange(key, undefined, previous ?? object);
          } else {
            this.#cache.set(key, object);
            this.#options.onChange(key, object, previous);
          }
        },
        local.signal,
      );
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 410) throw new Gone(error.message);
      if (!(stalled || local.signal.aborted)) throw error;
    } finally {
      stall.clear();
      this.#abort.signal.removeEventListener('abort', onAbort);
    }
    if (stalled) this.#options.logger.info({ path }, 'Watch went silent; reopening it');
    return resourceVersion;
  }

  /** Calls `onStall` once `ms` pass without a `touch()`; `clear()` disarms it. */
  #stallTimer(ms: number, onStall: () => void): { touch(): void; clear(): void } {
    let armed = new AbortController();
    const arm = (): void => {
      const timer = new AbortController();
      armed = timer;
      void this.#clock.sleep(ms, timer.signal).then(() => {
        if (!timer.signal.aborted) onStall();
      });
    };
    arm();
    return {
      touch: () => (armed.abort(), arm()),
      clear: () => armed.abort(),
    };
  }
}
