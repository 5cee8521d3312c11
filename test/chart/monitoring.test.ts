// The chart's alerting rules and Grafana dashboard: a PrometheusRule holding
// files/alerts.yaml and a ConfigMap holding files/dashboard.json, each rendered only when
// asked for, as they are, with the labels their selectors need.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { freshNamespace, helm, kubectl } from '../env/handles.ts';
import type { K8sObject as RenderedObject } from '../fixtures/chart.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const chart = path.join(repo, 'charts', 'hookline');
const alertsFile = fs.readFileSync(path.join(chart, 'files', 'alerts.yaml'), 'utf8');
const dashboardFile = fs.readFileSync(path.join(chart, 'files', 'dashboard.json'), 'utf8');

type K8sObject = RenderedObject & { spec?: unknown; data?: Record<string, string> };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-monitoring-'));
let valuesFiles = 0;

async function render(
  values: Record<string, unknown> = {},
  namespace = 'hookline-system',
): Promise<K8sObject[]> {
  const file = path.join(tmp, `values-${++valuesFiles}.yaml`);
  fs.writeFileSync(file, stringify(values));
  const { stdout } = await helm(['template', 'rel', chart, '--namespace', namespace, '-f', file]);
  return parseAllDocuments(stdout)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

function only(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}, found ${found.length}`);
  return found[0]!;
}

/** The labels every object of the release carries (those of the operator Deployment). */
function releaseLabels(objects: K8sObject[]): Record<string, string> {
  return only(objects, 'Deployment').metadata.labels ?? {};
}

describe('the Helm chart, monitoring', () => {
  it('renders neither the PrometheusRule nor the dashboard by default', async () => {
    const objects = await render();
    const kinds = objects.map((o) => o.kind);
    assert.ok(!kinds.includes('PrometheusRule'), kinds.join(', '));
    assert.ok(!kinds.includes('ConfigMap'), kinds.join(', '));
  });

  it('passes helm lint --strict with both enabled', async () => {
    const file = path.join(tmp, 'lint.yaml');
    fs.writeFileSync(
      file,
      stringify({
        prometheusRule: { enabled: true, labels: { release: 'prometheus' } },
        grafanaDashboard: { enabled: true, namespace: 'monitoring' },
      }),
    );
    const { stdout } = await helm(['lint', chart, '--strict', '-f', file]);
    assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('renders files/alerts.yaml as a PrometheusRule when enabled', async () => {
    const objects = await render({ prometheusRule: { enabled: true, labels: { release: 'prometheus' } } });
    const rule = only(objects, 'PrometheusRule');
    assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(rule.metadata.name, 'rel-hookline');
    assert.equal(rule.metadata.namespace, 'hookline-system');
    assert.deepEqual(rule.metadata.labels, { ...releaseLabels(objects), release: 'prometheus' });
    // The groups as they are in the file: Helm did not read the alerts' {{ $labels }} templates.
    assert.deepEqual(rule.spec, parse(alertsFile));
    assert.ok(!objects.some((o) => o.kind === 'ConfigMap'), 'the dashboard is a value of its own');
  });

  it('renders files/dashboard.json in a ConfigMap for the Grafana sidecar when enabled', async () => {
    const objects = await render({ grafanaDashboard: { enabled: true } });
    const configMap = only(objects, 'ConfigMap');
    assert.equal(configMap.apiVersion, 'v1');
    assert.equal(configMap.metadata.name, 'rel-hookline-dashboard');
    assert.equal(configMap.metadata.namespace, 'hookline-system');
    assert.deepEqual(configMap.metadata.labels, { ...releaseLabels(objects), grafana_dashboard: '1' });
    assert.equal(configMap.metadata.annotations, undefined);
    assert.deepEqual(Object.keys(configMap.data ?? {}), ['hookline.json']);
    assert.equal(configMap.data?.['hookline.json'], dashboardFile.trimEnd());
    assert.deepEqual(JSON.parse(configMap.data?.['hookline.json'] ?? ''), JSON.parse(dashboardFile));
    assert.ok(!objects.some((o) => o.kind === 'PrometheusRule'), 'the rules are a value of their own');
  });

  it("follows the dashboard's label, namespace and annotations", async () => {
    const objects = await render({
      grafanaDashboard: {
        enabled: true,
        labelKey: 'grafana.example.com/dashboard',
        labelValue: 1,
        namespace: 'monitoring',
        annotations: { grafana_folder: 'Hookline' },
      },
    });
    const configMap = only(objects, 'ConfigMap');
    assert.equal(configMap.metadata.namespace, 'monitoring');
    assert.equal(configMap.metadata.labels?.['grafana.example.com/dashboard'], '1');
    assert.equal(configMap.metadata.labels?.grafana_dashboard, undefined);
    assert.deepEqual(configMap.metadata.annotations, { grafana_folder: 'Hookline' });
  });

  it('has the dashboard ConfigMap accepted by the real kube-apiserver', async () => {
    const namespace = await freshNamespace('chart-dashboard');
    const configMap = only(
      await render({ grafanaDashboard: { enabled: true, labelValue: 'hookline-1' } }, namespace),
      'ConfigMap',
    );
    const { stdout } = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '-f', '-'],
      stringify(configMap),
    );
    assert.match(stdout, /configmap\/rel-hookline-dashboard serverside-applied \(server dry run\)/);
  });

  const refused: { values: Record<string, unknown>; where: RegExp }[] = [
    { values: { prometheusRule: { enabled: 'true' } }, where: /\/prometheusRule\/enabled/ },
    { values: { prometheusRule: { enabled: true, rules: [] } }, where: /additional properties 'rules'/ },
    { values: { prometheusRule: { labels: { release: 1 } } }, where: /\/prometheusRule\/labels\/release/ },
    { values: { grafanaDashboard: { enabled: 1 } }, where: /\/grafanaDashboard\/enabled/ },
    {
      values: { grafanaDashboard: { labelKey: 'grafana dashboard' } },
      where: /\/grafanaDashboard\/labelKey/,
    },
    { values: { grafanaDashboard: { labelValue: 'a/b' } }, where: /\/grafanaDashboard\/labelValue/ },
    { values: { grafanaDashboard: { namespace: 'Monitoring' } }, where: /\/grafanaDashboard\/namespace/ },
    { values: { grafanaDashboard: { folder: 'x' } }, where: /additional properties 'folder'/ },
  ];
  for (const { values, where } of refused) {
    it(`refuses ${JSON.stringify(values)} by its values schema`, async () => {
      await assert.rejects(render(values), (error: Error) => {
        assert.match(error.message, /values don't meet the specifications of the schema/);
        assert.match(error.message, where);
        return true;
      });
    });
  }
});
