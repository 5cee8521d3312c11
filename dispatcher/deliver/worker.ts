// Delivers one Webhook's queue. Unordered: a consumer with `concurrency` messages in hand;
// a failed attempt waits out its delay in the namespace's delay infrastructure (never as
// an unacknowledged message) and comes back to the queue. Strict: one replica at a time (an
// exclusive consumer on the head queue is the lock); the event being retried is put in the
// head queue with the time it is due, and the main queue is not consumed until it has been
// delivered or failed for good, so later events wait in order. Nothing polls: an idle hook
// costs the broker no requests. A message is acknowledged only after what replaces it (a
// retry, a dead letter) was routed and confirmed; one the broker cannot route stays.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.ts';
import { BROKER_DEATH_HEADERS, withoutHeaders } from '../../core/rabbit/broker.ts';
import { delayRoutingKey } from '../../core/rabbit/topology.ts';
import {
  ExclusiveConsumerTaken,
  PUBLISH_MARK,
  Unroutable,
  type BrokerSession,
  type Consumer,
  type Delivery,
  type MessageProperties,
} from '../broker/session.ts';
import type { HookConfig } from '../hooks.ts';
import type { DispatcherMetrics } from '../metrics.ts';
import type { StatusWriter } from '../status/writer.ts';
import { eventMeta, HEADER, type EventMeta } from './event.ts';
import type { HttpClient } from './http.ts';
import { decide, type Decision } from './policy.ts';
import { attemptRequest } from './request.ts';
import { TokenBucket } from './rate-limit.ts';
import { kubeTime } from '../../core/time.ts';

export interface WorkerDeps {
  session: BrokerSession;
  status: StatusWriter;
  http: HttpClient;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** Called when the worker disabled its Webhook (retries ran out and the policy says so). */
  onDisabled: (reason: string) => void;
  /** Called (at most once a minute) when the broker could not route a retry or dead letter. */
  onUnroutable?: (message: string) => void;
  now?: () => Date;
  random?: () => number;
}

/** 'skipped': given back to its queue; 'returned': kept because its replacement was unroutable. */
type Handled = Decision['kind'] | 'filtered' | 'skipped' | 'returned';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Headers of the broker's and of earlier publishes, never carried into a new message. */
const NOT_CARRIED: readonly string[] = [...BROKER_DEATH_HEADERS, PUBLISH_MARK, HEADER.dueAt];
/** How long a message whose replacement the broker refused is held before it is returned. */
const UNROUTABLE_BACKOFF_MS = 5000;
/** A held head event is put back before the broker's consumer timeout (30 min by default). */
const HEAD_RENEW_MS = 15 * 60_000;
/** How often a replica that does not hold a Strict hook's lock tries to take it. */
const STANDBY_RETRY_MS = 5000;

