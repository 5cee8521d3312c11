import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Counter, Gauge, processRegistry, serveMetrics, type Registry } from './metrics.ts';

async function scrape(registry: Registry): Promise<{ status: number; type: string | null; body: string }> {
  const server = http.createServer((_req, res) => serveMetrics(registry, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      body: await response.text(),
    };
  } finally {
    server.close();
  }
}

describe('metrics', () => {
  it('serves Hookline metrics beside the process and Node.js defaults, in the text format', async () => {
    const registry = processRegistry();
    const registers = [registry];
    new Counter({ name: 'hookline_things_total', help: 'Things.', labelNames: ['webhook'], registers }).inc(
      { webhook: 'a"b\\c' },
      2,
    );
    const { status, type, body } = await scrape(registry);
    assert.equal(status, 200);
    assert.match(type ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(body, /^# TYPE hookline_things_total counter$/m);
    assert.match(body, /^hookline_things_total\{webhook="a\\"b\\\\c"\} 2$/m);
    assert.match(body, /^process_cpu_user_seconds_total \d/m);
    assert.match(body, /^nodejs_eventloop_lag_seconds \d/m);
  });

  it('answers 500 with the reason when a collector fails, and serves again once it recovers', async () => {
    const registry = processRegistry();
    let broken = true;
    new Gauge({
      name: 'hookline_backlog_probe',
      help: 'Fails while broken.',
      registers: [registry],
      collect() {
        if (broken) throw new Error('broker gone');
        this.set(1);
      },
    });
    const failed = await scrape(registry);
    assert.equal(failed.status, 500);
    assert.match(failed.body, /broker gone/);
    broken = false;
    const served = await scrape(registry);
    assert.equal(served.status, 200);
    assert.match(served.body, /^hookline_backlog_probe 1$/m);
  });

  it('refuses a label the metric did not declare, so label sets stay bounded', () => {
    const counter = new Counter({ name: 'c_total', help: 'h', labelNames: ['webhook'], registers: [] });
    assert.throws(() => counter.inc({ event: 'e-1' } as never), /Added label "event" is not included/);
  });
});
