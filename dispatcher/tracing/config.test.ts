import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tracingConfig, tracesUrl } from './config.ts';

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };

describe('tracingConfig', () => {
  const off: { name: string; env: NodeJS.ProcessEnv; why: RegExp }[] = [
    { name: 'no endpoint', env: {}, why: /neither OTEL_EXPORTER_OTLP_ENDPOINT/ },
    { name: 'an empty endpoint', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, why: /neither/ },
    { name: 'the SDK disabled', env: { ...ENDPOINT, OTEL_SDK_DISABLED: 'TRUE' }, why: /OTEL_SDK_DISABLED/ },
    { name: 'no exporter', env: { ...ENDPOINT, OTEL_TRACES_EXPORTER: 'none' }, why: /does not name otlp/ },
  ];
  for (const { name, env, why } of off) {
    it(`is off with ${name}`, () => {
      const config = tracingConfig(env);
      assert.equal(config.enabled, false);
      assert.match(config.enabled ? '' : config.why, why);
    });
  }

  it('is on with an endpoint, for every signal or for traces alone', () => {
    assert.equal(tracingConfig(ENDPOINT).enabled, true);
    assert.equal(
      tracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }).enabled,
      true,
    );
    assert.equal(tracingConfig({ ...ENDPOINT, OTEL_SDK_DISABLED: 'false' }).enabled, true);
    assert.equal(tracingConfig({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'otlp' }).enabled, true);
  });

  it('warns about an exporter it does not have', () => {
    const config = tracingConfig({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'zipkin' });
    assert.equal(config.enabled, false);
    assert.match(config.warnings.join(), /only otlp is supported/);
  });

  it('refuses another protocol than http/protobuf, naming the port to use', () => {
    assert.throws(
      () => tracingConfig({ ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
      /OTEL_EXPORTER_OTLP_PROTOCOL "grpc" is not supported.*4318/,
    );
    assert.throws(
      () => tracingConfig({ ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }),
      /not supported/,
    );
    assert.equal(tracingConfig({ ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }).enabled, true);
  });

  it('refuses an endpoint that is not a URL, without repeating it', () => {
    assert.throws(
      () => tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318/secret' }),
      (error: Error) =>
        /is not an http:\/\/ or https:\/\/ URL/.test(error.message) && !error.message.includes('secret'),
    );
    assert.throws(() => tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '//' }), /is not an http/);
  });

  const urls: { env: NodeJS.ProcessEnv; want: string | undefined }[] = [
    { env: {}, want: undefined },
    { env: ENDPOINT, want: 'http://collector:4318/v1/traces' },
    { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c/otlp/' }, want: 'https://c/otlp/v1/traces' },
    {
      env: { ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom' },
      want: 'http://traces:9999/custom',
    },
  ];
  for (const { env, want } of urls) {
    it(`posts spans to ${want} for ${JSON.stringify(env)}`, () => assert.equal(tracesUrl(env), want));
  }

  const names: { env: NodeJS.ProcessEnv; want: string }[] = [
    { env: ENDPOINT, want: 'hookline-dispatcher' },
    {
      env: { ...ENDPOINT, OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attributes' },
      want: 'from-attributes',
    },
    {
      env: { ...ENDPOINT, OTEL_SERVICE_NAME: 'payments', OTEL_RESOURCE_ATTRIBUTES: 'service.name=other' },
      want: 'payments',
    },
  ];
  for (const { env, want } of names) {
    it(`names the service ${want}`, () => {
      const config = tracingConfig(env);
      assert.equal(config.enabled && config.resource['service.name'], want);
    });
  }

  it("puts OTEL_RESOURCE_ATTRIBUTES over the dispatcher's own attributes", () => {
    const config = tracingConfig(
      { ...ENDPOINT, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,hookline.source=x%20y' },
      { 'k8s.namespace.name': 'shop', 'hookline.source': 'orders' },
    );
    assert.ok(config.enabled);
    assert.deepEqual(config.resource, {
      'k8s.namespace.name': 'shop',
      'hookline.source': 'x y',
      'deployment.environment.name': 'prod',
      'service.name': 'hookline-dispatcher',
    });
  });

  const samplers: { env: NodeJS.ProcessEnv; want: RegExp; warns?: RegExp }[] = [
    { env: {}, want: /^ParentBased\{root=AlwaysOnSampler/ },
    { env: { OTEL_TRACES_SAMPLER: 'always_off' }, want: /^AlwaysOffSampler$/ },
    { env: { OTEL_TRACES_SAMPLER: 'always_on' }, want: /^AlwaysOnSampler$/ },
    {
      env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' },
      want: /^TraceIdRatioBased\{0\.25\}$/,
    },
    {
      env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' },
      want: /^ParentBased\{root=TraceIdRatioBased\{0\.5\}/,
    },
    { env: { OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, want: /^ParentBased\{root=AlwaysOffSampler/ },
    {
      env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' },
      want: /^TraceIdRatioBased\{1\}$/,
      warns: /OTEL_TRACES_SAMPLER_ARG "half"/,
    },
    {
      env: { OTEL_TRACES_SAMPLER: 'jaeger_remote' },
      want: /^ParentBased\{root=AlwaysOnSampler/,
      warns: /"jaeger_remote" is not supported/,
    },
  ];
  for (const { env, want, warns } of samplers) {
    it(`samples with ${want.source} for ${JSON.stringify(env)}`, () => {
      const config = tracingConfig({ ...ENDPOINT, ...env });
      assert.ok(config.enabled);
      assert.match(config.sampler.toString(), want);
      if (warns) assert.match(config.warnings.join('\n'), warns);
      else assert.deepEqual(config.warnings, []);
    });
  }

  it('takes the batch span processor settings of OTEL_BSP_*', () => {
    const config = tracingConfig({
      ...ENDPOINT,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BSP_EXPORT_TIMEOUT: '10000',
      OTEL_BSP_MAX_QUEUE_SIZE: '4096',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'many',
    });
    assert.ok(config.enabled);
    assert.deepEqual(config.batch, {
      scheduledDelayMillis: 200,
      exportTimeoutMillis: 10_000,
      maxQueueSize: 4096,
    });
    assert.match(config.warnings.join(), /OTEL_BSP_MAX_EXPORT_BATCH_SIZE "many"/);
  });
});
