// `kubectl hookline attempts <webhook>`: the Webhook's activation history (status.recentAttempts,
// newest first), one attempt a line; `-o json` gives the records as stored.
import type { WebhookStatus } from '../core/api/v1alpha1/webhook.ts';
import type { RawObject } from '../core/kube/objects.ts';
import { cut, formatTable, numberCell } from './table.ts';

export type AttemptRecord = NonNullable<WebhookStatus['recentAttempts']>[number];

export function attemptsOf(raw: RawObject): AttemptRecord[] {
  return (raw.status as WebhookStatus | undefined)?.recentAttempts ?? [];
}

export const ATTEMPT_COLUMNS = [
  'TIME',
  'EVENT',
  'TYPE',
  'ATTEMPT',
  'OUTCOME',
  'STATUS',
  'DURATION',
  'RETRY-AFTER',
  'ERROR',
] as const;

const ERROR_WIDTH = 60;

export function attemptsTable(attempts: readonly AttemptRecord[]): string {
  const rows = attempts.map((a) => [
    a.time,
    a.eventId,
    a.eventType ?? '-',
    String(a.attempt),
    a.outcome ?? '-',
    numberCell(a.statusCode),
    numberCell(a.durationMs, 'ms'),
    a.responseHeaders?.retryAfter ?? '-',
    // The error says why; a response body says more when there is no error text.
    cut(a.error ?? a.responseBody, ERROR_WIDTH),
  ]);
  return formatTable(ATTEMPT_COLUMNS, rows);
}
