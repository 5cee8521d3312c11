// The dispatcher's Prometheus metrics. Labels are bounded: namespace, webhook, outcome.
import { Registry } from '../core/metrics.ts';

export function dispatcherMetrics() {
  const registry = new Registry();
  return {
    registry,
    deliveries: registry.counter(
      'hookline_deliveries_total',
      'Delivery attempts by outcome (succeeded, retried, failed, dead_lettered, filtered).',
    ),
    deliverySeconds: registry.histogram(
      'hookline_delivery_duration_seconds',
      'Time from request to response of delivery attempts.',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    inFlight: registry.gauge('hookline_deliveries_in_flight', 'Deliveries in progress per Webhook.'),
    workers: registry.gauge('hookline_webhook_workers', 'Webhooks being delivered to by this replica.'),
    unroutable: registry.counter(
      'hookline_unroutable_total',
      'Retries and dead letters the broker could not route; their events stayed where they were.',
    ),
    statusWrites: registry.counter('hookline_status_writes_total', 'Webhook status writes.'),
    statusWritesRefused: registry.counter(
      'hookline_status_writes_refused_total',
      'Webhook status writes the API server refused as invalid (422), by Webhook; their updates were dropped.',
    ),
    ingested: registry.counter(
      'hookline_ingest_events_total',
      'Events taken in from Kafka or HTTP by outcome (accepted, dead_lettered).',
    ),
    ingestRequests: registry.counter(
      'hookline_ingest_requests_total',
      'HTTP ingest requests by route (events, before) and status code.',
    ),
    gateVerdicts: registry.counter(
      'hookline_gate_verdicts_total',
      'Before hook calls by Webhook and verdict (allowed, denied).',
    ),
  };
}

export type DispatcherMetrics = ReturnType<typeof dispatcherMetrics>;
