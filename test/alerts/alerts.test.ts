// The alerting rules the chart ships (charts/hookline/files/alerts.yaml): valid for
// promtool, their unit tests pass, every alert has a case where it fires and one where it
// does not, every metric they query is registered, and docs/operations.md lists them all.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { metricNamesIn, registered, registeredMetric, repo, type Registered } from './metrics.ts';
import { promtool } from './promtool.ts';

const RULES = 'charts/hookline/files/alerts.yaml';
const TESTS = 'test/alerts/alerts.test.yaml';
const RUNBOOK = 'docs/operations.md#troubleshooting';

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleTests {
  rule_files: string[];
  tests: {
    name: string;
    alert_rule_test?: { alertname: string; eval_time: string; exp_alerts?: unknown[] }[];
  }[];
}

function readYaml<T>(file: string): T {
  return parse(fs.readFileSync(path.join(repo, file), 'utf8')) as T;
}

const { groups } = readYaml<{ groups: { name: string; rules: AlertRule[] }[] }>(RULES);
const alerts = groups.flatMap((group) => group.rules);

describe('the alerting rules', () => {
  it('is one group named hookline, of alerts with distinct names', () => {
    assert.deepEqual(
      groups.map((group) => group.name),
      ['hookline'],
    );
    const names = alerts.map((rule) => rule.alert);
    assert.ok(
      names.every((name) => /^Hookline[A-Z][A-Za-z]+$/.test(name)),
      `every rule is an alert named Hookline…: ${names.join(', ')}`,
    );
    assert.equal(new Set(names).size, names.length, `duplicate alert names: ${names.join(', ')}`);
  });

  it('passes promtool check rules', () => {
    const { status, output } = promtool('check', 'rules', RULES);
    assert.equal(status, 0, output);
    assert.match(output, new RegExp(`SUCCESS: ${alerts.length} rules found`), output);
  });

  it('passes its unit tests under promtool test rules', () => {
    const { status, output } = promtool('test', 'rules', TESTS);
    assert.equal(status, 0, output);
    assert.match(output, /SUCCESS/, output);
  });

  it('has, for every alert, a case where it fires and one where it does not', () => {
    const file = readYaml<RuleTests>(TESTS);
    assert.deepEqual(
      file.rule_files.map((rules) => path.relative(repo, path.resolve(repo, path.dirname(TESTS), rules))),
      [RULES],
    );
    const cases = file.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const { alert } of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} has no case where it fires in ${TESTS}`,
      );
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} has no case where it does not fire in ${TESTS}`,
      );
    }
    const known = new Set(alerts.map((rule) => rule.alert));
    for (const c of cases) assert.ok(known.has(c.alertname), `${TESTS} tests ${c.alertname}, which is gone`);
  });

  it('gives every alert a severity, a summary, a description and a runbook', () => {
    for (const rule of alerts) {
      assert.ok(
        ['info', 'warning', 'critical'].includes(rule.labels?.severity ?? ''),
        `${rule.alert}: severity ${rule.labels?.severity}`,
      );
      for (const key of ['summary', 'description'])
        assert.ok(rule.annotations?.[key]?.trim(), `${rule.alert} has no ${key}`);
      assert.equal(rule.annotations?.runbook_url, RUNBOOK, rule.alert);
    }
    assert.match(fs.readFileSync(path.join(repo, 'docs', 'operations.md'), 'utf8'), /^## Troubleshooting$/m);
  });

  describe('query only metrics that exist', () => {
    let metrics: Registered;
    before(async () => {
      metrics = await registered();
    });
    for (const rule of alerts) {
      it(rule.alert, () => {
        const names = metricNamesIn(rule.expr);
        // Beside Hookline's own, only RabbitMQ's per-object metrics.
        assert.ok(names.length > 0 || /\brabbitmq_queue_/.test(rule.expr), `no known metric in ${rule.expr}`);
        for (const name of names)
          assert.ok(registeredMetric(name, metrics), `${name} is registered by neither process`);
      });
    }
  });

  it('are all listed, with their severity, in docs/operations.md, "Alerts worth setting"', () => {
    const docs = fs.readFileSync(path.join(repo, 'docs', 'operations.md'), 'utf8');
    const section = /^### Alerts worth setting\n([\s\S]*?)^#{1,3} /m.exec(docs)?.[1];
    assert.ok(section, 'docs/operations.md has no section "Alerts worth setting"');
    assert.ok(section.includes(`../${RULES}`), `the section does not point to ${RULES}`);
    const listed = new Map(
      [...section.matchAll(/^\| `(Hookline\w+)` +\| (\w+) +\|/gm)].map((row) => [row[1]!, row[2]!]),
    );
    assert.deepEqual(
      [...listed.keys()].sort(),
      alerts.map((rule) => rule.alert).sort(),
      'the table of alerts in docs/operations.md differs from the rules',
    );
    for (const rule of alerts) assert.equal(listed.get(rule.alert), rule.labels?.severity, rule.alert);
  });
});
