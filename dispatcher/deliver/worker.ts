// Delivers one Webhook's queue. Unordered: a consumer with `concurrency` messages in hand.
// Strict: one replica at a time (an exclusive consumer on the head queue is the lock); the
// event being retried returns to the head queue and blocks the main queue until it is
// delivered or failed for good. A failed attempt waits out its delay in a retry queue
// (never as an unacknowledged message); a message is acknowledged only after what replaces
// it (a retry, a dead letter) has been confirmed by the broker.
import type { Logger } from 'pino';
import { errorMessage } from '../../operator/runtime/errors.ts';
import {
  ExclusiveConsumerTaken,
  type BrokerSession,
  type Consumer,
  type Delivery,
} from '../broker/session.ts';
import type { HookConfig } from '../hooks.ts';
import type { DispatcherMetrics } from '../metrics.ts';
import type { StatusWriter } from '../status/writer.ts';
import { eventMeta, HEADER, type EventMeta } from './event.ts';
import type { HttpClient } from './http.ts';
import { decide, type Decision } from './policy.ts';
import { attemptRequest } from './request.ts';
import { TokenBucket } from './rate-limit.ts';

export interface WorkerDeps {
  session: BrokerSession;
  status: StatusWriter;
  http: HttpClient;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** Called when the worker disabled its Webhook (retries ran out and the policy says so). */
  onDisabled: (reason: string) => void;
  now?: () => Date;
  random?: () => number;
}

type Handled = Decision['kind'] | 'skipped';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

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
  };
  readonly #bucket: TokenBucket | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #stopWaiters: (() => void)[] = [];
  #disabled = false;

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
    const { queue, headQueue, retryQueues } = this.#config.topology;
    const { session, logger } = this.#d;
    while (this.#running) {
      let head: Consumer | undefined;
      let busy = Promise.resolve();
      try {
        await session.ready();
        let blocked = false;
        // The head queue's exclusive consumer is the lock: one replica delivers this hook.
        head = await session.consume(headQueue, { prefetch: 1, exclusive: true }, (d) => {
          busy = busy.then(async () => {
            blocked = (await this.#handle(d)) === 'retry';
          });
        });
        if (!this.#running) break;
        logger.info('Delivering in strict order');
        const counts = await Promise.all([headQueue, ...retryQueues].map((q) => session.messageCount(q)));
        blocked = counts.some((c) => (c ?? 0) > 0);
        let idleMs = 10;
        while (this.#running && session.connected) {
          await busy;
          if (blocked) {
            // The head event is waiting out its delay; later events wait behind it.
            await Promise.race([sleep(50), this.#untilStopped()]);
            continue;
          }
          const next = await session.get(queue);
          if (!next) {
            await Promise.race([sleep(idleMs), this.#untilStopped()]);
            idleMs = Math.min(idleMs * 2, 250);
            continue;
          }
          idleMs = 10;
          blocked = (await this.#handle(next)) === 'retry';
        }
      } catch (error) {
        if (error instanceof ExclusiveConsumerTaken) {
          logger.debug('Another replica delivers this hook in strict order; standing by');
        } else {
          logger.warn({ err: errorMessage(error) }, 'Strict delivery interrupted; resuming');
        }
        await Promise.race([sleep(1000), this.#untilStopped()]);
      } finally {
        if (head) {
          await head.cancel();
          await busy;
          await head.close();
        }
      }
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
      // Broker trouble while passing the message on: give it back; it will come again.
      this.#d.logger.warn({ err: errorMessage(error) }, 'Could not finish a delivery; returning the message');
      delivery.nack(true);
      return 'skipped';
    } finally {
      this.#inFlight--;
      this.#series.inFlight.set(this.#inFlight);
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #deadLetter(delivery: Delivery, meta: EventMeta, reason: string): Promise<void> {
    await this.#d.session.sendToQueue(this.#config.topology.deadLetterQueue, delivery.body, {
      messageId: meta.id,
      type: meta.type,
      contentType: delivery.properties.contentType,
      headers: {
        ...delivery.properties.headers,
        [HEADER.eventId]: meta.id,
        [HEADER.eventType]: meta.type,
        [HEADER.attempt]: meta.attempt,
        [HEADER.reason]: reason.slice(0, 1000),
        'x-hookline-dead-lettered-at': new Date().toISOString(),
      },
    });
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
      return 'skipped';
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
      time: timestamp(started),
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
        const { retryQueues } = config.topology;
        const level = Math.min(meta.attempt, retryQueues.length);
        await this.#d.session.sendToQueue(retryQueues[level - 1]!, delivery.body, {
          messageId: meta.id,
          type: meta.type,
          contentType: delivery.properties.contentType,
          expiration: String(decision.delayMs),
          headers: {
            ...delivery.properties.headers,
            [HEADER.eventId]: meta.id,
            [HEADER.eventType]: meta.type,
            [HEADER.attempt]: meta.attempt + 1,
            [HEADER.firstSeen]: meta.firstSeen,
          },
        });
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
    const { queue, headQueue, retryQueues } = this.#config.topology;
    if (this.#config.policy.onExhausted.purgeQueue) {
      let purged = 0;
      for (const q of [queue, headQueue, ...retryQueues]) purged += await this.#d.session.purge(q);
      this.#d.logger.warn({ purged }, 'Purged the queue of a disabled Webhook');
    }
    this.#d.onDisabled(message);
  }
}
