// CallbackPolicy controller: checks what the schema cannot, and counts the Webhooks that
// use the policy. Webhooks react to a policy change through their own watch on policies.
import { CallbackPolicy } from '../../core/api/v1alpha1/callbackpolicy.ts';
import { parseDuration } from '../../core/api/v1alpha1/duration.ts';
import { validate } from '../../core/api/validate.ts';
import { setCondition } from '../runtime/conditions.ts';
import {
  awaitChange,
  defaultErrorPolicy,
  type Action,
  type Controller,
  type ErrorContext,
  type ReconcileContext,
} from '../runtime/controller.ts';
import type { RawObject } from '../../core/kube/objects.ts';
import type { OperatorContext } from './context.ts';
import { DEFAULT_POLICY_NAME, retriesOf } from '../../core/policy.ts';
import { applyOwnedStatus } from './status.ts';
import { namespaceOf } from '../../core/names.ts';

/** Checks across fields that CEL cannot express cheaply. */
export function policyProblems(policy: CallbackPolicy): string[] {
  const problems: string[] = [];
  const backoff = policy.spec.retry.backoff;
  if (backoff && (parseDuration(backoff.delay) ?? 0) > (parseDuration(backoff.max) ?? 0)) {
    problems.push(
      `spec.retry.backoff.delay (${backoff.delay}) is longer than spec.retry.backoff.max (${backoff.max})`,
    );
  }
  if (policy.spec.onExhausted.purgeQueue && !policy.spec.onExhausted.disableWebhook) {
    problems.push(
      'spec.onExhausted.purgeQueue needs disableWebhook: true (purging a hook that keeps receiving events drops them silently)',
    );
  }
  return problems;
}

export function webhooksUsing(webhooks: readonly RawObject[], namespace: string, policy: string): number {
  return webhooks.filter((w) => {
    if (w.metadata.namespace !== namespace) return false;
    const ref = (w.spec as { policyRef?: { name?: string } } | undefined)?.policyRef?.name;
    return ref === policy || (ref === undefined && policy === DEFAULT_POLICY_NAME);
  }).length;
}

export class CallbackPolicyController implements Controller<RawObject> {
  readonly kind = 'CallbackPolicy';
  readonly #ctx: OperatorContext;

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  errorPolicy(_object: RawObject, error: unknown, ctx: ErrorContext): Action {
    return defaultErrorPolicy(error, ctx);
  }

  async reconcile(raw: RawObject, rc: ReconcileContext): Promise<Action> {
    const parsed = validate(CallbackPolicy, raw);
    const problems = parsed.ok ? policyProblems(parsed.value) : [parsed.message];
    const conditions = setCondition(
      raw.status?.conditions as never,
      problems.length > 0
        ? { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: problems.join('; ') }
        : { type: 'Ready', status: 'True', reason: 'Valid', message: 'The policy is valid' },
      raw.metadata.generation,
      this.#ctx.now(),
    );
    const owned: Record<string, unknown> = {
      observedGeneration: raw.metadata.generation,
      conditions,
      webhooks: webhooksUsing(this.#ctx.caches.webhooks.list(), namespaceOf(raw), raw.metadata.name),
    };
    if (parsed.ok) owned.retries = retriesOf(parsed.value.spec);
    const written = await applyOwnedStatus(this.#ctx.client, raw, 'callbackpolicies', owned);
    if (written) rc.wrote(written);
    return awaitChange();
  }
}
