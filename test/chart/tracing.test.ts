// The chart's tracing values: rendered as the standard OTEL_* variables of the operator,
// which hands them to every dispatcher Deployment it writes, where they turn the
// dispatcher's tracing on. Off, and no OTEL_* variable at all, by default.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import { tracingConfig } from '../../dispatcher/tracing/config.ts';
import { dispatcherObjects } from '../../operator/controllers/dispatcher-objects.ts';
import { loadSettings } from '../../operator/settings.ts';
import { helm } from '../env/handles.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const chart = path.join(repo, 'charts', 'hookline');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-chart-tracing-'));
let files = 0;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

interface Rendered {
  kind: string;
  spec?: { template: { spec: { containers: { name: string; env: EnvVar[] }[] } } };
}

async function operatorEnv(values: Record<string, unknown>): Promise<EnvVar[]> {
  const file = path.join(tmp, `values-${++files}.yaml`);
  fs.writeFileSync(file, stringify(values));
  const { stdout } = await helm(['template', 'rel', chart, '--namespace', 'hookline-system', '-f', file]);
  const deployment = parseAllDocuments(stdout)
    .map((document) => document.toJS() as Rendered | null)
    .find((object) => object?.kind === 'Deployment');
  assert.ok(deployment?.spec, 'the chart renders the operator Deployment');
  return deployment.spec.template.spec.containers.find((c) => c.name === 'operator')!.env;
}

/** The operator's environment as the kubelet would give it (fieldRefs of a pod in hookline-system). */
function resolved(env: EnvVar[]): NodeJS.ProcessEnv {
  return Object.fromEntries(
    env.map(({ name, value, valueFrom }) => [
      name,
      value ?? (valueFrom?.fieldRef?.fieldPath === 'metadata.namespace' ? 'hookline-system' : 'pod-1'),
    ]),
  );
}

/** The environment of a dispatcher the operator with `operator` writes. */
function dispatcherEnv(operator: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const settings = loadSettings([], operator, 'unused');
  const source = EventSource.parse({
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'EventSource',
    metadata: { name: 'orders', namespace: 'shop', uid: 'uid-1' },
    spec: { http: { authSecretRef: { name: 'ingest', key: 'tokens' } } },
  });
  const deployment = dispatcherObjects({
    source,
    image: settings.dispatcherImage,
    brokerSecret: { name: 'broker', key: 'uri' },
    configHash: 'hash',
    secretNames: [],
    delivery: { allowedCidrs: settings.allowedCidrs, allowHttpUrls: settings.allowHttpUrls },
    env: settings.dispatcherEnv,
  }).find((o) => o.kind === 'Deployment') as unknown as Rendered;
  return resolved(deployment.spec!.template.spec.containers[0]!.env);
}

describe('the Helm chart, tracing', () => {
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('sets no OTEL_* variable by default, and the dispatchers trace nothing', async () => {
    const env = resolved(await operatorEnv({}));
    assert.deepEqual(
      Object.keys(env).filter((name) => name.startsWith('OTEL_')),
      [],
    );
    assert.equal(tracingConfig(dispatcherEnv(env)).enabled, false);
  });

  it('hands the tracing values through the operator to every dispatcher, whose tracing they turn on', async () => {
    const operator = resolved(
      await operatorEnv({
        tracing: {
          otlpEndpoint: 'http://otel-collector.observability:4318',
          serviceName: 'hookline',
          sampler: 'parentbased_traceidratio',
          samplerArg: '0.25',
          extraEnv: {
            OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod',
            OTEL_BSP_SCHEDULE_DELAY: '1000',
          },
        },
      }),
    );
    assert.equal(operator.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector.observability:4318');
    assert.equal(operator.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf');
    const env = dispatcherEnv(operator);
    for (const name of Object.keys(operator).filter((n) => n.startsWith('OTEL_')))
      assert.equal(env[name], operator[name], `${name} reaches the dispatcher`);
    const config = tracingConfig(env, { 'k8s.namespace.name': 'shop' });
    assert.ok(config.enabled);
    assert.equal(config.url, 'http://otel-collector.observability:4318/v1/traces');
    assert.equal(config.resource['service.name'], 'hookline');
    assert.equal(config.resource['deployment.environment.name'], 'prod');
    assert.match(config.sampler.toString(), /^ParentBased\{root=TraceIdRatioBased\{0\.25\}/);
    assert.deepEqual(config.batch, { scheduledDelayMillis: 1000 });
    assert.deepEqual(config.warnings, []);
  });

  it('sets extraEnv without an endpoint, e.g. a traces-only endpoint', async () => {
    const env = dispatcherEnv(
      resolved(
        await operatorEnv({
          tracing: {
            extraEnv: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example:4318/v1/traces' },
          },
        }),
      ),
    );
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, undefined);
    const config = tracingConfig(env);
    assert.equal(config.enabled && config.url, 'https://traces.example:4318/v1/traces');
  });

  const refused: { tracing: Record<string, unknown>; where: RegExp }[] = [
    { tracing: { protocol: 'grpc' }, where: /\/tracing\/protocol/ },
    { tracing: { otlpEndpoint: 'otel-collector:4318' }, where: /\/tracing\/otlpEndpoint/ },
    { tracing: { sampler: 'jaeger_remote' }, where: /\/tracing\/sampler/ },
    { tracing: { samplerArg: '2' }, where: /\/tracing\/samplerArg/ },
    { tracing: { extraEnv: { HOOKLINE_LOG_LEVEL: 'debug' } }, where: /does not match pattern '\^OTEL_/ },
    { tracing: { endpoint: 'http://c:4318' }, where: /additional properties 'endpoint' not allowed/ },
  ];
  for (const { tracing, where } of refused) {
    it(`refuses ${JSON.stringify({ tracing })} by its values schema`, async () => {
      await assert.rejects(operatorEnv({ tracing }), (error: Error) => {
        assert.match(error.message, /values don't meet the specifications of the schema/);
        assert.match(error.message, where);
        return true;
      });
    });
  }
});
