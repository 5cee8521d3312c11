// The dispatcher's Prometheus metrics. Labels are bounded: namespace, webhook, source,
// outcome, route, code, verdict (docs/operations.md lists each metric and its labels).
import { Counter, Gauge, Histogram, processRegistry, type Registry } from '../core/metrics.ts';

export function dispatcherMetrics() {
  const registry = processRegistry();
  const registers = [registry];
  const tallies = new Map<string, DeliveryTally>();
  const ingestRequests = new CounterTally();
  const ingested = new CounterTally();
  return {
    registry,
    tallies,
    /** The tally of a Webhook's deliveries, shared by the workers it has had. */
    tally(namespace: string, webhook: string): DeliveryTally {
      const key = `${namespace}/${webhook}`;
      let tally = tallies.get(key);
      if (!tally) tallies.set(key, (tally = new DeliveryTally({ namespace, webhook })));
      return tally;
    },
    deliveries: new Counter({
      name: 'hookline_deliveries_total',
      help: 'Delivery attempts by outcome (succeeded, retried, failed, dead_lettered, filtered).',
      labelNames: ['namespace', 'webhook', 'outcome'] as const,
      registers,
      collect() {
        for (const tally of tallies.values()) tally.publishOutcomes(this);
      },
    }),
    deliverySeconds: new TalliedDurations(tallies, registers),
    inFlight: new Gauge({
      name: 'hookline_deliveries_in_flight',
      help: 'Deliveries in progress per Webhook.',
      labelNames: ['namespace', 'webhook'] as const,
      registers,
      collect() {
        for (const tally of tallies.values()) this.set(tally.labels, tally.inFlight);
      },
    }),
    workers: new Gauge({
      name: 'hookline_webhook_workers',
      help: 'Webhooks being delivered to by this replica.',
      labelNames: ['namespace'] as const,
      registers,
    }),
    unroutable: new Counter({
      name: 'hookline_unroutable_total',
      help: 'Retries and dead letters the broker could not route; their events stayed where they were.',
      labelNames: ['namespace', 'webhook'] as const,
      registers,
    }),
    statusWrites: new Counter({
      name: 'hookline_status_writes_total',
      help: 'Webhook status writes.',
      labelNames: ['namespace'] as const,
      registers,
    }),
    statusWritesRefused: new Counter({
      name: 'hookline_status_writes_refused_total',
      help: 'Webhook status writes the API server refused as invalid (422), by Webhook; their updates were dropped.',
      labelNames: ['namespace', 'webhook'] as const,
      registers,
    }),
    queueMessages: new Gauge({
      name: 'hookline_webhook_queue_messages',
      help: 'Events on the broker for a Webhook: queue=waiting (its queue, head included) or dead_letter (its dead-letter queue); sampled.',
      labelNames: ['namespace', 'webhook', 'queue'] as const,
      registers,
    }),
    kafkaLag: new Gauge({
      name: 'hookline_kafka_consumer_lag',
      help: "Records of a Kafka partition not yet committed by this source's consumer group (high watermark - committed offset).",
      labelNames: ['namespace', 'source', 'topic', 'partition'] as const,
      registers,
    }),
    circuitOpen: new Gauge({
      name: 'hookline_webhook_circuit_open',
      help: "1 while a Webhook's circuit breaker is open and its deliveries wait, else 0.",
      labelNames: ['namespace', 'webhook'] as const,
      registers,
    }),
    disabled: new Gauge({
      name: 'hookline_webhook_disabled',
      help: '1 while a Webhook is disabled after its retries ran out, else 0.',
      labelNames: ['namespace', 'webhook'] as const,
      registers,
    }),
    statusWriteFailures: new Counter({
      name: 'hookline_status_write_failures_total',
      help: 'Webhook status writes that failed and were kept for the next try (API server unreachable, conflicts).',
      labelNames: ['namespace', 'webhook'] as const,
      registers,
    }),
    /** Counted per HTTP request in plain numbers, added to the two counters when read. */
    ingestTallies: { requests: ingestRequests, ingested },
    ingested: new Counter({
      name: 'hookline_ingest_events_total',
      help: 'Events taken in from Kafka or HTTP by outcome (accepted, dead_lettered).',
      labelNames: ['namespace', 'source', 'path', 'outcome'] as const,
      registers,
      collect() {
        ingested.publish(this);
      },
    }),
    ingestRequests: new Counter({
      name: 'hookline_ingest_requests_total',
      help: 'HTTP ingest requests by route (events, before) and status code.',
      labelNames: ['namespace', 'source', 'route', 'code'] as const,
      registers,
      collect() {
        ingestRequests.publish(this);
      },
    }),
    gateVerdicts: new Counter({
      name: 'hookline_gate_verdicts_total',
      help: 'Before hook calls by Webhook and verdict (allowed, denied).',
      labelNames: ['namespace', 'webhook', 'verdict'] as const,
      registers,
    }),
  };
}

export type DispatcherMetrics = ReturnType<typeof dispatcherMetrics>;

/**
 * Counts kept in plain numbers per label set and added to a Counter when it is read (its
 * collect): prom-client hashes the labels of every inc(), twice per accepted post.
 */
export class CounterTally {
  readonly #counts = new Map<
    string,
    { labels: Record<string, string>; counted: number; published: number }
  >();

  /** The incrementer of one label set, to be kept by its user. */
  counter(labels: Record<string, string>): () => void {
    const key = JSON.stringify(labels);
    let count = this.#counts.get(key);
    if (!count) this.#counts.set(key, (count = { labels, counted: 0, published: 0 }));
    const counted = count;
    return () => void counted.counted++;
  }

