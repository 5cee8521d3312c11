// What a dispatcher replica learned about a Webhook's deliveries since its last status
// write, and how that is added to the stored status. Pure; the writer applies it on the
// latest stored status under optimistic concurrency, so replicas never lose each other's
// updates.
import {
  ATTEMPT_ERROR_MAX_LENGTH,
  RESPONSE_BODY_MAX_LENGTH,
  RESPONSE_HEADER_MAX_LENGTH,
  type WebhookStatus,
} from '../../core/api/v1alpha1/webhook.ts';
import { disabledStatus } from '../../core/status/disabled.ts';
import { truncate } from '../../core/status/text.ts';

export type Outcome =
  | 'Succeeded'
  | 'Retrying'
  | 'Failed'
  | 'DeadLettered'
  | 'Denied'
  | 'Allowed'
  /** Failed while the circuit breaker is open: the event went back to its queue, its retries untouched. */
  | 'Held';

export type CircuitStatus = NonNullable<WebhookStatus['circuit']>;
export type BacklogStatus = NonNullable<WebhookStatus['backlog']>;

export interface AttemptRecord {
  time: string;
  eventId: string;
  eventType: string;
  attempt: number;
  outcome: Outcome;
  statusCode?: number;
  durationMs?: number;
  error?: string;
  responseHeaders?: { retryAfter?: string; contentType?: string };
  /** The first bytes of a failed response's body. */
  responseBody?: string;
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
  /**
   * Oldest first; the last RECENT_ATTEMPTS are the ones that count. Up to twice as many are
   * kept, and the older half dropped at once: a delivery's record is one push, not a push and
   * a shift (which had V8 grow the array again on every delivery).
   */
  attemptsLog: AttemptRecord[];
  disable?: { reason: string; at: string };
  /** The circuit breaker's latest state, when it changed. */
  circuit?: CircuitStatus;
  /** The latest backlog sample. */
  backlog?: BacklogStatus;
}

/** The most a Webhook's status may take, as JSON; attempt bodies give way first, then old attempts. */
export const STATUS_MAX_BYTES = 64 * 1024;

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
  return (
    delta.attempts === 0 &&
    delta.filtered === 0 &&
    delta.deadLettered === 0 &&
    !delta.disable &&
    !delta.circuit &&
    !delta.backlog
  );
}

/** Adds one attempt to a delta. */
export function recordAttempt(delta: Delta, record: AttemptRecord): void {
  delta.attempts++;
  const log = delta.attemptsLog;
  if (log.length >= 2 * RECENT_ATTEMPTS) log.splice(0, log.length - RECENT_ATTEMPTS + 1);
  log.push(record);
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
    case 'Held':
      delta.failuresSinceSuccess++;
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
  const circuit = later.circuit ?? earlier.circuit;
  const backlog = later.backlog ?? earlier.backlog;
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
    ...(circuit ? { circuit } : {}),
    ...(backlog ? { backlog } : {}),
  };
}

type StatusAttempt = NonNullable<WebhookStatus['lastAttempt']>;

/**
 * What an attempt record keeps of a failed response's body: its first 1 KiB, decoded as
 * UTF-8, with control characters other than tab, newline and carriage return shown as U+FFFD (they would
 * take six bytes each in JSON); nothing for an empty body.
 */
export function responseSnippet(body: string): string | undefined {
  if (body.length === 0) return undefined;
  const bytes = Buffer.from(body, 'utf8');
  const head = bytes.length > RESPONSE_BODY_MAX_LENGTH ? bytes.subarray(0, RESPONSE_BODY_MAX_LENGTH) : bytes;
  return head.toString('utf8').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd');
}

function toStatusAttempt(record: AttemptRecord): StatusAttempt {
  const { deadLettered: _deadLettered, error, responseHeaders, responseBody, ...rest } = record;
  const attempt: StatusAttempt = { ...rest };
  if (error !== undefined) attempt.error = truncate(error, ATTEMPT_ERROR_MAX_LENGTH);
  if (responseHeaders && Object.keys(responseHeaders).length > 0) {
    attempt.responseHeaders = {};
    if (responseHeaders.retryAfter !== undefined)
      attempt.responseHeaders.retryAfter = truncate(responseHeaders.retryAfter, RESPONSE_HEADER_MAX_LENGTH);
    if (responseHeaders.contentType !== undefined)
      attempt.responseHeaders.contentType = truncate(responseHeaders.contentType, RESPONSE_HEADER_MAX_LENGTH);
  }
  if (responseBody !== undefined) attempt.responseBody = truncate(responseBody, RESPONSE_BODY_MAX_LENGTH);
  return attempt;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/**
 * The status within STATUS_MAX_BYTES: recent attempts are kept newest first while they fit,
 * each with its response body if that fits too, without it otherwise; older ones give way.
 */
export function fitStatus(stored: WebhookStatus | undefined, next: Partial<WebhookStatus>): void {
  const attempts = next.recentAttempts;
  if (!attempts || jsonBytes({ ...stored, ...next }) <= STATUS_MAX_BYTES) return;
  let room = STATUS_MAX_BYTES - jsonBytes({ ...stored, ...next, recentAttempts: [] });
  const kept: StatusAttempt[] = [];
  for (const attempt of attempts) {
    const { responseBody: _body, ...bare } = attempt;
    const choice = [attempt, bare].find((a) => jsonBytes(a) + 1 <= room);
    if (!choice) break;
    kept.push(choice);
    room -= jsonBytes(choice) + 1;
  }
  next.recentAttempts = kept;
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
    const newestFirst = delta.attemptsLog.slice(-RECENT_ATTEMPTS).reverse().map(toStatusAttempt);
    next.lastAttempt = newestFirst[0];
    next.recentAttempts = [...newestFirst, ...(stored?.recentAttempts ?? [])].slice(0, RECENT_ATTEMPTS);
  }
  if (delta.lastSuccessTime) next.lastSuccessTime = delta.lastSuccessTime;
  if (delta.circuit) next.circuit = delta.circuit;
  if (delta.backlog) next.backlog = delta.backlog;
  fitStatus(stored, next);
  const disabled = delta.disable && disabledStatus(stored, delta.disable);
  return disabled ? { ...next, ...disabled } : next;
}
