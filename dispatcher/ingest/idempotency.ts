// Remembers what each Idempotency-Key was answered, so that a producer's retry gets the
// same answer (and the same event id) instead of a second event. Bounded in size and age;
// a request arriving while the first one with its key is still being published waits for
// that one's outcome. Kept per dispatcher replica.
import crypto from 'node:crypto';

export interface Accepted {
  id: string;
  type: string;
}

type Entry = { bodyHash: string; at: number; outcome: Promise<Accepted> };

export type Lookup =
  | { kind: 'new'; settle: (outcome: Promise<Accepted>) => void }
  | { kind: 'replay'; outcome: Promise<Accepted> }
  | { kind: 'mismatch' };

export function bodyHash(body: Buffer): string {
  return crypto.createHash('sha256').update(body).digest('base64url');
}

export class IdempotencyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { maxEntries?: number; ttlMs?: number; now?: () => number } = {}) {
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#ttlMs = options.ttlMs ?? 24 * 3600 * 1000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * What to do with a request carrying `key`: publish it (then `settle` with the outcome),
   * replay the earlier outcome, or refuse it because the key came with another body.
   */
  lookup(key: string, body: Buffer): Lookup {
    const now = this.#now();
    const hash = bodyHash(body);
    const existing = this.#entries.get(key);
    if (existing && now - existing.at < this.#ttlMs) {
      return existing.bodyHash === hash
        ? { kind: 'replay', outcome: existing.outcome }
        : { kind: 'mismatch' };
    }
    if (existing) this.#entries.delete(key);
    return {
      kind: 'new',
      settle: (outcome) => {
        this.#entries.set(key, { bodyHash: hash, at: now, outcome });
        // A failed publish is forgotten: the producer's retry must be able to try again.
        outcome.catch(() => {
          if (this.#entries.get(key)?.outcome === outcome) this.#entries.delete(key);
        });
        this.#evict();
      },
    };
  }

  #evict(): void {
    // Map iteration is insertion order: the oldest entries go first.
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
    }
  }
}
