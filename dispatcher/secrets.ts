// Secrets the dispatcher's Webhooks name, read by name (its Role may only `get` them) and
// re-read periodically so that a rotated secret takes effect without a restart. A re-read
// asks for resourceVersion 0, which the API server answers from its watch cache without
// asking etcd (less than half the CPU of a read from etcd, API server and etcd together):
// at 10,000 Webhooks the re-reads go on at REREADS_PER_SECOND without end. The first read
// of a Secret goes to etcd, as one just created may not be in the cache yet.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.ts';
import { resourcePath, type KubeClient } from '../core/kube/client.ts';

export type SecretData = Record<string, string>;

/** Re-reads a second, at most: 10,000 Webhooks' Secrets take 200 s, not 10,000 GETs at once. */
const REREADS_PER_SECOND = 50;

export class SecretReader {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #logger: Logger;
  readonly #cache = new Map<string, { data: SecretData | undefined; version: string }>();
  readonly #rereadsPerSecond: number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  /** The re-read under way: a refresh asked for meanwhile is that one. */
  #refreshing: Promise<boolean> | undefined;

  constructor(
    client: KubeClient,
    namespace: string,
    logger: Logger,
    options: { rereadsPerSecond?: number; sleep?: (ms: number) => Promise<unknown> } = {},
  ) {
    this.#client = client;
    this.#namespace = namespace;
    this.#logger = logger;
    this.#rereadsPerSecond = options.rereadsPerSecond ?? REREADS_PER_SECOND;
    this.#sleep = options.sleep ?? sleep;
  }

  /** The decoded entries of a Secret, or undefined when it does not exist. */
  async read(name: string): Promise<SecretData | undefined> {
    const cached = this.#cache.get(name);
    if (cached) return cached.data;
    await this.#fetch(name, false);
    return this.#cache.get(name)?.data;
  }

  /** One entry of a Secret already read, without waiting; undefined when it is not at hand. */
  cachedEntry(name: string, key: string): string | undefined {
    return this.#cache.get(name)?.data?.[key];
  }

  /** One entry of a Secret; the error names the field that refers to it. */
  async entry(name: string, key: string, field: string): Promise<string> {
    const data = await this.read(name);
    if (!data) throw new Error(`${field}: Secret ${name} does not exist`);
    const value = data[key];
    if (value === undefined) throw new Error(`${field}: Secret ${name} has no key "${key}"`);
    return value;
  }

  /** Reads a Secret (`fromCache`: as the API server's watch cache has it); true when it changed. */
  async #fetch(name: string, fromCache: boolean): Promise<boolean> {
    const path = resourcePath({
      group: '',
      version: 'v1',
      plural: 'secrets',
      namespace: this.#namespace,
      name,
    });
    const secret = await this.#client.find<{
      metadata: { resourceVersion: string };
      data?: Record<string, string>;
    }>(path, fromCache ? { resourceVersion: '0' } : undefined);
    const version = secret?.metadata.resourceVersion ?? 'absent';
    const before = this.#cache.get(name)?.version;
    const data = secret
      ? Object.fromEntries(
          Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        )
      : undefined;
    this.#cache.set(name, { data, version });
    return before !== undefined && before !== version;
  }

  /**
   * Re-reads every Secret read so far, one at a time and at most `rereadsPerSecond`; true when
   * any changed. Called again before it is done, it is the same re-read: passes never pile up
   * on the API server, however many Secrets there are.
   */
  refresh(): Promise<boolean> {
    this.#refreshing ??= this.#reread().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #reread(): Promise<boolean> {
    let changed = false;
    const gapMs = 1000 / this.#rereadsPerSecond;
    for (const name of [...this.#cache.keys()]) {
      const began = performance.now();
      try {
        changed = (await this.#fetch(name, true)) || changed;
      } catch (error) {
        this.#logger.warn({ secret: name, err: errorMessage(error) }, 'Could not re-read Secret');
      }
      const left = gapMs - (performance.now() - began);
      if (left > 0) await this.#sleep(left);
    }
    return changed;
  }
}
