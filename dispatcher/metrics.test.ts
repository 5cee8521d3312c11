import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dispatcherMetrics, forgetWebhook, ingestRequestCounters } from './metrics.ts';

describe('ingestRequestCounters', () => {
  it('counts requests in plain numbers and shows them when the metrics are read', async () => {
    const metrics = dispatcherMetrics();
    const counters = ingestRequestCounters(metrics, { namespace: 'shop', source: 'api' });
    for (let i = 0; i < 3; i++) counters.request('events', 202);
    counters.request('events', 401);
    counters.request('before', 200);
    const read = async () => {
      const [requests, ingested] = await Promise.all([metrics.ingestRequests.get(), metrics.ingested.get()]);
      return {
        requests: requests.values.map((v) => `${v.labels.route} ${v.labels.code} ${v.value}`).sort(),
        ingested: ingested.values.map((v) => `${v.labels.path} ${v.labels.outcome} ${v.value}`),
      };
    };
    assert.deepEqual(await read(), {
      requests: ['before 200 1', 'events 202 3', 'events 401 1'],
      ingested: ['http accepted 3'],
    });
    counters.request('events', 202);
    assert.deepEqual((await read()).ingested, ['http accepted 4'], 'a second read adds only what is new');
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /hookline_ingest_requests_total\{namespace="shop",source="api",route="events",code="202"\} 4/,
    );
  });
});

describe('delivery durations', () => {
  it('are tallied per Webhook and read as a Prometheus histogram', async () => {
    const metrics = dispatcherMetrics();
    const tally = metrics.tally('shop', 'orders');
    metrics.tally('shop', 'idle');
    for (const seconds of [0.004, 0.02, 0.02, 0.3, 12]) tally.took(seconds);
    const text = await metrics.registry.metrics();
    const series = (suffix: string, le?: string) =>
      new RegExp(
        `^hookline_delivery_duration_seconds_${suffix}\\{${le === undefined ? '' : `le="${le.replace('+', '\\+')}",`}namespace="shop",webhook="orders"\\} ([0-9.e+-]+)$`,
        'm',
      );
    const value = (suffix: string, le?: string) => Number(series(suffix, le).exec(text)?.[1]);
    assert.match(text, /^# TYPE hookline_delivery_duration_seconds histogram$/m);
    assert.equal(value('bucket', '0.005'), 1);
    assert.equal(value('bucket', '0.01'), 1);
    assert.equal(value('bucket', '0.025'), 3, 'buckets are cumulative');
    assert.equal(value('bucket', '0.5'), 4);
    assert.equal(value('bucket', '10'), 4);
    assert.equal(value('bucket', '+Inf'), 5);
    assert.equal(value('count'), 5);
    assert.ok(Math.abs(value('sum') - 12.344) < 1e-9, `sum ${value('sum')}`);
    assert.doesNotMatch(
      text,
      /^hookline_delivery_duration_seconds\w*\{.*webhook="idle"/m,
      'a Webhook without attempts has no duration series yet',
    );

    const json = await metrics.registry.getMetricsAsJSON();
    const histogram = json.find((m) => m.name === 'hookline_delivery_duration_seconds');
    assert.equal(histogram?.values.length, 14, '11 buckets, +Inf, sum and count of one Webhook');

    forgetWebhook(metrics, 'shop', 'orders');
    assert.doesNotMatch(
      await metrics.registry.metrics(),
      /webhook="orders"/,
      'a deleted Webhook leaves no series',
    );
  });
});
