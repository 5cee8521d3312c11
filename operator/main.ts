// The operator process: settings, the API client, leader election, informers feeding the
// three controllers, probes and metrics, and a clean shutdown on SIGTERM.
import http from 'node:http';
import os from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { CallbackPolicyController } from './controllers/callbackpolicy.ts';
import type { RawObject, Secret } from '../core/kube/objects.ts';
import type { Caches, OperatorContext } from './controllers/context.ts';
import { EventSourceController } from './controllers/eventsource.ts';
import { FIELD_MANAGER, MANAGED_BY } from './controllers/names.ts';
import { WebhookController } from './controllers/webhook.ts';
import { amqpBrokerConnections } from '../core/rabbit/broker.ts';
import { DelayInfrastructure } from './rabbit/delay.ts';
import { namesSecret, policyOf, sourceOf } from '../core/references.ts';
import { ControllerRunner, type Controller } from './runtime/controller.ts';
import { eventRecorder } from '../core/kube/events.ts';
import { Informer, objectKey, type KubeObject } from '../core/kube/informer.ts';
import { kubeClient, type KubeClient } from '../core/kube/client.ts';
import { LeaderElector } from './runtime/leader.ts';
import { Registry } from '../core/metrics.ts';
import { loadSettings, type Settings } from './settings.ts';

