// The disabled state of a Webhook (status.disabled, disabledReason, disabledAt), owned here:
// the dispatcher disables a Webhook whose retries ran out, the operator re-enables it on a
// reenable token or a spec change, and both write these fields only through this module.
import { DISABLED_REASON_MAX_LENGTH, type WebhookStatus } from '../api/v1alpha1/webhook.ts';
import { truncate } from './text.ts';

type DisabledFields = Pick<WebhookStatus, 'disabled' | 'disabledReason' | 'disabledAt'>;

/** The fields that disable a Webhook, or none when it is disabled already (the first reason stays). */
export function disabledStatus(
  stored: WebhookStatus | undefined,
  disable: { reason: string; at: string },
): DisabledFields | undefined {
  if (stored?.disabled) return undefined;
  return {
    disabled: true,
    disabledReason: truncate(disable.reason, DISABLED_REASON_MAX_LENGTH),
    disabledAt: disable.at,
  };
}

/** A merge patch of the status that re-enables a Webhook: delivering again, its failure run forgotten. */
export function reenabledStatus(): Record<string, unknown> {
  return { disabled: false, disabledReason: null, disabledAt: null, consecutiveFailures: 0 };
}
