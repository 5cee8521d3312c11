// What a raw Hookline object refers to, read before validation (an object that is not valid
// yet still names its source, its policy and its Secrets), so that informer callbacks can
// enqueue exactly the objects a change concerns.
import type { RawObject } from './kube/objects.ts';
import { secretNamesOf } from './secret-refs.ts';

/** True when the object names the Secret (see `secretNamesOf`). */
export function namesSecret(object: RawObject, secret: string): boolean {
  return secretNamesOf(object).includes(secret);
}

export function sourceOf(webhook: RawObject): string | undefined {
  return (webhook.spec as { sourceRef?: { name?: string } } | undefined)?.sourceRef?.name;
}

export function policyOf(webhook: RawObject): string {
  return (webhook.spec as { policyRef?: { name?: string } } | undefined)?.policyRef?.name ?? 'default';
}
