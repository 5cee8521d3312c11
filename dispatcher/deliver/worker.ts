// Delivers one Webhook's queue. Unordered: a consumer with `concurrency` messages in hand
// (see unordered.ts); a failed attempt waits out its delay in the namespace's delay infrastructure (never as
// an unacknowledged message) and comes back to the queue. Strict: one replica at a time,
// the event being retried first, later events in order (see strict.ts). Nothing polls: an
// idle hook costs the broker no requests. A message is acknowledged only after what
// replaces it (a retry, a dead letter) was routed and confirmed; one the broker cannot
// route stays. A circuit breaker, when the policy has one, holds events in the queue while
// the receiver keeps failing (see circuit.ts).
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.ts';
import { systemClock, type Clock } from '../../core/retry.ts';
import { Unroutable, type BrokerSession, type Delivery } from '../broker/session.ts';
import type { HookConfig } from '../hooks.ts';
import type { DispatcherMetrics } from '../metrics.ts';
import type { StatusWriter } from '../status/writer.ts';
import { noTracing, type Tracing } from '../tracing.ts';
import { Circuit, type Transition } from './circuit.ts';
import { eventMeta, parseEvent, type EventMeta } from './event.ts';
import type { HttpClient } from './http.ts';
import { attemptOf, Outcomes, type Handled } from './outcomes.ts';
import { decide } from './policy.ts';
import { TokenBucket } from './rate-limit.ts';
import { deadLetter, nextAttempt, publishDelayed } from './republish.ts';
import { attemptRequest } from './request.ts';
import { StrictLane } from './strict.ts';
import { UnorderedLane } from './unordered.ts';

export interface WorkerDeps {
  session: BrokerSession;
  status: StatusWriter;
  http: HttpClient;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** Called when the worker disabled its Webhook (retries ran out and the policy says so). */
  onDisabled: (reason: string) => void;
  /** Called when the circuit breaker opened or closed, with why. */
  onCircuit?: (transition: NonNullable<Transition>, message: string) => void;
  /** Called (at most once a minute) when the broker could not route a retry or dead letter. */
  onUnroutable?: (message: string) => void;
  clock?: Clock;
  random?: () => number;
  /** Off when not given. */
  tracing?: Tracing;
}

/** How long a message whose replacement the broker refused is held before it is returned. */
const UNROUTABLE_BACKOFF_MS = 5000;
/** How long a message is held before it is returned after other broker trouble. */
const RETURN_BACKOFF_MS = 1000;

export class HookWorker {
  readonly #config: HookConfig;
  readonly #d: WorkerDeps;
  readonly #clock: Clock;
  readonly #outcomes: Outcomes;
  readonly #bucket: TokenBucket | undefined;
  #running = false;
  /** Aborted by stop(): every wait of the worker ends early. */
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #strict: StrictLane | undefined;
  #unordered: UnorderedLane | undefined;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #disabled = false;
  readonly #circuit: Circuit | undefined;

