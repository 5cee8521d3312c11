// A Webhook's circuit breaker: `failures` failed attempts within `window` open it; while
// open, events wait in the queue and one probe delivery is let through per
// `probeInterval`; a successful attempt closes it. Pure state on an injectable clock; the
// worker acts on what it says, and Circuit reports each change.
import type { Logger } from 'pino';
import type { CallbackPolicySpec } from '../../core/api/v1alpha1/callbackpolicy.ts';
import { parseDuration } from '../../core/api/v1alpha1/duration.ts';
import { ATTEMPT_ERROR_MAX_LENGTH } from '../../core/api/v1alpha1/webhook.ts';
import type { Clock } from '../../core/retry.ts';
import { truncate } from '../../core/status/text.ts';
import { kubeTime } from '../../core/time.ts';
import type { CircuitStatus } from '../status/delta.ts';
import type { Decision } from './policy.ts';

type CircuitBreakerPolicy = NonNullable<CallbackPolicySpec['circuitBreaker']>;

export interface CircuitSettings {
  failures: number;
  windowMs: number;
  probeIntervalMs: number;
}

export type Transition = 'opened' | 'closed' | undefined;

export class CircuitBreaker {
  readonly #s: CircuitSettings;
  readonly #clock: Clock;
  /** Times of the failures within the window, oldest first. */
  #failures: number[] = [];
  #openedAt: number | undefined;
  #nextProbeAt = 0;
  /** Aborted when the circuit opens; a fresh one after each close. */
  #closed = new AbortController();

  constructor(settings: CircuitSettings, clock: Clock) {
    this.#s = settings;
    this.#clock = clock;
  }

  get open(): boolean {
    return this.#openedAt !== undefined;
  }

  get openedAt(): number | undefined {
    return this.#openedAt;
  }

  get nextProbeAt(): number | undefined {
    return this.open ? this.#nextProbeAt : undefined;
  }

  /** Aborts when the circuit opens: a consumer stops taking messages then. */
  get opened(): AbortSignal {
    return this.#closed.signal;
  }

  /** One attempt's result; says when it opened or closed the circuit. */
  record(ok: boolean): Transition {
    const now = this.#clock.now();
    if (ok) {
      this.#failures = [];
      if (!this.open) return undefined;
      this.#openedAt = undefined;
      this.#closed = new AbortController();
      return 'closed';
    }
    if (this.open) return undefined;
    this.#failures.push(now);
    const since = now - this.#s.windowMs;
    while (this.#failures.length > 0 && this.#failures[0]! <= since) this.#failures.shift();
    if (this.#failures.length < this.#s.failures) return undefined;
    this.#failures = [];
    this.#openedAt = now;
    this.#nextProbeAt = now + this.#s.probeIntervalMs;
    this.#closed.abort();
    return 'opened';
  }

  /**
   * Waits until the next probe is due and claims it: true when the caller may send the
   * probe, false when the circuit closed meanwhile or `signal` aborted.
   */
  async untilProbe(signal: AbortSignal): Promise<boolean> {
    while (this.open && !signal.aborted) {
      const wait = this.#nextProbeAt - this.#clock.now();
      if (wait <= 0) {
        this.#nextProbeAt = this.#clock.now() + this.#s.probeIntervalMs;
        return true;
      }
      await this.#clock.sleep(wait, signal);
    }
    return false;
  }
}

export interface CircuitDeps {
  clock: Clock;
  logger: Logger;
  /** Puts the state in the Webhook's status and metric. */
  report: (state: CircuitStatus) => void;
  /** Tells of a change (an Event on the Webhook). */
  onChange?: (transition: NonNullable<Transition>, message: string) => void;
}

/** A worker's circuit: the breaker on the policy's settings, and the report of each change. */
export class Circuit {
  readonly #breaker: CircuitBreaker;
  readonly #policy: CircuitBreakerPolicy;
  readonly #d: CircuitDeps;

  constructor(policy: CircuitBreakerPolicy, deps: CircuitDeps) {
    this.#policy = policy;
    this.#d = deps;
    this.#breaker = new CircuitBreaker(
      {
        failures: policy.failures,
        windowMs: parseDuration(policy.window) ?? 60_000,
        probeIntervalMs: parseDuration(policy.probeInterval) ?? 30_000,
      },
      deps.clock,
    );
  }

  get open(): boolean {
    return this.#breaker.open;
  }

  get opened(): AbortSignal {
    return this.#breaker.opened;
  }

  untilProbe(signal: AbortSignal): Promise<boolean> {
    return this.#breaker.untilProbe(signal);
  }

  /** A replica starts with its circuit closed; the status says so, whatever an earlier one left. */
  reportClosed(): void {
    this.#d.report({ state: 'Closed' });
  }

  /**
   * One attempt's decision. A delivered event, or an answer not worth retrying, shows that
   * the receiver is up; a retryable failure counts towards opening the circuit.
   */
  record(decision: Decision): void {
    const down = decision.kind === 'retry' || (decision.kind === 'failed' && decision.exhausted);
    const transition = this.#breaker.record(!down);
    if (transition === 'opened') {
      const now = this.#d.clock.now();
      const last = decision.kind === 'delivered' ? '' : decision.reason;
      const reason = `${this.#policy.failures} failed attempts within ${this.#policy.window} (last: ${last})`;
      this.#d.report({
        state: 'Open',
        openedAt: kubeTime(new Date(now)),
        nextProbeAt: kubeTime(new Date(this.#breaker.nextProbeAt ?? now)),
        reason: truncate(reason, ATTEMPT_ERROR_MAX_LENGTH),
      });
      this.#d.logger.warn({ reason }, 'Circuit opened; events wait in the queue until a probe succeeds');
      this.#d.onChange?.(
        'opened',
        `Circuit opened after ${reason}; probing every ${this.#policy.probeInterval}`,
      );
    } else if (transition === 'closed') {
      this.#d.report({ state: 'Closed' });
      this.#d.logger.info('Circuit closed; delivering again');
      this.#d.onChange?.('closed', 'Circuit closed: a probe delivery succeeded');
    }
  }
}
