// What waits on the broker, sampled in the background: for each After Webhook of the
// source, the events ready in its queue (head included) and in its dead-letter queue, into
// the metrics and the Webhook's status; Kafka consumer lag per partition; and the disabled
// gauge. Series of a Webhook that is gone are removed, so that label sets stay bounded by
// the Webhooks that exist. RabbitMQ's AMQP interface tells how many messages are ready,
// not how old the oldest is: that age is not reported.
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.ts';
import { systemClock, type Clock } from '../core/retry.ts';
import { webhookQueues } from '../core/rabbit/topology.ts';
import { kubeTime } from '../core/time.ts';
import type { BrokerSession } from './broker/session.ts';
import type { PartitionLag } from './ingest/kafka-client.ts';
import { forgetWebhook, type DispatcherMetrics } from './metrics.ts';
import type { StatusWriter } from './status/writer.ts';

export interface ObservedWebhook {
  name: string;
  disabled: boolean;
  /** Its policy's ordering is Strict: it has a head queue. */
  strict: boolean;
  /**
   * Whether this replica consumes its queue with room to spare now (HookWorker.drainsQueue):
   * then no event is ready there, and the queue is not asked about. Read when its turn comes
   * in a pass, which may be minutes after the pass began.
   */
  drainsQueue?: () => boolean;
}

export interface BacklogDeps {
  namespace: string;
  source: string;
  session: BrokerSession;
  metrics: DispatcherMetrics;
  status: StatusWriter;
  /** The After Webhooks of this source, disabled ones included. */
  webhooks: () => ObservedWebhook[];
  /** The Kafka consumer's lag, when the source is a kafka one and its consumer runs. */
  kafkaLag?: () => Promise<PartitionLag[] | undefined>;
  intervalMs: number;
  /** Queues asked about a second at most (PROBES_PER_SECOND unless given). */
  probesPerSecond?: number;
  logger: Logger;
  clock?: Clock;
}

/**
 * How many queues a pass asks the broker about a second, at most. Each is a passive declare,
 * one at a time; unpaced, a pass over 10,000 Webhooks asked 20,000 of them back to back, took
 * longer than the interval, and the broker answered nothing else as often. Passes over that
 * many run back to back at this pace, which costs a RabbitMQ node up to 8 % of a core
 * (bench/broker-cost measured 2-16 % at 200 a second). A quiet Webhook is one question (its
 * queue, consumed with room to spare, is not asked about): 10,000 quiet Webhooks take 100 s a
 * pass, and a Webhook's backlog is that old at worst; as many busy ones, 200 s.
 */
const PROBES_PER_SECOND = 100;

/**
 * A backlog unchanged in numbers is written to the status again only after this long, or
 * longer where there are so many Webhooks that refreshing them all this often would take more
 * than REFRESH_WRITES_PER_SECOND of the status writer's budget (ten writes a second).
 */
const STATUS_REFRESH_MS = 60_000;
const REFRESH_WRITES_PER_SECOND = 4;

/** How long an unchanged backlog waits before it is written again, with `webhooks` to refresh. */
export function refreshMs(webhooks: number): number {
  return Math.max(STATUS_REFRESH_MS, Math.ceil((webhooks * 1000) / REFRESH_WRITES_PER_SECOND));
}

/**
 * Whether a delivery rate differs enough from the one in the status to be written: any move
 * to or from zero, otherwise more than a tenth (so that a steady stream does not write every
 * sample, and a stream that stops or starts shows at once).
 */
export function rateMoved(written: number, now: number): boolean {
  if (written === now) return false;
  if (written === 0 || now === 0) return true;
  return Math.abs(now - written) > written / 10;
}

interface Seen {
  waiting: number;
  deadLettered: number;
  delivered: number;
  at: number;
  writtenAt: number;
  /** The deliveredPerMinute last written to the status. */
  writtenRate: number;
}

export class BacklogSampler {
  readonly #d: BacklogDeps;
  readonly #clock: Clock;
  readonly #seen = new Map<string, Seen>();
  readonly #partitions = new Set<string>();
  /** Webhooks whose head queue was there at the last sample (it may outlive a move to Unordered). */
  readonly #heads = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> = Promise.resolve();
  /** A pass is running: a tick meanwhile starts none (they would queue up behind it). */
  #busy = false;
  /** Ends the pacing waits of a pass at stop(). */
  readonly #stopped = new AbortController();

