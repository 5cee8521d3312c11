// What became of each event of one Webhook, kept twice: in the Webhook's metric series
// (outcomes, in-flight deliveries and durations as plain numbers of its DeliveryTally,
// published when the series are read; rarer series bound once) and in the
// status the writer sends back. Also the throttled report of events kept because the broker refused what
// would have replaced them.
import type { Clock } from '../../core/retry.ts';
import type { DeliveryTally, DispatcherMetrics } from '../metrics.ts';
import { kubeTime } from '../../core/time.ts';
import { responseSnippet, type AttemptRecord, type CircuitStatus, type Outcome } from '../status/delta.ts';
import type { StatusWriter } from '../status/writer.ts';
import type { EventMeta } from './event.ts';
import type { HttpResult } from './http.ts';
import type { Decision } from './policy.ts';

/** 'skipped': given back to its queue; 'returned': kept because its replacement was unroutable. */
export type Handled = Decision['kind'] | 'filtered' | 'skipped' | 'returned';

/** An attempt as its status record tells it, before its outcome. */
export type Attempt = Omit<AttemptRecord, 'outcome' | 'error' | 'deadLettered'>;

/**
 * The record of one attempt: the receiver's status and headers, and the start of a failed
 * answer's body. Its properties are set in one order, and its outcome is added to it in
 * place: the record is made once per delivery, not copied.
 */
export function attemptOf(meta: EventMeta, started: Date, result: HttpResult, decision: Decision): Attempt {
  const attempt: Attempt = {
    time: kubeTime(started),
    eventId: meta.id,
    eventType: meta.type,
    attempt: meta.attempt,
    durationMs: result.durationMs,
  };
  if (result.kind !== 'response') return attempt;
  attempt.statusCode = result.status;
  if (result.headers) attempt.responseHeaders = result.headers;
  if (decision.kind !== 'delivered') {
    const snippet = responseSnippet(result.body);
    if (snippet !== undefined) attempt.responseBody = snippet;
  }
  return attempt;
}

/** The attempt, its outcome (and why) set on it. */
function settled(attempt: Attempt, outcome: Outcome, error?: string): AttemptRecord {
  const record: AttemptRecord = Object.assign(attempt, { outcome });
  if (error !== undefined) record.error = error;
  return record;
}

/** An unroutable retry or dead letter is reported at most this often. */
const UNROUTABLE_REPORT_MS = 60_000;

export interface OutcomeDeps {
  webhook: { namespace: string; name: string };
  metrics: DispatcherMetrics;
  status: StatusWriter;
  clock: Clock;
  onUnroutable?: (message: string) => void;
}

export class Outcomes {
  readonly #webhook: string;
  readonly #d: OutcomeDeps;
  readonly #series: {
    succeeded: { inc(): void };
    retried: { inc(): void };
    failed: { inc(): void };
    deadLettered: { inc(): void };
    filtered: { inc(): void };
    held: { inc(): void };
    circuitOpen: { set(value: number): void };
    unroutable: { inc(): void };
  };
  readonly #tally: DeliveryTally;
  #lastUnroutableReport = 0;

  constructor(deps: OutcomeDeps) {
    this.#d = deps;
    this.#webhook = deps.webhook.name;
    const { metrics } = deps;
    const labels = { namespace: deps.webhook.namespace, webhook: deps.webhook.name };
    const tally = (this.#tally = metrics.tally(labels.namespace, labels.webhook));
    this.#series = {
      succeeded: tally.counter('succeeded'),
      retried: tally.counter('retried'),
      failed: tally.counter('failed'),
      deadLettered: tally.counter('dead_lettered'),
      filtered: tally.counter('filtered'),
      held: tally.counter('held'),
      circuitOpen: metrics.circuitOpen.labels(labels),
      unroutable: metrics.unroutable.labels(labels),
    };
  }

  /** A delivery began (1) or ended (-1). */
  inFlight(change: 1 | -1): void {
    this.#tally.inFlight += change;
  }

  /** How long the receiver took to answer (or not). */
  took(durationMs: number): void {
    this.#tally.took(durationMs / 1000);
  }

  /** An event that could never be an attempt (not JSON, too large) was dead-lettered. */
  unusable(): void {
    this.#d.status.deadLettered(this.#webhook);
    this.#series.deadLettered.inc();
  }

  filtered(): void {
    this.#d.status.filtered(this.#webhook);
    this.#series.filtered.inc();
  }

  succeeded(attempt: Attempt): void {
    this.#d.status.record(this.#webhook, settled(attempt, 'Succeeded'));
    this.#series.succeeded.inc();
  }

  retrying(attempt: Attempt, reason: string): void {
    this.#d.status.record(this.#webhook, settled(attempt, 'Retrying', reason));
    this.#series.retried.inc();
  }

  failed(attempt: Attempt, reason: string, deadLettered: boolean): void {
    const record = settled(attempt, deadLettered ? 'DeadLettered' : 'Failed', reason);
    record.deadLettered = deadLettered;
    this.#d.status.record(this.#webhook, record);
    this.#series.failed.inc();
  }

  /** Failed while the circuit is open: the event went back to its queue, its retries untouched. */
  held(attempt: Attempt, reason: string): void {
    this.#d.status.record(this.#webhook, settled(attempt, 'Held', reason));
    this.#series.held.inc();
  }

  /** The circuit breaker's state, in the status and the metric. */
  circuit(state: CircuitStatus): void {
    this.#d.status.circuit(this.#webhook, state);
    this.#series.circuitOpen.set(state.state === 'Open' ? 1 : 0);
  }

  /** The Webhook is disabled from now on, with why. */
  disabled(message: string): void {
    this.#d.status.disable(this.#webhook, message, new Date(this.#d.clock.now()));
  }

  /** The broker could not route what would replace an event; reported at most once a minute. */
  unroutable(message: string): void {
    this.#series.unroutable.inc();
    const now = this.#d.clock.now();
    if (now - this.#lastUnroutableReport < UNROUTABLE_REPORT_MS) return;
    this.#lastUnroutableReport = now;
    this.#d.onUnroutable?.(message);
  }
}
