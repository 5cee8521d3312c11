// What the benchmarks that apply thousands of Webhooks share (bench/reconcile, bench/scale):
// an operator process started the same way, kubectl with time for thousands of objects,
// counting Ready Webhooks, deleting them all, and a process's peak RSS from /proc.
import fs from 'node:fs';
import { pino } from 'pino';
import type { WebhookStatus } from '../core/api/v1alpha1/webhook.ts';
import { kubeClient, resourcePath, type KubeClient } from '../core/kube/client.ts';
import { Informer, type KubeObject } from '../core/kube/informer.ts';
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

/** Made on first use: the benchmarks import this file before they bring the environment up. */
let benchClient: KubeClient | undefined;
const client = (): KubeClient => (benchClient ??= kubeClient(kubeConfig(), { fieldManager: 'bench' }));

/** How many Webhooks the namespace has, from a list of one (its remainingItemCount). */
async function webhookCount(namespace: string): Promise<number> {
  const path = resourcePath({ group: 'hookline.dev', version: 'v1alpha1', plural: 'webhooks', namespace });
  const page = await client().get<{ items: unknown[]; metadata: { remainingItemCount?: number } }>(
    `${path}?limit=1`,
  );
  return page.items.length + (page.metadata.remainingItemCount ?? 0);
}

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
 * Waits until `count` Webhooks of the namespace are Ready or `timeoutMs` since `began` have
 * passed; gives how many were Ready. It follows them with one watch: listing 10,000
 * Webhooks every few seconds was itself a good share of the API server's work.
 */
export async function waitForReadyWebhooks(
  namespace: string,
  count: number,
  began: number,
  timeoutMs = PATIENCE_MS,
): Promise<number> {
  const ready = new Set<string>();
  let wake: (() => void) | undefined;
  const informer = new Informer<KubeObject & { status?: WebhookStatus }>({
    client: client(),
    path: resourcePath({ group: 'hookline.dev', version: 'v1alpha1', plural: 'webhooks', namespace }),
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'Webhook',
    logger: pino({ level: 'silent' }),
    // Only whether it is Ready is kept.
    transform: (w) => ({ ...w, spec: undefined, status: { conditions: w.status?.conditions } }),
    onChange: (key, webhook) => {
      if (webhook?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ready.add(key);
      else ready.delete(key);
      if (ready.size >= count) wake?.();
    },
  });
  informer.start();
  try {
    const left = timeoutMs - (performance.now() - began);
    if (ready.size < count && left > 0)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    return ready.size;
  } finally {
    await informer.stop();
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
  while ((await webhookCount(namespace)) > 0 && performance.now() - deleting < PATIENCE_MS) await sleep(500);
  const deletedMs = performance.now() - deleting;
  await kubectl(['delete', 'eventsources', '--all', '-n', namespace, '--wait=true', '--timeout=60s']).catch(
    () => undefined,
  );
  return deletedMs;
}
