// Reading Secret entries a resource names, with an answer that says precisely what is
// missing (for a Ready=False condition with reason SecretNotFound). Values never leave
// this module in a message.
import type { Lookup } from '../../core/lookup.ts';
import type { Caches } from './context.ts';

export function secretEntry(
  caches: Caches,
  namespace: string,
  ref: { name: string; key: string },
  field: string,
): Lookup<string> {
  const secret = caches.secrets.get(`${namespace}/${ref.name}`);
  if (!secret) {
    return {
      ok: false,
      reason: 'SecretNotFound',
      message: `${field}: Secret ${namespace}/${ref.name} does not exist`,
    };
  }
  const encoded = secret.data?.[ref.key];
  if (encoded === undefined) {
    return {
      ok: false,
      reason: 'SecretNotFound',
      message: `${field}: Secret ${namespace}/${ref.name} has no key "${ref.key}"`,
    };
  }
  return { ok: true, value: Buffer.from(encoded, 'base64').toString('utf8') };
}

/** The first failed lookup, or all values. */
export function all<T>(lookups: readonly Lookup<T>[]): Lookup<T[]> {
  const failed = lookups.find((lookup) => !lookup.ok);
  if (failed && !failed.ok) return failed;
  return { ok: true, value: lookups.map((lookup) => (lookup as { value: T }).value) };
}
