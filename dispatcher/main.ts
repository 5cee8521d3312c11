// The dispatcher process of one EventSource: follows its Webhooks, delivers their queues,
// writes delivery status back, serves /healthz, /readyz and /metrics, and shuts down
// gracefully on SIGTERM (stop taking events, finish what is in hand, flush status).
import http from 'node:http';
import { pino } from 'pino';
import { eventRecorder } from '../core/kube/events.ts';
import { kubeClient } from '../core/kube/client.ts';
import { loadKubeAccess } from '../core/kube/config.ts';
import { BacklogSampler } from './backlog.ts';
import { amqpSession } from './broker/session.ts';
import { addressPolicy } from './deliver/address-policy.ts';
import { dispatcherMetrics, ingestRequestCounters } from './metrics.ts';
import { serveMetrics } from '../core/metrics.ts';
import { SecretReader } from './secrets.ts';
import { limitedServer } from './server.ts';
import { loadDispatcherSettings } from './settings.ts';
import { StatusWriter } from './status/writer.ts';
import { Supervisor } from './supervisor.ts';
import { startTracing } from './tracing.ts';
import { BeforeGate } from './gate.ts';
import { HttpIngest } from './ingest/http.ts';
import { KafkaIngest } from './ingest/kafka.ts';
import { KAFKA_CLIENTS } from './ingest/kafka-clients.ts';
import { KafkaSwitch } from './ingest/kafka-switch.ts';
import type { EventSourceSpec } from '../core/api/v1alpha1/eventsource.ts';
import { ingestDeadLetterExchangeName, ingestExchangeName } from '../core/rabbit/topology.ts';

