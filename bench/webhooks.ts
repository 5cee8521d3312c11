// What the benchmarks that apply thousands of Webhooks share (bench/reconcile, bench/scale):
// an operator process started the same way, kubectl with time for thousands of objects,
// counting Ready Webhooks, deleting them all, and a process's peak RSS from /proc.
import fs from 'node:fs';
import { kubeClient, resourcePath } from '../core/kube/client.ts';
import { kubeConfig, testEnv } from '../test/env/handles.ts';
import { run } from '../test/env/process.ts';
import { startOperator, type OperatorProcess } from '../test/fixtures/operator.ts';

export const PROFILE_DIR = '/tmp/hookline-bench-profiles';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The highest resident set size the process has had so far (VmHWM), in MiB. */
export function peakRssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

/**
 * How long applying, waiting for Ready or deleting may take: 10,000 Webhooks take the API
 * server alone minutes to accept, more on a loaded machine.
 */
const PATIENCE_MS = 1_800_000;

/** kubectl with time for thousands of objects (the test helper gives it a minute). */
export const kubectl = (args: string[], input?: string) =>
  run(testEnv().kubectl, ['--kubeconfig', testEnv().kubeconfig, ...args], { input, timeoutMs: PATIENCE_MS });

const client = kubeClient(kubeConfig(), { fieldManager: 'bench' });

interface WebhookList {
  items: { status?: { conditions?: { type: string; status: string }[] } }[];
}

const webhooksOf = (namespace: string) =>
  client.get<WebhookList>(
    resourcePath({ group: 'hookline.dev', version: 'v1alpha1', plural: 'webhooks', namespace }),
  );

/**
 * The operator, as a process watching `namespace`, once it leads. BENCH_PROFILE=1 has it
 * write its CPU profile to PROFILE_DIR.
 */
export async function startBenchOperator(namespace: string): Promise<OperatorProcess> {
  const operator = startOperator({
    namespace,
    env: {
      HOOKLINE_LOG_LEVEL: 'warn',
      HOOKLINE_CONCURRENCY: '16',
      ...(process.env.BENCH_PROFILE ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}` } : {}),
    },
  });
  await operator
    .waitForLog('leadership', (l) => l.msg === 'Became leader' || l.msg === 'Controllers started', 30_000)
    .catch(() => undefined);
  await sleep(1500);
  return operator;
}

/**
 * Polls until `count` Webhooks of the namespace are Ready or `timeoutMs` since `began` have
 * passed; gives how many were Ready. Listing 10,000 Webhooks is itself work for the API
 * server, so the larger the count the less often it lists.
 */
export async function waitForReadyWebhooks(
  namespace: string,
  count: number,
  began: number,
  timeoutMs = PATIENCE_MS,
): Promise<number> {
  const intervalMs = Math.min(2000, Math.max(250, count / 8));
  for (;;) {
    const list = await webhooksOf(namespace);
    const ready = list.items.filter((w) =>
      w.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
    if (ready === count || performance.now() - began > timeoutMs) return ready;
    await sleep(intervalMs);
  }
}

/**
 * Deletes every Webhook of the namespace with the operator still running (it deletes each
 * Webhook's queues before releasing its finalizer), then the EventSources; gives the time
 * until the last Webhook was gone.
 */
export async function deleteAllWebhooks(namespace: string): Promise<number> {
  const deleting = performance.now();
  await kubectl(['delete', 'webhooks', '--all', '-n', namespace, '--wait=false']);
  while ((await webhooksOf(namespace)).items.length > 0 && performance.now() - deleting < PATIENCE_MS)
    await sleep(500);
  const deletedMs = performance.now() - deleting;
  await kubectl(['delete', 'eventsources', '--all', '-n', namespace, '--wait=true', '--timeout=60s']).catch(
    () => undefined,
  );
  return deletedMs;
}
