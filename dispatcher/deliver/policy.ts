// What a CallbackPolicy makes of one attempt's result: delivered, retry after a delay,
// or failed for good (a status not worth retrying, or retries exhausted). Pure.
import type { CallbackPolicySpec } from '../../core/api/v1alpha1/callbackpolicy.ts';
import { parseDuration } from '../../core/api/v1alpha1/duration.ts';
import type { HttpResult } from './http.ts';

export type Decision =
  | { kind: 'delivered' }
  | { kind: 'retry'; delayMs: number; reason: string }
  | { kind: 'failed'; reason: string; exhausted: boolean };

function ms(duration: string): number {
  return parseDuration(duration) ?? 0;
}

function matchesCode(patterns: readonly string[], status: number): boolean {
  return patterns.some((p) =>
    p.endsWith('xx') ? Number(p[0]) === Math.floor(status / 100) : Number(p) === status,
  );
}

export function describeResult(result: HttpResult): string {
  if (result.kind === 'error')
    return result.error === 'timeout' ? result.message : `${result.error}: ${result.message}`;
  const snippet = result.body.trim().slice(0, 200);
  return `HTTP ${result.status}${snippet ? `: ${snippet}` : ''}`;
}

/** The delay before retry number `retry` (1 = the first retry), or undefined when there is none. */
export function retryDelay(
  policy: CallbackPolicySpec,
  retry: number,
  random: () => number = Math.random,
): number | undefined {
  const { schedule, backoff } = policy.retry;
  if (schedule) {
    const step = schedule[retry - 1];
    return step === undefined ? undefined : ms(step);
  }
  if (!backoff || retry > backoff.attempts) return undefined;
  const base = ms(backoff.delay);
  const raw = backoff.policy === 'linear' ? base * retry : base * 2 ** Math.min(retry - 1, 40);
  const capped = Math.min(raw, ms(backoff.max));
  const spread = 1 + backoff.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(capped * spread));
}

/**
 * Decides after attempt number `attempt` (1 = the first delivery).
 */
export function decide(
  policy: CallbackPolicySpec,
  result: HttpResult,
  attempt: number,
  random: () => number = Math.random,
): Decision {
  if (result.kind === 'response' && matchesCode(policy.successCodes, result.status))
    return { kind: 'delivered' };
  const reason = describeResult(result);
  const retryable =
    result.kind === 'error'
      ? result.error !== 'refused-address' &&
        policy.retryOn.includes(result.error === 'timeout' ? 'timeout' : 'network')
      : matchesCode(
          policy.retryOn.filter((p) => /^\d/.test(p)),
          result.status,
        );
  if (!retryable) return { kind: 'failed', reason, exhausted: false };
  let delayMs = retryDelay(policy, attempt, random);
  if (delayMs === undefined) return { kind: 'failed', reason, exhausted: true };
  const cap = ms(policy.retryAfterMax);
  if (
    result.kind === 'response' &&
    (result.status === 429 || result.status === 503) &&
    result.retryAfterMs !== undefined &&
    cap > 0
  ) {
    delayMs = Math.max(delayMs, Math.min(result.retryAfterMs, cap));
  }
  return { kind: 'retry', delayMs, reason };
}
