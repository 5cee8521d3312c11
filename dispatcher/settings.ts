// Dispatcher settings, from flags, then the environment the operator's Deployment sets.
import { parseArgs } from 'node:util';
import { z } from 'zod';

export const DispatcherSettings = z.object({
  namespace: z.string().min(1),
  source: z.string().min(1),
  brokerUri: z.string().regex(/^amqps?:\/\//, { message: 'must be an amqp:// or amqps:// URI' }),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  allowedCidrs: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  allowHttpUrls: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  statusIntervalMs: z.coerce.number().int().min(50).default(1000),
  statusWritesPerInterval: z.coerce.number().int().min(1).default(25),
  kubeconfig: z.string().optional(),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
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
  kubeconfig: 'KUBECONFIG',
  'log-level': 'HOOKLINE_LOG_LEVEL',
} as const;

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function loadDispatcherSettings(argv: string[], env: NodeJS.ProcessEnv): DispatcherSettings {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(sources).map((flag) => [flag, { type: 'string' as const }])),
    strict: true,
  });
  const raw: Record<string, unknown> = {};
  for (const [flag, variable] of Object.entries(sources)) {
    const value = (values as Record<string, string | undefined>)[flag] ?? env[variable];
    if (value !== undefined && value !== '') raw[camel(flag)] = value;
  }
  const parsed = DispatcherSettings.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const flag = Object.keys(sources).find((f) => camel(f) === key) ?? key;
      // Never echo a value: the broker URI holds a password.
      return `--${flag} (${sources[flag as keyof typeof sources] ?? ''}): ${issue.message}`;
    });
    throw new Error(`invalid dispatcher settings:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}