export class HookWorker {
  readonly #config: HookConfig;
  readonly #d: WorkerDeps;
  readonly #labels: { namespace: string; webhook: string };
  /** Metric series of this Webhook, bound once: the hot path computes no label keys. */
  readonly #series: {
    succeeded: { inc(): void };
    retried: { inc(): void };
    failed: { inc(): void };
    deadLettered: { inc(): void };
    filtered: { inc(): void };
    seconds: { observe(value: number): void };
    inFlight: { set(value: number): void };
    unroutable: { inc(): void };
  };
  readonly #bucket: TokenBucket | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #stopWaiters: (() => void)[] = [];
  #disabled = false;
  #lastUnroutableReport = 0;
  /** Strict: the main queue's consumer, while the head queue is empty. */
  #main: Consumer | undefined;
  /** Strict: deliveries run one at a time, head and main alike. */
  #turn: Promise<unknown> = Promise.resolve();
  #headTimer: NodeJS.Timeout | undefined;

  constructor(config: HookConfig, deps: WorkerDeps) {
    this.#config = config;
    this.#d = deps;
    this.#labels = { namespace: config.namespace, webhook: config.name };
    const { metrics } = deps;
    const outcome = (name: string) => metrics.deliveries.bind({ ...this.#labels, outcome: name });
    this.#series = {
      succeeded: outcome('succeeded'),
      retried: outcome('retried'),
      failed: outcome('failed'),
      deadLettered: outcome('dead_lettered'),
      filtered: outcome('filtered'),
      seconds: metrics.deliverySeconds.bind(this.#labels),
      inFlight: metrics.inFlight.bind(this.#labels),
      unroutable: metrics.unroutable.bind(this.#labels),
    };
    const limit = config.policy.rateLimit;
    this.#bucket = limit ? new TokenBucket(limit.perSecond, limit.burst) : undefined;
  }

  get fingerprint(): string {
    return this.#config.fingerprint;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#config.policy.ordering === 'Strict' ? this.#runStrict() : this.#runUnordered();
  }

  /** Stops taking messages, lets those in hand finish, then closes its channels. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const wake of this.#stopWaiters.splice(0)) wake();
    await this.#loop;
  }

  /** The loops own their consumers: whatever they opened, even while stopping, they close. */
  async #release(consumer: Consumer): Promise<void> {
    await consumer.cancel();
    await this.#drained(20_000);
    await consumer.close();
  }

  #untilStopped(): Promise<void> {
    return new Promise((resolve) => (this.#running ? this.#stopWaiters.push(resolve) : resolve()));
  }

  async #drained(timeoutMs: number): Promise<void> {
    if (this.#inFlight === 0) return;
    await Promise.race([new Promise<void>((resolve) => this.#idle.push(resolve)), sleep(timeoutMs)]);
  }

  async #runUnordered(): Promise<void> {
    const { queue } = this.#config.topology;
    let failures = 0;
    while (this.#running) {
      try {
        await this.#d.session.ready();
        const consumer = await this.#d.session.consume(
          queue,
          { prefetch: this.#config.policy.concurrency },
          (d) => void this.#handle(d),
        );
        failures = 0;
        await Promise.race([consumer.closed, this.#untilStopped()]);
        await this.#release(consumer);
      } catch (error) {
        failures++;
        this.#d.logger.warn({ err: errorMessage(error) }, 'Cannot consume the queue; retrying');
        await Promise.race([sleep(Math.min(500 * failures, 5000)), this.#untilStopped()]);
      }
    }
  }

  async #runStrict(): Promise<void> {
    const { headQueue } = this.#config.topology;
    const { session, logger } = this.#d;
    while (this.#running) {
      let head: Consumer | undefined;
      try {
        await session.ready();
        // The head queue's exclusive consumer is the lock: one replica delivers this hook.
        head = await session.consume(headQueue, { prefetch: 1, exclusive: true }, (d) => {
          void this.#serially(() => this.#onHead(d));
        });
        if (!this.#running) break;
        logger.info('Delivering in strict order');
        // Only the lock's holder puts events in the head queue: one that is there now was
        // left by an earlier holder, and arrives on the consumer above.
        if (((await session.messageCount(headQueue)) ?? 0) === 0)
          await this.#serially(() => this.#resumeMain());
        await Promise.race([head.closed, this.#untilStopped()]);
      } catch (error) {
        if (error instanceof ExclusiveConsumerTaken) {
          logger.debug('Another replica delivers this hook in strict order; standing by');
        } else {
          logger.warn({ err: errorMessage(error) }, 'Strict delivery interrupted; resuming');
        }
        await Promise.race([sleep(STANDBY_RETRY_MS), this.#untilStopped()]);
      } finally {
        clearTimeout(this.#headTimer);
        await this.#pauseMain();
        if (head) {
          await head.cancel();
          await this.#turn;
          await head.close();
        }
        const main = this.#main;
        this.#main = undefined;
        await main?.close();
      }
    }
  }

  #serially(step: () => Promise<unknown>): Promise<void> {
    const next = this.#turn.then(step, step);
    this.#turn = next.catch(() => undefined);
    return next.then(
      () => undefined,
      (error: unknown) => this.#d.logger.warn({ err: errorMessage(error) }, 'Strict delivery step failed'),
    );
  }

  /** Strict: consume the main queue, one event in hand at a time. */
  async #resumeMain(): Promise<void> {
    if (!this.#running || this.#main || this.#disabled) return;
    this.#main = await this.#d.session.consume(this.#config.topology.queue, { prefetch: 1 }, (d) => {
      void this.#serially(() => this.#handle(d));
    });
  }

  /** Strict: stop taking events from the main queue; the one in hand can still be acknowledged. */
  async #pauseMain(): Promise<void> {
    await this.#main?.cancel();
  }

  /** Strict: the head event, when it is due; held (and renewed before the consumer timeout) until then. */
  async #onHead(delivery: Delivery): Promise<void> {
    await this.#pauseMain();
    const now = (this.#d.now ?? (() => new Date()))().getTime();
    const due = Number(delivery.properties.headers?.[HEADER.dueAt] ?? 0);
    const wait = Number.isFinite(due) ? due - now : 0;
    if (wait > 0) {
      this.#headTimer = setTimeout(
        () =>
          void this.#serially(async () => {
            if (wait > HEAD_RENEW_MS) await this.#renewHead(delivery);
            else await this.#deliverHead(delivery);
          }),
        Math.min(wait, HEAD_RENEW_MS),
      );
      return;
    }
    await this.#deliverHead(delivery);
  }

  async #renewHead(delivery: Delivery): Promise<void> {
    await this.#d.session.sendToQueue(
      this.#config.topology.headQueue,
      delivery.body,
      { ...this.#carried(delivery), headers: { ...delivery.properties.headers } },
      { mandatory: true },
    );
    delivery.ack();
  }

  async #deliverHead(delivery: Delivery): Promise<void> {
    const outcome = await this.#handle(delivery);
    // Later events may go once the head event is done with. After a retry it is back in
    // the head queue; when it was given back (broker trouble, disabled) it comes again.
    if (outcome === 'delivered' || outcome === 'failed' || outcome === 'filtered') {
      const old = this.#main;
      this.#main = undefined;
      await old?.close();
      await this.#resumeMain();
    }
  }

  async #handle(delivery: Delivery): Promise<Handled> {
    this.#inFlight++;
    this.#series.inFlight.set(this.#inFlight);
    try {
      if (this.#disabled) {
        delivery.nack(true);
        return 'skipped';
      }
      if (this.#bucket) await this.#bucket.take();
      return await this.#process(delivery);
    } catch (error) {
      if (error instanceof Unroutable) {
        // What would replace the message has nowhere to go: keep the message, say so, try later.
        this.#series.unroutable.inc();
        this.#d.logger.warn(
          { err: error.message },
          'The broker could not route a retry or dead letter; keeping the event',
        );
        const now = Date.now();
        if (now - this.#lastUnroutableReport >= 60_000) {
          this.#lastUnroutableReport = now;
          this.#d.onUnroutable?.(error.message);
        }
        await Promise.race([sleep(UNROUTABLE_BACKOFF_MS), this.#untilStopped()]);
        delivery.nack(true);
        return 'returned';
      }
      // Broker trouble while passing the message on: give it back; it will come again.
      this.#d.logger.warn({ err: errorMessage(error) }, 'Could not finish a delivery; returning the message');
      await Promise.race([sleep(1000), this.#untilStopped()]);
      delivery.nack(true);
      return 'skipped';
    } finally {
      this.#inFlight--;
      this.#series.inFlight.set(this.#inFlight);
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** The properties a message that replaces `delivery` keeps. */
  #carried(delivery: Delivery): MessageProperties {
    return {
      ...(delivery.properties.messageId ? { messageId: delivery.properties.messageId } : {}),
      ...(delivery.properties.type ? { type: delivery.properties.type } : {}),
      ...(delivery.properties.contentType ? { contentType: delivery.properties.contentType } : {}),
      headers: withoutHeaders(delivery.properties.headers, NOT_CARRIED),
    };
  }

  async #deadLetter(delivery: Delivery, meta: EventMeta, reason: string): Promise<void> {
    const carried = this.#carried(delivery);
    await this.#d.session.sendToQueue(
      this.#config.topology.deadLetterQueue,
      delivery.body,
      {
        ...carried,
        messageId: meta.id,
        type: meta.type,
        headers: {
          ...carried.headers,
          [HEADER.eventId]: meta.id,
          [HEADER.eventType]: meta.type,
          [HEADER.attempt]: meta.attempt,
          [HEADER.reason]: reason.slice(0, 1000),
          [HEADER.deadLetteredAt]: new Date().toISOString(),
        },
      },
      { mandatory: true },
    );
  }

  /** Puts the next attempt where it waits out its delay; resolves once the broker holds it. */
  async #retry(delivery: Delivery, meta: EventMeta, delayMs: number): Promise<void> {
    const { topology, policy } = this.#config;
    const carried = this.#carried(delivery);
    const headers = {
      ...carried.headers,
      [HEADER.eventId]: meta.id,
      [HEADER.eventType]: meta.type,
      [HEADER.attempt]: meta.attempt + 1,
      [HEADER.firstSeen]: meta.firstSeen,
    };
    const properties = { ...carried, messageId: meta.id, type: meta.type, headers };
    if (policy.ordering === 'Strict') {
      // Later events stay in the queue until this one is done.
      await this.#pauseMain();
      const now = (this.#d.now ?? (() => new Date()))().getTime();
      await this.#d.session.sendToQueue(
        topology.headQueue,
        delivery.body,
        { ...properties, headers: { ...headers, [HEADER.dueAt]: now + delayMs } },
        { mandatory: true },
      );
      return;
    }
    await this.#d.session.publish(
      topology.delayExchange,
      delayRoutingKey(delayMs, topology.delayDestination),
      delivery.body,
      properties,
      { mandatory: true },
    );
  }

  async #process(delivery: Delivery): Promise<Handled> {
    const config = this.#config;
    const now = this.#d.now ?? (() => new Date());
    const meta = eventMeta(delivery, now().getTime());
    // A child logger only when something is worth saying: none on the success path.
    const logger = () => this.#d.logger.child({ eventId: meta.id, attempt: meta.attempt });

    // Events Hookline cannot deliver go to the dead-letter queue with their reason.
    let unusable: string | undefined;
    let json: unknown;
    if (delivery.body.length > config.maxEventBytes) {
      unusable = `event of ${delivery.body.length} bytes is larger than maxEventBytes (${config.maxEventBytes})`;
    } else {
      try {
        json = JSON.parse(delivery.body.toString('utf8'));
      } catch (error) {
        unusable = `event is not valid JSON: ${(error as Error).message}`;
      }
    }
    if (unusable) {
      await this.#deadLetter(delivery, meta, unusable);
      delivery.ack();
      this.#d.status.deadLettered(config.name);
      this.#series.deadLettered.inc();
      logger().warn({ reason: unusable }, 'Dead-lettered an event that cannot be delivered');
      return 'failed';
    }
    if (!config.match(json)) {
      delivery.ack();
      this.#d.status.filtered(config.name);
      this.#series.filtered.inc();
      return 'filtered';
    }

    const started = now();
    const request = await attemptRequest(config, meta, { body: delivery.body, json }, started);
    const result = await this.#d.http.send({
      url: config.url,
      headers: request.headers,
      body: request.body,
      requestTimeoutMs: config.requestTimeoutMs,
    });
    this.#series.seconds.observe(result.durationMs / 1000);
    const decision = decide(config.policy, result, meta.attempt, this.#d.random);
    const record = {
      time: kubeTime(started),
      eventId: meta.id,
      eventType: meta.type,
      attempt: meta.attempt,
      durationMs: result.durationMs,
      ...(result.kind === 'response' ? { statusCode: result.status } : {}),
    };

    switch (decision.kind) {
      case 'delivered':
        delivery.ack();
        this.#d.status.record(config.name, { ...record, outcome: 'Succeeded' });
        this.#series.succeeded.inc();
        return 'delivered';
      case 'retry': {
        await this.#retry(delivery, meta, decision.delayMs);
        delivery.ack();
        this.#d.status.record(config.name, { ...record, outcome: 'Retrying', error: decision.reason });
        this.#series.retried.inc();
        logger().info({ reason: decision.reason, retryInMs: decision.delayMs }, 'Delivery failed; retrying');
        return 'retry';
      }
      case 'failed': {
        const { onExhausted } = config.policy;
        if (onExhausted.deadLetter) await this.#deadLetter(delivery, meta, decision.reason);
        delivery.ack();
        this.#d.status.record(config.name, {
          ...record,
          outcome: onExhausted.deadLetter ? 'DeadLettered' : 'Failed',
          error: decision.reason,
          deadLettered: onExhausted.deadLetter,
        });
        this.#series.failed.inc();
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
    this.#d.status.disable(this.#config.name, message, new Date());
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
