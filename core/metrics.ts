// A small Prometheus registry: counters, gauges and histograms with bounded labels, and
// the text exposition format. Names follow hookline_<thing>_<unit>.
type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

/** Named series of plain numbers, one per label set: what counters and gauges share. */
abstract class Series implements Metric {
  abstract readonly type: 'counter' | 'gauge';
  protected readonly values = new Map<string, number>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    return [...this.values].map(([key, value]) => `${this.name}${key ? `{${key}}` : ''} ${value}`);
  }
}

export class Counter extends Series {
  readonly type = 'counter';
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  /** A handle on one series, for hot paths: the label key is computed once. */
  bind(labels: Labels): { inc(by?: number): void } {
    const key = labelKey(labels);
    return { inc: (by = 1) => void this.values.set(key, (this.values.get(key) ?? 0) + by) };
  }
}

export class Gauge extends Series {
  readonly type = 'gauge';
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  delete(labels: Labels): void {
    this.values.delete(labelKey(labels));
  }
  bind(labels: Labels): { set(value: number): void } {
    const key = labelKey(labels);
    return { set: (value) => void this.values.set(key, value) };
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  readonly #series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  readonly name: string;
  readonly help: string;
  readonly bounds: readonly number[];
  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
  }
  observe(labels: Labels, value: number): void {
    this.#observeKey(labelKey(labels), value);
  }
  bind(labels: Labels): { observe(value: number): void } {
    const key = labelKey(labels);
    return { observe: (value) => this.#observeKey(key, value) };
  }
  #observeKey(key: string, value: number): void {
    let series = this.#series.get(key);
    if (!series) {
      series = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) series.buckets[i]!++;
    series.sum += value;
    series.count++;
  }
  render(): string[] {
    const lines: string[] = [];
    for (const [key, series] of this.#series) {
      const prefix = key ? `${key},` : '';
      this.bounds.forEach((bound, i) =>
        lines.push(`${this.name}_bucket{${prefix}le="${bound}"} ${series.buckets[i]}`),
      );
      lines.push(`${this.name}_bucket{${prefix}le="+Inf"} ${series.count}`);
      lines.push(`${this.name}_sum${key ? `{${key}}` : ''} ${series.sum}`);
      lines.push(`${this.name}_count${key ? `{${key}}` : ''} ${series.count}`);
    }
    return lines;
  }
}

export class Registry {
  readonly #metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, bounds));
  }
  #add<M extends Metric>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }
  render(): string {
    return (
      this.#metrics
        .flatMap((m) => [`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render()])
        .join('\n') + '\n'
    );
  }
}