export async function runDispatcher(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const settings = loadDispatcherSettings(argv, env);
  const logger = pino({
    level: settings.logLevel,
    base: { component: 'hookline-dispatcher', namespace: settings.namespace, source: settings.source },
  });
  const kubeAccess = await loadKubeAccess(settings.kubeconfig);
  const client = kubeClient(kubeAccess, { fieldManager: 'hookline-dispatcher' });
  const metrics = dispatcherMetrics();
  const tracing = startTracing({
    env,
    namespace: settings.namespace,
    source: settings.source,
    logger,
  });
  const session = amqpSession(
    settings.brokerUri,
    logger,
    `hookline-dispatcher ${settings.namespace}/${settings.source}`,
  );
  // The writer reads the supervisor's cache; the supervisor needs the writer: tie the knot.
  const follow: { supervisor?: Supervisor } = {};
  const secrets = new SecretReader(client, settings.namespace, logger);
  const sourceChanges: { listener?: (spec: EventSourceSpec | undefined) => void } = {};
  const recorder = eventRecorder(client, 'hookline-dispatcher', logger);
  const status = new StatusWriter({
    client,
    namespace: settings.namespace,
    logger,
    intervalMs: settings.statusIntervalMs,
    maxWritesPerInterval: settings.statusWritesPerInterval,
    onWrite: () => metrics.statusWrites.inc({ namespace: settings.namespace }),
    onRefused: (webhook) => metrics.statusWritesRefused.inc({ namespace: settings.namespace, webhook }),
    onFailed: (webhook) => metrics.statusWriteFailures.inc({ namespace: settings.namespace, webhook }),
    recorder,
    cached: (name) => follow.supervisor?.cachedWebhook(name),
  });
  const supervisor = new Supervisor({
    client,
    namespace: settings.namespace,
    source: settings.source,
    session,
    status,
    secrets,
    onSourceChange: (spec) => sourceChanges.listener?.(spec),
    addresses: addressPolicy(settings.allowedCidrs),
    allowHttpUrls: settings.allowHttpUrls,
    metrics,
    recorder,
    logger,
    tracing,
  });
  follow.supervisor = supervisor;

  const target = {
    exchange: ingestExchangeName(settings.namespace, settings.source),
    deadLetterExchange: ingestDeadLetterExchangeName(settings.namespace, settings.source),
  };
  const ingestLabels = { namespace: settings.namespace, source: settings.source };
  const kafka = new KafkaSwitch({
    build: (spec) =>
      new KafkaIngest({
        namespace: settings.namespace,
        source: settings.source,
        spec,
        session,
        target,
        secrets,
        consume: KAFKA_CLIENTS[settings.kafkaClient],
        counters: {
          accepted: (n) => metrics.ingested.inc({ ...ingestLabels, path: 'kafka', outcome: 'accepted' }, n),
          deadLettered: (n) =>
            metrics.ingested.inc({ ...ingestLabels, path: 'kafka', outcome: 'dead_lettered' }, n),
        },
        logger: logger.child({ ingest: 'kafka', client: settings.kafkaClient }),
        tracing,
      }),
    logger,
  });
  sourceChanges.listener = (spec) => kafka.follow(spec);
  const gate = new BeforeGate({
    hooks: () => supervisor.beforeHooks(),
    status,
    logger,
    tracing,
    onVerdict: (verdict) =>
      metrics.gateVerdicts.inc({
        namespace: settings.namespace,
        webhook: verdict.webhook,
        verdict: verdict.allowed ? 'allowed' : 'denied',
      }),
  });
  const ingest = new HttpIngest({
    namespace: settings.namespace,
    source: settings.source,
    spec: () => supervisor.sourceSpec,
    session,
    target,
    secrets,
    gate,
    counters: ingestRequestCounters(metrics, ingestLabels),
    logger: logger.child({ ingest: 'http' }),
    tracing,
  });

  let stopping = false;
  let overCapacitySince = 0;
  let overCapacity = 0;
  const server = limitedServer(settings, serveRequest, () => {
    // Reported at most once a minute, with how many were refused since.
    overCapacity++;
    if (Date.now() - overCapacitySince < 60_000) return;
    logger.warn(
      { refused: overCapacity, maxConnections: settings.maxConnections },
      'Refused connections over the connection limit (503)',
    );
    overCapacitySince = Date.now();
    overCapacity = 0;
  });
  function serveRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (ingest.handle(req, res)) return;
    if (req.url === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    if (req.url === '/readyz') {
      const ready = !stopping && session.connected && supervisor.synced && supervisor.resolved && kafka.ready;
      res.writeHead(ready ? 200 : 503).end(ready ? 'ready' : 'not ready');
      return;
    }
    if (req.url === '/metrics') return serveMetrics(metrics.registry, res);
    res.writeHead(404).end();
  }
  await new Promise<void>((resolve) => server.listen(settings.port, resolve));
  const address = server.address();
  logger.info(
    { port: typeof address === 'object' && address ? address.port : settings.port },
    'Dispatcher listening',
  );

  const backlog = new BacklogSampler({
    namespace: settings.namespace,
    source: settings.source,
    session,
    metrics,
    status,
    webhooks: () => supervisor.observedWebhooks(),
    kafkaLag: () => kafka.lag(),
    intervalMs: settings.sampleIntervalMs,
    logger,
  });

  status.start();
  await supervisor.start();
  backlog.start();
  logger.info('Dispatcher started');

  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  stopping = true;
  logger.info('Shutting down: finishing deliveries in hand');
  // A connection lost now (the broker restarting, the source's broker user deleted with
  // the source) is not opened again: what was unacknowledged on it is back in its queue.
  session.drain();
  const finished = await withinMs(SHUTDOWN_MS, async () => {
    await backlog.stop();
    await kafka.stop();
    await supervisor.stop();
    await status.stop();
    await tracing.shutdown();
  });
  if (!finished)
    logger.warn(
      { afterMs: SHUTDOWN_MS },
      'Stopped before the deliveries in hand finished; the broker gives them to the next dispatcher',
    );
  await session.close();
  server.close();
  logger.info({ statusWrites: status.writes }, 'Dispatcher stopped');
}

/** Well inside the pod's termination grace period (30 s), after which the kubelet kills it. */
const SHUTDOWN_MS = 25_000;

/** Whether `work` finished within `ms`. */
async function withinMs(ms: number, work: () => Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work().then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
