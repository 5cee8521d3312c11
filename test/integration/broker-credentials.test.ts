// Tenant isolation on the operator's default broker: each source's dispatcher connects as a
// broker user of its own, made by the operator through RabbitMQ's management API, whose
// rights reach only its namespace's objects. Two namespaces on the real broker: A's
// dispatcher credential (read from the Secret the operator wrote, as a pod would) is
// refused by RabbitMQ on every one of B's queues and exchanges, and A's own deliveries, dead
// letters and Strict retries go through on it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { resourcePath } from '../../core/kube/client.ts';
import { freshNamespace, kubectl, rabbitApi, testEnv } from '../env/handles.ts';
import { queueDepth } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  secretManifest,
  testClient,
  waitForReady,
  waitForSourceInPlace,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { readSecret } from '../fixtures/secrets.ts';
import { eventually } from '../fixtures/wait.ts';

const TOKEN = 'producer-token-creds-41d0';

/** An http source on the default broker, an Unordered and a Strict Webhook. */
function manifests(receiverUrl: string): string {
  return `${secretManifest('ingest-token', { tokens: TOKEN })}
---
apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: ingest}
spec:
  http: {authSecretRef: {name: ingest-token, key: tokens}}
  eventType: {template: '{/type}'}
---
apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: strict}
spec:
  ordering: Strict
  retry: {schedule: [1s, 1s, 1s]}
---
apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: quick}
spec:
  retry: {schedule: [1s, 1s, 1s]}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: orders}
spec:
  sourceRef: {name: ingest}
  url: ${receiverUrl}/orders
  events: ['order.*']
  policyRef: {name: quick}
  signing: {scheme: none}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ledger}
spec:
  sourceRef: {name: ingest}
  url: ${receiverUrl}/ledger
  events: ['ledger.*']
  policyRef: {name: strict}
  signing: {scheme: none}
`;
}

/** Runs `operation` on a fresh channel of `connection` and answers the AMQP reply code that closed it, if any. */
async function refusal(
  connection: amqp.ChannelModel,
  operation: (channel: amqp.ConfirmChannel) => Promise<unknown>,
): Promise<number | undefined> {
  const channel = await connection.createConfirmChannel();
  let code: number | undefined;
  const closed = new Promise<void>((resolve) => {
    channel.on('error', (error: { code?: number }) => {
      code = error.code;
    });
    channel.on('close', () => resolve());
  });
  try {
    await operation(channel);
    // A publish is refused asynchronously: the broker closes the channel.
    await channel.waitForConfirms().catch(() => undefined);
  } catch (error) {
    code ??= (error as { code?: number }).code;
  }
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
  if (code === undefined) await channel.close().catch(() => undefined);
  return code;
}

const ACCESS_REFUSED = 403;

