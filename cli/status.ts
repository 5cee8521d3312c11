// `kubectl hookline status`: every Webhook of a namespace on one line each, with what an SRE
// looks at first: ready or why not, disabled, the circuit, the backlog and the delivery
// rate, the counters and the last attempt. `-o json` gives the same fields, unabridged.
import type { WebhookStatus } from '../core/api/v1alpha1/webhook.ts';
import type { RawObject } from '../core/kube/objects.ts';
import { ageOf, cut, formatTable, numberCell } from './table.ts';

export interface WebhookSummary {
  namespace: string;
  name: string;
  /** The Ready condition's status; 'Unknown' before the operator wrote one. */
  ready: 'True' | 'False' | 'Unknown';
  /** Its reason when not Ready. */
  reason: string | null;
  /** Its message when not Ready. */
  message: string | null;
  disabled: boolean;
  disabledReason: string | null;
  /** The circuit breaker's state, when the policy has one. */
  circuit: 'Closed' | 'Open' | null;
  /** Events waiting in the queue, as last sampled by the dispatcher. */
  waiting: number | null;
  /** Events in the dead-letter queue, as last sampled. */
  deadLettered: number | null;
  deliveredPerMinute: number | null;
  backlogObservedAt: string | null;
  delivered: number;
  failed: number;
  lastStatus: number | null;
  lastError: string | null;
  lastAttempt: string | null;
}

export function summarize(raw: RawObject): WebhookSummary {
  const status = (raw.status ?? {}) as WebhookStatus;
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  const readyStatus = ready?.status === 'True' || ready?.status === 'False' ? ready.status : 'Unknown';
  return {
    namespace: raw.metadata.namespace ?? 'default',
    name: raw.metadata.name,
    ready: readyStatus,
    reason: readyStatus !== 'True' ? (ready?.reason ?? null) : null,
    message: readyStatus !== 'True' ? (ready?.message ?? null) : null,
    disabled: status.disabled === true,
    disabledReason: status.disabled ? (status.disabledReason ?? null) : null,
    circuit: status.circuit?.state ?? null,
    waiting: status.backlog?.waiting ?? null,
    deadLettered: status.backlog?.deadLettered ?? null,
    deliveredPerMinute: status.backlog?.deliveredPerMinute ?? null,
    backlogObservedAt: status.backlog?.observedAt ?? null,
    delivered: status.deliveries?.succeeded ?? 0,
    failed: status.deliveries?.failed ?? 0,
    lastStatus: status.lastAttempt?.statusCode ?? null,
    lastError: status.lastAttempt?.error ?? null,
    lastAttempt: status.lastAttempt?.time ?? null,
  };
}

export const STATUS_COLUMNS = [
  'NAME',
  'READY',
  'REASON',
  'DISABLED',
  'CIRCUIT',
  'WAITING',
  'DEAD',
  'RATE',
  'DELIVERED',
  'FAILED',
  'LAST-STATUS',
  'LAST-ERROR',
  'LAST-ATTEMPT',
] as const;

const ERROR_WIDTH = 48;

export function statusTable(summaries: readonly WebhookSummary[], now: Date, allNamespaces: boolean): string {
  const rows = summaries.map((s) => [
    ...(allNamespaces ? [s.namespace] : []),
    s.name,
    s.ready,
    s.reason ?? '-',
    String(s.disabled),
    s.circuit ?? '-',
    numberCell(s.waiting),
    numberCell(s.deadLettered),
    numberCell(s.deliveredPerMinute, '/min'),
    String(s.delivered),
    String(s.failed),
    numberCell(s.lastStatus),
    cut(s.lastError, ERROR_WIDTH),
    ageOf(s.lastAttempt, now),
  ]);
  return formatTable([...(allNamespaces ? ['NAMESPACE'] : []), ...STATUS_COLUMNS], rows);
}
