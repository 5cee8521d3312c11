// The Secrets a Webhook needs, named from its raw spec (it may not be valid yet).
import { signingSecretName } from '../../core/names.ts';
import type { RawObject } from '../../core/kube/objects.ts';

interface LooseSpec {
  signing?: { scheme?: string; secretRef?: { name?: string }; generate?: boolean };
  auth?: Record<string, { secretRef?: { name?: string } } | undefined>;
}

export function webhookSecretNames(webhook: RawObject): string[] {
  const spec = (webhook.spec ?? {}) as LooseSpec;
  const names = new Set<string>();
  const scheme = spec.signing?.scheme ?? 'standard-webhooks';
  if (scheme !== 'none') {
    names.add(spec.signing?.secretRef?.name ?? signingSecretName(webhook.metadata.name));
  }
  for (const method of Object.values(spec.auth ?? {})) {
    if (method?.secretRef?.name) names.add(method.secretRef.name);
  }
  return [...names];
}
