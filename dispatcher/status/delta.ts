// What a dispatcher replica learned about a Webhook's deliveries since its last status
// write, and how that is added to the stored status. Pure; the writer applies it on the
// latest stored status under optimistic concurrency, so replicas never lose each other's
// updates.
import { ATTEMPT_ERROR_MAX_LENGTH, type WebhookStatus } from '../../core/api/v1alpha1/webhook.ts';
import { disabledStatus } from '../../core/status/disabled.ts';
import { truncate } from '../../core/status/text.ts';

export type Outcome = 'Succeeded' | 'Retrying' | 'Failed' | 'DeadLettered' | 'Denied' | 'Allowed';

export interface AttemptRecord {
  time: string;
  eventId: string;
  eventType: string;
  attempt: number;
  outcome: Outcome;
  statusCode?: number;
  durationMs?: number;
  error?: string;
  /** Failed for good and moved to the dead-letter queue. */
  deadLettered?: boolean;
}

export interface Delta {
  succeeded: number;
  failed: number;
  retried: number;
  deadLettered: number;
  filtered: number;
  attempts: number;
  /** Failed attempts since the last success in this delta; `sawSuccess` says whether there was one. */
  failuresSinceSuccess: number;
  sawSuccess: boolean;
  lastSuccessTime?: string;
  /** Oldest first. */
  attemptsLog: AttemptRecord[];
  disable?: { reason: string; at: string };
}

export const RECENT_ATTEMPTS = 20;

export function emptyDelta(): Delta {
  return {
    succeeded: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    filtered: 0,
    attempts: 0,
    failuresSinceSuccess: 0,
    sawSuccess: false,
    attemptsLog: [],
  };
}

export function isEmpty(delta: Delta): boolean {
  return delta.attempts === 0 && delta.filtered === 0 && delta.deadLettered === 0 && !delta.disable;
}

/** Adds one attempt to a delta. */
export function recordAttempt(delta: Delta, record: AttemptRecord): void {
  delta.attempts++;
  delta.attemptsLog.push(record);
  if (delta.attemptsLog.length > RECENT_ATTEMPTS) delta.attemptsLog.shift();
  switch (record.outcome) {
    // A Before hook that answered its expected status counts as delivered; one that did
    // not (another status, a timeout) as failed: DELIVERED and FAILED tell the truth for both phases.
    case 'Succeeded':
    case 'Allowed':
      delta.succeeded++;
      delta.sawSuccess = true;
      delta.failuresSinceSuccess = 0;
      delta.lastSuccessTime = record.time;
      return;
    case 'Retrying':
      delta.retried++;
      delta.failuresSinceSuccess++;
      return;
    case 'Failed':
    case 'DeadLettered':
    case 'Denied':
      delta.failed++;
      if (record.deadLettered) delta.deadLettered++;
      delta.failuresSinceSuccess++;
      return;
  }
}

/** `later` happened after `earlier`: one delta with both. */
export function combine(earlier: Delta, later: Delta): Delta {
  const log = [...earlier.attemptsLog, ...later.attemptsLog].slice(-RECENT_ATTEMPTS);
  const disable = later.disable ?? earlier.disable;
  return {
    succeeded: earlier.succeeded + later.succeeded,
    failed: earlier.failed + later.failed,
    retried: earlier.retried + later.retried,
    deadLettered: earlier.deadLettered + later.deadLettered,
    filtered: earlier.filtered + later.filtered,
    attempts: earlier.attempts + later.attempts,
    sawSuccess: earlier.sawSuccess || later.sawSuccess,
    failuresSinceSuccess: later.sawSuccess
      ? later.failuresSinceSuccess
      : earlier.failuresSinceSuccess + later.failuresSinceSuccess,
    ...(later.lastSuccessTime || earlier.lastSuccessTime
      ? { lastSuccessTime: later.lastSuccessTime ?? earlier.lastSuccessTime }
      : {}),
    attemptsLog: log,
    ...(disable ? { disable } : {}),
  };
}

/**
 * The text cut to at most `max` UTF-16 units, ending in "…" when it was cut. Units, not
 * characters: the API server counts characters, but the operator and the dispatcher check
 * the whole Webhook, status included, against the zod schema, which counts units; a
 * character is never cut in half.
 */

function toStatusAttempt(record: AttemptRecord): NonNullable<WebhookStatus['lastAttempt']> {
  const { deadLettered: _deadLettered, error, ...rest } = record;
  return error === undefined ? rest : { ...rest, error: truncate(error, ATTEMPT_ERROR_MAX_LENGTH) };
}

/**
 * The status fields the dispatcher owns, after adding the delta to what is stored; free
 * text is cut to the CRD's caps, so that one long error never makes a write refused.
 */
export function applyDelta(stored: WebhookStatus | undefined, delta: Delta): Partial<WebhookStatus> {
  const before = stored?.deliveries ?? { succeeded: 0, failed: 0, retried: 0, deadLettered: 0, filtered: 0 };
  const next: Partial<WebhookStatus> = {
    deliveries: {
      succeeded: (before.succeeded ?? 0) + delta.succeeded,
      failed: (before.failed ?? 0) + delta.failed,
      retried: (before.retried ?? 0) + delta.retried,
      deadLettered: (before.deadLettered ?? 0) + delta.deadLettered,
      filtered: (before.filtered ?? 0) + delta.filtered,
    },
    attempts: (stored?.attempts ?? 0) + delta.attempts,
    consecutiveFailures: delta.sawSuccess
      ? delta.failuresSinceSuccess
      : (stored?.consecutiveFailures ?? 0) + delta.failuresSinceSuccess,
  };
  if (delta.attemptsLog.length > 0) {
    const newestFirst = [...delta.attemptsLog].reverse().map(toStatusAttempt);
    next.lastAttempt = newestFirst[0];
    next.recentAttempts = [...newestFirst, ...(stored?.recentAttempts ?? [])].slice(0, RECENT_ATTEMPTS);
  }
  if (delta.lastSuccessTime) next.lastSuccessTime = delta.lastSuccessTime;
  const disabled = delta.disable && disabledStatus(stored, delta.disable);
  return disabled ? { ...next, ...disabled } : next;
}
