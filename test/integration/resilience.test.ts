// Nothing is lost: a dispatcher killed with SIGKILL in the middle of 10,000 events, and a
// RabbitMQ restart in the middle of a stream delivered by two dispatcher replicas. Status
// is written in batches (about once a second per Webhook) and replicas do not lose each
// other's counts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { interruptKubeApi, restartRabbitMq } from '../env/env.ts';
import { freshNamespace, testEnv } from '../env/handles.ts';
import { publishEvents } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  hookPath,
  rabbitSourceManifests,
  testClient,
  waitForReady,
  waitForSourceInPlace,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

function events(prefix: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    routingKey: 'ledger.transaction.created',
    messageId: `${prefix}-${i}`,
    body: JSON.stringify({ eventType: 'transaction', n: i }),
  }));
}

/** The event id a request carries: webhook-id under Standard Webhooks signing. */
function eventId(request: Receiver['requests'][number]): string {
  return String(request.headers['webhook-id'] ?? request.headers['hookline-event-id']);
}

function distinctIds(receiver: Receiver, prefix: string): Set<string> {
  return new Set(receiver.requests.map(eventId).filter((id) => id.startsWith(prefix)));
}

describe('nothing is lost', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let receiver: Receiver;
  const dispatchers: RunningProcess[] = [];

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('resilience');
    exchange = `ledger.${namespace}`;
    operator = startOperator({ namespace, env: { HOOKLINE_RESYNC_PERIOD: '5s' } });
    receiver = await startReceiver();
    await apply(namespace, rabbitSourceManifests('ledger', testEnv().rabbitmq.amqpUrl, exchange));
    await apply(
      namespace,
      `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: default}
spec:
  retry: {backoff: {delay: 50ms, max: 1s, attempts: 20, jitter: 0.2}}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: books}
spec:
  sourceRef: {name: ledger}
  url: http://127.0.0.1:${receiver.port}/books
  events: ["ledger.#"]
`,
    );
    await waitForReady(namespace, 'webhooks', 'books', 'True');
    await waitForSourceInPlace(namespace, 'ledger');
  });
  after(async () => {
    for (const dispatcher of dispatchers) await dispatcher.stop();
    await operator?.stop();
    await receiver?.close();
  });

  it('delivers all 10,000 events to a flaky receiver although the dispatcher is killed with SIGKILL midway', async () => {
    receiver.respondWith((_request, index) => (index % 7 === 3 ? answer.status(503) : answer.status(200)));
    await publishEvents(exchange, events('kill', 10_000));
    const first = await startDispatcher(namespace, 'ledger');
    dispatchers.push(first);
    await eventually('3,000 events delivered', () => distinctIds(receiver, 'kill').size >= 3000, {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    await first.kill();
    const atKill = distinctIds(receiver, 'kill').size;
    const second = await startDispatcher(namespace, 'ledger');
    dispatchers.push(second);
    await eventually(
      'all 10,000 events delivered',
      () => distinctIds(receiver, 'kill').size === 10_000 || undefined,
      {
        timeoutMs: 120_000,
        intervalMs: 100,
      },
    );
    const requests = receiver.requests.filter((r) => eventId(r).startsWith('kill')).length;
    process.stderr.write(
      `[kill -9] ${atKill} distinct events had arrived at the kill; 10000 after the restart, in ${requests} requests\n`,
    );
  });

  it('writes status about once a second per Webhook, and several replicas lose none of each other’s counts across a RabbitMQ restart', async (t) => {
    // Let the previous stream settle: no new request and no new count for two seconds.
    let last = '';
    await eventually(
      'the previous stream to settle',
      async () => {
        const hook = await getObject(namespace, 'webhooks', 'books');
        const now = `${receiver.requests.length}/${JSON.stringify(hook?.status?.deliveries)}`;
        const settled = now === last;
        last = now;
        return settled;
      },
      { timeoutMs: 60_000, intervalMs: 2000 },
    );
    const before = (await getObject(namespace, 'webhooks', 'books'))!.status as {
      deliveries: { succeeded: number };
      attempts: number;
    };
    const okBefore = receiver.requests.length;
    receiver.respondWith(answer.status(200));
    dispatchers.push(await startDispatcher(namespace, 'ledger'));

    // Count every write to the Webhook while the stream runs.
    let writes = 0;
    const stopWatching = new AbortController();
    t.after(() => stopWatching.abort());
    const list = await testClient().get<{ metadata: { resourceVersion: string } }>(
      hookPath(namespace, 'webhooks'),
    );
    const watching = testClient()
      .watch(
        hookPath(namespace, 'webhooks'),
        { resourceVersion: list.metadata.resourceVersion, fieldSelector: 'metadata.name=books' },
        (event) => {
          if (event.type === 'MODIFIED') writes++;
        },
        stopWatching.signal,
      )
      .catch(() => undefined);

    const began = performance.now();
    await publishEvents(exchange, events('restart', 5000));
    await eventually('1,000 events delivered', () => distinctIds(receiver, 'restart').size >= 1000, {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    await restartRabbitMq();
    await eventually(
      'all 5,000 events delivered after the broker restart',
      () => distinctIds(receiver, 'restart').size === 5000 || undefined,
      {
        timeoutMs: 120_000,
        intervalMs: 100,
      },
    );
    const seconds = (performance.now() - began) / 1000;
    for (const dispatcher of dispatchers.filter(
      (d) => d.child.exitCode === null && d.child.signalCode === null,
    )) {
      await dispatcher.waitForLog(
        'a reconnection by itself',
        (l) => l.msg === 'Reconnected to the broker',
        30_000,
      );
    }

    const delivered = receiver.requests.length - okBefore;
    let counted = 0;
    const settled = await eventually(
      'status to count every delivery of both replicas',
      async () => {
        const status = (await getObject(namespace, 'webhooks', 'books'))!.status as {
          deliveries: { succeeded: number };
        };
        counted = status.deliveries.succeeded - before.deliveries.succeeded;
        return counted === delivered ? status : undefined;
      },
      { timeoutMs: 20_000 },
    );
    stopWatching.abort();
    await watching;
    const rate = writes / (seconds + 2);
    process.stderr.write(
      `[status] ${delivered} deliveries (5000 events) in ${seconds.toFixed(1)} s by 2 replicas across a broker restart: ` +
        `${writes} status writes, ${rate.toFixed(2)} per second; succeeded ${settled.deliveries.succeeded}\n`,
    );
    assert.ok(
      rate <= 2.5,
      `${writes} writes in ${seconds.toFixed(1)} s: more than about one per second per replica`,
    );
  });

  it('keeps delivering while the Kubernetes API is unreachable, and writes the counts once it is back', async () => {
    const read = async () =>
      ((await getObject(namespace, 'webhooks', 'books'))!.status as { deliveries: { succeeded: number } })
        .deliveries.succeeded;
    let last = '';
    await eventually(
      'the previous stream to settle',
      async () => {
        const now = `${receiver.requests.length}/${await read()}`;
        const settled = now === last;
        last = now;
        return settled;
      },
      { timeoutMs: 60_000, intervalMs: 2000 },
    );
    const before = await read();
    const requestsBefore = receiver.requests.length;
    receiver.respondWith(answer.status(200));

    const outage = interruptKubeApi(8000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await publishEvents(exchange, events('outage', 2000));
    await eventually(
      '2,000 events delivered during the outage',
      () => distinctIds(receiver, 'outage').size === 2000 || undefined,
      {
        timeoutMs: 60_000,
        intervalMs: 50,
      },
    );
    const deliveredDuringOutage = receiver.requests.length - requestsBefore;
    await outage;
    await eventually(
      'the counts written once the API is back',
      async () => ((await read()) - before === receiver.requests.length - requestsBefore ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    process.stderr.write(
      `[api outage] ${deliveredDuringOutage} deliveries made while the API was down; status caught up after it returned\n`,
    );
  });
});
