// Status tells the truth: a signing secret the dispatcher could not sign with is
// Ready=False (SecretInvalid) naming the Secret and its key, and an attempt whose error is
// far longer than the CRD allows still leaves the Webhook's status moving.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ATTEMPT_ERROR_MAX_LENGTH } from '../../core/api/v1alpha1/webhook.ts';
import { freshNamespace, testEnv } from '../env/handles.ts';
import { publishEvents } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  rabbitSourceManifests,
  readyCondition,
  secretManifest,
  waitForReady,
  waitForSourceInPlace,
  type HooklineObject,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { issueServerCertificate } from '../fixtures/tls.ts';
import { eventually } from '../fixtures/wait.ts';

async function sourceIn(
  prefix: string,
): Promise<{ namespace: string; exchange: string; operator: OperatorProcess }> {
  await installCrds();
  const namespace = await freshNamespace(prefix);
  const exchange = `events.${namespace}`;
  const operator = startOperator({ namespace });
  await apply(namespace, rabbitSourceManifests('source', testEnv().rabbitmq.amqpUrl, exchange));
  await waitForSourceInPlace(namespace, 'source');
  return { namespace, exchange, operator };
}

const signedWebhook = (name: string, secretRef: string) => `
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${name}}
spec:
  sourceRef: {name: source}
  url: https://receiver.example.com/${name}
  events: ["#"]
  signing: {scheme: standard-webhooks, secretRef: ${secretRef}}
`;

describe('a signing secret the dispatcher cannot use', () => {
  let namespace: string;
  let operator: OperatorProcess;
  const good = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const bad = 'not-a-standard-webhooks-secret';

  before(async () => {
    ({ namespace, operator } = await sourceIn('secret-invalid'));
  });
  after(async () => {
    await operator?.stop();
  });

  it('is Ready=False, SecretInvalid, naming the field, the Secret and the key, until the Secret is fixed', async () => {
    await apply(namespace, secretManifest('signing', { secret: bad }));
    await apply(namespace, signedWebhook('hook', '{name: signing}'));
    const refused = readyCondition(
      await waitForReady(namespace, 'webhooks', 'hook', 'False', 'SecretInvalid'),
    );
    assert.match(refused?.message ?? '', /^spec\.signing\.secretRef: /);
    assert.ok(refused?.message.includes(`Secret ${namespace}/signing key "secret"`), refused?.message);
    assert.match(refused?.message ?? '', /whsec_ followed by base64/);
    assert.ok(!refused?.message.includes(bad), 'the secret itself is never shown');

    await apply(namespace, secretManifest('signing', { secret: good }));
    await waitForReady(namespace, 'webhooks', 'hook', 'True');
  });

  it('names the one key of a rotation that is unusable', async () => {
    await apply(namespace, secretManifest('rotation', { old: good, new: bad }));
    await apply(namespace, signedWebhook('rotating', '{name: rotation, keys: [old, new]}'));
    const refused = readyCondition(
      await waitForReady(namespace, 'webhooks', 'rotating', 'False', 'SecretInvalid'),
    );
    assert.ok(refused?.message.includes(`Secret ${namespace}/rotation key "new"`), refused?.message);
  });
});

interface Attempt {
  eventId: string;
  attempt: number;
  outcome: string;
  error?: string;
}

const attemptsOf = (hook: HooklineObject | undefined) =>
  (hook?.status ?? {}) as {
    attempts?: number;
    deliveries?: { retried?: number; deadLettered?: number };
    lastAttempt?: Attempt;
    recentAttempts?: Attempt[];
  };

describe('an attempt error far longer than the CRD allows', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  let receiver: Receiver;

  before(async () => {
    ({ namespace, exchange, operator } = await sourceIn('long-error'));
    // A certificate for many other names: the TLS error lists every one of them.
    const names = Array.from({ length: 120 }, (_, i) => `receiver-${i}.somewhere-else.example.com`);
    const certificate = await issueServerCertificate(names);
    receiver = await startReceiver(undefined, { tls: certificate });
    await apply(
      namespace,
      `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: once-more}
spec:
  retry: {schedule: [100ms]}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: hook}
spec:
  sourceRef: {name: source}
  policyRef: {name: once-more}
  url: ${receiver.url}/hook
  events: ["#"]
  signing: {scheme: none}
`,
    );
    await waitForReady(namespace, 'webhooks', 'hook', 'True');
    dispatcher = await startDispatcher(namespace, 'source', { NODE_EXTRA_CA_CERTS: certificate.caFile });
    await dispatcher.waitForLog('delivering', (l) => l.msg === 'Delivering to Webhook');
  });
  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    await receiver?.close();
  });

  it('is cut to fit, and the status keeps counting and recording later attempts', async () => {
    await publishEvents(exchange, [{ routingKey: 'invoice.created', messageId: 'evt-1', body: '{"n":1}' }]);
    const failed = await dispatcher.waitForLog(
      'the failed delivery',
      (l) => l.msg === 'Delivery failed for good',
    );
    const reason = String(failed.reason);
    assert.ok(
      reason.length >= 5000,
      `the error is ${reason.length} characters long: ${reason.slice(0, 120)}`,
    );

    const first = await eventually('the first event in status', async () => {
      const status = attemptsOf(await getObject(namespace, 'webhooks', 'hook'));
      return status.attempts === 2 ? status : undefined;
    });
    assert.equal(first.deliveries?.retried, 1);
    assert.equal(first.deliveries?.deadLettered, 1);
    assert.deepEqual(
      first.recentAttempts?.map((a) => [a.eventId, a.attempt, a.outcome]),
      [
        ['evt-1', 2, 'DeadLettered'],
        ['evt-1', 1, 'Retrying'],
      ],
    );
    for (const attempt of first.recentAttempts ?? []) {
      assert.equal(attempt.error?.length, ATTEMPT_ERROR_MAX_LENGTH);
      assert.ok(attempt.error?.endsWith('…'));
      assert.equal(attempt.error?.slice(0, -1), reason.slice(0, ATTEMPT_ERROR_MAX_LENGTH - 1));
    }

    await publishEvents(exchange, [{ routingKey: 'invoice.created', messageId: 'evt-2', body: '{"n":2}' }]);
    const second = await eventually('the second event in status', async () => {
      const status = attemptsOf(await getObject(namespace, 'webhooks', 'hook'));
      return status.attempts === 4 ? status : undefined;
    });
    assert.equal(second.lastAttempt?.eventId, 'evt-2');
    assert.equal(second.deliveries?.deadLettered, 2);
    assert.deepEqual(
      second.recentAttempts?.map((a) => `${a.eventId}#${a.attempt}`),
      ['evt-2#2', 'evt-2#1', 'evt-1#2', 'evt-1#1'],
    );
    assert.equal(receiver.requests.length, 0, 'no request got past the TLS handshake');
    assert.ok(
      !dispatcher.logs.some((l) => /status write/i.test(l.msg) || /delivery status/i.test(l.msg)),
      'no status write was refused or retried',
    );
  });
});
