// bench/reconcile: how long the operator takes to bring 500 Webhooks applied at once to
// Ready (queue, 8 retry queues, bindings, generated signing secret each), and its peak RSS.
// Baseline from the same run: the time the API server takes to accept the same 500
// objects (kubectl apply), the floor any operator starts from.
//
//   npm run bench:reconcile [-- --webhooks 500]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { kubeClient, resourcePath } from '../core/kube/client.ts';
import { envConfig } from '../test/env/config.ts';
import { up } from '../test/env/env.ts';
import { freshNamespace, kubeConfig, kubectl } from '../test/env/handles.ts';
import { installCrds } from '../test/fixtures/crds.ts';
import { startOperator } from '../test/fixtures/operator.ts';

const { values } = parseArgs({ options: { webhooks: { type: 'string', default: '500' } } });
const count = Number(values.webhooks);

function peakRssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

await up(envConfig());
await installCrds();
const namespace = await freshNamespace('bench-reconcile');
const operator = startOperator({
  namespace,
  env: { HOOKLINE_LOG_LEVEL: 'warn', HOOKLINE_CONCURRENCY: '16' },
});
await operator
  .waitForLog('leadership', (l) => l.msg === 'Became leader' || l.msg === 'Controllers started', 30_000)
  .catch(() => undefined);
await new Promise((resolve) => setTimeout(resolve, 1500));

const docs = [
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ingest' }, stringData: { tokens: 't' } },
  {
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'EventSource',
    metadata: { name: 'bench' },
    spec: { http: { authSecretRef: { name: 'ingest' } } },
  },
  ...Array.from({ length: count }, (_, i) => ({
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'Webhook',
    metadata: { name: `hook-${i}` },
    spec: {
      sourceRef: { name: 'bench' },
      url: `https://receiver.example.com/${i}`,
      events: ['invoice.*', `shop.${i}.#`],
    },
  })),
];
const manifest = docs.map((d) => JSON.stringify(d)).join('\n---\n');

const client = kubeClient(kubeConfig(), { fieldManager: 'bench' });
const began = performance.now();
await kubectl(['apply', '-n', namespace, '-f', '-'], manifest);
const appliedMs = performance.now() - began;

let readyCount = 0;
for (;;) {
  const list = await client.get<{
    items: { status?: { conditions?: { type: string; status: string }[] } }[];
  }>(resourcePath({ group: 'hookline.dev', version: 'v1alpha1', plural: 'webhooks', namespace }));
  readyCount = list.items.filter((w) =>
    w.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  ).length;
  if (readyCount === count || performance.now() - began > 600_000) break;
  await new Promise((resolve) => setTimeout(resolve, 250));
}
const readyMs = performance.now() - began;
const rss = peakRssMiB(operator.child.pid!);
await operator.stop();

const result = {
  webhooks: count,
  allReady: readyCount === count,
  readyWebhooks: readyCount,
  timeToAllReadyMs: Math.round(readyMs),
  operatorPeakRssMiB: rss,
  baseline: { apiServerAcceptsAllMs: Math.round(appliedMs) },
  date: new Date().toISOString(),
};
console.log(`
bench/reconcile: ${count} Webhooks applied at once
  operator:  all Ready after ${(readyMs / 1000).toFixed(1)} s (${readyCount}/${count}); peak RSS ${rss} MiB
  baseline:  kube-apiserver accepted the ${count} objects in ${(appliedMs / 1000).toFixed(1)} s (kubectl apply)
  per Webhook beyond the baseline: ${((readyMs - appliedMs) / count).toFixed(1)} ms`);
fs.mkdirSync(path.join(import.meta.dirname, 'results'), { recursive: true });
fs.writeFileSync(
  path.join(import.meta.dirname, 'results', 'reconcile.json'),
  JSON.stringify(result, null, 2) + '\n',
);
if (!result.allReady) process.exitCode = 1;
