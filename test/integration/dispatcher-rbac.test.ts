// The dispatcher's Role, exercised with a real token of its ServiceAccount. The operator
// writes the ServiceAccount, Role and RoleBinding of an EventSource in namespace A; the API
// server issues a token for that ServiceAccount through the TokenRequest API (no kubelet
// needed). With that token alone: what the dispatcher needs is allowed, and another
// namespace's Secrets and Webhooks, a Secret no Hookline object names, listing Secrets and
// writing what the dispatcher never writes are refused with 403. Then a real dispatcher
// runs on that token alone and delivers a signed, authenticated event and writes the
// Webhook's status: the Role is enough.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { parse } from 'yaml';
import { KubeApiError, kubeClient, resourcePath, type KubeClient } from '../../core/kube/client.ts';
import { loadKubeAccess } from '../../core/kube/config.ts';
import { SecretReader } from '../../dispatcher/secrets.ts';
import { freshNamespace, kubectl, testEnv } from '../env/handles.ts';
import { publishEvents } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  hookPath,
  secretManifest,
  testClient,
  waitForReady,
  waitForSourceInPlace,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { verifyStandardWebhooks } from '../fixtures/verifiers.ts';
import { eventually } from '../fixtures/wait.ts';

const SOURCE = 'orders';
const SERVICE_ACCOUNT = `hookline-dispatcher-${SOURCE}`;
const SIGNING_SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const API_KEY = `partner-key-${crypto.randomBytes(8).toString('hex')}`;

type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

interface Check {
  what: string;
  verb: Verb;
  path: string;
  body?: unknown;
  expect: number;
}

/** The HTTP status the API server answers a request with: 200 or 201 when it is allowed. */
async function statusOf(client: KubeClient, check: Check): Promise<number> {
  try {
    switch (check.verb) {
      case 'get':
      case 'list':
        await client.get(check.path);
        return 200;
      case 'watch':
        await client.watch(check.path, { timeoutSeconds: '1' }, () => undefined, AbortSignal.timeout(10_000));
        return 200;
      case 'create':
        await client.create(check.path, check.body);
        return 201;
      case 'update':
        await client.put(check.path, check.body);
        return 200;
      case 'patch':
        await client.mergePatch(check.path, check.body ?? {});
        return 200;
      case 'delete':
        await client.delete(check.path);
        return 200;
    }
  } catch (error) {
    if (error instanceof KubeApiError) return error.status;
    throw error;
  }
}

/** A kubeconfig for the test API server that holds `token` and no other credential. */
function tokenKubeconfig(file: string, token: string): void {
  const admin = parse(fs.readFileSync(testEnv().kubeconfig, 'utf8')) as {
    clusters: { name: string; cluster: Record<string, string> }[];
  };
  const cluster = admin.clusters[0]!.cluster;
  const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: hookline-test
  cluster:
    server: ${cluster.server}
    certificate-authority-data: ${cluster['certificate-authority-data']}
users:
- name: ${SERVICE_ACCOUNT}
  user:
    token: ${token}
contexts:
- name: dispatcher
  context: {cluster: hookline-test, user: ${SERVICE_ACCOUNT}}
current-context: dispatcher
`;
  fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
}

const secretPath = (namespace: string, name?: string) =>
  resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace, name });
const eventsPath = (namespace: string) =>
  resourcePath({ group: '', version: 'v1', plural: 'events', namespace });
const anEvent = (namespace: string) => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: `rbac.${crypto.randomBytes(4).toString('hex')}`, namespace },
  involvedObject: { apiVersion: 'hookline.dev/v1alpha1', kind: 'Webhook', name: SOURCE, namespace },
  type: 'Normal',
  reason: 'RbacCheck',
  message: 'written with the dispatcher token',
  source: { component: 'hookline-dispatcher' },
});

describe("the dispatcher's Role, with a token of its ServiceAccount", () => {
  let a: string;
  let b: string;
  let operator: OperatorProcess;
  let receiver: Receiver;
  let dispatcher: RunningProcess | undefined;
  let asDispatcher: KubeClient;
  let kubeconfigDir: string;
  let kubeconfigFile: string;

  before(async () => {
    await installCrds();
    a = await freshNamespace('rbac-a');
    b = await freshNamespace('rbac-b');
    operator = startOperator({ namespace: a });
    receiver = await startReceiver();
    kubeconfigDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-rbac-'));
    kubeconfigFile = path.join(kubeconfigDir, 'kubeconfig');

    const webhook = (sourceName: string) => `apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${SOURCE}}
