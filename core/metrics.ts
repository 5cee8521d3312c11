// Prometheus metrics on prom-client. Each process keeps one registry, with prom-client's
// process and Node.js metrics beside Hookline's own, and answers /metrics from it. Names
// follow hookline_<thing>_<unit>; every metric declares its label names, and the values of
// those labels are bounded (namespaces, Webhooks, sources, partitions, outcomes: see
// docs/operations.md, "Metrics").
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/** A registry holding the process and Node.js default metrics (CPU, memory, event loop lag, GC). */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Answers a /metrics request from `registry`; a collector that throws answers 500 with its message. */
export function serveMetrics(registry: Registry, res: ServerResponse): void {
  registry.metrics().then(
    (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
    (error: unknown) =>
      res.writeHead(500).end(`metrics: ${error instanceof Error ? error.message : String(error)}\n`),
  );
}
