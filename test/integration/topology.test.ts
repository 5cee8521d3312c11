// Delivery topology v2 against the real broker: shared delay queues with no head-of-line
// blocking, a constant number of queues, no queue for Before hooks, retries that are routed
// or kept, replay with full retries, Strict ordering without polling, exchange types, and
// the upgrade from the first version's per-Webhook retry queues.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { amqpConnect, freshNamespace, kubectl, rabbitApi, testEnv } from '../env/handles.ts';
import { TOPOLOGY_VERSION } from '../../core/rabbit/topology.ts';
import { publishEvents, queueDepth } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  hookPath,
  rabbitSourceManifests,
  testClient,
  waitForReady,
  waitForSourceInPlace,
  type HooklineObject,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver, type RecordedRequest } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

interface QueueRow {
  name: string;
  type?: string;
  messages?: number;
  message_stats?: { get?: number; get_no_ack?: number; get_empty?: number };
}

const vhost = encodeURIComponent('/');

async function queuesOf(prefix: string): Promise<QueueRow[]> {
  const rows =
    (await rabbitApi<QueueRow[]>(`/queues/${vhost}?columns=name,type,messages,message_stats`)) ?? [];
  return rows.filter((q) => q.name.startsWith(prefix));
}

/** Waits for a Webhook to be Ready; on a timeout, says what its status and the operator said. */
async function webhookReady(namespace: string, name: string, operator: OperatorProcess): Promise<void> {
  try {
    await waitForReady(namespace, 'webhooks', name, 'True', undefined, 60_000);
  } catch (error) {
    const status = (await getObject(namespace, 'webhooks', name))?.status;
    const warnings = operator.logs.filter((l) => l.level >= 40).map((l) => JSON.stringify(l).slice(0, 400));
    throw new Error(`${(error as Error).message}\nstatus: ${JSON.stringify(status)}\n${warnings.join('\n')}`);
  }
}

const eventIdOf = (r: RecordedRequest) => String(r.headers['hookline-event-id']);

