// The Grafana dashboard the chart ships (charts/hookline/files/dashboard.json): it queries
// only metrics the operator and the dispatcher register, through its own Prometheus data
// source variable, and has the panels an operator of Hookline looks at first.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { metricNamesIn, registered, registeredMetric, repo, type Registered } from './metrics.ts';
import { promtool } from './promtool.ts';

interface Target {
  expr?: string;
  refId: string;
  datasource?: { type: string; uid: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  definition?: string;
  datasource?: { type: string; uid: string };
}

interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  templating: { list: Variable[] };
  panels: Panel[];
}

const dashboard = JSON.parse(
  fs.readFileSync(path.join(repo, 'charts', 'hookline', 'files', 'dashboard.json'), 'utf8'),
) as Dashboard;
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
const graphs = panels.filter((panel) => panel.type !== 'row');
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

function variableQuery(variable: Variable): string {
  return typeof variable.query === 'string' ? variable.query : variable.query.query;
}

/** Every PromQL expression of the dashboard: panel targets and query variables. */
function expressions(): { where: string; expr: string }[] {
  return [
    ...graphs.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        where: `${panel.title} (${target.refId})`,
        expr: target.expr ?? '',
      })),
    ),
    ...dashboard.templating.list
      .filter((variable) => variable.type === 'query')
      .map((variable) => ({ where: `variable ${variable.name}`, expr: variableQuery(variable) })),
  ];
}

describe('the Grafana dashboard', () => {
  let metrics: Registered;
  before(async () => {
    metrics = await registered();
  });

  it('is a dashboard of a recent schema with a fixed uid', () => {
    assert.equal(dashboard.uid, 'hookline');
    assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
    const ids = panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids repeat');
    const titles = graphs.map((panel) => panel.title);
    assert.equal(new Set(titles).size, titles.length, `panel titles repeat: ${titles.join(', ')}`);
  });

  it('picks its Prometheus by a variable, and namespaces and Webhooks from label values', () => {
    const variables = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));
    const datasource = variables.get('datasource');
    assert.equal(datasource?.type, 'datasource');
    assert.equal(datasource.query, 'prometheus');
    for (const name of ['namespace', 'webhook']) {
      const variable = variables.get(name);
      assert.equal(variable?.type, 'query', `no query variable ${name}`);
      assert.deepEqual(variable.datasource, DATASOURCE);
      assert.match(variableQuery(variable), new RegExp(`^label_values\\(.+, ${name}\\)$`));
    }
    for (const panel of graphs) {
      assert.deepEqual(panel.datasource, DATASOURCE, panel.title);
      assert.ok(panel.targets?.length, `${panel.title} has no query`);
      for (const target of panel.targets) assert.deepEqual(target.datasource, DATASOURCE, panel.title);
    }
  });

  it('queries only metrics the operator or the dispatcher registers', () => {
    for (const { where, expr } of expressions()) {
      const names = metricNamesIn(expr);
      assert.ok(names.length > 0, `${where} queries no Hookline metric: ${expr}`);
      for (const name of names)
        assert.ok(registeredMetric(name, metrics), `${where}: ${name} is registered by neither process`);
    }
  });

  it('has panel queries that Prometheus parses, once Grafana has put in its variables', () => {
    const grafana: Record<string, string> = { __rate_interval: '5m', namespace: '.*', webhook: '.*' };
    const rules = graphs.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        record: `dashboard:panel_${panel.id}_${target.refId}`,
        expr: (target.expr ?? '').replace(
          /\$(\w+)/g,
          (variable: string, name: string) => grafana[name] ?? variable,
        ),
      })),
    );
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-dashboard-')), 'panels.yaml');
    fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const { status, output } = promtool('check', 'rules', file);
    assert.equal(status, 0, output);
  });

  it('has panels for deliveries, backlog, Kafka lag, circuits, ingest, status writes and the operator', () => {
    const queried = new Set(
      expressions().flatMap(({ expr }) => metricNamesIn(expr).map((name) => registeredMetric(name, metrics))),
    );
    for (const name of [
      'hookline_deliveries_total',
      'hookline_delivery_duration_seconds',
      'hookline_webhook_queue_messages',
      'hookline_kafka_consumer_lag',
      'hookline_webhook_circuit_open',
      'hookline_webhook_disabled',
      'hookline_ingest_requests_total',
      'hookline_status_write_failures_total',
      'hookline_reconciles_total',
      'hookline_workqueue_depth',
      'hookline_leader',
    ])
      assert.ok(queried.has(name), `no panel shows ${name}`);
  });
});
