// Which CallbackPolicy a Webhook uses: its policyRef, else the policy named "default" in
// its namespace, else the built-in defaults; and how many retries a policy gives.
import { builtInPolicy, CallbackPolicy, type CallbackPolicySpec } from './api/v1alpha1/callbackpolicy.ts';
import { validate } from './api/validate.ts';
import type { RawObject } from './kube/objects.ts';
import type { Lookup } from './lookup.ts';

export const DEFAULT_POLICY_NAME = 'default';

export function retriesOf(policy: CallbackPolicySpec): number {
  return policy.retry.schedule?.length ?? policy.retry.backoff?.attempts ?? 0;
}

export function resolvePolicy(
  policies: { get(key: string): RawObject | undefined },
  namespace: string,
  policyRef: { name: string } | undefined,
): Lookup<{ name: string; spec: CallbackPolicySpec }> {
  const name = policyRef?.name ?? DEFAULT_POLICY_NAME;
  const raw = policies.get(`${namespace}/${name}`);
  if (!raw) {
    if (!policyRef) return { ok: true, value: { name: '(built-in)', spec: builtInPolicy } };
    return {
      ok: false,
      reason: 'PolicyNotFound',
      message: `spec.policyRef: CallbackPolicy ${namespace}/${name} does not exist`,
    };
  }
  const parsed = validate(CallbackPolicy, raw);
  if (!parsed.ok) {
    return {
      ok: false,
      reason: 'PolicyInvalid',
      message: `CallbackPolicy ${namespace}/${name} is invalid: ${parsed.message}`,
    };
  }
  return { ok: true, value: { name, spec: parsed.value.spec } };
}
