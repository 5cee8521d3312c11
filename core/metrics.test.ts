import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from './metrics.ts';

describe('Registry', () => {
  it('renders counters, gauges and histograms in the text format', () => {
    const registry = new Registry();
    const counter = registry.counter('hookline_reconciles_total', 'Reconciles.');
    const gauge = registry.gauge('hookline_queue_depth', 'Depth.');
    const histogram = registry.histogram('hookline_reconcile_duration_seconds', 'Duration.', [0.1, 1]);
    counter.inc({ kind: 'Webhook', outcome: 'success' });
    counter.inc({ kind: 'Webhook', outcome: 'success' }, 2);
    gauge.set({ kind: 'Webhook' }, 4);
    histogram.observe({ kind: 'Webhook' }, 0.5);
    assert.equal(
      registry.render(),
      [
        '# HELP hookline_reconciles_total Reconciles.',
        '# TYPE hookline_reconciles_total counter',
        'hookline_reconciles_total{kind="Webhook",outcome="success"} 3',
        '# HELP hookline_queue_depth Depth.',
        '# TYPE hookline_queue_depth gauge',
        'hookline_queue_depth{kind="Webhook"} 4',
        '# HELP hookline_reconcile_duration_seconds Duration.',
        '# TYPE hookline_reconcile_duration_seconds histogram',
        'hookline_reconcile_duration_seconds_bucket{kind="Webhook",le="0.1"} 0',
        'hookline_reconcile_duration_seconds_bucket{kind="Webhook",le="1"} 1',
        'hookline_reconcile_duration_seconds_bucket{kind="Webhook",le="+Inf"} 1',
        'hookline_reconcile_duration_seconds_sum{kind="Webhook"} 0.5',
        'hookline_reconcile_duration_seconds_count{kind="Webhook"} 1',
        '',
      ].join('\n'),
    );
  });

  it('escapes label values', () => {
    const registry = new Registry();
    registry.counter('c', 'h').inc({ webhook: 'a"b\\c' });
    assert.match(registry.render(), /c\{webhook="a\\"b\\\\c"\} 1/);
  });
});
