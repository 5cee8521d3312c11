// bench/api-cost: what each request Hookline makes for a Webhook costs the API server and
// etcd in CPU, one kind of request at a time, with the watches Hookline keeps open (the
// operator's and the dispatcher's on Webhooks, the operator's on its generated Secrets): the
// create itself (the floor every operator starts from), the operator's finalizer (JSON
// patch), generated signing Secret, Event and status (server-side apply; a merge patch of
// the same size beside it), and the dispatcher's Secret reads (from etcd, then from the
// watch cache). Each figure is CPU time from /proc divided by the requests. For sizing a
// control plane, not a speed target: nothing here is compared with a baseline.
//
//   npm run bench:api-cost [-- --webhooks 2000 --rounds 3 --concurrency 16]
import { parseArgs } from 'node:util';
import { kubeClient, resourcePath, type KubeClient } from '../core/kube/client.ts';
import { envConfig } from '../test/env/config.ts';
import { up } from '../test/env/env.ts';
import { freshNamespace, kubeConfig, testEnv } from '../test/env/handles.ts';
import { installCrds } from '../test/fixtures/crds.ts';
import { treeCpuMs } from './cpu.ts';
import { writeResults } from './results-file.ts';
import { median, sleep } from './webhooks.ts';

const { values } = parseArgs({
  options: {
    webhooks: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
  },
});
const WEBHOOKS = Number(values.webhooks);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
for (const [flag, value] of [
  ['--webhooks', WEBHOOKS],
  ['--rounds', ROUNDS],
  ['--concurrency', CONCURRENCY],
] as const)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} takes a whole number of at least 1`);

interface Step {
  wallSeconds: number;
  apiServerCpuMs: number;
  etcdCpuMs: number;
}

const webhookPath = (namespace: string, name?: string, subresource?: string) =>
  resourcePath({
    group: 'hookline.dev',
    version: 'v1alpha1',
    plural: 'webhooks',
    namespace,
    ...(name ? { name } : {}),
    ...(subresource ? { subresource } : {}),
  });
const secretPath = (namespace: string, name?: string) =>
  resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace, ...(name ? { name } : {}) });
const hook = (i: number) => `hook-${i}`;

/** Runs `one` for every Webhook, CONCURRENCY at a time. */
async function each(one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < WEBHOOKS) await one(next++);
    }),
  );
}

async function step(name: string, work: () => Promise<void>): Promise<Step> {
  const { kubePids } = testEnv();
  const apiBefore = treeCpuMs(kubePids.apiServer);
  const etcdBefore = treeCpuMs(kubePids.etcd);
  const began = performance.now();
  await work();
  const wallMs = performance.now() - began;
  const figures = {
    wallSeconds: Number((wallMs / 1000).toFixed(1)),
    apiServerCpuMs: Number(((treeCpuMs(kubePids.apiServer) - apiBefore) / WEBHOOKS).toFixed(2)),
    etcdCpuMs: Number(((treeCpuMs(kubePids.etcd) - etcdBefore) / WEBHOOKS).toFixed(2)),
  };
  console.log(
    `  ${name.padEnd(40)} API server ${String(figures.apiServerCpuMs).padStart(5)} ms, ` +
      `etcd ${String(figures.etcdCpuMs).padStart(5)} ms a request (${figures.wallSeconds} s)`,
  );
  return figures;
}

const condition = (message: string) => ({
  type: 'Ready',
  status: 'True',
  reason: 'Ready',
  message,
  observedGeneration: 1,
  lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
});

/**
 * Waits until the API server answers lists of `path` from its watch cache: for a resource
 * whose definition was just installed it answers 429 ("storage is (re)initializing") first.
 */
async function untilServed(client: KubeClient, path: string): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await client.get(path, { resourceVersion: '0', limit: '1' });
      return;
    } catch (error) {
      if (tries >= 60) throw error;
      await sleep(1000);
    }
  }
}

/** A watch kept open until `signal` aborts: opened again when it ends or fails. */
async function keepWatching(
  client: KubeClient,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await client.watch(path, query, () => undefined, signal);
    } catch {
      if (!signal.aborted) await sleep(1000);
    }
  }
}

async function round(operator: KubeClient, dispatcher: KubeClient): Promise<Record<string, Step>> {
  const namespace = await freshNamespace('bench-api-cost');
  const watching = new AbortController();
  // What Hookline watches while it works: two on Webhooks, one on its generated Secrets.
  await untilServed(operator, webhookPath(namespace));
  const watches = [
    keepWatching(operator, webhookPath(namespace), {}, watching.signal),
    keepWatching(dispatcher, webhookPath(namespace), {}, watching.signal),
    keepWatching(
      operator,
      secretPath(namespace),
      { labelSelector: 'app.kubernetes.io/managed-by=hookline-operator' },
      watching.signal,
    ),
  ];
  const steps: Record<string, Step> = {};
  try {
    steps.create = await step('create Webhook (the floor)', () =>
      each((i) =>
        operator.create(webhookPath(namespace), {
          apiVersion: 'hookline.dev/v1alpha1',
          kind: 'Webhook',
          metadata: { name: hook(i) },
          spec: { sourceRef: { name: 'bench' }, url: `http://127.0.0.1:9/${i}`, events: [`cold.${i}`] },
        }),
      ),
    );
    steps.finalizer = await step('finalizer, JSON patch', () =>
      each((i) =>
        operator.jsonPatch(webhookPath(namespace, hook(i)), [
          { op: 'add', path: '/metadata/finalizers', value: ['hookline.dev/cleanup'] },
        ]),
      ),
    );
    steps.secret = await step('generated Secret, create', () =>
      each((i) =>
        operator.create(secretPath(namespace), {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: `${hook(i)}-signing`,
            labels: { 'app.kubernetes.io/managed-by': 'hookline-operator', 'hookline.dev/webhook': hook(i) },
          },
          type: 'Opaque',
          stringData: { secret: `whsec_${Buffer.alloc(32, i).toString('base64')}` },
        }),
      ),
    );
    steps.event = await step('Event, create', () =>
      each((i) =>
        operator.create(resourcePath({ group: '', version: 'v1', plural: 'events', namespace }), {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${hook(i)}.${i.toString(16).padStart(16, '0')}` },
          involvedObject: { apiVersion: 'hookline.dev/v1alpha1', kind: 'Webhook', name: hook(i), namespace },
          type: 'Normal',
          reason: 'GeneratedSecret',
          message: `Generated standard-webhooks signing secret in Secret ${hook(i)}-signing`,
          source: { component: 'hookline-operator' },
          reportingComponent: 'hookline-operator',
          count: 1,
        }),
      ),
    );
    const status = (message: string) => ({
      conditions: [condition(message)],
      observedGeneration: 1,
      queue: `hookline.${namespace}.${'x'.repeat(8)}`,
      topology: {
        broker: 'default',
        exchange: `hookline.${namespace}.bench`,
        bindings: ['cold.1'],
        version: 3,
        queueType: 'quorum',
      },
    });
    steps.statusApply = await step('status, server-side apply', () =>
      each((i) =>
        operator.apply(webhookPath(namespace, hook(i), 'status'), {
          apiVersion: 'hookline.dev/v1alpha1',
          kind: 'Webhook',
          metadata: { name: hook(i), namespace },
          status: status('The queue and its bindings are in place'),
        }),
      ),
    );
    steps.statusMergePatch = await step('status, merge patch of the same size', () =>
      each((i) =>
        operator.mergePatch(webhookPath(namespace, hook(i), 'status'), {
          status: status('The queue and its binding are in place.'),
        }),
      ),
    );
    steps.secretGet = await step('Secret read, from etcd', () =>
      each((i) => dispatcher.get(secretPath(namespace, `${hook(i)}-signing`))),
    );
    steps.secretGetCached = await step('Secret read, from the watch cache', () =>
      each((i) => dispatcher.get(secretPath(namespace, `${hook(i)}-signing`), { resourceVersion: '0' })),
    );
  } finally {
    watching.abort();
    await Promise.allSettled(watches);
    // Nothing here removes the finalizer but this: without it the namespace stays Terminating.
    await each((i) =>
      operator
        .jsonPatch(webhookPath(namespace, hook(i)), [{ op: 'remove', path: '/metadata/finalizers' }])
        .catch(() => undefined),
    );
    await operator.delete(resourcePath({ group: '', version: 'v1', plural: 'namespaces', name: namespace }));
  }
  return steps;
}

await up(envConfig());
await installCrds();
const operator = kubeClient(kubeConfig(), { fieldManager: 'hookline-operator' });
const dispatcher = kubeClient(kubeConfig(), { fieldManager: 'hookline-dispatcher' });
const rounds: Record<string, Step>[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  console.log(`round ${r}/${ROUNDS}: ${WEBHOOKS} Webhooks, ${CONCURRENCY} requests at a time`);
  rounds.push(await round(operator, dispatcher));
}
const medians = Object.fromEntries(
  Object.keys(rounds[0]!).map((name) => [
    name,
    {
      apiServerCpuMs: median(rounds.map((r) => r[name]!.apiServerCpuMs)),
      etcdCpuMs: median(rounds.map((r) => r[name]!.etcdCpuMs)),
    },
  ]),
);
await writeResults('api-cost.json', {
  webhooks: WEBHOOKS,
  concurrency: CONCURRENCY,
  medians,
  everyRound: rounds,
  date: new Date().toISOString(),
});