spec:
  sourceRef: {name: ${sourceName}}
  url: http://127.0.0.1:${receiver.port}/hook
  events: ["orders.#"]
  signing: {scheme: standard-webhooks, secretRef: {name: signing}}
  auth: {apiKey: {secretRef: {name: partner, key: apiKey}, header: X-Partner-Key}}
`;
    // Namespace A: the source, its Webhook and the Secrets they name, and one Secret no
    // Hookline object names.
    await apply(
      a,
      [
        secretManifest('broker', { uri: testEnv().rabbitmq.amqpUrl }),
        secretManifest('signing', { secret: SIGNING_SECRET }),
        secretManifest('partner', { apiKey: API_KEY }),
        secretManifest('unnamed', { password: 'not-for-the-dispatcher' }),
        `apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: ${SOURCE}}
spec:
  rabbitmq: {connectionSecretRef: {name: broker}, exchange: rbac.${a}, declare: true}
`,
        `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: default}
spec:
  retry: {schedule: ["1s"]}
`,
        webhook(SOURCE),
      ].join('\n---\n'),
    );
    // Namespace B: Secrets of the same names, and a Webhook of the same name.
    await apply(
      b,
      [
        secretManifest('signing', { secret: `whsec_${crypto.randomBytes(32).toString('base64')}` }),
        secretManifest('partner', { apiKey: 'b-partner-key-never-read' }),
        webhook(SOURCE),
      ].join('\n---\n'),
    );
    await waitForReady(a, 'webhooks', SOURCE, 'True');
    await waitForSourceInPlace(a, SOURCE);

    const request = await testClient().create<{ status: { token: string } }>(
      resourcePath({
        group: '',
        version: 'v1',
        plural: 'serviceaccounts',
        namespace: a,
        name: SERVICE_ACCOUNT,
        subresource: 'token',
      }),
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    );
    tokenKubeconfig(kubeconfigFile, request.status.token);
    asDispatcher = kubeClient(await loadKubeAccess(kubeconfigFile), { fieldManager: 'hookline-dispatcher' });
  });

  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    await receiver?.close();
    if (kubeconfigDir) fs.rmSync(kubeconfigDir, { recursive: true, force: true });
  });

  it('is the Role the operator wrote, naming the Secrets of the source and its Webhook', async () => {
    const role = await testClient().get<{ rules: { resources: string[]; resourceNames?: string[] }[] }>(
      resourcePath({
        group: 'rbac.authorization.k8s.io',
        version: 'v1',
        plural: 'roles',
        namespace: a,
        name: SERVICE_ACCOUNT,
      }),
    );
    const secrets = role.rules.find((rule) => rule.resources.includes('secrets'));
    // Not the broker's Secret: its URI reaches the dispatcher through the environment, which
    // the kubelet fills in.
    assert.deepEqual(secrets?.resourceNames, ['partner', 'signing']);
  });

  it("authenticates as the dispatcher's ServiceAccount, not as the admin", async () => {
    const review = await asDispatcher.create<{ status: { userInfo: { username: string } } }>(
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    );
    assert.equal(review.status.userInfo.username, `system:serviceaccount:${a}:${SERVICE_ACCOUNT}`);
  });

  it('allows what the dispatcher does, and refuses (403) everything else tried', async (t) => {
    const webhookA = hookPath(a, 'webhooks', SOURCE);
    const webhookB = hookPath(b, 'webhooks', SOURCE);
    const checks: Check[] = [
      // What the dispatcher does.
      { what: "get A's signing Secret", verb: 'get', path: secretPath(a, 'signing'), expect: 200 },
      { what: "get A's auth Secret", verb: 'get', path: secretPath(a, 'partner'), expect: 200 },
      { what: "list A's Webhooks", verb: 'list', path: hookPath(a, 'webhooks'), expect: 200 },
      { what: "watch A's Webhooks", verb: 'watch', path: hookPath(a, 'webhooks'), expect: 200 },
      { what: "get A's Webhook", verb: 'get', path: webhookA, expect: 200 },
      { what: "list A's CallbackPolicies", verb: 'list', path: hookPath(a, 'callbackpolicies'), expect: 200 },
      {
        what: "watch A's CallbackPolicies",
        verb: 'watch',
        path: hookPath(a, 'callbackpolicies'),
        expect: 200,
      },
      { what: "list A's EventSources", verb: 'list', path: hookPath(a, 'eventsources'), expect: 200 },
      { what: "watch A's EventSources", verb: 'watch', path: hookPath(a, 'eventsources'), expect: 200 },
      { what: "patch A's Webhook status", verb: 'patch', path: `${webhookA}/status`, expect: 200 },
      { what: 'create an Event in A', verb: 'create', path: eventsPath(a), body: anEvent(a), expect: 201 },
      // Another namespace.
      { what: "get B's Secret of the same name", verb: 'get', path: secretPath(b, 'signing'), expect: 403 },
      { what: "list B's Secrets", verb: 'list', path: secretPath(b), expect: 403 },
      { what: "get B's Webhook", verb: 'get', path: webhookB, expect: 403 },
      { what: "list B's Webhooks", verb: 'list', path: hookPath(b, 'webhooks'), expect: 403 },
      { what: "watch B's Webhooks", verb: 'watch', path: hookPath(b, 'webhooks'), expect: 403 },
      { what: "patch B's Webhook status", verb: 'patch', path: `${webhookB}/status`, expect: 403 },
      { what: 'create an Event in B', verb: 'create', path: eventsPath(b), body: anEvent(b), expect: 403 },
      {
        what: 'list Webhooks of all namespaces',
        verb: 'list',
        path: '/apis/hookline.dev/v1alpha1/webhooks',
        expect: 403,
      },
      { what: 'list Secrets of all namespaces', verb: 'list', path: '/api/v1/secrets', expect: 403 },
      { what: 'list namespaces', verb: 'list', path: '/api/v1/namespaces', expect: 403 },
      // Secrets of its own namespace that it does not need.
      {
        what: "get A's Secret no Hookline object names",
        verb: 'get',
        path: secretPath(a, 'unnamed'),
        expect: 403,
      },
      { what: "list A's Secrets", verb: 'list', path: secretPath(a), expect: 403 },
      { what: "get A's broker Secret", verb: 'get', path: secretPath(a, 'broker'), expect: 403 },
      { what: "watch A's Secrets", verb: 'watch', path: secretPath(a), expect: 403 },
      {
        what: 'create a Secret in A',
        verb: 'create',
        path: secretPath(a),
        body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'planted' }, stringData: { k: 'v' } },
        expect: 403,
      },
      {
        what: "patch A's signing Secret",
        verb: 'patch',
        path: secretPath(a, 'signing'),
        body: { stringData: { secret: 'replaced' } },
        expect: 403,
      },
      { what: "delete A's signing Secret", verb: 'delete', path: secretPath(a, 'signing'), expect: 403 },
      // Writes the dispatcher never makes.
      {
        what: 'create a Webhook in A',
        verb: 'create',
        path: hookPath(a, 'webhooks'),
        body: {
          apiVersion: 'hookline.dev/v1alpha1',
          kind: 'Webhook',
          metadata: { name: 'planted' },
          spec: {},
        },
        expect: 403,
      },
      {
        what: "patch A's Webhook (spec, annotations)",
        verb: 'patch',
        path: webhookA,
        body: { metadata: { annotations: { planted: 'x' } } },
        expect: 403,
      },
      {
        what: "replace A's Webhook status (update)",
        verb: 'update',
        path: `${webhookA}/status`,
        body: await testClient().get(webhookA),
        expect: 403,
      },
      { what: "delete A's Webhook", verb: 'delete', path: webhookA, expect: 403 },
      {
        what: "delete A's CallbackPolicy",
        verb: 'delete',
        path: hookPath(a, 'callbackpolicies', 'default'),
        expect: 403,
      },
      {
        what: "delete A's EventSource",
        verb: 'delete',
        path: hookPath(a, 'eventsources', SOURCE),
        expect: 403,
      },
      {
        what: "patch A's EventSource status",
        verb: 'patch',
        path: `${hookPath(a, 'eventsources', SOURCE)}/status`,
        expect: 403,
      },
      {
        what: "patch A's CallbackPolicy status",
        verb: 'patch',
        path: `${hookPath(a, 'callbackpolicies', 'default')}/status`,
        expect: 403,
      },
      { what: 'patch an Event in A', verb: 'patch', path: `${eventsPath(a)}/any`, expect: 403 },
      { what: 'delete an Event in A', verb: 'delete', path: `${eventsPath(a)}/any`, expect: 403 },
      {
        what: 'widen its own Role',
        verb: 'patch',
        path: resourcePath({
          group: 'rbac.authorization.k8s.io',
          version: 'v1',
          plural: 'roles',
          namespace: a,
          name: SERVICE_ACCOUNT,
        }),
        body: { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] },
        expect: 403,
      },
      {
        what: 'mint a token for its ServiceAccount',
        verb: 'create',
        path: `${resourcePath({ group: '', version: 'v1', plural: 'serviceaccounts', namespace: a, name: SERVICE_ACCOUNT })}/token`,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} },
        expect: 403,
      },
      {
        what: 'create a Pod in A',
        verb: 'create',
        path: resourcePath({ group: '', version: 'v1', plural: 'pods', namespace: a }),
        body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'planted' }, spec: { containers: [] } },
        expect: 403,
      },
      {
        what: 'get its own Deployment',
        verb: 'get',
        path: resourcePath({
          group: 'apps',
          version: 'v1',
          plural: 'deployments',
          namespace: a,
          name: SERVICE_ACCOUNT,
        }),
        expect: 403,
      },
    ];
    const answered: string[] = [];
    const expected: string[] = [];
    for (const check of checks) {
      const status = await statusOf(asDispatcher, check);
      answered.push(`${check.what} (${check.verb} ${check.path}): ${status}`);
      expected.push(`${check.what} (${check.verb} ${check.path}): ${check.expect}`);
    }
    t.diagnostic(answered.join('\n'));
    assert.deepEqual(answered, expected);
  });

  it('runs a real dispatcher on that token alone: it delivers signed, records an Event and writes status', async () => {
    // The kubelet resolves the container's Secret references (the broker URI); the process
    // reaches the API server with the ServiceAccount token only.
    dispatcher = await startDispatcher(a, SOURCE, { KUBECONFIG: kubeconfigFile });
    await dispatcher.waitForLog(
      'its worker',
      (l) => l.msg === 'Delivering to Webhook' && l.webhook === SOURCE,
    );
    await publishEvents(`rbac.${a}`, [
      { routingKey: 'orders.created', messageId: 'evt-rbac-1', body: JSON.stringify({ id: 1 }) },
    ]);
    const [request] = await receiver.waitForRequests(1, 20_000);
    assert.ok(request, 'the receiver got the event');
    assert.equal(request.headers['webhook-id'], 'evt-rbac-1');
    assert.ok(verifyStandardWebhooks(request, SIGNING_SECRET), 'signed with the Secret the Role names');
    assert.equal(request.headers['x-partner-key'], API_KEY);

    await eventually('the delivery counted in status by the dispatcher', async () => {
      const hook = await getObject(a, 'webhooks', SOURCE);
      const deliveries = hook?.status?.deliveries as { succeeded?: number } | undefined;
      return (deliveries?.succeeded ?? 0) >= 1;
    });

    // A send-test: the dispatcher takes it by creating an Event, and answers in status.
    await kubectl(['annotate', '-n', a, `webhook/${SOURCE}`, 'hookline.dev/send-test=rbac-1']);
    await eventually('the test answered in status.lastTest', async () => {
      const hook = await getObject(a, 'webhooks', SOURCE);
      const lastTest = hook?.status?.lastTest as { token?: string; outcome?: string } | undefined;
      return lastTest?.token === 'rbac-1' && lastTest.outcome === 'Succeeded';
    });
    const events = await testClient().get<{
      items: { reason: string; reportingComponent?: string }[];
    }>(eventsPath(a));
    assert.ok(
      events.items.some((e) => e.reason === 'SendingTest' && e.reportingComponent === 'hookline-dispatcher'),
      'the dispatcher recorded its Event',
    );

    // Nothing it tried was refused.
    const refused = dispatcher.logs.filter((l) => /forbidden|\b403\b/i.test(JSON.stringify(l)));
    assert.deepEqual(refused, []);
    assert.equal(
      dispatcher.logs.filter((l) => l.level >= 40).length,
      0,
      JSON.stringify(dispatcher.logs.filter((l) => l.level >= 40)),
    );
  });

  it('re-reads a rotated Secret with that token, as the API server’s watch cache has it', async () => {
    const reader = new SecretReader(asDispatcher, a, pino({ level: 'silent' }), { rereadsPerSecond: 1000 });
    assert.equal(await reader.entry('partner', 'apiKey', 'spec.auth'), API_KEY);
    const rotated = `partner-key-${crypto.randomBytes(8).toString('hex')}`;
    await testClient().mergePatch(secretPath(a, 'partner'), { stringData: { apiKey: rotated } });
    let changed = false;
    try {
      // A re-read asks for resourceVersion 0: allowed by the Role's `get`, answered from the
      // cache, which has the new value once the watch brought it.
      await eventually(
        'the rotated key, re-read',
        async () => {
          changed = (await reader.refresh()) || changed;
          return reader.cachedEntry('partner', 'apiKey') === rotated;
        },
        { timeoutMs: 10_000 },
      );
      assert.equal(changed, true, 'the re-read says the Secret changed');
    } finally {
      await testClient().mergePatch(secretPath(a, 'partner'), { stringData: { apiKey: API_KEY } });
    }
  });
});
