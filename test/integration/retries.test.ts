// Retries on the CallbackPolicy against the real broker: the payment case of SPEC.md §1
// (Strict order, schedule 30s/5m/15m/1h scaled down 200×, disabled and purged after the
// last retry, re-enabled by annotation), and receivers that misbehave.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freshNamespace, kubectl, testEnv } from '../env/handles.ts';
import { publishEvents, queueDepth } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  rabbitSourceManifests,
  waitForReady,
  waitForSourceInPlace,
  type HooklineObject,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

const SCALE = 200;
const SCHEDULE_MS = [30_000, 300_000, 900_000, 3_600_000].map((ms) => ms / SCALE); // 150ms, 1.5s, 4.5s, 18s
const TOLERANCE_MS = 300;

interface Attempt {
  eventId: string;
  attempt: number;
  outcome: string;
  statusCode?: number;
  error?: string;
}

function statusOf(hook: HooklineObject | undefined) {
  return (hook?.status ?? {}) as {
    disabled?: boolean;
    disabledReason?: string;
    deliveries?: Record<string, number>;
    recentAttempts?: Attempt[];
    conditions?: { type: string; status: string; reason: string }[];
  };
}

async function setUp(prefix: string) {
  await installCrds();
  const namespace = await freshNamespace(prefix);
  const exchange = `events.${namespace}`;
  const operator = startOperator({ namespace, env: { HOOKLINE_RESYNC_PERIOD: '5s' } });
  await apply(
    namespace,
    rabbitSourceManifests(
      'payments',
      testEnv().rabbitmq.amqpUrl,
      exchange,
      '  dispatcher: {maxEventBytes: 2048}\n',
    ),
  );
  await waitForSourceInPlace(namespace, 'payments');
  return { namespace, exchange, operator };
}