  constructor(deps: BacklogDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      this.#sampling = this.sample().finally(() => (this.#busy = false));
    }, this.#d.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopped.abort();
    await this.#sampling;
  }

  /** One round; a broker that cannot be asked leaves the last figures in place. */
  async sample(): Promise<void> {
    try {
      await this.#sampleWebhooks();
      await this.#sampleKafka();
    } catch (error) {
      this.#d.logger.debug({ err: errorMessage(error) }, 'Could not sample the backlog');
    }
  }

  async #sampleWebhooks(): Promise<void> {
    const { namespace, session, metrics } = this.#d;
    const delivered = await this.#deliveredCounts();
    const present = new Set<string>();
    const webhooks = this.#d.webhooks();
    const refreshAfterMs = refreshMs(webhooks.length);
    const msPerProbe = 1000 / (this.#d.probesPerSecond ?? PROBES_PER_SECOND);
    for (const { name, disabled, strict, drainsQueue } of webhooks) {
      if (this.#stopped.signal.aborted) return;
      present.add(name);
      metrics.disabled.set({ namespace, webhook: name }, disabled ? 1 : 0);
      const queues = webhookQueues(namespace, name);
      // Only a Strict Webhook has a head queue: asking for a missing one costs the broker a channel.
      const withHead = strict || this.#heads.has(name);
      // A queue consumed here with room to spare has nothing ready: of 10,000 mostly quiet
      // Webhooks, most need only their dead-letter queue asked about.
      const mainAsked = withHead || drainsQueue?.() !== true;
      const [main, dead, head] = await Promise.all([
        mainAsked ? session.messageCount(queues.queue) : 0,
        session.messageCount(queues.deadLetterQueue),
        withHead ? session.messageCount(queues.headQueue) : undefined,
      ]);
      const probes = 1 + Number(mainAsked) + Number(withHead);
      await this.#clock.sleep(probes * msPerProbe, this.#stopped.signal);
      if (head === undefined) this.#heads.delete(name);
      else this.#heads.add(name);
      if (main === undefined) continue; // not declared yet
      const waiting = main + (head ?? 0);
      const deadLettered = dead ?? 0;
      metrics.queueMessages.set({ namespace, webhook: name, queue: 'waiting' }, waiting);
      metrics.queueMessages.set({ namespace, webhook: name, queue: 'dead_letter' }, deadLettered);
      this.#toStatus(name, waiting, deadLettered, delivered.get(name) ?? 0, refreshAfterMs);
    }
    for (const name of this.#seen.keys()) {
      if (present.has(name)) continue;
      this.#seen.delete(name);
      this.#heads.delete(name);
      forgetWebhook(metrics, namespace, name);
    }
  }

  #toStatus(
    name: string,
    waiting: number,
    deadLettered: number,
    delivered: number,
    refreshAfterMs: number,
  ): void {
    const now = this.#clock.now();
    const before = this.#seen.get(name);
    const perMinute =
      before && now > before.at
        ? Math.max(0, Math.round(((delivered - before.delivered) * 60_000) / (now - before.at)))
        : 0;
    const changed =
      !before ||
      before.waiting !== waiting ||
      before.deadLettered !== deadLettered ||
      rateMoved(before.writtenRate, perMinute);
    const due = changed || now - before.writtenAt >= refreshAfterMs;
    this.#seen.set(name, {
      waiting,
      deadLettered,
      delivered,
      at: now,
      writtenAt: due ? now : before.writtenAt,
      writtenRate: due ? perMinute : before.writtenRate,
    });
    if (!due) return;
    this.#d.status.backlog(name, {
      waiting,
      deadLettered,
      deliveredPerMinute: perMinute,
      observedAt: kubeTime(new Date(now)),
    });
  }

  /** Events delivered so far per Webhook, as this replica's counter has them. */
  async #deliveredCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const { values } = await this.#d.metrics.deliveries.get();
    for (const { labels, value } of values) {
      if (labels.outcome === 'succeeded' && labels.namespace === this.#d.namespace)
        counts.set(String(labels.webhook), value);
    }
    return counts;
  }

  async #sampleKafka(): Promise<void> {
    const { namespace, source, metrics } = this.#d;
    const lags = (await this.#d.kafkaLag?.()) ?? [];
    const now = new Set<string>();
    for (const { topic, partition, lag } of lags) {
      const labels = { namespace, source, topic, partition: String(partition) };
      now.add(JSON.stringify(labels));
      metrics.kafkaLag.set(labels, lag);
    }
    for (const key of this.#partitions) {
      if (!now.has(key)) metrics.kafkaLag.remove(JSON.parse(key) as Record<string, string>);
    }
    this.#partitions.clear();
    for (const key of now) this.#partitions.add(key);
  }
}
