// Operator settings, from flags (highest), then environment variables, then defaults.
import fs from 'node:fs';
import { z } from 'zod';
import { parseDuration } from '../core/api/v1alpha1/duration.ts';
import { booleanText, brokerUri, commaList, loadSettings as load, logLevel } from '../core/flags.ts';

const durationMs = z.string().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration such as 500ms, 30s or 5m` });
    return z.NEVER;
  }
  return ms;
});

export const Settings = z.object({
  namespace: z.string().min(1).default('hookline-system'),
  /** Watch one namespace only (a namespace-scoped install); all namespaces when unset. */
  watchNamespace: z.string().min(1).optional(),
  identity: z.string().min(1),
  /** The default broker: an AMQP URI, or the URIs of a cluster's nodes separated by commas. */
  defaultBrokerUri: brokerUri.optional(),
  /**
   * The default broker's management API (http[s]://user:password@host:port), where the
   * operator creates each dispatcher's own user. Unset: the default broker's host and
   * credentials on the management plugin's port (15672, or 15671 for amqps).
   */
  defaultBrokerManagementUri: z
    .string()
    .regex(/^https?:\/\//, { message: 'must be an http:// or https:// URL' })
    .optional(),
  dispatcherImage: z.string().min(1).default('hookline:0.1.0'),
  /** The Kafka client the dispatchers consume with; unset: the dispatcher's default. Handed on as HOOKLINE_KAFKA_CLIENT. */
  kafkaClient: z.enum(['platformatic', 'kafkajs']).optional(),
  allowHttpUrls: booleanText.default(false),
  /** The type of the queues declared where a source does not say (spec.rabbitmq/broker.queueType). */
  defaultQueueType: z.enum(['quorum', 'classic']).default('quorum'),
  allowedCidrs: commaList,
  leaderElection: booleanText.default(true),
  leaseName: z.string().default('hookline-operator'),
  leaseDuration: durationMs.default(15_000),
  renewDeadline: durationMs.default(10_000),
  retryPeriod: durationMs.default(2_000),
  resyncPeriod: durationMs.default(300_000),
  finalizerTimeout: durationMs.default(300_000),
  concurrency: z.coerce.number().int().min(1).max(256).default(16),
  metricsPort: z.coerce.number().int().min(0).max(65535).default(8080),
  probesPort: z.coerce.number().int().min(0).max(65535).default(8081),
  kubeconfig: z.string().optional(),
  logLevel,
  /**
   * The operator's OpenTelemetry variables (OTEL_*), given as they are to every dispatcher
   * it writes: they configure the dispatchers' tracing (the operator exports no spans).
   */
  dispatcherEnv: z.array(z.object({ name: z.string(), value: z.string() })).default([]),
});
export type Settings = z.output<typeof Settings>;

const options = {
  namespace: 'HOOKLINE_NAMESPACE',
  'watch-namespace': 'HOOKLINE_WATCH_NAMESPACE',
  identity: 'HOOKLINE_IDENTITY',
  'default-broker-uri': 'HOOKLINE_DEFAULT_BROKER_URI',
  'default-broker-management-uri': 'HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI',
  'dispatcher-image': 'HOOKLINE_DISPATCHER_IMAGE',
  'kafka-client': 'HOOKLINE_KAFKA_CLIENT',
  'allow-http-urls': 'HOOKLINE_ALLOW_HTTP_URLS',
  'default-queue-type': 'HOOKLINE_DEFAULT_QUEUE_TYPE',
  'allowed-cidrs': 'HOOKLINE_ALLOWED_CIDRS',
  'leader-election': 'HOOKLINE_LEADER_ELECTION',
  'lease-name': 'HOOKLINE_LEASE_NAME',
  'lease-duration': 'HOOKLINE_LEASE_DURATION',
  'renew-deadline': 'HOOKLINE_RENEW_DEADLINE',
  'retry-period': 'HOOKLINE_RETRY_PERIOD',
  'resync-period': 'HOOKLINE_RESYNC_PERIOD',
  'finalizer-timeout': 'HOOKLINE_FINALIZER_TIMEOUT',
  concurrency: 'HOOKLINE_CONCURRENCY',
  'metrics-port': 'HOOKLINE_METRICS_PORT',
  'probes-port': 'HOOKLINE_PROBES_PORT',
  kubeconfig: 'KUBECONFIG',
  'log-level': 'HOOKLINE_LOG_LEVEL',
} as const;

export function loadSettings(argv: string[], env: NodeJS.ProcessEnv, hostname: string): Settings {
  // A broker URI may also come from a mounted file, so that it never sits in the environment.
  const fromFile: Partial<Record<'defaultBrokerUri' | 'defaultBrokerManagementUri', string>> = {};
  const uriFile = env.HOOKLINE_DEFAULT_BROKER_URI_FILE;
  if (uriFile && !env.HOOKLINE_DEFAULT_BROKER_URI)
    fromFile.defaultBrokerUri = fs.readFileSync(uriFile, 'utf8').trim();
  const managementFile = env.HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI_FILE;
  if (managementFile && !env.HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI)
    fromFile.defaultBrokerManagementUri = fs.readFileSync(managementFile, 'utf8').trim();
  return load('operator', Settings, options, argv, env, {
    identity: `${hostname}-${process.pid}`,
    dispatcherEnv: forwardedEnv(env),
    ...fromFile,
  });
}

/** Variables handed on to every dispatcher as they are, besides the OTEL_* ones. */
const FORWARDED = new Set(['HOOKLINE_KAFKA_CLIENT']);

/** The OTEL_* variables of `env` and HOOKLINE_KAFKA_CLIENT that are set, sorted by name (a stable Deployment spec). */
export function forwardedEnv(env: NodeJS.ProcessEnv): { name: string; value: string }[] {
  return Object.entries(env)
    .filter(
      (entry): entry is [string, string] =>
        (entry[0].startsWith('OTEL_') || FORWARDED.has(entry[0])) &&
        entry[1] !== undefined &&
        entry[1] !== '',
    )
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
