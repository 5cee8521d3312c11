// The whole path as a user walks it: the four real cases of examples/ applied with
// `kubectl apply -f -` into one namespace (only what a test must know changed: receiver
// URLs, broker addresses, secret values, the payment schedule scaled down, and the Midaz
// exchange and Kafka topic named per run so that runs sharing a broker stay apart), the
// operator as a process watching that namespace, its dispatcher Deployments run as local
// processes (scripts/local/dispatchers.ts stands in for the kubelet), events published on
// each kind of source, receivers that verify signatures with independent code, what
// `kubectl get webhooks` shows, and `kubectl delete -f -` leaving nothing behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Keypair } from '@stellar/stellar-base';
import amqp from 'amqplib';
import { LocalDispatchers, type LocalDispatcher } from '../../scripts/local/dispatchers.ts';
import { freshNamespace, kafka, kubectl, rabbitApi, testEnv } from '../env/handles.ts';
import { publishEvents, queueDepth } from '../fixtures/broker.ts';
import { testClient } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { exampleDocuments, exampleManifests, type ExampleDocument } from '../fixtures/examples.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import { answer, startReceiver, type Receiver, type RecordedRequest } from '../fixtures/receiver.ts';
import {
  clusterEvents,
  clusterSecrets,
  clusterWrites,
  describeLeaks,
  findLeaks,
  secretNeedles,
  type Needle,
} from '../fixtures/leaks.ts';
import { readSecret } from '../fixtures/secrets.ts';
import {
  verifyHmacSha256,
  verifyJwt,
  verifyRsaContentSignature,
  verifyStandardWebhooks,
  verifyStellar,
} from '../fixtures/verifiers.ts';
import { eventually } from '../fixtures/wait.ts';
import { count, parseTable, rowsByName, WEBHOOK_COLUMNS } from './table.ts';

const EXAMPLES = ['midaz', 'anchor-platform', 'api-manager', 'payments'] as const;
type Example = (typeof EXAMPLES)[number];
const SOURCES: Record<Example, string> = {
  midaz: 'midaz-transactions',
  'anchor-platform': 'anchor-events',
  'api-manager': 'api-manager',
  payments: 'payments',
};
const WEBHOOKS = [
  'ledger-all-transactions',
  'ledger-approved',
  'wallet-sep24',
  'wallet-sep6',
  'business-server',
  'audit-log',
  'app-naming-policy',
  'app-quota',
  'plan-approval',
  'shop-55',
  'shop-77-legacy',
] as const;
type WebhookName = (typeof WEBHOOKS)[number];
const COLUMNS = WEBHOOK_COLUMNS;

const INGEST_TOKEN = 'e2e-producer-token-5b2f0c';
const AUDIT_API_KEY = 'e2e-audit-service-api-key';
const JWT_SECRET = 'e2e-callback-api-jwt-secret';
// The payment case's schedule (30s, 5m, 15m, 1h), scaled down 1000 times.
const PAYMENT_SCHEDULE = ['30ms', '300ms', '900ms', '3600ms'];
// Loopback ports of the local dispatchers: clear of the test environment's (etcd listens
// on 24379 and 24380) and of the local run's (24080, 24100-24199).
const DISPATCHER_PORTS = { first: 24300, count: 50 };

