// Which objects a change of another object concerns, so that informer callbacks can
// enqueue exactly those keys.
import type { RawObject } from './kube/objects.ts';
import { signingSecretName } from './names.ts';

/** True when any `secretRef` or `*SecretRef` in the spec names the Secret. */
export function namesSecret(object: RawObject, secret: string): boolean {
  const visit = (value: unknown): boolean => {
    if (typeof value !== 'object' || value === null) return false;
    for (const [key, child] of Object.entries(value)) {
      if (
        (key === 'secretRef' || key.endsWith('SecretRef')) &&
        (child as { name?: unknown } | null)?.name === secret
      ) {
        return true;
      }
      if (visit(child)) return true;
    }
    return false;
  };
  if (object.kind === 'Webhook' && signingSecretName(object.metadata.name) === secret) return true;
  return visit(object.spec);
}

export function sourceOf(webhook: RawObject): string | undefined {
  return (webhook.spec as { sourceRef?: { name?: string } } | undefined)?.sourceRef?.name;
}

export function policyOf(webhook: RawObject): string {
  return (webhook.spec as { policyRef?: { name?: string } } | undefined)?.policyRef?.name ?? 'default';
}