const metrics = new Registry();
const reconciles = metrics.counter('hookline_reconciles_total', 'Reconciles by kind and outcome.');
const reconcileSeconds = metrics.histogram(
  'hookline_reconcile_duration_seconds',
  'Reconcile duration by kind.',
  [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
);
const leaderGauge = metrics.gauge('hookline_leader', '1 while this replica leads.');
const queueDepth = metrics.gauge('hookline_workqueue_depth', 'Keys waiting per controller.');

/** The collection path of a kind, in the watched namespace or across all of them. */
function collection(settings: Settings, prefix: string, plural: string): string {
  return settings.watchNamespace
    ? `${prefix}/namespaces/${settings.watchNamespace}/${plural}`
    : `${prefix}/${plural}`;
}

function hookInformer(
  settings: Settings,
  client: KubeClient,
  plural: string,
  kind: string,
  logger: Logger,
  onChange: (key: string, o?: RawObject) => void,
) {
  return new Informer<RawObject>({
    client,
    path: collection(settings, '/apis/hookline.dev/v1alpha1', plural),
    apiVersion: 'hookline.dev/v1alpha1',
    kind,
    logger,
    onChange,
  });
}

/** Everything the leader runs; resolves when `stop` aborts. */
async function lead(
  client: KubeClient,
  settings: Settings,
  logger: Logger,
  stop: AbortSignal,
  ready: { value: boolean },
) {
  const brokers = amqpBrokerConnections();
  const runners: {
    sources?: ControllerRunner<RawObject>;
    webhooks?: ControllerRunner<RawObject>;
    policies?: ControllerRunner<RawObject>;
  } = {};
  const caches = {} as Caches;
  const webhooksOf = (namespace: string, match: (w: RawObject) => boolean) =>
    caches.webhooks.list().filter((w) => w.metadata.namespace === namespace && match(w));

  caches.webhooks = hookInformer(settings, client, 'webhooks', 'Webhook', logger, (key, webhook) => {
    runners.webhooks?.enqueue(key);
    const namespace = key.split('/')[0]!;
    const object = webhook ?? undefined;
    if (object) {
      const source = sourceOf(object);
      if (source) runners.sources?.enqueue(`${namespace}/${source}`);
      runners.policies?.enqueue(`${namespace}/${policyOf(object)}`);
    } else {
      // Gone: counts may have changed on any source or policy of the namespace.
      for (const s of caches.sources.list().filter((s) => s.metadata.namespace === namespace))
        runners.sources?.enqueue(objectKey(s));
      for (const p of caches.policies.list().filter((p) => p.metadata.namespace === namespace))
        runners.policies?.enqueue(objectKey(p));
    }
  });
  caches.sources = hookInformer(settings, client, 'eventsources', 'EventSource', logger, (key) => {
    runners.sources?.enqueue(key);
    const [namespace, name] = key.split('/') as [string, string];
    for (const w of webhooksOf(namespace, (w) => sourceOf(w) === name))
      runners.webhooks?.enqueue(objectKey(w));
  });
  caches.policies = hookInformer(settings, client, 'callbackpolicies', 'CallbackPolicy', logger, (key) => {
    runners.policies?.enqueue(key);
    const [namespace, name] = key.split('/') as [string, string];
    for (const w of webhooksOf(namespace, (w) => policyOf(w) === name))
      runners.webhooks?.enqueue(objectKey(w));
  });
  caches.secrets = new Informer<Secret>({
    client,
    path: collection(settings, '/api/v1', 'secrets'),
    apiVersion: 'v1',
    kind: 'Secret',
    logger,
    onChange: (key) => {
      const [namespace, name] = key.split('/') as [string, string];
      for (const s of caches.sources.list()) {
        if (s.metadata.namespace === namespace && namesSecret(s, name))
          runners.sources?.enqueue(objectKey(s));
      }
      for (const w of webhooksOf(namespace, (w) => namesSecret(w, name)))
        runners.webhooks?.enqueue(objectKey(w));
    },
  });
  caches.deployments = new Informer<KubeObject>({
    client,
    path: collection(settings, '/apis/apps/v1', 'deployments'),
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}`,
    logger,
    onChange: (key, deployment) => {
      const source = (deployment?.metadata.labels as Record<string, string> | undefined)?.[
        'hookline.dev/eventsource'
      ];
      if (source) runners.sources?.enqueue(`${key.split('/')[0]}/${source}`);
    },
  });

  const ctx: OperatorContext = {
    client,
    caches,
    brokers,
    delays: new DelayInfrastructure({ maxAgeMs: settings.resyncPeriod }),
    recorder: eventRecorder(client, 'hookline-operator', logger),
    settings,
    logger,
    now: () => new Date(),
  };
  const runner = (controller: Controller<RawObject>, informer: Informer<RawObject>) =>
    new ControllerRunner<RawObject>({
      controller,
      informer,
      logger,
      concurrency: settings.concurrency,
      resyncMs: settings.resyncPeriod,
      onReconciled: (outcome, ms) => {
        reconciles.inc({ kind: controller.kind, outcome });
        reconcileSeconds.observe({ kind: controller.kind }, ms / 1000);
      },
    });
  const informers = [caches.webhooks, caches.sources, caches.policies, caches.secrets, caches.deployments];
  for (const informer of informers) informer.start();
  await Promise.all(informers.map((informer) => informer.waitForSync()));
  runners.policies = runner(new CallbackPolicyController(ctx), caches.policies);
  runners.sources = runner(new EventSourceController(ctx), caches.sources);
  runners.webhooks = runner(new WebhookController(ctx), caches.webhooks);
  const all = [runners.policies, runners.sources, runners.webhooks];
  await Promise.all(all.map((r) => r.start()));
  ready.value = true;
  logger.info('Controllers started');
  const depth = setInterval(() => {
    queueDepth.set({ kind: 'CallbackPolicy' }, runners.policies!.queueLength);
    queueDepth.set({ kind: 'EventSource' }, runners.sources!.queueLength);
    queueDepth.set({ kind: 'Webhook' }, runners.webhooks!.queueLength);
  }, 5000);
  depth.unref();

  await new Promise<void>((resolve) =>
    stop.aborted ? resolve() : stop.addEventListener('abort', () => resolve(), { once: true }),
  );
  ready.value = false;
  clearInterval(depth);
  await Promise.all(all.map((r) => r.stop()));
  await Promise.all(informers.map((i) => i.stop()));
  await brokers.close();
}

function serve(port: number, handler: http.RequestListener): http.Server {
  const server = http.createServer(handler);
  server.listen(port);
  return server;
}

async function main(): Promise<void> {
  const settings = loadSettings(process.argv.slice(2), process.env, os.hostname());
  const logger = pino({
    level: settings.logLevel,
    base: { component: 'hookline-operator', identity: settings.identity },
  });
  const kubeConfig = new k8s.KubeConfig();
  if (settings.kubeconfig) kubeConfig.loadFromFile(settings.kubeconfig);
  else kubeConfig.loadFromDefault();
  const client = kubeClient(kubeConfig, { fieldManager: FIELD_MANAGER });

  const ready = { value: false };
  const servers = [
    serve(settings.probesPort, (req, res) => {
      if (req.url === '/healthz') return res.writeHead(200).end('ok');
      if (req.url === '/readyz') return res.writeHead(200).end(ready.value ? 'leading' : 'standby');
      res.writeHead(404).end();
    }),
    serve(settings.metricsPort, (req, res) => {
      if (req.url !== '/metrics') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
    }),
  ];

  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'Shutting down');
      stop.abort();
    });
  }

  let outcome: 'stopped' | 'lost' = 'stopped';
  if (settings.leaderElection) {
    const elector = new LeaderElector({
      client,
      namespace: settings.namespace,
      name: settings.leaseName,
      identity: settings.identity,
      leaseDurationMs: settings.leaseDuration,
      renewDeadlineMs: settings.renewDeadline,
      retryPeriodMs: settings.retryPeriod,
      logger,
    });
    outcome = await elector.run(async (lost) => {
      leaderGauge.set({}, 1);
      const both = AbortSignal.any([lost, stop.signal]);
      await lead(client, settings, logger, both, ready);
      leaderGauge.set({}, 0);
    }, stop.signal);
  } else {
    await lead(client, settings, logger, stop.signal, ready);
  }
  for (const server of servers) server.close();
  logger.info({ outcome }, 'Operator stopped');
  // Leadership lost: exit non-zero so that the replica restarts as a candidate.
  process.exit(outcome === 'lost' ? 1 : 0);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