interface WebhookObject {
  metadata: { name: string };
  status?: {
    disabled?: boolean;
    disabledReason?: string;
    deliveries?: { succeeded?: number; failed?: number; retried?: number; filtered?: number };
    conditions?: { type: string; status: string; reason: string }[];
    recentAttempts?: { outcome: string; statusCode?: number }[];
  };
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** RSA SHA-256 in the older form `X-Signature: <base64>`, checked with node:crypto. */
function verifyRsaPlain(request: RecordedRequest, publicKeyPem: string): boolean {
  const signature = request.headers['x-signature'];
  if (typeof signature !== 'string') return false;
  return crypto
    .createVerify('RSA-SHA256')
    .update(request.body)
    .verify(publicKeyPem, Buffer.from(signature, 'base64'));
}

/** The event id a delivery carries: `webhook-id` under Standard Webhooks, `Hookline-Event-Id` otherwise. */
const eventId = (request: RecordedRequest) =>
  String(request.headers['webhook-id'] ?? request.headers['hookline-event-id']);
const idsAt = (receiver: Receiver) => receiver.requests.map(eventId);

describe('end to end: the examples applied, fed and deleted through kubectl', () => {
  let namespace: string;
  let midazExchange: string;
  let topic: string;
  let operator: OperatorProcess;
  let runner: LocalDispatchers;
  let logDir: string;
  let failed = false;
  const started: LocalDispatcher[] = [];
  const stopped: LocalDispatcher[] = [];
  const receivers = {} as Record<WebhookName, Receiver>;
  const anchor = Keypair.random();
  /** What the secret-leak sweep searched for and read, across its two tests. */
  const sweep = {
    needles: new Map<string, Needle>(),
    values: 0,
    statuses: 0,
    skipped: { public: 0, short: 0 },
  };

  /** The example's manifests with what only this test can know filled in; the same for apply and delete. */
  function manifests(example: Example): string {
    const secrets: Record<string, Record<string, string>> = {
      'midaz-rabbitmq': { uri: testEnv().rabbitmq.amqpUrl },
      'anchor-signing-seed': { seed: anchor.secret() },
      'business-server-jwt': { secret: JWT_SECRET },
      'api-manager-ingest': { tokens: INGEST_TOKEN },
      'audit-api-key': { apiKey: AUDIT_API_KEY },
      'payments-ingest': { tokens: INGEST_TOKEN },
    };
    return exampleManifests(example, (doc): ExampleDocument => {
      const spec = doc.spec ?? {};
      const name = doc.metadata.name;
      switch (doc.kind) {
        case 'Secret': {
          const stringData = secrets[name];
          if (!stringData) throw new Error(`examples/${example}: no test value for Secret ${name}`);
          return { ...doc, stringData };
        }
        case 'EventSource':
          if (spec.rabbitmq)
            return {
              ...doc,
              spec: { ...spec, rabbitmq: { ...spec.rabbitmq, exchange: midazExchange } },
            };
          if (spec.kafka)
            return {
              ...doc,
              spec: {
                ...spec,
                kafka: {
                  ...spec.kafka,
                  brokers: testEnv().kafka.brokers,
                  topic,
                  startFrom: 'earliest',
                },
              },
            };
          return doc;
        case 'CallbackPolicy':
          return name === 'payments-strict'
            ? { ...doc, spec: { ...spec, retry: { schedule: PAYMENT_SCHEDULE } } }
            : doc;
        case 'Webhook': {
          const receiver = receivers[name as WebhookName];
          if (!receiver) throw new Error(`examples/${example}: no receiver for Webhook ${name}`);
          return { ...doc, spec: { ...spec, url: `${receiver.url}${new URL(String(spec.url)).pathname}` } };
        }
        default:
          return doc;
      }
    });
  }

  function dispatcherOf(source: string): LocalDispatcher | undefined {
    return runner.running.find((d) => d.namespace === namespace && d.source === source && d.replica === 0);
  }

  function dispatcherLog(source: string): { msg?: string; webhook?: string }[] {
    const running = dispatcherOf(source);
    if (!running || !fs.existsSync(running.log)) return [];
    return fs
      .readFileSync(running.log, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; webhook?: string });
  }

  /** A producer's request to an http source's ingest, with its bearer token. */
  async function post(
    source: 'api-manager' | 'payments',
    route: '/v1/events' | '/v1/events/before',
    event: unknown,
  ): Promise<Answer> {
    const port = runner.port(namespace, source);
    assert.ok(port, `a local dispatcher runs for ${source}`);
    const response = await fetch(`http://127.0.0.1:${port}${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${INGEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function webhookTable() {
    const { stdout } = await kubectl(['get', 'webhooks', '-n', namespace]);
    const table = parseTable(stdout);
    return { stdout, columns: table.columns, rows: rowsByName(table) };
  }

  async function webhooksJson(): Promise<Map<string, WebhookObject>> {
    const { stdout } = await kubectl(['get', 'webhooks', '-n', namespace, '-o', 'json']);
    const list = JSON.parse(stdout) as { items: WebhookObject[] };
    return new Map(list.items.map((item) => [item.metadata.name, item]));
  }

  const webhooksOf = (example: Example) =>
    exampleDocuments(example)
      .filter((d) => d.kind === 'Webhook')
      .map((d) => d.metadata.name);
  /** Before hooks are called at the gate and have no queue. */
  const queuedWebhooksOf = (example: Example) =>
    exampleDocuments(example)
      .filter((d) => d.kind === 'Webhook' && d.spec?.phase !== 'Before')
      .map((d) => d.metadata.name);

  /** Every queue and exchange on the broker's default vhost, through the management API. */
  async function brokerObjects(): Promise<{ queues: string[]; exchanges: string[] }> {
    const names = async (kind: 'queues' | 'exchanges') =>
      ((await rabbitApi<{ name: string }[]>(`/${kind}/%2F?columns=name`)) ?? []).map((o) => o.name);
    return { queues: await names('queues'), exchanges: await names('exchanges') };
  }

  /** The queues and exchanges Hookline made for an example's Webhooks and source. */
  async function brokerObjectsOf(example: Example): Promise<{ queues: string[]; exchanges: string[] }> {
    const prefixes = [
      ...[...webhooksOf(example), SOURCES[example]].map((name) => `hookline.${namespace}.${name}`),
      `hookline-ingest.${namespace}.${SOURCES[example]}`,
    ];
    const ours = (name: string) => prefixes.some((p) => name === p || name.startsWith(`${p}.`));
    const { queues, exchanges } = await brokerObjects();
    return { queues: queues.filter(ours), exchanges: exchanges.filter(ours) };
  }

  /** An object still there after its deletion, with what the operator last said of it. */
  function stuck(resource: string): string {
    const name = resource.split('/').at(-1);
    const said = operator.logs.filter((l) => l.name === name && l.level >= 30).at(-1);
    const why = [said?.err, said?.reason].find((v) => typeof v === 'string') ?? '';
    return `${resource} (operator: ${said ? `${said.msg}: ${why}` : 'nothing'})`;
  }

  async function jsonpath(resource: string, name: string, expression: string): Promise<string> {
    const { stdout } = await kubectl([
      'get',
      resource,
      name,
      '-n',
      namespace,
      '-o',
      `jsonpath=${expression}`,
    ]);
    return stdout;
  }

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('e2e');
    midazExchange = `transaction.transaction_events.exchange.${namespace}`;
    topic = `TRANSACTION-${namespace}`;

    // What exists before Hookline does: Midaz's exchange (Midaz declares it, and the
    // example's declare: false expects it) and the Anchor Platform's topic.
    const connection = await amqp.connect(testEnv().rabbitmq.amqpUrl);
    try {
      const channel = await connection.createChannel();
      await channel.assertExchange(midazExchange, 'topic', { durable: true });
    } finally {
      await connection.close();
    }
    const admin = kafka('hookline-e2e-admin').admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }

    for (const name of WEBHOOKS) receivers[name] = await startReceiver();
    receivers['plan-approval'].respondWith(answer.status(204));
    receivers['app-quota'].respondWith((request) =>
      request.body.includes('over-quota')
        ? answer.status(403, '{"error":"quota exceeded"}')
        : answer.status(200),
    );
    receivers['shop-77-legacy'].respondWith(answer.status(500, 'shop 77 is down'));

    operator = startOperator({ namespace });
    logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-e2e-'));
    runner = new LocalDispatchers({
      client: testClient(),
      kubeconfig: testEnv().kubeconfig,
      logDir,
      ports: DISPATCHER_PORTS,
      namespace,
      env: { HOOKLINE_LOG_LEVEL: 'info' },
      onChange: (event, dispatcher) => (event === 'started' ? started : stopped).push(dispatcher),
    });
    runner.start();
  });

  afterEach((t) => {
    // TestContext.passed is not in @types/node yet.
    failed ||= (t as { passed?: boolean }).passed === false;
  });

  after(async () => {
    await runner?.stop();
    await operator?.stop();
    await Promise.all(Object.values(receivers).map((r) => r.close()));
    if (failed) process.stderr.write(`[e2e] dispatcher logs in ${logDir}\n`);
    else if (logDir) fs.rmSync(logDir, { recursive: true, force: true });
    if (!namespace) return;
    // A failed run leaves no object behind for another operator watching every namespace to
    // pick up: what remains is deleted and let go of by hand, as the operator's message says.
    await kubectl(['delete', 'hookline,deployments', '--all', '-n', namespace, '--wait=false']);
    const { stdout: remaining } = await kubectl(['get', 'hookline', '-n', namespace, '-o', 'name']);
    for (const resource of remaining.split('\n').filter(Boolean))
      await kubectl([
        'patch',
        '-n',
        namespace,
        resource,
        '--type=merge',
        '-p',
        '{"metadata":{"finalizers":null}}',
      ]);
    // What the test made in the producers' place: the topic, its consumer group, the exchange.
    const admin = kafka('hookline-e2e-admin').admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.deleteGroups([`hookline.${namespace}.anchor-events`]).catch(() => undefined);
    } finally {
      await admin.disconnect();
    }
    // And whatever a failed run left of Hookline's topology, so that the shared broker stays clean.
    const left = await brokerObjects();
    const ours = (name: string) =>
      name.startsWith(`hookline.${namespace}.`) || name.startsWith(`hookline-ingest.${namespace}.`);
    const connection = await amqp.connect(testEnv().rabbitmq.amqpUrl);
    try {
      const channel = await connection.createChannel();
      for (const queue of left.queues.filter(ours)) await channel.deleteQueue(queue);
      for (const exchange of [...left.exchanges.filter(ours), midazExchange])
        await channel.deleteExchange(exchange);
    } finally {
      await connection.close();
    }
  });

  it('applies the four examples with kubectl, and every object becomes Ready', async () => {
    for (const example of EXAMPLES) {
      const { stdout } = await kubectl(['apply', '-n', namespace, '-f', '-'], manifests(example));
      for (const doc of exampleDocuments(example)) {
        const resource = doc.apiVersion.startsWith('hookline.dev/')
          ? `${doc.kind.toLowerCase()}.hookline.dev`
          : doc.kind.toLowerCase();
        assert.match(stdout, new RegExp(`^${resource}/${doc.metadata.name} created$`, 'm'), stdout);
      }
    }
    for (const kind of ['eventsources', 'callbackpolicies', 'webhooks'])
      await kubectl(['wait', '-n', namespace, `${kind}`, '--all', '--for=condition=Ready', '--timeout=40s']);

    const { stdout: names } = await kubectl(['get', 'hookline', '-n', namespace, '-o', 'name']);
    assert.deepEqual(
      names.trim().split('\n').sort(),
      [
        ...Object.values(SOURCES).map((s) => `eventsource.hookline.dev/${s}`),
        ...['default', 'gate', 'payments-strict'].map((p) => `callbackpolicy.hookline.dev/${p}`),
        ...WEBHOOKS.map((w) => `webhook.hookline.dev/${w}`),
      ].sort(),
    );
    assert.equal(
      await jsonpath('eventsource', 'api-manager', '{.status.endpoint}'),
      `http://hookline-ingest-api-manager.${namespace}.svc/v1/events`,
    );

    // Before a single event: every hook listed, Ready, pointed where it was told, nothing delivered.
    const { stdout, columns, rows } = await webhookTable();
    assert.deepEqual(columns, COLUMNS, stdout);
    assert.deepEqual([...rows.keys()].sort(), [...WEBHOOKS].sort(), stdout);
    for (const example of EXAMPLES)
      for (const doc of exampleDocuments(example).filter((d) => d.kind === 'Webhook')) {
        const row = rows.get(doc.metadata.name)!;
        assert.equal(row.SOURCE, SOURCES[example], stdout);
        assert.equal(row.READY, 'True', stdout);
        assert.ok(row.URL!.startsWith(receivers[doc.metadata.name as WebhookName].url), stdout);
        assert.equal(count(row.DELIVERED), 0, stdout);
        assert.equal(count(row.FAILED), 0, stdout);
        assert.notEqual(row.DISABLED, 'true', stdout);
      }

    // The operator's Deployments run: one local dispatcher per EventSource, ready.
    await eventually(
      'a ready local dispatcher for each EventSource',
      async () => {
        for (const source of Object.values(SOURCES)) {
          const dispatcher = dispatcherOf(source);
          if (!dispatcher) throw new Error(`no dispatcher for ${source} yet`);
          const response = await fetch(`http://127.0.0.1:${dispatcher.port}/readyz`);
          if (response.status !== 200) throw new Error(`${source}: /readyz answered ${response.status}`);
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const { stdout: deployments } = await kubectl(['get', 'deployments', '-n', namespace, '-o', 'name']);
    assert.deepEqual(
      deployments.trim().split('\n').sort(),
      Object.values(SOURCES)
        .map((s) => `deployment.apps/hookline-dispatcher-${s}`)
        .sort(),
    );
  });

  it('delivers Midaz ledger events from its exchange, signed with the generated keys', async () => {
    const event = (id: string, status: string, organizationId: string) => ({
      routingKey: `midaz.transaction.${status}`,
      messageId: id,
      body: JSON.stringify({
        source: 'midaz',
        eventType: 'transaction',
        action: status,
        timestamp: new Date().toISOString(),
        version: 'v1',
        organizationId,
        ledgerId: 'ledger-1',
        payload: { id, amount: '10.00', asset: 'BRL' },
      }),
    });
    await publishEvents(midazExchange, [
      event('tx-approved-a', 'APPROVED', '0193-org-a'),
      event('tx-pending-a', 'PENDING', '0193-org-a'),
      event('tx-canceled-c', 'CANCELED', '0193-org-c'),
      event('tx-canceled-b', 'CANCELED', '0193-org-b'),
    ]);
    const all = receivers['ledger-all-transactions'];
    const approved = receivers['ledger-approved'];
    await eventually('all four transactions at the reporting receiver', () => all.requests.length >= 4);
    await eventually('two transactions at the payouts receiver', () => approved.requests.length >= 2);
    assert.deepEqual(idsAt(all).sort(), ['tx-approved-a', 'tx-canceled-b', 'tx-canceled-c', 'tx-pending-a']);
    // ledger-approved: APPROVED and CANCELED only, of organisations a and b only, as CloudEvents.
    assert.deepEqual(
      approved.requests.map((r) => (JSON.parse(r.body.toString()) as { id: string }).id).sort(),
      ['tx-approved-a', 'tx-canceled-b'],
    );

    const allKey = await readSecret(namespace, 'ledger-all-transactions-signing', 'secret');
    const approvedKey = await readSecret(namespace, 'ledger-approved-signing', 'secret');
    for (const request of all.requests) {
      assert.ok(verifyStandardWebhooks(request, allKey), 'Standard Webhooks signature verifies');
      assert.equal(verifyStandardWebhooks(request, approvedKey), false, 'and only with its own key');
      assert.equal(request.path, '/midaz/transactions');
    }
    for (const request of approved.requests) {
      assert.ok(verifyStandardWebhooks(request, approvedKey));
      assert.equal(request.headers['content-type'], 'application/cloudevents+json');
      const envelope = JSON.parse(request.body.toString()) as {
        specversion: string;
        id: string;
        type: string;
        data: { organizationId: string };
      };
      assert.equal(envelope.specversion, '1.0');
      assert.equal(envelope.id, request.headers['webhook-id']);
      assert.match(envelope.type, /^midaz\.transaction\.(APPROVED|CANCELED)$/);
      assert.match(envelope.data.organizationId, /^0193-org-[ab]$/);
    }
  });

  it('delivers Anchor Platform records from Kafka to the wallets and the business server', async () => {
    const records = [
      { type: 'transaction_created', id: 'anchor-1', sep: '24', transaction: { id: 't1', sep: '24' } },
      { type: 'transaction_status_changed', id: 'anchor-2', sep: '6', transaction: { id: 't2', sep: '6' } },
      { type: 'quote_created', id: 'anchor-3', sep: '38', quote: { id: 'q3' } },
      { type: 'transaction_error', id: 'anchor-4', sep: '31', transaction: { id: 't4', sep: '31' } },
    ];
    const producer = kafka('anchor-platform').producer();
    await producer.connect();
    try {
      await producer.send({
        topic,
        messages: records.map((r) => ({ key: r.id, value: JSON.stringify(r), headers: { type: r.type } })),
      });
    } finally {
      await producer.disconnect();
    }
    const sep24 = receivers['wallet-sep24'];
    const sep6 = receivers['wallet-sep6'];
    const business = receivers['business-server'];
    await eventually('the SEP-24 wallet callback', () => sep24.requests.length >= 1, { timeoutMs: 30_000 });
    await eventually('the SEP-6 wallet callback', () => sep6.requests.length >= 1);
    await eventually('three transactions at the business server', () => business.requests.length >= 3);
    assert.deepEqual(idsAt(sep24), ['anchor-1']);
    assert.deepEqual(idsAt(sep6), ['anchor-2']);
    assert.deepEqual(idsAt(business).sort(), ['anchor-1', 'anchor-2', 'anchor-4']);

    for (const [receiver, legacy] of [
      [sep24, false],
      [sep6, true],
    ] as const) {
      const request = receiver.requests[0]!;
      assert.ok(
        verifyStellar(request, anchor.publicKey(), `127.0.0.1:${receiver.port}`),
        'Stellar signature',
      );
      assert.equal(request.headers['x-stellar-signature'] === request.headers.signature, legacy);
    }
    for (const request of business.requests) {
      assert.equal(request.path, '/event');
      const claims = verifyJwt(request, JWT_SECRET);
      assert.ok(claims, 'the JWT verifies');
      assert.equal(claims.exp - claims.iat, 30);
    }
    // The quote reached the business server's queue ('#') and was filtered out by its match.
    const hooks = await eventually('the business server counting the filtered quote', async () => {
      const found = await webhooksJson();
      return (found.get('business-server')?.status?.deliveries?.filtered ?? 0) >= 1 && found;
    });
    assert.equal(hooks.get('business-server')?.status?.deliveries?.failed ?? 0, 0);
  });

  it('takes api-manager events over HTTP: After hooks get them, Before hooks decide', async () => {
    const accepted = await post('api-manager', '/v1/events', {
      objectType: 'app',
      action: 'created',
      object: { name: 'billing' },
      user: 'ana',
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal(accepted.body.type, 'app.created');
    const audit = receivers['audit-log'];
    const [delivered] = await audit.waitForRequests(1, 20_000);
    assert.equal(delivered!.headers['hookline-event-id'], accepted.body.id);
    assert.equal(delivered!.headers['x-api-key'], AUDIT_API_KEY);
    assert.ok(verifyHmacSha256(delivered!, await readSecret(namespace, 'audit-log-signing', 'secret')));

    await eventually('the gate calling its three Before hooks', () => {
      const gated = new Set(
        dispatcherLog('api-manager')
          .filter((l) => l.msg === 'Calling Before hook at the gate')
          .map((l) => l.webhook),
      );
      return ['app-naming-policy', 'app-quota', 'plan-approval'].every((w) => gated.has(w));
    });
    const allowed = await post('api-manager', '/v1/events/before', {
      objectType: 'app',
      action: 'created',
      object: { name: 'within-quota' },
    });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    assert.equal(allowed.body.allowed, true);
    const naming = receivers['app-naming-policy'].requests.at(-1)!;
    assert.ok(
      verifyStandardWebhooks(naming, await readSecret(namespace, 'app-naming-policy-signing', 'secret')),
    );
    assert.equal(naming.headers['webhook-id'], allowed.body.id);

    const denied = await post('api-manager', '/v1/events/before', {
      objectType: 'app',
      action: 'created',
      object: { name: 'over-quota' },
    });
    assert.equal(denied.status, 409, JSON.stringify(denied.body));
    assert.deepEqual(
      (denied.body.denials as { webhook: string; statusCode: number }[]).map((d) => [
        d.webhook,
        d.statusCode,
      ]),
      [['app-quota', 403]],
    );
    const plan = await post('api-manager', '/v1/events/before', {
      objectType: 'plan',
      action: 'created',
      object: { name: 'gold' },
    });
    assert.equal(plan.status, 200, JSON.stringify(plan.body));
    assert.equal(receivers['plan-approval'].requests.length, 1);
  });

  it('delivers payments RSA-signed, and disables the hook whose retries run out', async () => {
    const invoice = await post('payments', '/v1/events', {
      eventType: 'invoice.created',
      shop_id: 55,
      invoice: { id: 'inv-1', amount: 1999 },
    });
    assert.equal(invoice.status, 202, JSON.stringify(invoice.body));
    const payment = await post('payments', '/v1/events', {
      eventType: 'payment.status_changed',
      shop_id: 77,
      payment: { id: 'pay-1', status: 'paid' },
    });
    assert.equal(payment.status, 202, JSON.stringify(payment.body));

    // The merchant's public key, as examples/payments/README.md says to get it.
    const shop55 = receivers['shop-55'];
    const [signed] = await shop55.waitForRequests(1, 20_000);
    const publicKey55 = await jsonpath('webhook', 'shop-55', '{.status.signing.publicKey}');
    assert.match(publicKey55, /^-----BEGIN PUBLIC KEY-----/);
    assert.ok(verifyRsaContentSignature(signed!, publicKey55), 'Content-Signature verifies');
    assert.equal(signed!.headers['hookline-event-id'], invoice.body.id);

    // shop 77 answers 500: the first attempt and four retries, all signed the older way.
    const shop77 = receivers['shop-77-legacy'];
    const attempts = await shop77.waitForRequests(5, 30_000);
    const publicKey77 = await jsonpath('webhook', 'shop-77-legacy', '{.status.signing.publicKey}');
    assert.deepEqual(
      attempts.map((r) => r.headers['hookline-attempt']),
      ['1', '2', '3', '4', '5'],
    );
    for (const request of attempts) {
      assert.equal(request.headers['hookline-event-id'], payment.body.id);
      assert.ok(verifyRsaPlain(request, publicKey77), 'X-Signature verifies');
    }
    const hook = await eventually('shop-77-legacy disabled', async () => {
      const found = (await webhooksJson()).get('shop-77-legacy');
      return found?.status?.disabled === true && found;
    });
    assert.match(hook.status?.disabledReason ?? '', /Disabled after 4 failed retries/);
    assert.ok(
      hook.status?.conditions?.some(
        (c) => c.type === 'Stalled' && c.status === 'True' && c.reason === 'RetriesExhausted',
      ),
    );
    assert.equal(await queueDepth(`hookline.${namespace}.shop-77-legacy`), 0, 'its queue was purged');
  });

  it('shows deliveries, failures, gate verdicts and the disabled hook in kubectl get webhooks', async () => {
    const delivered: WebhookName[] = WEBHOOKS.filter((w) => w !== 'shop-77-legacy');
    const { stdout, rows } = await eventually(
      'every delivered hook counted in the table, and shop-77-legacy disabled',
      async () => {
        const table = await webhookTable();
        for (const name of delivered)
          assert.ok(count(table.rows.get(name)?.DELIVERED) > 0, `${name} DELIVERED\n${table.stdout}`);
        assert.ok(count(table.rows.get('app-quota')?.FAILED) > 0, `app-quota FAILED\n${table.stdout}`);
        assert.equal(table.rows.get('shop-77-legacy')?.DISABLED, 'true', table.stdout);
        return table;
      },
    );
    // A hook that was never disabled has no status.disabled: kubectl leaves the cell empty.
    for (const name of delivered) assert.match(rows.get(name)!.DISABLED!, /^(false)?$/, stdout);
    const row = (name: WebhookName) => rows.get(name)!;

    // The counts are exact where the test knows them.
    assert.equal(count(row('ledger-all-transactions').DELIVERED), 4, stdout);
    assert.equal(count(row('ledger-approved').DELIVERED), 2, stdout);
    assert.equal(count(row('business-server').DELIVERED), 3, stdout);
    assert.equal(count(row('wallet-sep24').DELIVERED), 1, stdout);
    for (const name of ['ledger-all-transactions', 'wallet-sep6', 'audit-log', 'shop-55'] as const) {
      assert.equal(row(name)['LAST-STATUS'], '200', stdout);
      assert.equal(count(row(name).FAILED), 0, stdout);
      assert.match(row(name)['LAST-ATTEMPT']!, /^\d+[smh]/, stdout);
    }
    // Before hooks: the gate's calls, allowed and denied.
    assert.equal(count(row('app-naming-policy').DELIVERED), 2, stdout);
    assert.equal(count(row('app-quota').DELIVERED), 1, stdout);
    assert.equal(count(row('app-quota').FAILED), 1, stdout);
    assert.equal(row('app-quota')['LAST-STATUS'], '403', stdout);
    assert.equal(row('plan-approval')['LAST-STATUS'], '204', stdout);
    // The payment hook whose retries ran out.
    assert.equal(row('shop-77-legacy').READY, 'False', stdout);
    assert.equal(count(row('shop-77-legacy').DELIVERED), 0, stdout);
    assert.equal(count(row('shop-77-legacy').FAILED), 1, stdout);
    assert.equal(row('shop-77-legacy')['LAST-STATUS'], '500', stdout);

    // The table says what the objects' status says.
    const objects = await webhooksJson();
    for (const name of WEBHOOKS) {
      const deliveries = objects.get(name)?.status?.deliveries;
      assert.equal(count(row(name).DELIVERED), deliveries?.succeeded ?? 0, name);
      assert.equal(count(row(name).FAILED), deliveries?.failed ?? 0, name);
    }
    assert.equal(objects.get('shop-77-legacy')?.status?.deliveries?.retried, 4);
    assert.ok(
      objects
        .get('app-quota')
        ?.status?.recentAttempts?.some((a) => a.outcome === 'Denied' && a.statusCode === 403),
      'the denial is in the activation history',
    );
  });

  it('prints the table an SRE needs with kubectl hookline status, and the same as JSON', async () => {
    const plugin = (args: readonly string[]) =>
      new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(
          process.execPath,
          [path.join(import.meta.dirname, '..', '..', 'cli', 'kubectl-hookline.ts'), ...args],
          { env: { ...process.env, KUBECONFIG: testEnv().kubeconfig } },
          (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
        );
      });
    const table = await plugin(['status', '-n', namespace]);
    assert.equal(table.code, 0, table.stdout);
    process.stderr.write(`[kubectl hookline status]\n${table.stdout}`);
    const rows = rowsByName(parseTable(table.stdout));
    for (const name of WEBHOOKS) assert.ok(rows.has(name), `${name} in\n${table.stdout}`);
    assert.equal(rows.get('shop-77-legacy')!.READY, 'False', table.stdout);
    assert.equal(rows.get('shop-77-legacy')!.REASON, 'RetriesExhausted', table.stdout);
    assert.equal(rows.get('shop-77-legacy')!.DISABLED, 'true', table.stdout);
    assert.match(rows.get('shop-77-legacy')!['LAST-ERROR']!, /HTTP 500/, table.stdout);
    assert.equal(rows.get('app-quota')!['LAST-STATUS'], '403', table.stdout);
    const json = await plugin(['status', '-n', namespace, '-o', 'json']);
    const objects = await webhooksJson();
    for (const entry of JSON.parse(json.stdout) as { name: WebhookName; delivered: number | null }[])
      assert.equal(
        entry.delivered ?? 0,
        objects.get(entry.name)?.status?.deliveries?.succeeded ?? 0,
        entry.name,
      );
  });

  // The secret-leak sweep, in two parts: what is deleted with the examples (their Secrets,
  // their objects' statuses) is read here, before the deletions; the log lines of the
  // operator and of every dispatcher, and the Events, once the run is over (the last test).
  it('shows no secret value in the status of any object or in any Event while the examples run', async () => {
    const found = secretNeedles(await clusterSecrets(testClient()));
    for (const needle of found.needles) sweep.needles.set(`${needle.secret}\u0000${needle.value}`, needle);
    sweep.values = Math.max(sweep.values, found.values);
    sweep.skipped = found.skipped;
    const written = await clusterWrites(testClient());
    const events = await clusterEvents(testClient());
    sweep.statuses += written.length;
    const leaks = findLeaks([...written, ...events], found.needles);
    assert.equal(leaks.length, 0, describeLeaks(leaks));
    // What the suite itself used is among the values searched for.
    const searched = new Set(found.needles.map((n) => n.value));
    for (const value of [INGEST_TOKEN, AUDIT_API_KEY, JWT_SECRET, anchor.secret()])
      assert.ok(searched.has(value), 'a Secret value of the examples is searched for');
    assert.ok(
      found.needles.some((n) => n.secret.startsWith(`${namespace}/`) && n.form === 'PEM line'),
      'a generated private key is searched for',
    );
    assert.ok(
      written.some((h) => h.where === `status of Webhook ${namespace}/shop-55`),
      'the statuses of the examples are read',
    );
  });

  // Each example is deleted the way it was applied; the payment case first, Midaz last.
  for (const example of [...EXAMPLES].reverse()) {
    const source = SOURCES[example];
    it(`deletes examples/${example} with kubectl delete -f: its objects, dispatcher and queues go`, async () => {
      const present = await brokerObjectsOf(example);
      for (const name of queuedWebhooksOf(example)) {
        assert.ok(present.queues.includes(`hookline.${namespace}.${name}`), `queue of ${name}`);
        assert.ok(
          present.queues.includes(`hookline.${namespace}.${name}.dlq`),
          `dead-letter queue of ${name}`,
        );
      }
      for (const name of webhooksOf(example).filter((n) => !queuedWebhooksOf(example).includes(n)))
        assert.ok(
          !present.queues.includes(`hookline.${namespace}.${name}`),
          `no queue for Before hook ${name}`,
        );
      if (example !== 'midaz') {
        assert.ok(present.exchanges.includes(`hookline.${namespace}.${source}`), 'ingest exchange');
        assert.ok(present.queues.includes(`hookline-ingest.${namespace}.${source}.dlq`), 'ingest dlq');
      }
      const dispatcher = dispatcherOf(source);
      assert.ok(dispatcher?.pid, `the local dispatcher of ${source}`);

      const { stdout } = await kubectl(
        ['delete', '-n', namespace, '--wait=false', '-f', '-'],
        manifests(example),
      );
      for (const doc of exampleDocuments(example))
        assert.match(stdout, new RegExp(`"${doc.metadata.name}" deleted`), stdout);
      await eventually(
        `the objects of examples/${example} gone, their finalizers done`,
        async () => {
          const left = await kubectl(
            ['get', '-n', namespace, '--ignore-not-found', '-o', 'name', '-f', '-'],
            manifests(example),
          );
          if (left.stdout.trim() === '') return true;
          throw new Error(left.stdout.trim().split('\n').map(stuck).join('; '));
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      );

      // No garbage collector runs here: the operator's finalizer deleted the Deployment,
      // and the stand-in kubelet stopped its process.
      const { stdout: deployment } = await kubectl([
        'get',
        'deployment',
        `hookline-dispatcher-${source}`,
        '-n',
        namespace,
        '--ignore-not-found',
        '-o',
        'name',
      ]);
      assert.equal(deployment, '');
      await eventually(`the local dispatcher of ${source} stopped`, () =>
        stopped.some((d) => d.pid === dispatcher.pid),
      );
      assert.throws(() => process.kill(dispatcher.pid!, 0), { code: 'ESRCH' });

      assert.deepEqual(await brokerObjectsOf(example), { queues: [], exchanges: [] });
      if (example === 'midaz')
        assert.ok(
          await rabbitApi(`/exchanges/%2F/${encodeURIComponent(midazExchange)}`),
          'the Midaz exchange stays: Hookline never deletes the exchange of a RabbitMQ source',
        );
    });
  }

  it('leaves nothing of Hookline in the namespace or on the broker', async () => {
    const { stdout: none, stderr } = await kubectl([
      'delete',
      'webhooks,eventsources,callbackpolicies',
      '--all',
      '-n',
      namespace,
      '--wait=false',
    ]);
    assert.doesNotMatch(none, /deleted/, 'nothing was left to delete');
    assert.match(`${none}${stderr}`, /No resources found/);
    const { stdout: children } = await kubectl([
      'get',
      'deployments,services,serviceaccounts,roles,rolebindings,secrets',
      '-n',
      namespace,
      '-o',
      'name',
    ]);
    assert.equal(children.trim(), '', 'no dispatcher objects, no generated or example Secrets');

    assert.deepEqual(
      runner.running.filter((d) => d.namespace === namespace),
      [],
    );
    assert.ok(started.length >= 4);
    for (const dispatcher of started)
      assert.throws(() => process.kill(dispatcher.pid!, 0), { code: 'ESRCH' }, `${dispatcher.source} exited`);

    const { queues, exchanges } = await brokerObjects();
    assert.deepEqual(
      queues.filter(
        (n) => n.startsWith(`hookline.${namespace}.`) || n.startsWith(`hookline-ingest.${namespace}.`),
      ),
      [],
    );
    assert.deepEqual(
      exchanges.filter((n) => n.startsWith(`hookline.${namespace}.`)),
      [],
    );
    assert.ok(exchanges.includes(midazExchange), 'the Midaz exchange stays');
  });

  it('shows no secret value in any log line of the operator or the dispatchers, or in any Event, of the whole run', async (t) => {
    const found = secretNeedles(await clusterSecrets(testClient()));
    for (const needle of found.needles) sweep.needles.set(`${needle.secret}\u0000${needle.value}`, needle);
    const needles = [...sweep.needles.values()];
    const logs: { where: string; text: string }[] = [
      ...operator.logs.map((line, i) => ({
        where: `operator log line ${i + 1}`,
        text: JSON.stringify(line),
      })),
      ...operator.stderr.map((text, i) => ({ where: `operator stderr line ${i + 1}`, text })),
    ];
    let dispatcherLines = 0;
    for (const file of fs.readdirSync(logDir).filter((f) => f.endsWith('.log'))) {
      const lines = fs.readFileSync(path.join(logDir, file), 'utf8').split('\n').filter(Boolean);
      dispatcherLines += lines.length;
      logs.push(...lines.map((text, i) => ({ where: `dispatcher ${file} line ${i + 1}`, text })));
    }
    const events = await clusterEvents(testClient());
    const written = await clusterWrites(testClient());
    sweep.statuses += written.length;
    const leaks = findLeaks([...logs, ...events, ...written], needles);
    const counts = {
      operatorLogLines: logs.length - dispatcherLines,
      dispatcherLogLines: dispatcherLines,
      events: events.length,
      statuses: sweep.statuses,
      secretValues: Math.max(sweep.values, found.values),
      searchedForms: needles.length,
    };
    t.diagnostic(
      `secret-leak sweep: ${JSON.stringify(counts)}; Secret entries left out: ${JSON.stringify(sweep.skipped)}`,
    );
    assert.equal(leaks.length, 0, describeLeaks(leaks));
    for (const [what, n] of Object.entries(counts)) assert.ok(n > 0, `the sweep examined ${what}`);
  });
});
