// The operator process: settings, the API client, leader election, informers feeding the
// three controllers, probes and metrics, and a clean shutdown on SIGTERM. Nothing runs on
// import: `hookline operator` (hookline.ts) calls runOperator.
import http from 'node:http';
import os from 'node:os';
import v8 from 'node:v8';
import { pino, type Logger } from 'pino';
import { CallbackPolicyController } from './controllers/callbackpolicy.ts';
import type { RawObject, Secret } from '../core/kube/objects.ts';
import type { Caches, OperatorContext } from './controllers/context.ts';
import { EventSourceController } from './controllers/eventsource/controller.ts';
import { FIELD_MANAGER, MANAGED_BY } from './controllers/names.ts';
import { WebhookController } from './controllers/webhook/controller.ts';
import { BrokerResolver } from './controllers/broker.ts';
import { amqpBrokerConnections } from '../core/rabbit/broker.ts';
import { DelayInfrastructure } from './rabbit/delay.ts';
import { keepSecret, SecretCache } from './secret-cache.ts';
import {
  onDeployment,
  onPolicy,
  onSource,
  onWebhook,
  SecretReferences,
  type Enqueue,
  type Listed,
} from './watches.ts';
import { ControllerRunner, type Controller } from './runtime/controller.ts';
import { eventRecorder } from '../core/kube/events.ts';
import { Informer, type KubeObject } from '../core/kube/informer.ts';
import { kubeClient, type KubeClient } from '../core/kube/client.ts';
import { loadKubeAccess } from '../core/kube/config.ts';
import { LeaderElector } from './runtime/leader.ts';
import { serveMetrics } from '../core/metrics.ts';
import { operatorMetrics, type OperatorMetrics } from './metrics.ts';
import { loadSettings, type Settings } from './settings.ts';

/** How long a stopping operator waits for its reconciles and connections (the pod's grace period is 30 s). */
const SHUTDOWN_GRACE_MS = 25_000;