async function metricsOf(dispatcher: RunningProcess): Promise<string> {
  const port = dispatcher.logs.find((l) => l.msg === 'Dispatcher listening')?.port as number;
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

async function setUp(prefix: string, env: Record<string, string> = {}) {
  await installCrds();
  const namespace = await freshNamespace(prefix);
  const exchange = `events.${namespace}`;
  const operator = startOperator({ namespace, env: { HOOKLINE_RESYNC_PERIOD: '5s', ...env } });
  await apply(namespace, rabbitSourceManifests('orders', testEnv().rabbitmq.amqpUrl, exchange));
  await waitForSourceInPlace(namespace, 'orders');
  return { namespace, exchange, operator };
}

const hook = (name: string, receiver: Receiver, extra: string) => `apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${name}}
spec:
  sourceRef: {name: orders}
  url: http://127.0.0.1:${receiver.port}/${name}
  signing: {scheme: none}
${extra}`;

describe('shared delay queues', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  const receivers: Record<string, Receiver> = {};

  before(async () => {
    ({ namespace, exchange, operator } = await setUp('delays'));
    // slow: answers the first attempt of "a" with Retry-After: 120 s, and of "b" with a
    // plain 503 (retried after 1 s); then 200.
    receivers.slow = await startReceiver((request) => {
      const seen = receivers.slow!.requests.filter((r) => eventIdOf(r) === eventIdOf(request)).length;
      if (seen > 1) return answer.status(200);
      const id = eventIdOf(request);
      if (id === 'a') return answer.status(503, 'busy', { 'retry-after': '120' });
      if (id === 'c') return answer.status(429, 'slow down', { 'retry-after': '12' });
      return answer.status(503, 'busy');
    });
    receivers.flaky = await startReceiver(answer.status(500));
    receivers.replay = await startReceiver(answer.status(500));
    await apply(
      namespace,
      [
        `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: patient}
spec:
  retry: {schedule: [1s, 1s]}
  retryAfterMax: 5m
---
apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: four}
spec:
  retry: {schedule: [300ms, 300ms, 3s, 3s]}
---
apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: short}
spec:
  retry: {schedule: [100ms, 100ms]}
  onExhausted: {deadLetter: true}
`,
        hook('slow', receivers.slow, '  events: ["slow.#"]\n  policyRef: {name: patient}\n'),
        hook('flaky', receivers.flaky, '  events: ["flaky.#"]\n  policyRef: {name: four}\n'),
        hook('replay', receivers.replay, '  events: ["replay.#"]\n  policyRef: {name: short}\n'),
      ].join('---\n'),
    );
    for (const name of ['slow', 'flaky', 'replay']) await webhookReady(namespace, name, operator);
    dispatcher = await startDispatcher(namespace, 'orders');
    await eventually(
      'three workers',
      () => dispatcher.logs.filter((l) => l.msg === 'Delivering to Webhook').length >= 3,
    );
  });
  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    for (const receiver of Object.values(receivers)) await receiver.close();
  });

  it('delivers a 1 s retry while another event waits out a 120 s Retry-After', async () => {
    await publishEvents(exchange, [{ routingKey: 'slow.x', messageId: 'a', body: '{"n":"a"}' }]);
    await receivers.slow!.waitForRequests(1, 10_000);
    await publishEvents(exchange, [{ routingKey: 'slow.x', messageId: 'b', body: '{"n":"b"}' }]);
    const requests = await receivers.slow!.waitForRequests(3, 10_000);
    const b = requests.filter((r) => eventIdOf(r) === 'b');
    assert.equal(b.length, 2, 'b was retried');
    const gap = b[1]!.receivedAtMonotonic - b[0]!.receivedAtMonotonic;
    process.stderr.write(`[delays] b retried after ${Math.round(gap)} ms while a waits 120 s\n`);
    assert.ok(gap >= 900 && gap < 3000, `b came back after ${Math.round(gap)} ms`);
    assert.equal(requests.filter((r) => eventIdOf(r) === 'a').length, 1, 'a still waits');
  });

  it('honours a Retry-After over 10 s to within 10 %', async () => {
    await publishEvents(exchange, [{ routingKey: 'slow.x', messageId: 'c', body: '{"n":"c"}' }]);
    const c = await eventually(
      'c retried',
      () => {
        const seen = receivers.slow!.requests.filter((r) => eventIdOf(r) === 'c');
        return seen.length >= 2 ? seen : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const gap = c[1]!.receivedAtMonotonic - c[0]!.receivedAtMonotonic;
    process.stderr.write(`[delays] Retry-After: 12 honoured after ${Math.round(gap)} ms\n`);
    assert.ok(gap >= 11_900 && gap <= 13_200, `c came back after ${Math.round(gap)} ms`);
  });

  it('loses no waiting retry when the policy goes from 4 retries to 2', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `f-${i}`);
    await publishEvents(
      exchange,
      ids.map((id) => ({ routingKey: 'flaky.x', messageId: id, body: `{"id":"${id}"}` })),
    );
    // Every event fails its first three attempts and waits 3 s for its fourth.
    await eventually(
      'every event at its third attempt',
      () => ids.every((id) => receivers.flaky!.requests.filter((r) => eventIdOf(r) === id).length >= 3),
      { timeoutMs: 20_000 },
    );
    await apply(
      namespace,
      'apiVersion: hookline.dev/v1alpha1\nkind: CallbackPolicy\nmetadata: {name: four}\nspec:\n  retry: {schedule: [300ms, 300ms]}\n',
    );
    receivers.flaky!.respondWith(answer.status(200));
    await eventually(
      'every event delivered',
      () =>
        ids.every((id) =>
          receivers.flaky!.requests.some((r) => eventIdOf(r) === id && r.headers['hookline-attempt'] === '4'),
        ),
      { timeoutMs: 30_000 },
    );
  });

  it('replays dead-lettered events with their full retries and their event id', async () => {
    await publishEvents(exchange, [{ routingKey: 'replay.x', messageId: 'r-1', body: '{"r":1}' }]);
    await eventually(
      'the event dead-lettered',
      async () => (await queueDepth(`hookline.${namespace}.replay.dlq`)) === 1,
      { timeoutMs: 20_000 },
    );
    assert.equal(receivers.replay!.requests.length, 3);
    const before = receivers.replay!.requests.length;
    // The receiver fails twice more, then takes it.
    receivers.replay!.respondWith((_request, index) =>
      index < before + 2 ? answer.status(500) : answer.status(200),
    );
    await kubectl(['annotate', '-n', namespace, 'webhook', 'replay', `hookline.dev/replay=${Date.now()}`]);
    const requests = await receivers.replay!.waitForRequests(before + 3, 20_000);
    const replayed = requests.slice(before);
    assert.deepEqual(replayed.map(eventIdOf), ['r-1', 'r-1', 'r-1']);
    assert.deepEqual(
      replayed.map((r) => r.headers['hookline-attempt']),
      ['1', '2', '3'],
    );
    await eventually(
      'the dead-letter queue empty',
      async () => (await queueDepth(`hookline.${namespace}.replay.dlq`)) === 0,
    );
  });

  it('keeps a retry the broker cannot route, reports it, and delivers once the route is back', async () => {
    receivers.flaky!.respondWith((request) =>
      eventIdOf(request) === 'kept' ? answer.status(500) : answer.status(200),
    );
    const entry = `hookline.${namespace}.~delay.27`;
    const connection = await amqpConnect();
    const channel = await connection.createChannel();
    await channel.deleteExchange(entry);
    await connection.close();
    await publishEvents(exchange, [{ routingKey: 'flaky.x', messageId: 'kept', body: '{"kept":true}' }]);
    await eventually('an unroutable retry counted', async () =>
      /hookline_unroutable_total\{[^}]*webhook="flaky"[^}]*\} [1-9]/.test(await metricsOf(dispatcher)),
    );
    const events = await kubectl(['get', 'events', '-n', namespace, '--field-selector', 'reason=Unroutable']);
    assert.match(events.stdout, /Unroutable/);
    // The event was kept: it is attempted again, always as its first attempt.
    const attempts = receivers.flaky!.requests.filter((r) => eventIdOf(r) === 'kept');
    assert.ok(attempts.every((r) => r.headers['hookline-attempt'] === '1'));
    // The operator declares the delay infrastructure again on its next resync (5 s here).
    await eventually(
      'the delay entry exchange back',
      async () => (await rabbitApi(`/exchanges/${vhost}/${encodeURIComponent(entry)}`)) !== undefined,
      { timeoutMs: 30_000 },
    );
    receivers.flaky!.respondWith(answer.status(200));
    const before = receivers.flaky!.requests.length;
    await eventually(
      'the kept event delivered',
      () => receivers.flaky!.requests.slice(before).some((r) => eventIdOf(r) === 'kept'),
      { timeoutMs: 20_000 },
    );
  });

  it('keeps a constant number of delay queues per namespace and at most two queues per Unordered Webhook', async () => {
    const delayQueues = await queuesOf(`hookline.${namespace}.~delay.`);
    assert.equal(delayQueues.length, 29, delayQueues.map((q) => q.name).join(' '));
    const extra = Array.from({ length: 5 }, (_, i) => `more-${i}`);
    await apply(
      namespace,
      extra.map((name) => hook(name, receivers.flaky!, '  events: ["more.#"]\n')).join('---\n'),
    );
    for (const name of extra) await webhookReady(namespace, name, operator);
    for (const name of ['slow', 'flaky', 'replay', ...extra]) {
      const queues = (await queuesOf(`hookline.${namespace}.${name}`)).map((q) => q.name).sort();
      assert.deepEqual(queues, [`hookline.${namespace}.${name}`, `hookline.${namespace}.${name}.dlq`]);
    }
    assert.equal((await queuesOf(`hookline.${namespace}.~delay.`)).length, 29, 'no more delay queues');
    // New Webhooks get quorum queues, the delay infrastructure too (RabbitMQ's recommendation).
    assert.deepEqual([...new Set((await queuesOf(`hookline.${namespace}.`)).map((q) => q.type))], ['quorum']);
    const all = await queuesOf(`hookline.${namespace}.`);
    assert.equal(all.length, 29 + 2 * 8);
    // Each dead-letter queue is bound by its own name on the namespace's one direct exchange,
    // which is how a dispatcher (without rights on the default exchange) reaches it.
    const direct = `hookline.${namespace}.~direct`;
    const bound = await rabbitApi<{ destination: string; routing_key: string }[]>(
      `/exchanges/%2F/${encodeURIComponent(direct)}/bindings/source`,
    );
    assert.deepEqual(
      (bound ?? []).map((b) => `${b.routing_key} -> ${b.destination}`).sort(),
      ['slow', 'flaky', 'replay', ...extra]
        .map((name) => `hookline.${namespace}.${name}.dlq`)
        .sort()
        .map((queue) => `${queue} -> ${queue}`),
    );
  });
});

