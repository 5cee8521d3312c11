// Tracing settings from the standard OpenTelemetry variables
// (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). Off
// unless an OTLP endpoint is set. Pure: the SDK objects are built from what this returns.
import { parseKeyPairsIntoRecord } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type BatchSpanProcessorOptions,
  type Sampler,
} from '@opentelemetry/sdk-trace';

export const DEFAULT_SERVICE_NAME = 'hookline-dispatcher';

export type TracingConfig =
  | { enabled: false; why: string; warnings: string[] }
  | {
      enabled: true;
      /** Where spans are POSTed (OTLP http/protobuf). */
      url: string;
      /** service.name and the rest of the resource's attributes. */
      resource: Record<string, string>;
      sampler: Sampler;
      batch: Omit<BatchSpanProcessorOptions, 'exporter'>;
      /** Values that were not understood and what was used instead, to be logged. */
      warnings: string[];
    };

function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

/** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is; OTEL_EXPORTER_OTLP_ENDPOINT with v1/traces appended. */
export function tracesUrl(env: NodeJS.ProcessEnv): string | undefined {
  const traces = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (traces) return traces;
  const base = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (!base) return undefined;
  return `${base.endsWith('/') ? base : `${base}/`}v1/traces`;
}

function ratio(env: NodeJS.ProcessEnv, warnings: string[]): number {
  const arg = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (arg === undefined) return 1;
  const parsed = Number(arg);
  if (Number.isFinite(parsed) && parsed >= 0 && parsed <= 1) return parsed;
  warnings.push(`OTEL_TRACES_SAMPLER_ARG "${arg}" is not a ratio between 0 and 1; using 1`);
  return 1;
}

/** OTEL_TRACES_SAMPLER (and its _ARG); parentbased_always_on by default. */
export function samplerOf(env: NodeJS.ProcessEnv, warnings: string[]): Sampler {
  const name = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio(env, warnings));
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio(env, warnings)) });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    default:
      warnings.push(`OTEL_TRACES_SAMPLER "${name}" is not supported; using parentbased_always_on`);
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

const BATCH_VARIABLES = {
  OTEL_BSP_SCHEDULE_DELAY: 'scheduledDelayMillis',
  OTEL_BSP_EXPORT_TIMEOUT: 'exportTimeoutMillis',
  OTEL_BSP_MAX_QUEUE_SIZE: 'maxQueueSize',
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'maxExportBatchSize',
} as const;

/** The batch span processor's OTEL_BSP_* settings; the SDK's defaults for those not set. */
export function batchOf(
  env: NodeJS.ProcessEnv,
  warnings: string[],
): Omit<BatchSpanProcessorOptions, 'exporter'> {
  const options: Record<string, number> = {};
  for (const [variable, option] of Object.entries(BATCH_VARIABLES)) {
    const raw = value(env, variable);
    if (raw === undefined) continue;
    const parsed = Number(raw);
    if (Number.isInteger(parsed) && parsed >= (option === 'scheduledDelayMillis' ? 0 : 1))
      options[option] = parsed;
    else warnings.push(`${variable} "${raw}" is not a whole number of the right size; using the default`);
  }
  return options;
}

/**
 * The resource: OTEL_RESOURCE_ATTRIBUTES over the dispatcher's own attributes, and the
 * service name of OTEL_SERVICE_NAME, else of OTEL_RESOURCE_ATTRIBUTES, else
 * hookline-dispatcher.
 */
export function resourceOf(env: NodeJS.ProcessEnv, own: Record<string, string>): Record<string, string> {
  const listed = parseKeyPairsIntoRecord(value(env, 'OTEL_RESOURCE_ATTRIBUTES'));
  return {
    ...own,
    ...listed,
    'service.name': value(env, 'OTEL_SERVICE_NAME') ?? listed['service.name'] ?? DEFAULT_SERVICE_NAME,
  };
}

const PROTOCOLS = ['http/protobuf'];

export function tracingConfig(env: NodeJS.ProcessEnv, own: Record<string, string> = {}): TracingConfig {
  const warnings: string[] = [];
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true')
    return { enabled: false, why: 'OTEL_SDK_DISABLED is true', warnings };
  const exporters = (value(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp')
    .split(',')
    .map((name) => name.trim().toLowerCase());
  if (!exporters.includes('otlp')) {
    if (!exporters.every((name) => name === 'none'))
      warnings.push(`OTEL_TRACES_EXPORTER "${exporters.join(',')}": only otlp is supported`);
    return { enabled: false, why: 'OTEL_TRACES_EXPORTER does not name otlp', warnings };
  }
  const url = tracesUrl(env);
  if (url === undefined)
    return {
      enabled: false,
      why: 'neither OTEL_EXPORTER_OTLP_ENDPOINT nor OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set',
      warnings,
    };
  const protocol =
    value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    value(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ??
    'http/protobuf';
  if (!PROTOCOLS.includes(protocol))
    throw new Error(
      `invalid tracing settings: OTEL_EXPORTER_OTLP_PROTOCOL "${protocol}" is not supported; ` +
        'Hookline exports over http/protobuf (the collector listens for it on port 4318)',
    );
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
    throw new Error('invalid tracing settings: the OTLP traces endpoint is not an http:// or https:// URL');
  return {
    enabled: true,
    url,
    resource: resourceOf(env, own),
    sampler: samplerOf(env, warnings),
    batch: batchOf(env, warnings),
    warnings,
  };
}
