// Names of objects that both halves derive from a resource's name.
import crypto from 'node:crypto';

/** `<prefix>-<name>`, shortened with a hash when it would not fit a DNS label. */
export function childName(prefix: string, name: string, max = 63): string {
  const full = `${prefix}-${name}`;
  if (full.length <= max) return full;
  const hash = crypto.createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, max - 9).replace(/-+$/, '')}-${hash}`;
}

export const signingSecretName = (webhook: string) => childName(webhook, 'signing', 253);

/** The namespace of an object; one read without a namespace is in `default`, as kubectl has it. */
export function namespaceOf(object: { metadata: { namespace?: string } }): string {
  return object.metadata.namespace ?? 'default';
}
