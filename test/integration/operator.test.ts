// The operator against the real control plane and RabbitMQ: children of EventSources,
// topology of Webhooks, conditions that say what is wrong and recover, no writes it does
// not own, and none at all when nothing changes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import amqp from 'amqplib';
import { resourcePath, type KubeClient } from '../../core/kube/client.ts';
import { freshNamespace, kubeConfig, kubectl, rabbitApi, testEnv } from '../env/handles.ts';
import {
  apply,
  hookPath,
  readyCondition,
  secretManifest,
  testClient,
  waitForReady,
  waitForSourceInPlace,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import { eventually } from '../fixtures/wait.ts';
import { deliverPattern } from '../../core/rabbit/topology.ts';

let client: KubeClient;
const ready = readyCondition;
const secret = secretManifest;

async function bindings(queue: string): Promise<string[]> {
  const list =
    (await rabbitApi<{ source: string; routing_key: string }[]>(
      `/queues/%2F/${encodeURIComponent(queue)}/bindings`,
    )) ?? [];
  return list
    .filter((b) => b.source !== '')
    .map((b) => `${b.source} ${b.routing_key}`)
    .sort();
}

async function queueNames(prefix: string): Promise<string[]> {
  const queues = (await rabbitApi<{ name: string }[]>('/queues')) ?? [];
  return queues
    .map((q) => q.name)
    .filter((name) => name.startsWith(prefix))
    .sort();
}

const source = (name: string, secret = 'ingest') => `
apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: ${name}}
spec:
  http:
    authSecretRef: {name: ${secret}}
`;
const webhook = (name: string, sourceName: string, events: string[], extra = '') => `
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata:
  name: ${name}
  labels: {team: payments}
  annotations: {owner: sre@example.com}
spec:
  sourceRef: {name: ${sourceName}}
  url: https://receiver.example.com/${name}
  events: ${JSON.stringify(events)}
${extra}`;

describe('the operator', () => {
  let namespace: string;
  let operator: OperatorProcess;

  before(async () => {
    await installCrds();
    client = testClient();
    namespace = await freshNamespace('operator');
    operator = startOperator({ namespace, env: { HOOKLINE_RESYNC_PERIOD: '3s' } });
    await operator.waitForLog('Controllers started', (l) => l.msg === 'Controllers started');
  });
  after(async () => {
    await operator.stop();
  });

  it('turns an EventSource into an owned dispatcher Deployment, ServiceAccount, Role, RoleBinding and Service', async () => {
    await apply(namespace, secret('ingest', { tokens: 'first-token' }));
    await apply(namespace, source('payments'));
    const evs = await waitForSourceInPlace(namespace, 'payments');
    const children: [string, string][] = [
      ['deployment', 'hookline-dispatcher-payments'],
      ['serviceaccount', 'hookline-dispatcher-payments'],
      ['role', 'hookline-dispatcher-payments'],
      ['rolebinding', 'hookline-dispatcher-payments'],
      ['service', 'hookline-ingest-payments'],
    ];
    for (const [kind, name] of children) {
      const { stdout } = await kubectl(['get', '-n', namespace, kind, name, '-o', 'json']);
      const child = JSON.parse(stdout) as {
        metadata: { ownerReferences?: { uid: string; kind: string; controller: boolean }[] };
      };
      assert.deepEqual(
        child.metadata.ownerReferences?.map((o) => [o.kind, o.uid, o.controller]),
        [['EventSource', evs.metadata.uid, true]],
        `${kind}/${name} is owned by the EventSource`,
      );
    }
    const { stdout: roleJson } = await kubectl([
      'get',
      '-n',
      namespace,
      'role',
      'hookline-dispatcher-payments',
      '-o',
      'json',
    ]);
    const role = JSON.parse(roleJson) as {
      rules: { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    };
    const secretsRule = role.rules.find((r) => r.resources.includes('secrets'));
    assert.deepEqual(secretsRule?.verbs, ['get']);
    assert.ok(secretsRule?.resourceNames?.includes('ingest'), 'the Role names the Secrets it may read');
    assert.ok(role.rules.some((r) => r.resources.includes('webhooks/status') && r.verbs.includes('patch')));

    const status = (
      await client.get<{ status: Record<string, unknown> }>(hookPath(namespace, 'eventsources', 'payments'))
    ).status;
    assert.equal(status.sourceType, 'http');
    assert.equal(status.endpoint, `http://hookline-ingest-payments.${namespace}.svc/v1/events`);
  });

  it('rolls the Deployment when a Secret it was started with changes', async () => {
    const hash = async () => {
      const { stdout } = await kubectl([
        'get',
        '-n',
        namespace,
        'deployment',
        'hookline-dispatcher-payments',
        '-o',
        'jsonpath={.spec.template.metadata.annotations.hookline\\.dev/config-hash}',
      ]);
      return stdout;
    };
    const before = await hash();
    assert.match(before, /^[0-9a-f]{16}$/);
    await apply(namespace, secret('ingest', { tokens: 'rotated-token' }));
    const afterChange = await eventually('a new config hash', async () =>
      (await hash()) !== before ? hash() : undefined,
    );
    assert.notEqual(afterChange, before);
  });

  it("declares a Webhook's queue with exactly its bindings, and keeps them exact", async () => {
    await apply(namespace, webhook('shop', 'payments', ['invoice.*', 'payment.#']));
    const hook = await waitForReady(namespace, 'webhooks', 'shop', 'True');
    const queue = `hookline.${namespace}.shop`;
    assert.equal(hook.status?.queue, queue);
    const exchange = `hookline.${namespace}.payments`;
    // Its delayed retries come back from the namespace's shared delay infrastructure.
    const delayed = `hookline.${namespace}.~delay.deliver ${deliverPattern('shop')}`;
    assert.deepEqual(await bindings(queue), [`${exchange} invoice.*`, `${exchange} payment.#`, delayed]);
    assert.deepEqual(await queueNames(queue), [queue, `${queue}.dlq`]);

    // Editing events leaves nothing stale.
    await apply(namespace, webhook('shop', 'payments', ['invoice.created', 'refund.*']));
    await eventually('the new bindings', async () => {
      const now = await bindings(queue);
      return now.join() === [`${exchange} invoice.created`, `${exchange} refund.*`, delayed].join()
        ? now
        : undefined;
    });
  });

  it('brings back a queue deleted by hand within the resync period', async () => {
    const queue = `hookline.${namespace}.shop`;
    const connection = await amqp.connect(testEnv().rabbitmq.amqpUrl);
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await connection.close();
    await eventually(
      'the queue to come back with its bindings',
      async () => ((await bindings(queue)).length === 3 ? true : undefined),
      {
        timeoutMs: 15_000,
      },
    );
  });

  it('says SecretNotFound, SourceNotFound and BrokerUnreachable, and recovers from each by itself', async () => {
    // A missing Secret.
    await apply(
      namespace,
      webhook(
        'needs-secret',
        'payments',
        ['invoice.*'],
        '  signing: {scheme: hmac-sha256, secretRef: {name: hmac-key}}',
      ),
    );
    const missingSecret = await waitForReady(
      namespace,
      'webhooks',
      'needs-secret',
      'False',
      'SecretNotFound',
    );
    assert.match(
      ready(missingSecret)!.message,
      /spec\.signing\.secretRef: Secret .*\/hmac-key does not exist/,
    );
    await apply(namespace, secret('hmac-key', { secret: 'k' }));
    await waitForReady(namespace, 'webhooks', 'needs-secret', 'True');

    // A missing source.
    await apply(namespace, webhook('early', 'later-source', ['a.*']));
    const missingSource = await waitForReady(namespace, 'webhooks', 'early', 'False', 'SourceNotFound');
    assert.match(
      ready(missingSource)!.message,
      /spec\.sourceRef: EventSource .*\/later-source does not exist/,
    );
    await apply(namespace, source('later-source'));
    await waitForReady(namespace, 'webhooks', 'early', 'True');

    // An unreachable broker.
    await apply(namespace, secret('far-broker', { uri: 'amqp://guest:guest@127.0.0.1:1/' }));
    await apply(namespace, `${source('far')}  broker:\n    connectionSecretRef: {name: far-broker}\n`);
    const unreachable = await waitForReady(namespace, 'eventsources', 'far', 'False', 'BrokerUnreachable');
    assert.match(
      ready(unreachable)!.message,
      /cannot reach RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1/,
    );
    assert.doesNotMatch(ready(unreachable)!.message, /guest:guest/, 'no password in status');
    await apply(namespace, secret('far-broker', { uri: testEnv().rabbitmq.amqpUrl }));
    await waitForSourceInPlace(namespace, 'far');
  });

  it('never writes spec, labels or annotations, sets observedGeneration, and writes nothing when nothing changes', async () => {
    const before = await waitForReady(namespace, 'webhooks', 'shop', 'True');
    assert.deepEqual(before.metadata.labels, { team: 'payments' });
    assert.equal(before.metadata.annotations?.owner, 'sre@example.com');
    assert.deepEqual(before.spec, {
      sourceRef: { name: 'payments' },
      url: 'https://receiver.example.com/shop',
      events: ['invoice.created', 'refund.*'],
      suspend: false,
      phase: 'After',
      payload: { format: 'raw' },
      signing: { scheme: 'standard-webhooks' },
    });
    assert.deepEqual(before.metadata.finalizers, ['hookline.dev/topology']);
    assert.equal(before.status?.observedGeneration, before.metadata.generation);

    // Count every write to the namespace's Hookline objects over a quiet period spanning two resyncs.
    let writes = 0;
    const changes: string[] = [];
    const stopWatching = new AbortController();
    const watches = ['webhooks', 'eventsources', 'callbackpolicies'].map(async (plural) => {
      const list = await client.get<{ metadata: { resourceVersion: string } }>(hookPath(namespace, plural));
      await client
        .watch<{ metadata: { name: string } }>(
          hookPath(namespace, plural),
          { resourceVersion: list.metadata.resourceVersion },
          (event) => {
            if (event.type !== 'BOOKMARK') {
              writes++;
              changes.push(`${event.type} ${plural}/${event.object.metadata.name}`);
            }
          },
          stopWatching.signal,
        )
        .catch(() => undefined);
    });
    await sleep(7000);
    stopWatching.abort();
    await Promise.all(watches);
    assert.equal(writes, 0, `writes during the quiet period: ${changes.join(', ')}`);
    assert.ok(
      operator.logs.filter((l) => l.msg === 'Reconcile failed' && l.name === 'shop').length === 0,
      'no failed reconciles of a healthy Webhook',
    );
  });

  it('carries a CallbackPolicy change to every Webhook using it, and counts them', async () => {
    await apply(namespace, webhook('policed', 'payments', ['p.*'], '  policyRef: {name: strict}'));
    await waitForReady(namespace, 'webhooks', 'policed', 'False', 'PolicyNotFound');
    await apply(
      namespace,
      'apiVersion: hookline.dev/v1alpha1\nkind: CallbackPolicy\nmetadata: {name: strict}\nspec:\n  retry: {schedule: [30s, 5m, 15m, 1h]}\n  ordering: Strict\n',
    );
    await waitForReady(namespace, 'webhooks', 'policed', 'True');
    const queue = `hookline.${namespace}.policed`;
    assert.deepEqual(
      await queueNames(queue),
      [queue, `${queue}.dlq`, `${queue}.head`],
      'Strict: a head queue, and no queue per retry',
    );
    const policy = await eventually('the policy to count its Webhook', async () => {
      const p = await client.get<{ status?: { webhooks?: number; retries?: number } }>(
        hookPath(namespace, 'callbackpolicies', 'strict'),
      );
      return p.status?.webhooks === 1 ? p : undefined;
    });
    assert.equal(policy.status?.retries, 4);

    await apply(
      namespace,
      'apiVersion: hookline.dev/v1alpha1\nkind: CallbackPolicy\nmetadata: {name: strict}\nspec:\n  retry: {schedule: [1s, 2s]}\n',
    );
    await eventually('the head queue gone once the order is no longer Strict', async () =>
      (await queueNames(queue)).join() === [queue, `${queue}.dlq`].join() ? true : undefined,
    );
  });

  it('clears a disabled Webhook on hookline.dev/reenable and replays dead letters on hookline.dev/replay', async () => {
    const statusPath = resourcePath({
      group: 'hookline.dev',
      version: 'v1alpha1',
      plural: 'webhooks',
      namespace,
      name: 'policed',
      subresource: 'status',
    });
    await client.mergePatch(statusPath, {
      status: {
        disabled: true,
        disabledReason: 'Disabled after 2 failed retries',
        disabledAt: new Date().toISOString(),
      },
    });
    const stalled = await waitForReady(namespace, 'webhooks', 'policed', 'False', 'RetriesExhausted');
    assert.ok(
      stalled.status?.conditions?.some(
        (c) => c.type === 'Stalled' && c.status === 'True' && c.reason === 'RetriesExhausted',
      ),
    );

    await kubectl(['annotate', '-n', namespace, 'webhook', 'policed', 'hookline.dev/reenable=1']);
    const back = await waitForReady(namespace, 'webhooks', 'policed', 'True');
    assert.equal((back.status as { disabled?: boolean }).disabled, false);
    assert.equal(
      back.status?.conditions?.some((c) => c.type === 'Stalled'),
      false,
    );

    const queue = `hookline.${namespace}.policed`;
    const connection = await amqp.connect(testEnv().rabbitmq.amqpUrl);
    const channel = await connection.createConfirmChannel();
    for (let i = 0; i < 3; i++)
      channel.sendToQueue(`${queue}.dlq`, Buffer.from(`{"n":${i}}`), {
        persistent: true,
        messageId: `e${i}`,
      });
    await channel.waitForConfirms();
    await connection.close();
    await kubectl(['annotate', '-n', namespace, 'webhook', 'policed', 'hookline.dev/replay=first']);
    await eventually('the dead letters back in the queue', async () => {
      const main = await rabbitApi<{ messages: number }>(`/queues/%2F/${encodeURIComponent(queue)}`);
      const dlq = await rabbitApi<{ messages: number }>(`/queues/%2F/${encodeURIComponent(`${queue}.dlq`)}`);
      return main?.messages === 3 && dlq?.messages === 0 ? true : undefined;
    });
    const { stdout } = await kubectl([
      'get',
      'events',
      '-n',
      namespace,
      '--field-selector',
      'involvedObject.name=policed',
      '-o',
      'jsonpath={.items[*].reason}',
    ]);
    assert.match(stdout, /Reenabled/);
    assert.match(stdout, /Replayed/);
  });

  it('removes the topology when a Webhook is deleted, and the children when its EventSource is', async () => {
    const queue = `hookline.${namespace}.shop`;
    await kubectl(['delete', '-n', namespace, 'webhook', 'shop', '--timeout=30s']);
    assert.deepEqual(await queueNames(`${queue}`), []);
    assert.notDeepEqual(
      await queueNames(`hookline.${namespace}.~delay.`),
      [],
      'other Webhooks still use the delay queues',
    );

    await kubectl(['delete', '-n', namespace, 'webhook', '--all', '--timeout=30s']);
    assert.deepEqual(
      await queueNames(`hookline.${namespace}.~delay.`),
      [],
      'the delay queues went with the last Webhook',
    );
    await kubectl(['delete', '-n', namespace, 'eventsource', 'payments', '--timeout=30s']);
    const { stdout } = await kubectl([
      'get',
      '-n',
      namespace,
      'deployments,serviceaccounts,roles,rolebindings,services',
      '-o',
      'name',
    ]);
    assert.doesNotMatch(stdout, /hookline-(dispatcher|ingest)-payments/);
    assert.equal(
      await rabbitApi(`/exchanges/%2F/${encodeURIComponent(`hookline.${namespace}.payments`)}`),
      undefined,
    );
  });
});

describe('leader election', () => {
  it('lets only the leader reconcile, and hands over within the lease duration when it is killed', async () => {
    await installCrds();
    client ??= testClient();
    const namespace = await freshNamespace('leader');
    const first = startOperator({ namespace, identity: 'first' });
    await first.waitForLog('leadership', (l) => l.msg === 'Became leader');
    const second = startOperator({ namespace, identity: 'second' });
    try {
      await first.waitForLog('Controllers started', (l) => l.msg === 'Controllers started');
      await apply(namespace, secret('ingest', { tokens: 't' }));
      await apply(namespace, source('s'));
      await waitForSourceInPlace(namespace, 's');
      await sleep(1500);
      assert.equal(
        second.logs.filter((l) => l.msg === 'Controllers started' || l.msg === 'Became leader').length,
        0,
        'the standby runs no controller',
      );

      const killedAt = Date.now();
      await first.kill();
      await second.waitForLog('leadership', (l) => l.msg === 'Became leader', 15_000);
      const handover = Date.now() - killedAt;
      process.stderr.write(`[leader election] handover after ${handover} ms (lease 4000 ms, retry 500 ms)\n`);
      // The standby sees the lease expire at its next poll: within the lease duration plus one retry period, give or take scheduling.
      assert.ok(handover <= 4000 + 500 + 1000, `handover took ${handover} ms`);

      await apply(namespace, webhook('after-handover', 's', ['x.*']));
      await waitForReady(namespace, 'webhooks', 'after-handover', 'True');
      const lease = await kubeConfig()
        .makeApiClient(k8s.CoordinationV1Api)
        .readNamespacedLease({ name: 'hookline-operator', namespace });
      assert.equal(lease.spec?.holderIdentity, 'second');
    } finally {
      await first.kill();
      await second.stop();
    }
  });
});
