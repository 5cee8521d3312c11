// Dispatcher settings, from flags, then the environment the operator's Deployment sets.
import { z } from 'zod';
import { booleanText, brokerUri, commaList, loadSettings, logLevel } from '../core/flags.ts';
import { DEFAULT_SERVER_LIMITS } from './server.ts';

export const DispatcherSettings = z.object({
  namespace: z.string().min(1),
  source: z.string().min(1),
  brokerUri,
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  allowedCidrs: commaList,
  allowHttpUrls: booleanText.default(false),
  statusIntervalMs: z.coerce.number().int().min(50).default(1000),
  statusWritesPerInterval: z.coerce.number().int().min(1).default(10),
  /** How often the backlog of each Webhook and the Kafka lag are sampled. */
  sampleIntervalMs: z.coerce.number().int().min(100).default(15_000),
  /** The library a kafka source is consumed with (dispatcher/ingest/kafka-clients.ts). */
  kafkaClient: z.enum(['platformatic', 'kafkajs']).default('platformatic'),
  /** The HTTP server's limits (dispatcher/server.ts): headers and whole request in time, connections at once. */
  headersTimeoutMs: z.coerce.number().int().min(100).default(DEFAULT_SERVER_LIMITS.headersTimeoutMs),
  requestTimeoutMs: z.coerce.number().int().min(100).default(DEFAULT_SERVER_LIMITS.requestTimeoutMs),
  maxConnections: z.coerce.number().int().min(1).default(DEFAULT_SERVER_LIMITS.maxConnections),
  kubeconfig: z.string().optional(),
  logLevel,
});
export type DispatcherSettings = z.output<typeof DispatcherSettings>;

const sources = {
  namespace: 'HOOKLINE_NAMESPACE',
  source: 'HOOKLINE_SOURCE',
  'broker-uri': 'HOOKLINE_BROKER_URI',
  port: 'HOOKLINE_PORT',
  'allowed-cidrs': 'HOOKLINE_ALLOWED_CIDRS',
  'allow-http-urls': 'HOOKLINE_ALLOW_HTTP_URLS',
  'status-interval-ms': 'HOOKLINE_STATUS_INTERVAL_MS',
  'status-writes-per-interval': 'HOOKLINE_STATUS_WRITES_PER_INTERVAL',
  'sample-interval-ms': 'HOOKLINE_SAMPLE_INTERVAL_MS',
  'kafka-client': 'HOOKLINE_KAFKA_CLIENT',
  'headers-timeout-ms': 'HOOKLINE_HEADERS_TIMEOUT_MS',
  'request-timeout-ms': 'HOOKLINE_REQUEST_TIMEOUT_MS',
  'max-connections': 'HOOKLINE_MAX_CONNECTIONS',
  kubeconfig: 'KUBECONFIG',
  'log-level': 'HOOKLINE_LOG_LEVEL',
} as const;

export function loadDispatcherSettings(argv: string[], env: NodeJS.ProcessEnv): DispatcherSettings {
  return loadSettings('dispatcher', DispatcherSettings, sources, argv, env);
}