describe('the payment case: Strict order, scheduled retries, disabled when they run out', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  let receiver: Receiver;

  before(async () => {
    ({ namespace, exchange, operator } = await setUp('payments'));
    receiver = await startReceiver(answer.status(503, 'maintenance'));
    await apply(
      namespace,
      `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: payments-strict}
spec:
  retry: {schedule: [${SCHEDULE_MS.map((ms) => `${ms}ms`).join(', ')}]}
  timeout: {connect: 10s, request: 10s}
  ordering: Strict
  onExhausted: {deadLetter: false, disableWebhook: true, purgeQueue: true}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: shop-55}
spec:
  sourceRef: {name: payments}
  policyRef: {name: payments-strict}
  url: http://127.0.0.1:${receiver.port}/payments
  events: ["invoice.*", "payment.*"]
  match: {/shop_id: 55}
  signing: {scheme: rsa-sha256, generate: true, keySize: 1024}
`,
    );
    await waitForReady(namespace, 'webhooks', 'shop-55', 'True');
    dispatcher = await startDispatcher(namespace, 'payments');
    await dispatcher.waitForLog('strict delivery', (l) => l.msg === 'Delivering in strict order');
  });
  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    await receiver?.close();
  });

  it('retries the head event on schedule while later events wait in order, then disables the Webhook and empties its queue', async () => {
    await publishEvents(exchange, [
      {
        routingKey: 'invoice.created',
        messageId: 'inv-1',
        body: '{"eventType":"invoice.created","shop_id":55,"n":1}',
      },
      {
        routingKey: 'invoice.status_changed',
        messageId: 'inv-2',
        body: '{"eventType":"invoice.status_changed","shop_id":55,"n":2}',
      },
      {
        routingKey: 'payment.created',
        messageId: 'other-shop',
        body: '{"eventType":"payment.created","shop_id":77}',
      },
      {
        routingKey: 'payment.created',
        messageId: 'pay-3',
        body: '{"eventType":"payment.created","shop_id":55,"n":3}',
      },
    ]);
    const attempts = await receiver.waitForRequests(5, 40_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ids = receiver.requests.map((r) => r.headers['hookline-event-id']);
    assert.deepEqual(
      ids,
      ['inv-1', 'inv-1', 'inv-1', 'inv-1', 'inv-1'],
      'only the head event is attempted, five times',
    );
    const intervals = attempts
      .slice(1, 5)
      .map((r, i) => Math.round(r.receivedAtMonotonic - attempts[i]!.receivedAtMonotonic));
    process.stderr.write(
      `[payment case] retry intervals ${intervals.join(', ')} ms for schedule ${SCHEDULE_MS.join(', ')} ms\n`,
    );
    intervals.forEach((interval, i) => {
      assert.ok(
        interval >= SCHEDULE_MS[i]! - 20 && interval <= SCHEDULE_MS[i]! + TOLERANCE_MS,
        `retry ${i + 1}: ${interval} ms, scheduled ${SCHEDULE_MS[i]} ms`,
      );
    });
    assert.deepEqual(
      attempts.map((r) => r.headers['hookline-attempt']),
      ['1', '2', '3', '4', '5'],
    );

    const disabled = await waitForReady(namespace, 'webhooks', 'shop-55', 'False', 'RetriesExhausted');
    const status = statusOf(disabled);
    assert.equal(status.disabled, true);
    assert.match(status.disabledReason ?? '', /Disabled after 4 failed retries/);
    assert.ok(
      status.conditions?.some(
        (c) => c.type === 'Stalled' && c.status === 'True' && c.reason === 'RetriesExhausted',
      ),
    );
    assert.equal(await queueDepth(`hookline.${namespace}.shop-55`), 0, 'the queue was purged');
    const { stdout } = await kubectl(['get', 'webhooks', '-n', namespace]);
    assert.match(stdout, /shop-55\s+http:\S+\s+payments\s+False\s+true\s+/, stdout);
  });

  it('comes back on hookline.dev/reenable and delivers new events', async () => {
    receiver.respondWith(answer.status(200));
    const before = receiver.requests.length;
    await kubectl(['annotate', '-n', namespace, 'webhook', 'shop-55', `hookline.dev/reenable=${Date.now()}`]);
    await waitForReady(namespace, 'webhooks', 'shop-55', 'True');
    await publishEvents(exchange, [
      {
        routingKey: 'payment.created',
        messageId: 'pay-after',
        body: '{"eventType":"payment.created","shop_id":55}',
      },
    ]);
    await receiver.waitForRequests(before + 1, 20_000);
    assert.equal(receiver.requests.at(-1)!.headers['hookline-event-id'], 'pay-after');
    await eventually(
      'the delivery in status',
      async () =>
        (statusOf(await getObject(namespace, 'webhooks', 'shop-55')).deliveries?.succeeded ?? 0) >= 1,
    );
  });
});

