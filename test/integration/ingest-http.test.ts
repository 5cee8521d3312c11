// HTTP ingest and the Before gate end to end, with examples/api-manager as applied by a
// user (receiver URLs pointed at local receivers): the real control plane, RabbitMQ, the
// operator as a process and a dispatcher started from the Deployment it wrote.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { freshNamespace } from '../env/handles.ts';
import { startApiProxy } from '../fixtures/api-proxy.ts';
import { queueDepth } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  waitForReady,
  waitForSourceInPlace,
  type HooklineObject,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { exampleManifests } from '../fixtures/examples.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { readSecret } from '../fixtures/secrets.ts';
import { verifyHmacSha256, verifyStandardWebhooks } from '../fixtures/verifiers.ts';
import { eventually } from '../fixtures/wait.ts';

const TOKEN = 'producer-token-7c1d9e';
const appCreated = (name: string) =>
  JSON.stringify({ objectType: 'app', action: 'created', object: { name }, user: 'ana' });

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

describe('HTTP ingest and the Before gate (examples/api-manager)', () => {
  let namespace: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  let endpoint: string;
  const receivers: Record<'audit' | 'naming' | 'quota' | 'plan', Receiver> = {} as never;

  async function postTo(
    base: string,
    path: '/v1/events' | '/v1/events/before',
    body: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      body,
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: JSON.parse(text) as Record<string, unknown>,
    };
  }

  const post = (
    path: '/v1/events' | '/v1/events/before',
    body: string | Buffer,
    headers: Record<string, string> = {},
  ) => postTo(endpoint, path, body, headers);

  const endpointOf = (process: RunningProcess) =>
    `http://127.0.0.1:${String(process.logs.find((line) => line.msg === 'Dispatcher listening')?.port)}`;

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('ingest-http');
    operator = startOperator({ namespace });
    receivers.audit = await startReceiver();
    receivers.naming = await startReceiver();
    receivers.quota = await startReceiver();
    receivers.plan = await startReceiver(answer.status(204));
    const urls: Record<string, string> = {
      'audit-log': `${receivers.audit.url}/api-manager/events`,
      'app-naming-policy': `${receivers.naming.url}/checks/app-name`,
      'app-quota': `${receivers.quota.url}/checks/apps`,
      'plan-approval': `${receivers.plan.url}/plans`,
    };
    await apply(
      namespace,
      exampleManifests('api-manager', (doc) => {
        if (doc.kind === 'Secret' && doc.metadata.name === 'api-manager-ingest')
          return { ...doc, stringData: { tokens: `# rotated out next week\nold-token-1\n${TOKEN}\n` } };
        if (doc.kind === 'Webhook') return { ...doc, spec: { ...doc.spec, url: urls[doc.metadata.name] } };
        return doc;
      }),
    );
    await waitForSourceInPlace(namespace, 'api-manager');
    for (const name of Object.keys(urls)) await waitForReady(namespace, 'webhooks', name, 'True');
    dispatcher = await startDispatcher(namespace, 'api-manager');
    endpoint = endpointOf(dispatcher);
    // The gate knows its Before hooks once the dispatcher has resolved them, and says so.
    await dispatcher.waitForLog(
      'Before hooks',
      (l) => l.msg === 'Calling Before hook at the gate' && l.webhook === 'plan-approval',
    );
    await eventually('the dispatcher to be ready', async () => (await fetch(`${endpoint}/readyz`)).ok);
  });

  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    await Promise.all(Object.values(receivers).map((r) => r.close()));
  });

  it('publishes the endpoint in the EventSource status', async () => {
    const source = await getObject(namespace, 'eventsources', 'api-manager');
    assert.equal(source?.status?.endpoint, `http://hookline-ingest-api-manager.${namespace}.svc/v1/events`);
  });

  it('refuses a request without a valid token with 401 and publishes nothing', async () => {
    const missing = await post('/v1/events', appCreated('unauthenticated-1'), { authorization: '' });
    const wrong = await post('/v1/events', appCreated('unauthenticated-2'), {
      authorization: 'Bearer not-a-token',
    });
    const commented = await post('/v1/events', appCreated('unauthenticated-3'), {
      authorization: 'Bearer # rotated out next week',
    });
    for (const refused of [missing, wrong, commented]) {
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal(typeof refused.body.error, 'string');
    }
    assert.match(String(missing.body.error), /Authorization: Bearer/);
    // Another listed token works; then nothing of the refused requests ever arrives.
    const accepted = await post('/v1/events', appCreated('after-unauthenticated'), {
      authorization: 'Bearer old-token-1',
    });
    assert.equal(accepted.status, 202);
    await eventually('the accepted event', () =>
      receivers.audit.requests.some((r) => r.body.includes('after-unauthenticated')),
    );
    await sleep(500);
    assert.equal(receivers.audit.requests.filter((r) => r.body.includes('unauthenticated-')).length, 0);
  });

  it('answers 413 for a 2 MiB body, 415 for another content type, 400 for bad or too deep JSON or no type', async () => {
    const large = await post('/v1/events', Buffer.alloc(2 * 1024 * 1024, 'a'));
    assert.equal(large.status, 413);
    assert.match(String(large.body.error), /larger than maxEventBytes \(1048576\)/);
    const text = await post('/v1/events', appCreated('text'), { 'content-type': 'text/plain' });
    assert.equal(text.status, 415);
    assert.match(String(text.body.error), /Content-Type must be application\/json/);
    const notJson = await post('/v1/events', '{"objectType": "app", ');
    assert.equal(notJson.status, 400);
    assert.match(String(notJson.body.error), /not valid JSON/);
    const deep = await post(
      '/v1/events',
      `{"objectType": "app", "action": "created", "d": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    );
    assert.equal(deep.status, 400);
    assert.match(String(deep.body.error), /nests deeper than 128 levels/);
    const untyped = await post('/v1/events', JSON.stringify({ action: 'created' }));
    assert.equal(untyped.status, 400);
    assert.match(String(untyped.body.error), /\/objectType is missing/);
    const get = await fetch(`${endpoint}/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(get.status, 405);
  });

  it('delivers an accepted event to its After hook, signed and with the API key', async () => {
    const response = await post('/v1/events', appCreated('billing'));
    assert.equal(response.status, 202);
    assert.equal(response.body.type, 'app.created');
    const id = String(response.body.id);
    assert.match(id, /^evt_/);
    const [delivered] = await eventually('the audit delivery', () => {
      const found = receivers.audit.requests.filter((r) => r.headers['hookline-event-id'] === id);
      return found.length > 0 && found;
    });
    assert.equal(delivered!.body.toString(), appCreated('billing'));
    assert.equal(delivered!.headers['hookline-event-type'], 'app.created');
    assert.equal(delivered!.headers['x-api-key'], 'replace-with-the-audit-service-api-key');
    const secret = await readSecret(namespace, 'audit-log-signing', 'secret');
    assert.equal(verifyHmacSha256(delivered!, secret), true);
    // The Hookline-Event-Type header, when given, sets the type instead of the template.
    const typed = await post('/v1/events', appCreated('typed'), {
      'hookline-event-type': 'system-config.updated',
    });
    assert.equal(typed.body.type, 'system-config.updated');
  });

  it('delivers an event once however often its Idempotency-Key is repeated', async () => {
    const key = `key-${Date.now()}`;
    const body = appCreated('idempotent');
    const first = await post('/v1/events', body, { 'idempotency-key': key });
    const concurrent = await Promise.all(
      [1, 2, 3].map(() => post('/v1/events', body, { 'idempotency-key': key })),
    );
    const later = await post('/v1/events', body, { 'idempotency-key': key });
    for (const response of [first, ...concurrent, later]) {
      assert.equal(response.status, 202);
      assert.equal(response.body.id, first.body.id);
    }
    assert.equal(later.headers.get('idempotent-replayed'), 'true');
    const mismatch = await post('/v1/events', appCreated('other'), { 'idempotency-key': key });
    assert.equal(mismatch.status, 422);
    await eventually('the idempotent delivery', () =>
      receivers.audit.requests.some((r) => r.headers['hookline-event-id'] === first.body.id),
    );
    await sleep(1500);
    assert.equal(
      receivers.audit.requests.filter((r) => r.headers['hookline-event-id'] === first.body.id).length,
      1,
    );
    assert.equal(await queueDepth(`hookline.${namespace}.audit-log`), 0);
  });

  it('allows an action when every matching Before hook answers its expected status', async () => {
    receivers.naming.respondWith(answer.status(200));
    receivers.quota.respondWith(answer.status(200));
    const before = { naming: receivers.naming.requests.length, plan: receivers.plan.requests.length };
    const response = await post('/v1/events/before', appCreated('allowed-app'));
    assert.equal(response.status, 200);
    assert.equal(response.body.allowed, true);
    const hooks = response.body.hooks as { webhook: string; statusCode: number }[];
    assert.deepEqual(hooks.map((h) => h.webhook).sort(), ['app-naming-policy', 'app-quota']);
    // Signed like any delivery; the plan hook was not concerned.
    const call = receivers.naming.requests.at(-1)!;
    assert.equal(receivers.naming.requests.length, before.naming + 1);
    assert.equal(receivers.plan.requests.length, before.plan);
    const secret = await readSecret(namespace, 'app-naming-policy-signing', 'secret');
    assert.equal(verifyStandardWebhooks(call, secret), true);
    assert.equal(call.headers['webhook-id'], response.body.id);
    // plan-approval expects 204, and gets it.
    const plan = await post(
      '/v1/events/before',
      JSON.stringify({ objectType: 'plan', action: 'deleted', object: {} }),
    );
    assert.equal(plan.status, 200);
  });

  it('denies with 409 naming the hook that answered otherwise', async () => {
    receivers.naming.respondWith(answer.status(200));
    receivers.quota.respondWith(answer.status(403, '{"error":"quota exceeded"}'));
    const response = await post('/v1/events/before', appCreated('over-quota'));
    assert.equal(response.status, 409);
    assert.equal(response.body.allowed, false);
    const denials = response.body.denials as { webhook: string; reason: string; statusCode: number }[];
    assert.equal(denials.length, 1);
    assert.equal(denials[0]!.webhook, 'app-quota');
    assert.equal(denials[0]!.statusCode, 403);
    assert.match(denials[0]!.reason, /HTTP 403: \{"error":"quota exceeded"\} \(expected HTTP 200\)/);
    // A 200 where 204 is expected denies too.
    receivers.plan.respondWith(answer.status(200));
    const plan = await post(
      '/v1/events/before',
      JSON.stringify({ objectType: 'plan', action: 'created', object: {} }),
    );
    assert.equal(plan.status, 409);
    assert.equal((plan.body.denials as { webhook: string }[])[0]!.webhook, 'plan-approval');
  });

  it('denies when a hook hangs past its timeout, without retrying it', async () => {
    receivers.naming.respondWith(answer.status(200));
    receivers.quota.respondWith(answer.hang());
    const calls = receivers.quota.requests.length;
    const started = Date.now();
    const response = await post('/v1/events/before', appCreated('slow-quota'));
    const elapsed = Date.now() - started;
    assert.equal(response.status, 409);
    const denials = response.body.denials as { webhook: string; reason: string }[];
    assert.deepEqual(
      denials.map((d) => d.webhook),
      ['app-quota'],
    );
    assert.match(denials[0]!.reason, /timed out|timeout/i);
    // The gate policy's request timeout is 3 s.
    assert.ok(elapsed >= 2900 && elapsed < 6000, `answered after ${elapsed} ms`);
    await sleep(1000);
    assert.equal(receivers.quota.requests.length, calls + 1);
  });

  it('denies, naming the hook and why, when a matching Before hook cannot be called', async () => {
    await apply(
      namespace,
      JSON.stringify({
        apiVersion: 'hookline.dev/v1alpha1',
        kind: 'Webhook',
        metadata: { name: 'token-revocation' },
        spec: {
          sourceRef: { name: 'api-manager' },
          policyRef: { name: 'gate' },
          phase: 'Before',
          url: `${receivers.naming.url}/checks/token-revocation`,
          events: ['access-token.deleted'],
          signing: { scheme: 'standard-webhooks', secretRef: { name: 'token-revocation-keys' } },
        },
      }),
    );
    // The dispatcher has looked at the new hook (and found that it cannot be called).
    await dispatcher.waitForLog('the new Before hook', (l) => l.webhook === 'token-revocation');
    const revoke = JSON.stringify({ objectType: 'access-token', action: 'deleted', object: {} });
    const response = await post('/v1/events/before', revoke);
    assert.equal(response.status, 409);
    assert.equal(response.body.allowed, false);
    const denials = response.body.denials as { webhook: string; reason: string; statusCode?: number }[];
    assert.deepEqual(
      denials.map((d) => d.webhook),
      ['token-revocation'],
    );
    assert.match(denials[0]!.reason, /cannot be called: .*Secret token-revocation-keys does not exist/);
    assert.equal(denials[0]!.statusCode, undefined);
    assert.deepEqual(response.body.hooks, [{ webhook: 'token-revocation', allowed: false, durationMs: 0 }]);
    // Nothing was sent to its URL; events it is not about go through.
    assert.equal(receivers.naming.requests.filter((r) => r.path === '/checks/token-revocation').length, 0);
    const created = await post(
      '/v1/events/before',
      JSON.stringify({ objectType: 'access-token', action: 'created', object: {} }),
    );
    assert.equal(created.status, 200);
  });

  it('records every Before call in the Webhook status', async () => {
    const quota = await eventually('app-quota status with its denials', async () => {
      const hook = await getObject(namespace, 'webhooks', 'app-quota');
      const recent = (hook?.status?.recentAttempts ?? []) as { outcome: string }[];
      return recent.filter((a) => a.outcome === 'Denied').length >= 2 && hook;
    });
    const status = quota.status as NonNullable<HooklineObject['status']> & {
      deliveries: { succeeded: number; failed: number; retried: number };
      recentAttempts: { outcome: string; statusCode?: number; error?: string; eventType: string }[];
    };
    assert.equal(status.deliveries.retried, 0);
    assert.ok(status.deliveries.succeeded >= 1, 'the allowed call');
    assert.ok(status.deliveries.failed >= 2, 'the 403 and the timeout');
    const newest = status.recentAttempts[0]!;
    assert.equal(newest.outcome, 'Denied');
    assert.equal(newest.eventType, 'app.created');
    assert.match(newest.error ?? '', /timed out|timeout/i);
    assert.ok(status.recentAttempts.some((a) => a.outcome === 'Denied' && a.statusCode === 403));
    assert.ok(status.recentAttempts.some((a) => a.outcome === 'Allowed' && a.statusCode === 200));
  });

  it('exposes ingest, gate and status-write metrics', async () => {
    const text = await (await fetch(`${endpoint}/metrics`)).text();
    /** The sample of `name` whose labels include all of `labels`. */
    const value = (name: string, labels: string[] = []) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`${name}{`) && labels.every((label) => line.includes(label)))
          ?.split(' ')
          .at(-1) ?? NaN,
      );
    assert.ok(value('hookline_ingest_requests_total', ['route="events"', 'code="202"']) >= 3, text);
    assert.ok(value('hookline_ingest_requests_total', ['route="events"', 'code="401"']) >= 3);
    assert.ok(value('hookline_ingest_requests_total', ['route="before"', 'code="409"']) >= 2);
    assert.ok(value('hookline_ingest_events_total', ['path="http"', 'outcome="accepted"']) >= 3);
    assert.ok(value('hookline_gate_verdicts_total', ['webhook="app-quota"', 'verdict="denied"']) >= 2);
    assert.ok(value('hookline_status_writes_total') >= 1);
  });

  it('answers 503 at the gate, and is not ready, until a starting dispatcher has resolved its hooks', async () => {
    receivers.naming.respondWith(answer.status(200));
    receivers.quota.respondWith(answer.status(200));
    // A second replica whose read of a Before hook's signing Secret waits until released.
    const proxy = await startApiProxy();
    const held = proxy.hold(
      (method, path) =>
        method === 'GET' && path === `/api/v1/namespaces/${namespace}/secrets/app-quota-signing`,
    );
    let starting: RunningProcess | undefined;
    try {
      starting = await startDispatcher(namespace, 'api-manager', { KUBECONFIG: proxy.kubeconfig });
      const base = endpointOf(starting);
      await held.arrived;
      // Events for the After hooks need no hook resolved (and this one connects the broker).
      assert.equal((await postTo(base, '/v1/events', appCreated('while-resolving'))).status, 202);
      const early = await postTo(base, '/v1/events/before', appCreated('too-early'));
      assert.equal(early.status, 503);
      assert.equal(early.headers.get('retry-after'), '1');
      assert.match(String(early.body.error), /still resolving its hooks/);
      assert.equal((await fetch(`${base}/readyz`)).status, 503);

      held.release();
      const decided = await eventually('the gate to decide', async () => {
        const answered = await postTo(base, '/v1/events/before', appCreated('in-time'));
        return answered.status !== 503 && answered;
      });
      assert.equal(decided.status, 200);
      const hooks = decided.body.hooks as { webhook: string }[];
      assert.deepEqual(hooks.map((h) => h.webhook).sort(), ['app-naming-policy', 'app-quota']);
      await eventually('the starting dispatcher to be ready', async () => {
        return (await fetch(`${base}/readyz`)).status === 200;
      });
    } finally {
      held.release();
      await starting?.stop();
      await proxy.close();
    }
  });
});