  publish(counter: Counter<string>): void {
    for (const count of this.#counts.values()) {
      if (count.counted === count.published) continue;
      counter.inc(count.labels, count.counted - count.published);
      count.published = count.counted;
    }
  }
}

/** The HTTP ingest's request counters: an incrementer per route and code, found once. */
export function ingestRequestCounters(
  metrics: DispatcherMetrics,
  labels: { namespace: string; source: string },
): { request(route: 'events' | 'before', code: number): void } {
  const { requests, ingested } = metrics.ingestTallies;
  const counters = new Map<string, () => void>();
  const accepted = ingested.counter({ ...labels, path: 'http', outcome: 'accepted' });
  return {
    request(route, code) {
      const key = `${route} ${code}`;
      let count = counters.get(key);
      if (!count) {
        const request = requests.counter({ ...labels, route, code: String(code) });
        count = route === 'events' && code === 202 ? () => (request(), accepted()) : request;
        counters.set(key, count);
      }
      count();
    },
  };
}

const DELIVERY_OUTCOMES = ['succeeded', 'retried', 'failed', 'dead_lettered', 'filtered', 'held'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A Webhook's deliveries in plain numbers, counted on the delivery path and published to
 * hookline_deliveries_total, hookline_deliveries_in_flight and
 * hookline_delivery_duration_seconds when the series are read (a scrape, or `get()`): a
 * delivery costs no label lookups.
 */
export class DeliveryTally {
  readonly labels: { namespace: string; webhook: string };
  inFlight = 0;
  readonly #counts = new Map<DeliveryOutcome, { counted: number; published: number }>(
    DELIVERY_OUTCOMES.map((outcome) => [outcome, { counted: 0, published: 0 }]),
  );
  /** Attempts per duration bucket (not cumulative), the last one beyond the largest bound. */
  readonly durations = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  durationsSum = 0;
  durationsCount = 0;

  /** How long the receiver took to answer (or not), in seconds. */
  took(seconds: number): void {
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    this.durations[bucket]!++;
    this.durationsSum += seconds;
    this.durationsCount++;
  }

  constructor(labels: { namespace: string; webhook: string }) {
    this.labels = labels;
  }

  /** The counter of one outcome, to be kept by its user. */
  counter(outcome: DeliveryOutcome): { inc(): void } {
    const count = this.#counts.get(outcome)!;
    return { inc: () => void count.counted++ };
  }

  publishOutcomes(deliveries: Counter<'namespace' | 'webhook' | 'outcome'>): void {
    for (const [outcome, count] of this.#counts) {
      if (count.counted === count.published) continue;
      deliveries.inc({ ...this.labels, outcome }, count.counted - count.published);
      count.published = count.counted;
    }
  }
}

/**
 * hookline_delivery_duration_seconds, read from the Webhooks' tallies: prom-client hashes the
 * labels of every observe (about 2 µs, on every delivery); the tallies count in plain
 * numbers and the series are built when they are read. A Webhook has series once it has an attempt.
 */
class TalliedDurations extends Histogram<'namespace' | 'webhook'> {
  readonly #tallies: Map<string, DeliveryTally>;

  static readonly NAME = 'hookline_delivery_duration_seconds';
  static readonly HELP = 'Time from request to response of delivery attempts.';

  constructor(tallies: Map<string, DeliveryTally>, registers: Registry[]) {
    super({
      name: TalliedDurations.NAME,
      help: TalliedDurations.HELP,
      labelNames: ['namespace', 'webhook'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#tallies = tallies;
  }

  /** The series in prom-client's own form: `get()` and the registry's text both read it. */
  getForPromString() {
    const name = TalliedDurations.NAME;
    const bucket = `${name}_bucket`;
    const values: { labels: object; sharedLabels: object; value: number; metricName: string }[] = [];
    for (const tally of this.#tallies.values()) {
      if (tally.durationsCount === 0) continue;
      const sharedLabels = tally.labels;
      let below = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        below += tally.durations[i]!;
        values.push({ labels: { le }, sharedLabels, value: below, metricName: bucket });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels, value: tally.durationsCount, metricName: bucket },
        { labels: {}, sharedLabels, value: tally.durationsSum, metricName: `${name}_sum` },
        { labels: {}, sharedLabels, value: tally.durationsCount, metricName: `${name}_count` },
      );
    }
    const help = TalliedDurations.HELP;
    return Promise.resolve({ name, help, type: 'histogram', values, aggregator: 'sum' });
  }
}

/** Removes every series of a Webhook that no longer exists, so that label sets stay bounded. */
export function forgetWebhook(metrics: DispatcherMetrics, namespace: string, webhook: string): void {
  const labels = { namespace, webhook };
  metrics.tallies.delete(`${namespace}/${webhook}`);
  for (const outcome of DELIVERY_OUTCOMES) metrics.deliveries.remove({ ...labels, outcome });
  for (const queue of ['waiting', 'dead_letter']) metrics.queueMessages.remove({ ...labels, queue });
  for (const verdict of ['allowed', 'denied']) metrics.gateVerdicts.remove({ ...labels, verdict });
  for (const metric of [
    metrics.inFlight,
    metrics.unroutable,
    metrics.statusWritesRefused,
    metrics.statusWriteFailures,
    metrics.circuitOpen,
    metrics.disabled,
  ])
    metric.remove(labels);
}
