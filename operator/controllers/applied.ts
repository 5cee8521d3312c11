// What a controller last applied of each object it owns, so that a reconcile which would
// write the same manifests again (a source reconciled for every Webhook count change, say)
// writes nothing. An entry ages out after the resync period: then the object is applied
// again, which also restores one deleted by hand.
import type { Manifest } from './dispatcher-objects.ts';
import { hashOf } from './names.ts';

export class AppliedManifests {
  readonly #last = new Map<string, { hash: string; at: number }>();
  readonly #maxAgeMs: number;
  readonly #now: () => Date;
  /** Each manifest's hash, computed once for `changed` and `applied` (a Role can name thousands of Secrets). */
  readonly #hashes = new WeakMap<Manifest, string>();

  constructor(maxAgeMs: number, now: () => Date) {
    this.#maxAgeMs = maxAgeMs;
    this.#now = now;
  }

  /** Whether `manifest` differs from what was last applied for `owner` (or that is too old). */
  changed(owner: string, manifest: Manifest): boolean {
    const last = this.#last.get(this.#key(owner, manifest));
    return !last || last.hash !== this.#hash(manifest) || this.#now().getTime() - last.at >= this.#maxAgeMs;
  }

  applied(owner: string, manifest: Manifest): void {
    this.#last.set(this.#key(owner, manifest), { hash: this.#hash(manifest), at: this.#now().getTime() });
  }

  forget(owner: string): void {
    for (const key of [...this.#last.keys()]) if (key.startsWith(`${owner}/`)) this.#last.delete(key);
  }

  #hash(manifest: Manifest): string {
    let hash = this.#hashes.get(manifest);
    if (hash === undefined) this.#hashes.set(manifest, (hash = hashOf(manifest)));
    return hash;
  }

  #key(owner: string, manifest: Manifest): string {
    return `${owner}/${manifest.kind}/${manifest.metadata.name}`;
  }
}
