// What the alerts and the dashboard may query: the metrics the processes really register,
// read from their prom-client registries, and the metric names a PromQL expression uses.
import path from 'node:path';
import { dispatcherMetrics } from '../../dispatcher/metrics.ts';
import { operatorMetrics } from '../../operator/metrics.ts';

export const repo = path.resolve(import.meta.dirname, '..', '..');

/** Metric name → type (counter, gauge, histogram, summary). */
export type Registered = ReadonlyMap<string, string>;

/** Every metric the dispatcher registers, prom-client's process and Node.js defaults included. */
export async function dispatcherRegistered(): Promise<Registered> {
  const metrics = await dispatcherMetrics().registry.getMetricsAsJSON();
  return new Map(metrics.map((metric) => [metric.name, String(metric.type)]));
}

/** Every metric the operator registers, the defaults included. */
export async function operatorRegistered(): Promise<Registered> {
  const metrics = await operatorMetrics().registry.getMetricsAsJSON();
  return new Map(metrics.map((metric) => [metric.name, String(metric.type)]));
}

/** What either process registers (both have the process and Node.js defaults). */
export async function registered(): Promise<Registered> {
  return new Map([...(await dispatcherRegistered()), ...(await operatorRegistered())]);
}

const STRING_LITERAL = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g;
const OUR_METRIC = /(?<![\w:$])(?:hookline|process|nodejs)_[A-Za-z0-9_:]*/g;

/**
 * The Hookline, process and Node.js metric names a PromQL expression selects, without the
 * contents of string literals (label values, regexes). Whole identifiers only, whatever
 * follows them (a selector, a range, an operator, a comma, the end).
 */
export function metricNamesIn(expr: string): string[] {
  return [...new Set(expr.replace(STRING_LITERAL, '""').match(OUR_METRIC) ?? [])];
}

/**
 * The registered metric a series name belongs to: itself, or for `_bucket`, `_sum` and
 * `_count` the histogram or summary they are series of; undefined when none is registered.
 */
export function registeredMetric(name: string, metrics: Registered): string | undefined {
  if (metrics.has(name)) return name;
  const series = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!series) return undefined;
  const base = series[1]!;
  const type = metrics.get(base);
  if (type === 'histogram' || (type === 'summary' && series[2] !== 'bucket')) return base;
  return undefined;
}
