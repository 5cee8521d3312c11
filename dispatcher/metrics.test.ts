import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dispatcherMetrics, ingestRequestCounters } from './metrics.ts';

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