  constructor(config: HookConfig, deps: WorkerDeps) {
    this.#config = config;
    this.#d = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#outcomes = new Outcomes({
      webhook: config,
      metrics: deps.metrics,
      status: deps.status,
      clock: this.#clock,
      onUnroutable: deps.onUnroutable,
    });
    const limit = config.policy.rateLimit;
    this.#bucket = limit ? new TokenBucket(limit.perSecond, limit.burst) : undefined;
    const breaker = config.policy.circuitBreaker;
    this.#circuit = breaker
      ? new Circuit(breaker, {
          clock: this.#clock,
          logger: deps.logger,
          report: (state) => this.#outcomes.circuit(state),
          onChange: deps.onCircuit,
        })
      : undefined;
  }

  get fingerprint(): string {
    return this.#config.fingerprint;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#stop = new AbortController();
    // A replica starts with its circuit closed; the status says so, whatever an earlier one left.
    this.#circuit?.reportClosed();
    if (this.#config.policy.ordering === 'Strict') {
      this.#strict = new StrictLane({
        config: this.#config,
        session: this.#d.session,
        logger: this.#d.logger,
        clock: this.#clock,
        stopped: this.#stop.signal,
        disabled: () => this.#disabled,
        handle: (delivery, released) => this.#handle(delivery, false, released),
      });
      this.#loop = this.#strict.run();
    } else {
      this.#unordered = new UnorderedLane({
        config: this.#config,
        session: this.#d.session,
        logger: this.#d.logger,
        clock: this.#clock,
        stopped: this.#stop.signal,
        circuit: this.#circuit,
        handle: (delivery, probe) => this.#handle(delivery, probe),
        drained: (timeoutMs) => this.#drained(timeoutMs),
      });
      this.#loop = this.#unordered.run();
    }
  }

  /**
   * Unordered: its consumer takes events and holds fewer than its prefetch, so the broker has
   * none ready in the Webhook's queue (it would have handed them over). The backlog sampler
   * need not ask.
   */
  get drainsQueue(): boolean {
    return (
      this.#running &&
      this.#unordered?.consuming === true &&
      this.#inFlight < this.#config.policy.concurrency &&
      this.#circuit?.open !== true
    );
  }

  /** Stops taking messages, lets those in hand finish, then closes its channels. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stop.abort();
    await this.#loop;
  }

  #now(): Date {
    return new Date(this.#clock.now());
  }

  async #drained(timeoutMs: number): Promise<void> {
    if (this.#inFlight === 0) return;
    const idle = new AbortController();
    this.#idle.push(() => idle.abort());
    await this.#clock.sleep(timeoutMs, idle.signal);
  }

  /** `released`: Strict, aborts when the lane lets go of its lock (see StrictDeps.handle). */
  async #handle(delivery: Delivery, probe = false, released?: AbortSignal): Promise<Handled> {
    this.#inFlight++;
    this.#outcomes.inFlight(1);
    try {
      if (this.#disabled) {
        delivery.nack(true);
        return 'skipped';
      }
      if (this.#circuit?.open && !probe) {
        // Unordered: the consumer is stopping; the event waits in the queue for the probe.
        // Strict: this is the next event in order; it waits here and becomes the next probe,
        // unless the lane lets go of its lock meanwhile (another replica's turn).
        const waits = released ? AbortSignal.any([this.#stop.signal, released]) : this.#stop.signal;
        const mayProbe = this.#strict !== undefined && (await this.#circuit.untilProbe(waits));
        if (!mayProbe && (this.#circuit.open || waits.aborted)) {
          delivery.nack(true);
          return 'skipped';
        }
      }
      if (this.#bucket) await this.#bucket.take();
      return await this.#process(delivery);
    } catch (error) {
      if (error instanceof Unroutable) {
        // What would replace the message has nowhere to go: keep the message, say so, try later.
        this.#d.logger.warn(
          { err: error.message },
          'The broker could not route a retry or dead letter; keeping the event',
        );
        this.#outcomes.unroutable(error.message);
        await this.#clock.sleep(UNROUTABLE_BACKOFF_MS, this.#stop.signal);
        delivery.nack(true);
        return 'returned';
      }
      // Broker trouble while passing the message on: give it back; it will come again.
      this.#d.logger.warn({ err: errorMessage(error) }, 'Could not finish a delivery; returning the message');
      await this.#clock.sleep(RETURN_BACKOFF_MS, this.#stop.signal);
      delivery.nack(true);
      return 'skipped';
    } finally {
      this.#inFlight--;
      this.#outcomes.inFlight(-1);
      if (this.#inFlight === 0 && this.#idle.length > 0)
        for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #deadLetter(delivery: Delivery, meta: EventMeta, reason: string): Promise<void> {
    const { session } = this.#d;
    await deadLetter(session, this.#config.topology, delivery, meta, reason, this.#now());
  }

  /** Puts the next attempt where it waits out its delay; resolves once the broker holds it. */
  async #retry(delivery: Delivery, meta: EventMeta, delayMs: number): Promise<void> {
    const properties = nextAttempt(delivery, meta);
    if (this.#strict) await this.#strict.retry(delivery, properties, delayMs);
    else await publishDelayed(this.#d.session, this.#config.topology, delivery, properties, delayMs);
  }

  async #process(delivery: Delivery): Promise<Handled> {
    const config = this.#config;
    const meta = eventMeta(delivery, this.#clock.now());
    // A child logger only when something is worth saying: none on the success path.
    const logger = () => this.#d.logger.child({ eventId: meta.id, attempt: meta.attempt });

    // Events Hookline cannot deliver go to the dead-letter queue with their reason.
    const parsed = parseEvent(delivery.body, config.maxEventBytes);
    if ('unusable' in parsed) {
      await this.#deadLetter(delivery, meta, parsed.unusable);
      delivery.ack();
      this.#outcomes.unusable();
      logger().warn({ reason: parsed.unusable }, 'Dead-lettered an event that cannot be delivered');
      return 'failed';
    }
    const { json } = parsed;
    if (!config.match(json)) {
      delivery.ack();
      this.#outcomes.filtered();
      return 'filtered';
    }

    const started = this.#now();
    const span = (this.#d.tracing ?? noTracing).call(config, meta, meta.trace);
    // An event that came without a trace context takes its first attempt's, for its retries.
    meta.trace ??= span.context;
    const built = attemptRequest(config, meta, { body: delivery.body, json }, started, span.context);
    const request = built instanceof Promise ? await built : built;
    const result = await this.#d.http.send({
      url: config.url,
      headers: request.headers,
      body: request.body,
      requestTimeoutMs: config.requestTimeoutMs,
    });
    this.#outcomes.took(result.durationMs);
    const decision = decide(config.policy, result, meta.attempt, this.#d.random);
    span.answered(result, decision.kind === 'delivered' ? undefined : decision.reason);
    const attempt = attemptOf(meta, started, result, decision);
    this.#circuit?.record(decision);
    if (decision.kind === 'retry' && this.#circuit?.open) {
      // The receiver is held to be down: the event goes back to its queue with its retries.
      delivery.nack(true);
      this.#outcomes.held(attempt, decision.reason);
      return 'skipped';
    }

    switch (decision.kind) {
      case 'delivered':
        delivery.ack();
        this.#outcomes.succeeded(attempt);
        return 'delivered';
      case 'retry': {
        await this.#retry(delivery, meta, decision.delayMs);
        delivery.ack();
        this.#outcomes.retrying(attempt, decision.reason);
        logger().info({ reason: decision.reason, retryInMs: decision.delayMs }, 'Delivery failed; retrying');
        return 'retry';
      }
      case 'failed': {
        const { onExhausted } = config.policy;
        if (onExhausted.deadLetter) await this.#deadLetter(delivery, meta, decision.reason);
        delivery.ack();
        this.#outcomes.failed(attempt, decision.reason, onExhausted.deadLetter);
        logger().warn({ reason: decision.reason, exhausted: decision.exhausted }, 'Delivery failed for good');
        if (decision.exhausted && onExhausted.disableWebhook) await this.#disable(meta, decision.reason);
        return 'failed';
      }
    }
  }

  async #disable(meta: EventMeta, reason: string): Promise<void> {
    if (this.#disabled) return;
    this.#disabled = true;
    const message = `Disabled after ${meta.attempt - 1} failed retries (last: ${reason})`;
    this.#outcomes.disabled(message);
    const { queue, headQueue } = this.#config.topology;
    if (this.#config.policy.onExhausted.purgeQueue) {
      // Unordered retries already waiting in the namespace's delay queues come back later,
      // to a disabled hook, and wait in its queue.
      let purged = 0;
      for (const q of [queue, headQueue]) purged += await this.#d.session.purge(q);
      this.#d.logger.warn({ purged }, 'Purged the queue of a disabled Webhook');
    }
    this.#d.onDisabled(message);
  }
}