describe('per-source broker credentials on the default broker', () => {
  const ns = { a: '', b: '' };
  const operators: OperatorProcess[] = [];
  let dispatcher: RunningProcess | undefined;
  let receiver: Receiver;
  let uriA: string;

  before(async () => {
    await installCrds();
    ns.a = await freshNamespace('creds-a');
    ns.b = await freshNamespace('creds-b');
    // orders: the body's "answer" field is the status to give; ledger: 503 once, then 200.
    const ledgerSeen = new Set<string>();
    receiver = await startReceiver((request) => {
      const body = JSON.parse(request.body.toString()) as { id: string; answer?: number };
      if (request.path.endsWith('/ledger')) {
        const first = !ledgerSeen.has(body.id);
        ledgerSeen.add(body.id);
        return answer.status(first ? 503 : 200);
      }
      return answer.status(body.answer ?? 200);
    });
    for (const namespace of [ns.a, ns.b]) {
      operators.push(startOperator({ namespace }));
      await apply(namespace, manifests(receiver.url));
    }
    for (const namespace of [ns.a, ns.b]) {
      await waitForSourceInPlace(namespace, 'ingest', 60_000);
      for (const hook of ['orders', 'ledger']) await waitForReady(namespace, 'webhooks', hook, 'True');
    }
    uriA = await readSecret(ns.a, 'hookline-broker-ingest', 'uri');
  });

  after(async () => {
    await dispatcher?.stop();
    await Promise.all(operators.map((operator) => operator.stop()));
    await receiver?.close();
  });

  it("gives the dispatcher a user of the source's own, never the operator's credential", async () => {
    const admin = new URL(testEnv().rabbitmq.amqpUrl);
    const own = new URL(uriA);
    const user = `hookline~${ns.a}~ingest`;
    assert.equal(decodeURIComponent(own.username), user);
    assert.notEqual(decodeURIComponent(own.username), decodeURIComponent(admin.username));
    assert.notEqual(own.password, admin.password);
    assert.ok(own.password.length >= 40, 'the generated password is 32 random bytes');
    assert.equal(own.host, admin.host);
    const source = await getObject(ns.a, 'eventsources', 'ingest');
    assert.deepEqual((source?.status as { brokerCredentials?: unknown }).brokerCredentials, { user });
    const found = await rabbitApi<{ name: string; tags: unknown }>(`/users/${encodeURIComponent(user)}`);
    assert.equal(found?.name, user);
    assert.deepEqual(found?.tags, [], 'no management access');
    const permissions = await rabbitApi<{ configure: string; write: string; read: string }>(
      `/permissions/%2F/${encodeURIComponent(user)}`,
    );
    assert.deepEqual(
      { configure: permissions?.configure, write: permissions?.write, read: permissions?.read },
      {
        configure: `^hookline-lock\\.${ns.a}\\.`,
        write: `^(hookline|hookline-ingest)\\.${ns.a}\\.`,
        read: `^(hookline|hookline-ingest)\\.${ns.a}\\.`,
      },
    );
  });

  it("refuses A's credential on every one of B's queues and exchanges (ACCESS_REFUSED)", async () => {
    const connection = await amqp.connect(uriA);
    try {
      const b = (rest: string) => `hookline.${ns.b}.${rest}`;
      const body = Buffer.from('{"id":"intruder","type":"order.created"}');
      const attempts: [string, (channel: amqp.ConfirmChannel) => Promise<unknown>][] = [
        ["consume B's queue", (c) => c.consume(b('orders'), () => undefined)],
        ["consume B's dead-letter queue", (c) => c.consume(b('orders.dlq'), () => undefined)],
        ["take one from B's head queue", (c) => c.get(b('ledger.head'))],
        ["purge B's queue", (c) => c.purgeQueue(b('orders'))],
        ["delete B's queue", (c) => c.deleteQueue(b('orders'))],
        [
          "publish into B's source exchange",
          (c) => Promise.resolve(c.publish(b('ingest'), 'order.created', body)),
        ],
        [
          "publish into B's delay exchange",
          (c) => Promise.resolve(c.publish(b('~delay.27'), '0.1.orders', body)),
        ],
        [
          "publish into B's direct exchange",
          (c) => Promise.resolve(c.publish(b('~direct'), b('orders.dlq'), body)),
        ],
        [
          "publish into B's ingest dead-letter exchange",
          (c) => Promise.resolve(c.publish(`hookline-ingest.${ns.b}.ingest.dlq`, '', body)),
        ],
        [
          "publish straight to B's queue (default exchange)",
          (c) => Promise.resolve(c.sendToQueue(b('orders'), body)),
        ],
        [
          "publish to A's own queue through the default exchange",
          (c) => Promise.resolve(c.sendToQueue(`hookline.${ns.a}.orders`, body)),
        ],
        ["declare a queue among B's", (c) => c.assertQueue(b('intruder'), { durable: true })],
        ["declare an exchange among B's", (c) => c.assertExchange(b('intruder'), 'topic')],
        ["bind A's queue to B's exchange", (c) => c.bindQueue(`hookline.${ns.a}.orders`, b('ingest'), '#')],
        ["bind B's queue to A's exchange", (c) => c.bindQueue(b('orders'), `hookline.${ns.a}.ingest`, '#')],
        [
          "declare a queue in A's own namespace",
          (c) => c.assertQueue(`hookline.${ns.a}.extra`, { durable: true }),
        ],
        [
          "take the lock of B's Strict Webhook",
          (c) => c.assertQueue(`hookline-lock.${ns.b}.ledger`, { exclusive: true, durable: false }),
        ],
      ];
      const answers: Record<string, number | undefined> = {};
      for (const [what, operation] of attempts) answers[what] = await refusal(connection, operation);
      assert.deepEqual(
        answers,
        Object.fromEntries(attempts.map(([what]) => [what, ACCESS_REFUSED])),
        'every attempt is refused by RabbitMQ',
      );
      // And the credential does reach A's own objects.
      assert.equal(await refusal(connection, (c) => c.checkQueue(`hookline.${ns.a}.orders`)), undefined);
    } finally {
      await connection.close().catch(() => undefined);
    }
    for (const queue of ['orders', 'orders.dlq', 'ledger', 'ledger.head'])
      assert.equal(await queueDepth(`hookline.${ns.b}.${queue}`), 0, `nothing reached ${queue} of B`);
  });

  it("delivers A's events, dead letters and Strict retries on A's own credential", async () => {
    dispatcher = await startDispatcher(ns.a, 'ingest');
    const port = String(dispatcher.logs.find((line) => line.msg === 'Dispatcher listening')?.port);
    const post = (event: Record<string, unknown>) =>
      fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(event),
      });
    await eventually(
      'the dispatcher to be ready',
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
    );
    for (const event of [
      { id: 'ok-1', type: 'order.created' },
      { id: 'refused-1', type: 'order.created', answer: 400 },
      { id: 'retried-1', type: 'ledger.posted' },
    ])
      assert.equal((await post(event)).status, 202);
    // A 400 fails at once: the event goes to the dead-letter queue through the direct exchange.
    await eventually('the refused event in the dead-letter queue', async () =>
      (await queueDepth(`hookline.${ns.a}.orders.dlq`)) === 1 ? true : undefined,
    );
    // The Strict hook's 503 puts the event in the head queue (the direct exchange again), and it is retried.
    await eventually(
      'the Strict event delivered on its second attempt',
      () => (receiver.requests.filter((r) => r.path.endsWith('/ledger')).length >= 2 ? true : undefined),
      { timeoutMs: 20_000 },
    );
    const delivered = receiver.requests
      .filter((r) => r.path.endsWith('/orders'))
      .map((r) => (JSON.parse(r.body.toString()) as { id: string }).id);
    assert.ok(delivered.includes('ok-1'));
    assert.equal(
      dispatcher.logs.filter((line) => /ACCESS_REFUSED|Unroutable/.test(JSON.stringify(line))).length,
      0,
    );
  });

  it('rotates the password on request: the old one is refused, the new one works', async () => {
    // As an SRE would.
    await kubectl(['annotate', '-n', ns.a, 'eventsource', 'ingest', 'hookline.dev/rotate-credentials=r1']);
    const rotated = await eventually('the rotation recorded in status', async () => {
      const source = await getObject(ns.a, 'eventsources', 'ingest');
      const recorded = (source?.status as { brokerCredentials?: { rotation?: string; rotatedAt?: string } })
        .brokerCredentials;
      return recorded?.rotation === 'r1' ? recorded : undefined;
    });
    assert.ok(rotated.rotatedAt);
    const uri = await eventually('the Secret rewritten', async () => {
      const now = await readSecret(ns.a, 'hookline-broker-ingest', 'uri');
      return now !== uriA ? now : undefined;
    });
    await assert.rejects(amqp.connect(uriA), /ACCESS_REFUSED|403|auth/i, 'the old password is refused');
    const connection = await amqp.connect(uri);
    await connection.close();
  });

  it("deletes the source's user with the source, and its dispatcher still stops in time", async () => {
    const user = `hookline~${ns.b}~ingest`;
    assert.ok(await rabbitApi(`/users/${encodeURIComponent(user)}`));
    const dispatcherB = await startDispatcher(ns.b, 'ingest');
    await eventually("B's dispatcher connected as its user", async () => {
      const connections = await rabbitApi<{ user: string }[]>('/connections');
      return connections?.some((c) => c.user === user) ? true : undefined;
    });
    await testClient().delete(
      resourcePath({
        group: 'hookline.dev',
        version: 'v1alpha1',
        plural: 'eventsources',
        namespace: ns.b,
        name: 'ingest',
      }),
    );
    await eventually('the user deleted', async () =>
      (await rabbitApi(`/users/${encodeURIComponent(user)}`)) === undefined ? true : undefined,
    );
    // Deleting the user closed its connections. The kubelet's SIGTERM comes now: the
    // dispatcher must not wait on a broker it can no longer reach.
    const started = Date.now();
    await dispatcherB.stop();
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 10_000, `the dispatcher took ${tookMs} ms to stop`);
    assert.ok(dispatcherB.logs.some((line) => line.msg === 'Dispatcher stopped'));
  });
});
