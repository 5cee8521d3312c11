// bench/reconcile: how long the operator takes to bring N Webhooks applied at once to
// Ready (queue, retry queues, bindings, generated signing secret each), and its peak RSS.
// Baseline from the same run: the time the API server takes to accept the same N objects
// (kubectl apply), the floor any operator starts from; the figure that matters is the
// time per Webhook beyond it, and whether it stays flat as N grows.
//
// Each round of each count runs in a new namespace with a new operator process; after it
// the Webhooks are deleted (the operator deletes their queues) so that the broker does not
// carry one round's queues into the next.
//
//   npm run bench:reconcile [-- --webhooks 500,2000 --rounds 3]
//   BENCH_PROFILE=1 writes the operator's CPU profile to /tmp/hookline-bench-profiles.
import { parseArgs } from 'node:util';
import { envConfig } from '../test/env/config.ts';
import { up } from '../test/env/env.ts';
import { freshNamespace } from '../test/env/handles.ts';
import { installCrds } from '../test/fixtures/crds.ts';
import {
  deleteAllWebhooks,
  kubectl,
  median,
  peakRssMiB,
  startBenchOperator,
  waitForReadyWebhooks,
} from './webhooks.ts';
import { writeResults } from './results-file.ts';

const { values } = parseArgs({
  options: {
    webhooks: { type: 'string', default: '500,2000' },
    rounds: { type: 'string', default: '3' },
  },
});
const counts = values.webhooks.split(',').map(Number);
const rounds = Number(values.rounds);
if (counts.some((n) => !Number.isInteger(n) || n < 1) || !(rounds >= 1))
  throw new Error('--webhooks takes counts like 500,2000 and --rounds a number of at least 1');

interface Round {
  webhooks: number;
  allReady: boolean;
  timeToAllReadyMs: number;
  apiServerAcceptsAllMs: number;
  perWebhookBeyondBaselineMs: number;
  operatorPeakRssMiB: number;
  deletedAllMs: number;
}

function manifest(count: number): string {
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
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

async function round(count: number): Promise<Round> {
  const namespace = await freshNamespace('bench-reconcile');
  const operator = await startBenchOperator(namespace);

  const began = performance.now();
  await kubectl(['apply', '-n', namespace, '-f', '-'], manifest(count));
  const appliedMs = performance.now() - began;
  const ready = await waitForReadyWebhooks(namespace, count, began);
  const readyMs = performance.now() - began;
  const rss = peakRssMiB(operator.child.pid!);

  // Clean up with the operator still running: it deletes each Webhook's queues.
  const deletedMs = await deleteAllWebhooks(namespace);
  await operator.stop();
  const figures: Round = {
    webhooks: count,
    allReady: ready === count,
    timeToAllReadyMs: Math.round(readyMs),
    apiServerAcceptsAllMs: Math.round(appliedMs),
    perWebhookBeyondBaselineMs: Number(((readyMs - appliedMs) / count).toFixed(1)),
    operatorPeakRssMiB: rss,
    deletedAllMs: Math.round(deletedMs),
  };
  console.log(
    `  ${count} Webhooks: Ready after ${(readyMs / 1000).toFixed(1)} s (${ready}/${count}), ` +
      `API server ${(appliedMs / 1000).toFixed(1)} s, ${figures.perWebhookBeyondBaselineMs} ms per Webhook beyond it, ` +
      `peak RSS ${rss} MiB; all deleted after ${(deletedMs / 1000).toFixed(1)} s`,
  );
  return figures;
}

await up(envConfig());
await installCrds();
const all: Round[] = [];
for (let r = 1; r <= rounds; r++) {
  console.log(`round ${r}/${rounds}`);
  for (const count of counts) all.push(await round(count));
}

const results = Object.fromEntries(
  counts.map((count) => {
    const mine = all.filter((r) => r.webhooks === count);
    return [
      String(count),
      {
        allReady: mine.every((r) => r.allReady),
        timeToAllReadyMs: median(mine.map((r) => r.timeToAllReadyMs)),
        perWebhookBeyondBaselineMs: median(mine.map((r) => r.perWebhookBeyondBaselineMs)),
        operatorPeakRssMiB: median(mine.map((r) => r.operatorPeakRssMiB)),
        deletedAllMs: median(mine.map((r) => r.deletedAllMs)),
        baseline: { apiServerAcceptsAllMs: median(mine.map((r) => r.apiServerAcceptsAllMs)) },
      },
    ];
  }),
);
console.log('\nbench/reconcile: medians of %d rounds', rounds);
for (const [count, r] of Object.entries(results)) {
  console.log(
    `  ${count} Webhooks  operator: all Ready after ${(r.timeToAllReadyMs / 1000).toFixed(1)} s, ` +
      `peak RSS ${r.operatorPeakRssMiB} MiB, ${r.perWebhookBeyondBaselineMs} ms per Webhook beyond the baseline\n` +
      `  ${' '.repeat(count.length)}           baseline: kube-apiserver accepted them in ${(r.baseline.apiServerAcceptsAllMs / 1000).toFixed(1)} s (kubectl apply)`,
  );
}
await writeResults('reconcile.json', {
  counts,
  rounds,
  results,
  everyRound: all,
  date: new Date().toISOString(),
});
if (all.some((r) => !r.allReady)) process.exitCode = 1;
