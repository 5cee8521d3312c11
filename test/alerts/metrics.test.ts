// The helpers that check alerts and dashboard against the real metrics: the tokeniser, the
// histogram series, and the registries of both processes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dispatcherRegistered,
  metricNamesIn,
  operatorRegistered,
  registeredMetric,
  type Registered,
} from './metrics.ts';

describe('the metrics the alerts and the dashboard are checked against', () => {
  it('include what the dispatcher registers for the backlog, Kafka lag, circuits and status writes', async () => {
    const dispatcher = await dispatcherRegistered();
    const expected: [string, string][] = [
      ['hookline_webhook_queue_messages', 'gauge'],
      ['hookline_kafka_consumer_lag', 'gauge'],
      ['hookline_webhook_circuit_open', 'gauge'],
      ['hookline_webhook_disabled', 'gauge'],
      ['hookline_status_write_failures_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
    ];
    for (const [name, type] of expected) assert.equal(dispatcher.get(name), type, name);
  });

  it("include the operator's own metrics and the process defaults", async () => {
    const operator = await operatorRegistered();
    const expected: [string, string][] = [
      ['hookline_reconciles_total', 'counter'],
      ['hookline_reconcile_duration_seconds', 'histogram'],
      ['hookline_leader', 'gauge'],
      ['hookline_workqueue_depth', 'gauge'],
      ['process_resident_memory_bytes', 'gauge'],
    ];
    for (const [name, type] of expected) assert.equal(operator.get(name), type, name);
  });
});

describe('metricNamesIn', () => {
  const cases: { expr: string; names: string[] }[] = [
    { expr: 'hookline_leader', names: ['hookline_leader'] },
    { expr: 'sum(hookline_leader)<1', names: ['hookline_leader'] },
    {
      expr: 'rate(hookline_deliveries_total{outcome!="filtered"}[5m]) / on() group_left hookline_x_total',
      names: ['hookline_deliveries_total', 'hookline_x_total'],
    },
    {
      expr: 'histogram_quantile(0.99, sum by (le) (rate(hookline_delivery_duration_seconds_bucket[$__rate_interval])))',
      names: ['hookline_delivery_duration_seconds_bucket'],
    },
    {
      expr: 'label_values(hookline_webhook_queue_messages, namespace)',
      names: ['hookline_webhook_queue_messages'],
    },
    {
      expr: 'process_resident_memory_bytes and on (pod) nodejs_heap_size_used_bytes',
      names: ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes'],
    },
    { expr: 'rabbitmq_queue_messages_ready{queue=~"hookline_orders|hookline\\\\..+"}', names: [] },
    { expr: 'my_hookline_total + $hookline_var', names: [] },
  ];
  for (const { expr, names } of cases) {
    it(expr, () => assert.deepEqual(metricNamesIn(expr), names));
  }
});

describe('registeredMetric', () => {
  const metrics: Registered = new Map([
    ['h_seconds', 'histogram'],
    ['s_seconds', 'summary'],
    ['c_total', 'counter'],
  ]);
  const cases: [string, string | undefined][] = [
    ['h_seconds_bucket', 'h_seconds'],
    ['h_seconds_count', 'h_seconds'],
    ['s_seconds_sum', 's_seconds'],
    ['s_seconds_bucket', undefined],
    ['c_total', 'c_total'],
    ['c_total_count', undefined],
    ['missing_total', undefined],
  ];
  for (const [name, expected] of cases) {
    it(`${name} → ${expected}`, () => assert.equal(registeredMetric(name, metrics), expected));
  }
});