type Metrics = OperatorMetrics;

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
  onChange: (key: string, o: RawObject | undefined, previous: RawObject | undefined) => void,
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
  metrics: Metrics,
) {
  const brokers = amqpBrokerConnections();
  const runners: {
    sources?: ControllerRunner<RawObject>;
    webhooks?: ControllerRunner<RawObject>;
    policies?: ControllerRunner<RawObject>;
  } = {};
  const caches = {} as Caches;
  const listed: Listed = {
    get webhooks() {
      return caches.webhooks.list();
    },
  };
  const secretReferences = new SecretReferences();
  const enqueue = ({ webhooks, sources, policies }: Enqueue) => {
    for (const key of webhooks) runners.webhooks?.enqueue(key);
    for (const key of sources) runners.sources?.enqueue(key);
    for (const key of policies) runners.policies?.enqueue(key);
  };

  // A Secret named now whose contents the cache left out is read by name.
  const fillNamed = (keys: string[]) => {
    // Called from informer callbacks, which start after secretCache is set below.
    for (const key of keys) secretCache.fill(key);
  };
  caches.webhooks = hookInformer(settings, client, 'webhooks', 'Webhook', logger, (key, object, previous) => {
    fillNamed(secretReferences.set('webhooks', key, object));
    enqueue(onWebhook(key, { object, previous }));
  });
  caches.sources = hookInformer(
    settings,
    client,
    'eventsources',
    'EventSource',
    logger,
    (key, object, previous) => {
      fillNamed(secretReferences.set('sources', key, object));
      enqueue(onSource(key, { object, previous }, listed));
    },
  );
  caches.policies = hookInformer(
    settings,
    client,
    'callbackpolicies',
    'CallbackPolicy',
    logger,
    (key, object, previous) => enqueue(onPolicy(key, { object, previous }, listed)),
  );
  const secrets = new Informer<Secret>({
    client,
    path: collection(settings, '/api/v1', 'secrets'),
    apiVersion: 'v1',
    kind: 'Secret',
    logger,
    transform: keepSecret((key) => secretReferences.named(key)),
    onChange: (key) => enqueue(secretReferences.onSecret(key)),
  });
  const secretCache = new SecretCache({
    informer: secrets,
    client,
    logger,
    onFilled: (key) => enqueue(secretReferences.onSecret(key)),
  });
  caches.secrets = secretCache;
  caches.deployments = new Informer<KubeObject>({
    client,
    path: collection(settings, '/apis/apps/v1', 'deployments'),
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}`,
    logger,
    onChange: (key, deployment) => enqueue(onDeployment(key, deployment)),
  });

  const ctx: OperatorContext = {
    client,
    caches,
    brokers,
    brokerOf: new BrokerResolver(caches, settings),
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
        metrics.reconciles.inc({ kind: controller.kind, outcome });
        metrics.reconcileSeconds.observe({ kind: controller.kind }, ms / 1000);
      },
    });
  const informers = [caches.webhooks, caches.sources, caches.policies, caches.deployments];
  for (const informer of informers) informer.start();
  await Promise.all(informers.map((informer) => informer.waitForSync()));
  // Secrets last: their first list keeps the contents of those the objects just listed name.
  informers.push(secrets);
  secrets.start();
  await secrets.waitForSync();
  runners.policies = runner(new CallbackPolicyController(ctx), caches.policies);
  runners.sources = runner(new EventSourceController(ctx), caches.sources);
  runners.webhooks = runner(new WebhookController(ctx), caches.webhooks);
  const all = [runners.policies, runners.sources, runners.webhooks];
  await Promise.all(all.map((r) => r.start()));
  ready.value = true;
  logger.info('Controllers started');
  const depth = setInterval(() => {
    metrics.queueDepth.set({ kind: 'CallbackPolicy' }, runners.policies!.queueLength);
    metrics.queueDepth.set({ kind: 'EventSource' }, runners.sources!.queueLength);
    metrics.queueDepth.set({ kind: 'Webhook' }, runners.webhooks!.queueLength);
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

function serve(port: number, what: string, logger: Logger, handler: http.RequestListener): http.Server {
  const server = http.createServer(handler);
  server.listen(port, () => {
    const address = server.address();
    logger.info({ port: typeof address === 'object' && address ? address.port : port }, `Serving ${what}`);
  });
  return server;
}

/**
 * Runs the operator until SIGTERM or SIGINT; answers the exit code: 0 when stopped, 1 when
 * leadership was lost (so that the replica restarts as a candidate).
 */
export async function runOperator(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // The operator's heap is mostly cached objects replaced by newer versions: collect the old
  // ones before the heap grows to several times what is live (2,000 Webhooks: peak RSS
  // 140 instead of 340 MiB, the same reconcile time; bench/reconcile).
  v8.setFlagsFromString('--optimize-for-size');
  const settings = loadSettings(argv, env, os.hostname());
  const metrics = operatorMetrics();
  const logger = pino({
    level: settings.logLevel,
    base: { component: 'hookline-operator', identity: settings.identity },
  });
  const kubeAccess = await loadKubeAccess(settings.kubeconfig);
  const client = kubeClient(kubeAccess, { fieldManager: FIELD_MANAGER });

  const ready = { value: false };
  const servers = [
    serve(settings.probesPort, 'probes', logger, (req, res) => {
      if (req.url === '/healthz') return res.writeHead(200).end('ok');
      if (req.url === '/readyz') return res.writeHead(200).end(ready.value ? 'leading' : 'standby');
      res.writeHead(404).end();
    }),
    serve(settings.metricsPort, 'metrics', logger, (req, res) => {
      if (req.url !== '/metrics') return res.writeHead(404).end();
      serveMetrics(metrics.registry, res);
    }),
  ];

  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'Shutting down');
      stop.abort();
      // Like controller-runtime's graceful shutdown timeout: a reconcile stuck on a broker
      // that stopped answering (a blocked connection never confirms) must not keep the
      // replica from exiting before the kubelet's grace period runs out.
      setTimeout(() => {
        logger.error({ afterMs: SHUTDOWN_GRACE_MS }, 'Shutdown did not finish in time; exiting');
        process.exit(1);
      }, SHUTDOWN_GRACE_MS).unref();
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
      metrics.leader.set(1);
      const both = AbortSignal.any([lost, stop.signal]);
      await lead(client, settings, logger, both, ready, metrics);
      metrics.leader.set(0);
    }, stop.signal);
  } else {
    await lead(client, settings, logger, stop.signal, ready, metrics);
  }
  for (const server of servers) server.close();
  logger.info({ outcome }, 'Operator stopped');
  return outcome === 'lost' ? 1 : 0;
}
