// The operator's Prometheus metrics (docs/operations.md lists them): reconciles, their
// duration, the work queues' depth and leadership, plus prom-client's process defaults.
import { Counter, Gauge, Histogram, processRegistry } from '../core/metrics.ts';

export function operatorMetrics() {
  const registry = processRegistry();
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({
      name: 'hookline_reconciles_total',
      help: 'Reconciles by kind and outcome.',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    }),
    reconcileSeconds: new Histogram({
      name: 'hookline_reconcile_duration_seconds',
      help: 'Reconcile duration by kind.',
      labelNames: ['kind'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    leader: new Gauge({ name: 'hookline_leader', help: '1 while this replica leads.', registers }),
    queueDepth: new Gauge({
      name: 'hookline_workqueue_depth',
      help: 'Keys waiting per controller.',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
}

export type OperatorMetrics = ReturnType<typeof operatorMetrics>;