describe('receivers that misbehave and events that cannot be delivered', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  const receivers: Record<string, Receiver> = {};
  const behaviours = {
    hang: answer.hang(),
    reset: answer.reset(),
    redirect: answer.redirect('http://127.0.0.1:1/elsewhere', 302),
    gone: answer.status(410),
    ok: answer.status(200),
  };

  before(async () => {
    ({ namespace, exchange, operator } = await setUp('misbehave'));
    for (const [name, behaviour] of Object.entries(behaviours))
      receivers[name] = await startReceiver(behaviour);
    const hooks = Object.keys(behaviours).map(
      (name) => `apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${name}}
spec:
  sourceRef: {name: payments}
  policyRef: {name: quick}
  url: http://127.0.0.1:${receivers[name]!.port}/hook
  events: ["${name}.#"]
  signing: {scheme: none}
`,
    );
    await apply(
      namespace,
      [
        `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: quick}
spec:
  retry: {schedule: [100ms]}
  timeout: {connect: 1s, request: 500ms}
`,
        ...hooks,
      ].join('---\n'),
    );
    for (const name of Object.keys(behaviours)) await waitForReady(namespace, 'webhooks', name, 'True');
    dispatcher = await startDispatcher(namespace, 'payments');
    await eventually(
      'five workers',
      () => dispatcher.logs.filter((l) => l.msg === 'Delivering to Webhook').length >= 5,
    );
    await publishEvents(exchange, [
      ...['hang', 'reset', 'redirect', 'gone'].map((name) => ({
        routingKey: `${name}.event`,
        messageId: `${name}-1`,
        body: '{"ok":true}',
      })),
      { routingKey: 'ok.not-json', messageId: 'not-json', body: 'this is not json' },
      { routingKey: 'ok.too-large', messageId: 'too-large', body: JSON.stringify({ pad: 'x'.repeat(4096) }) },
      { routingKey: 'ok.fine', messageId: 'fine', body: '{"fine":true}' },
    ]);
  });
  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    for (const receiver of Object.values(receivers)) await receiver.close();
  });

  async function finalAttempts(name: string, count: number): Promise<Attempt[]> {
    return eventually(`${count} attempts of ${name} in status`, async () => {
      const attempts = statusOf(await getObject(namespace, 'webhooks', name)).recentAttempts ?? [];
      return attempts.length >= count ? attempts : undefined;
    });
  }

  it('records a hanging receiver as a timeout, retried, then dead-lettered', async () => {
    const [last, first] = await finalAttempts('hang', 2);
    assert.match(first!.error ?? '', /timed out waiting for the response/);
    assert.equal(first!.outcome, 'Retrying');
    assert.equal(last!.outcome, 'DeadLettered');
    assert.equal(await queueDepth(`hookline.${namespace}.hang.dlq`), 1);
  });

  it('records a reset connection as a network failure', async () => {
    const [last] = await finalAttempts('reset', 2);
    assert.match(last!.error ?? '', /network/);
  });

  it('does not follow a redirect and does not retry it', async () => {
    const [only] = await finalAttempts('redirect', 1);
    assert.equal(only!.statusCode, 302);
    assert.equal(only!.outcome, 'DeadLettered');
    assert.match(only!.error ?? '', /HTTP 302/);
    assert.equal(receivers.redirect!.requests.length, 1);
  });

  it('fails a 410 at once: not in retryOn', async () => {
    const [only] = await finalAttempts('gone', 1);
    assert.equal(only!.statusCode, 410);
    assert.equal(receivers.gone!.requests.length, 1);
  });

  it('dead-letters an event that is not JSON and one over maxEventBytes, with their reason, and delivers the next', async () => {
    await receivers.ok!.waitForRequests(1, 20_000);
    assert.deepEqual(
      receivers.ok!.requests.map((r) => r.headers['hookline-event-id']),
      ['fine'],
    );
    const hook = await eventually('two dead letters counted', async () => {
      const h = await getObject(namespace, 'webhooks', 'ok');
      return statusOf(h).deliveries?.deadLettered === 2 ? h : undefined;
    });
    assert.equal(statusOf(hook).deliveries?.succeeded, 1);
    const connection = await (await import('amqplib')).default.connect(testEnv().rabbitmq.amqpUrl);
    const channel = await connection.createChannel();
    const reasons: string[] = [];
    for (
      let message = await channel.get(`hookline.${namespace}.ok.dlq`);
      message;
      message = await channel.get(`hookline.${namespace}.ok.dlq`)
    ) {
      reasons.push(String((message.properties.headers as Record<string, unknown>)['x-hookline-reason']));
    }
    await connection.close();
    assert.equal(reasons.length, 2);
    assert.ok(
      reasons.some((r) => /not valid JSON/.test(r)),
      reasons.join(' | '),
    );
    assert.ok(
      reasons.some((r) => /larger than maxEventBytes \(2048\)/.test(r)),
      reasons.join(' | '),
    );
    assert.equal(dispatcher.child.exitCode, null, 'the dispatcher is still running');
  });
});