describe('Strict ordering, Before hooks and exchange types', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  let receiver: Receiver;

  before(async () => {
    ({ namespace, exchange, operator } = await setUp('strict'));
    receiver = await startReceiver(answer.status(200));
    await apply(
      namespace,
      [
        'apiVersion: hookline.dev/v1alpha1\nkind: CallbackPolicy\nmetadata: {name: strict}\nspec:\n  ordering: Strict\n  retry: {schedule: [1s]}\n',
        hook('ordered', receiver, '  events: ["ordered.#"]\n  policyRef: {name: strict}\n'),
      ].join('---\n'),
    );
    await webhookReady(namespace, 'ordered', operator);
    dispatcher = await startDispatcher(namespace, 'orders');
    await dispatcher.waitForLog('strict delivery', (l) => l.msg === 'Delivering in strict order');
  });
  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    await receiver?.close();
  });

  it('makes no broker requests for an idle Strict hook over 10 s', async () => {
    const queues = [`hookline.${namespace}.ordered`, `hookline.${namespace}.ordered.head`];
    const gets = async () =>
      (await queuesOf(`hookline.${namespace}.ordered`))
        .filter((q) => queues.includes(q.name))
        .map(
          (q) =>
            (q.message_stats?.get ?? 0) +
            (q.message_stats?.get_no_ack ?? 0) +
            (q.message_stats?.get_empty ?? 0),
        )
        .reduce((a, b) => a + b, 0);
    // The management API's figures lag by its statistics interval (5 s).
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const first = await gets();
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    const second = await gets();
    process.stderr.write(`[strict] basic.get on the idle hook's queues: ${first} then ${second}\n`);
    assert.equal(second, first, 'no basic.get while idle');
  });

  it('delivers in order through a retried head event', async () => {
    receiver.respondWith((request) =>
      eventIdOf(request) === 's-1' && receiver.requests.filter((r) => eventIdOf(r) === 's-1').length === 1
        ? answer.status(503)
        : answer.status(200),
    );
    const before = receiver.requests.length;
    await publishEvents(
      exchange,
      ['s-1', 's-2', 's-3'].map((id) => ({ routingKey: 'ordered.x', messageId: id, body: `{"id":"${id}"}` })),
    );
    const requests = await receiver.waitForRequests(before + 4, 15_000);
    assert.deepEqual(requests.slice(before).map(eventIdOf), ['s-1', 's-1', 's-2', 's-3']);
    assert.equal(await queueDepth(`hookline.${namespace}.ordered.head`), 0);
  });

  it('gives a Before hook no queue, so After events matching its pattern pile up nowhere', async () => {
    await apply(
      namespace,
      `apiVersion: v1
kind: Secret
metadata: {name: ingest}
stringData: {tokens: "t0ken"}
---
apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: api}
spec:
  http: {authSecretRef: {name: ingest}}
  eventType: {template: "{/type}"}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: gate}
spec:
  sourceRef: {name: api}
  phase: Before
  url: http://127.0.0.1:${receiver.port}/gate
  events: ["app.*"]
  signing: {scheme: none}
`,
    );
    await webhookReady(namespace, 'gate', operator);
    const apiExchange = `hookline.${namespace}.api`;
    await eventually(
      'the http source exchange',
      async () => (await rabbitApi(`/exchanges/${vhost}/${encodeURIComponent(apiExchange)}`)) !== undefined,
    );
    await publishEvents(
      apiExchange,
      Array.from({ length: 1000 }, (_, i) => ({
        routingKey: 'app.created',
        body: `{"type":"app.created","i":${i}}`,
      })),
    );
    assert.deepEqual(await queuesOf(`hookline.${namespace}.gate`), []);
    const gate = await getObject(namespace, 'webhooks', 'gate');
    assert.equal((gate?.status as { queue?: string }).queue, undefined);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    // The broker's own count (the management API's figures lag by up to 5 s).
    const holding: string[] = [];
    for (const q of await queuesOf(`hookline.${namespace}.`))
      if ((await queueDepth(q.name)) > 0) holding.push(q.name);
    assert.deepEqual(holding, [], 'no queue holds the 1,000 events');
  });

  it('binds exact keys on a direct exchange, refuses wildcards there, ignores events on fanout, refuses headers', async () => {
    const connection = await amqpConnect();
    const channel = await connection.createChannel();
    await channel.assertExchange(`direct.${namespace}`, 'direct', { durable: true });
    await channel.assertExchange(`fanout.${namespace}`, 'fanout', { durable: true });
    await connection.close();
    const source = (name: string, type: string) => `apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: ${name}}
spec:
  rabbitmq: {connectionSecretRef: {name: broker}, exchange: ${type}.${namespace}, exchangeType: ${type}}
`;
    const typed = (name: string, src: string, events: string) => `apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${name}}
spec:
  sourceRef: {name: ${src}}
  url: http://127.0.0.1:${receiver.port}/${name}
  events: ${events}
  signing: {scheme: none}
`;
    await apply(
      namespace,
      [
        source('direct', 'direct'),
        source('fanout', 'fanout'),
        typed('exact', 'direct', '["order.created"]'),
        typed('wild', 'direct', '["order.*"]'),
        typed('all', 'fanout', '["ignored.key"]'),
      ].join('---\n'),
    );
    const wild = await waitForReady(namespace, 'webhooks', 'wild', 'False', 'InvalidSpec');
    assert.match(
      wild.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '',
      /spec\.events.*direct.*"order\.\*"/,
    );
    await webhookReady(namespace, 'exact', operator);
    await webhookReady(namespace, 'all', operator);
    const direct = await startDispatcher(namespace, 'direct');
    const fanout = await startDispatcher(namespace, 'fanout');
    try {
      const before = receiver.requests.length;
      await publishEvents(`direct.${namespace}`, [
        { routingKey: 'order.created', messageId: 'd-1', body: '{}' },
        { routingKey: 'order.deleted', messageId: 'd-2', body: '{}' },
      ]);
      await publishEvents(`fanout.${namespace}`, [{ routingKey: 'whatever', messageId: 'f-1', body: '{}' }]);
      await receiver.waitForRequests(before + 2, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const got = receiver.requests
        .slice(before)
        .map((r) => `${r.path}:${eventIdOf(r)}`)
        .sort();
      assert.deepEqual(got, ['/all:f-1', '/exact:d-1']);
    } finally {
      await direct.stop();
      await fanout.stop();
    }
    const refused = await kubectl(['apply', '-n', namespace, '-f', '-'], source('hdrs', 'headers')).catch(
      (error: unknown) => error as { stderr?: string; message?: string },
    );
    assert.match(
      String(refused.stderr ?? (refused as Error).message),
      /exchangeType: headers exchanges are not supported/,
    );
  });

  it('reports a source exchange of another type than declared', async () => {
    const connection = await amqpConnect();
    const channel = await connection.createChannel();
    await channel.assertExchange(`mismatch.${namespace}`, 'fanout', { durable: true });
    await connection.close();
    await apply(
      namespace,
      `apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: mismatch}
spec:
  rabbitmq: {connectionSecretRef: {name: broker}, exchange: mismatch.${namespace}, exchangeType: topic}
`,
    );
    const source = await waitForReady(namespace, 'eventsources', 'mismatch', 'False', 'ExchangeMismatch');
    assert.match(source.status?.conditions?.[0]?.message ?? '', /fanout|topic/);
  });
});

