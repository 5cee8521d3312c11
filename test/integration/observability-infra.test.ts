// The observability test infrastructure itself: a real OpenTelemetry Collector receives a
// span over OTLP/HTTP and gives it back from its file exporter; a real Prometheus scrapes a
// gauge and sees it change; promtool checks and unit-tests a rule file.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCollector, type Collector } from '../fixtures/otelcol.ts';
import {
  promtoolCheckRules,
  promtoolTestRules,
  startPrometheus,
  type Prometheus,
} from '../fixtures/prometheus.ts';

describe('OpenTelemetry Collector fixture', () => {
  let collector: Collector;

  before(async () => {
    collector = await startCollector();
  });
  after(async () => {
    await collector?.stop();
  });

  it('gives back a span sent with OTLP/HTTP JSON', async () => {
    const traceId = crypto.randomBytes(16).toString('hex');
    const spanId = crypto.randomBytes(8).toString('hex');
    const parentSpanId = crypto.randomBytes(8).toString('hex');
    const response = await fetch(`${collector.otlpHttpEndpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'infra-test' } }] },
            scopeSpans: [
              {
                scope: { name: 'hookline.test' },
                spans: [
                  {
                    traceId,
                    spanId,
                    parentSpanId,
                    name: 'deliver',
                    kind: 3,
                    startTimeUnixNano: '1700000000000000000',
                    endTimeUnixNano: '1700000000250000000',
                    attributes: [
                      { key: 'hookline.webhook', value: { stringValue: 'orders' } },
                      { key: 'hookline.attempt', value: { intValue: '2' } },
                      { key: 'hookline.retry', value: { boolValue: true } },
                    ],
                    status: { code: 2, message: 'receiver answered 503' },
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    assert.equal(response.status, 200, await response.text());

    const spans = await collector.waitForSpans((all) => all.some((span) => span.traceId === traceId));
    assert.deepEqual(
      spans.filter((span) => span.traceId === traceId),
      [
        {
          traceId,
          spanId,
          parentSpanId,
          name: 'deliver',
          kind: 'CLIENT',
          status: { code: 'ERROR', message: 'receiver answered 503' },
          attributes: { 'hookline.webhook': 'orders', 'hookline.attempt': 2, 'hookline.retry': true },
          resource: { 'service.name': 'infra-test' },
          scope: 'hookline.test',
          startTimeUnixNano: '1700000000000000000',
          endTimeUnixNano: '1700000000250000000',
        },
      ],
    );
    assert.match(collector.otlpGrpcEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe('Prometheus fixture', () => {
  let server: http.Server;
  let prometheus: Prometheus;
  let gauge = 3;

  before(async () => {
    server = http.createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      response.end(
        '# HELP hookline_test_backlog_messages A gauge the test moves.\n' +
          '# TYPE hookline_test_backlog_messages gauge\n' +
          `hookline_test_backlog_messages{webhook="orders"} ${gauge}\n`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    prometheus = await startPrometheus({ scrapeTargets: [{ job: 'gauge', target: `127.0.0.1:${port}` }] });
  });
  after(async () => {
    await prometheus?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('sees a scraped gauge change', async () => {
    const first = await prometheus.waitFor(
      'hookline_test_backlog_messages{job="gauge"}',
      (samples) => samples[0]?.value === 3,
    );
    assert.equal(first.length, 1);
    assert.equal(first[0]?.metric.webhook, 'orders');
    assert.equal(first[0]?.metric.job, 'gauge');

    gauge = 17;
    const changed = await prometheus.waitFor(
      'hookline_test_backlog_messages{job="gauge"}',
      (samples) => samples[0]?.value === 17,
    );
    assert.deepEqual(
      changed.map((sample) => sample.value),
      [17],
    );
    assert.deepEqual(await prometheus.query('up{job="gauge"}'), [
      { metric: { __name__: 'up', instance: first[0]?.metric.instance ?? '', job: 'gauge' }, value: 1 },
    ]);
  });
});

describe('promtool fixture', () => {
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-promtool-'));
    fs.writeFileSync(
      path.join(dir, 'rules.yml'),
      [
        'groups:',
        '  - name: backlog',
        '    rules:',
        '      - alert: BacklogHigh',
        '        expr: hookline_test_backlog_messages > 10',
        '        for: 1m',
        '        labels: {severity: warning}',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(dir, 'rules.test.yml'),
      [
        'rule_files: [rules.yml]',
        'evaluation_interval: 1m',
        'tests:',
        '  - interval: 1m',
        '    input_series:',
        '      - series: \'hookline_test_backlog_messages{webhook="orders"}\'',
        "        values: '20x5'",
        '    alert_rule_test:',
        '      - eval_time: 3m',
        '        alertname: BacklogHigh',
        '        exp_alerts:',
        '          - exp_labels: {severity: warning, webhook: orders}',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(dir, 'broken.yml'),
      'groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: (\n',
    );
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('checks rule files', async () => {
    const good = await promtoolCheckRules(path.join(dir, 'rules.yml'));
    assert.equal(good.code, 0, good.output);
    const broken = await promtoolCheckRules(path.join(dir, 'broken.yml'));
    assert.notEqual(broken.code, 0, broken.output);
  });

  it('unit-tests rules', async () => {
    const result = await promtoolTestRules(path.join(dir, 'rules.test.yml'));
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /SUCCESS/);
  });
});