describe('upgrade from the first version topology', () => {
  it('drains the per-Webhook retry queues into the new topology, losing no waiting event', async () => {
    await installCrds();
    const namespace = await freshNamespace('upgrade');
    const exchange = `events.${namespace}`;
    const prefix = `hookline.${namespace}.legacy`;
    const receiver = await startReceiver(answer.status(200));
    // What the first version left: a classic queue bound to the source, a head queue, two
    // retry queues holding events with per-message TTLs, and a return exchange.
    const connection = await amqpConnect();
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange(exchange, 'topic', { durable: true });
    await channel.assertExchange(`${prefix}.return`, 'fanout', { durable: true });
    for (const q of [prefix, `${prefix}.head`, `${prefix}.dlq`])
      await channel.assertQueue(q, { durable: true });
    for (const level of [1, 2])
      await channel.assertQueue(`${prefix}.retry.${level}`, {
        durable: true,
        arguments: { 'x-dead-letter-exchange': `${prefix}.return` },
      });
    await channel.bindQueue(prefix, `${prefix}.return`, '');
    await channel.bindQueue(prefix, exchange, 'legacy.#');
    const put = (queue: string, id: string, attempt: number) =>
      channel.sendToQueue(queue, Buffer.from(`{"id":"${id}"}`), {
        persistent: true,
        messageId: id,
        expiration: '600000',
        headers: { 'x-hookline-event-id': id, 'x-hookline-attempt': attempt },
      });
    put(prefix, 'waiting-in-queue', 1);
    put(`${prefix}.retry.1`, 'waiting-retry-1', 2);
    put(`${prefix}.retry.2`, 'waiting-retry-2', 3);
    await channel.waitForConfirms();
    await connection.close();

    // The Webhook and the status the first version wrote, before this operator starts.
    await apply(
      namespace,
      `${rabbitSourceManifests('orders', testEnv().rabbitmq.amqpUrl, exchange)}---
${hook('legacy', receiver, '  events: ["legacy.#"]\n')}`,
    );
    const path = hookPath(namespace, 'webhooks', 'legacy');
    await eventually('the Webhook', () => testClient().find<HooklineObject>(path));
    await testClient().mergePatch(`${path}/status`, {
      status: {
        topology: {
          broker: 'secret:broker/uri',
          exchange,
          bindings: ['legacy.#'],
          retryQueues: 2,
          returnTo: prefix,
        },
      },
    });
    const operator = startOperator({ namespace, env: { HOOKLINE_RESYNC_PERIOD: '5s' } });
    let dispatcher: RunningProcess | undefined;
    try {
      await eventually(
        'the retry queues gone',
        async () =>
          (await queuesOf(prefix))
            .map((q) => q.name)
            .sort()
            .join(' ') === `${prefix} ${prefix}.dlq`,
        { timeoutMs: 30_000 },
      );
      const status = (await getObject(namespace, 'webhooks', 'legacy'))?.status as {
        topology?: Record<string, unknown>;
      };
      assert.equal(status.topology?.version, TOPOLOGY_VERSION);
      assert.equal(status.topology?.queueType, 'classic', 'the existing queue keeps its type');
      assert.equal(
        await rabbitApi(`/exchanges/${vhost}/${encodeURIComponent(`${prefix}.return`)}`),
        undefined,
      );
      await waitForSourceInPlace(namespace, 'orders');
      dispatcher = await startDispatcher(namespace, 'orders');
      const requests = await receiver.waitForRequests(3, 20_000);
      assert.deepEqual(requests.map(eventIdOf).sort(), [
        'waiting-in-queue',
        'waiting-retry-1',
        'waiting-retry-2',
      ]);
    } finally {
      await dispatcher?.stop();
      await operator.stop();
      await receiver.close();
    }
  });
});
