import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { KubeApiError, type KubeClient } from '../core/kube/client.ts';
import type { RawObject } from '../core/kube/objects.ts';
import type { HttpClient, HttpRequest, HttpResult } from './deliver/http.ts';
import { resolveHook, type HookConfig } from './hooks.ts';
import type { SecretReader } from './secrets.ts';
import { pendingTests, SendTests, testResult, type LastTest } from './send-test.ts';

function aWebhook(
  name: string,
  options: { token?: string; answered?: string; source?: string; spec?: Record<string, unknown> } = {},
): RawObject {
  return {
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'Webhook',
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      ...(options.token !== undefined ? { annotations: { 'hookline.dev/send-test': options.token } } : {}),
    },
    spec: {
      sourceRef: { name: options.source ?? 'orders' },
      url: `https://${name}.example.com/hook`,
      events: ['order.*'],
      signing: { scheme: 'none' },
      ...options.spec,
    },
    ...(options.answered !== undefined
      ? { status: { lastTest: { token: options.answered, time: 't', eventId: 'e', outcome: 'Succeeded' } } }
      : {}),
  };
}

async function configOf(raw: RawObject): Promise<HookConfig> {
  const resolved = await resolveHook({
    raw,
    policies: new Map(),
    secrets: {} as SecretReader,
    sourceExchange: 'orders',
    maxEventBytes: 1024,
  });
  assert.ok(resolved.ok, resolved.ok ? '' : resolved.reason);
  return resolved.config;
}

describe('pendingTests', () => {
  const cases: { name: string; raw: RawObject; taken?: Record<string, string>; pending: boolean }[] = [
    { name: 'a new token', raw: aWebhook('a', { token: 't1' }), pending: true },
    {
      name: 'a token answered in status',
      raw: aWebhook('a', { token: 't1', answered: 't1' }),
      pending: false,
    },
    {
      name: 'a token newer than the answer',
      raw: aWebhook('a', { token: 't2', answered: 't1' }),
      pending: true,
    },
    { name: 'a token taken here', raw: aWebhook('a', { token: 't1' }), taken: { a: 't1' }, pending: false },
    { name: 'another source', raw: aWebhook('a', { token: 't1', source: 'other' }), pending: false },
    { name: 'no annotation', raw: aWebhook('a'), pending: false },
    { name: 'an empty token', raw: aWebhook('a', { token: '' }), pending: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const found = pendingTests([c.raw], 'orders', new Map(Object.entries(c.taken ?? {})));
      assert.equal(found.length, c.pending ? 1 : 0);
    });
  }
});

describe('testResult', () => {
  const response = (status: number, body = ''): HttpResult => ({
    kind: 'response',
    status,
    body,
    durationMs: 7,
  });
  it('passes an After hook on its success codes', async () => {
    const config = await configOf(aWebhook('a'));
    assert.deepEqual(testResult(config, response(204)), {
      statusCode: 204,
      durationMs: 7,
      outcome: 'Succeeded',
    });
  });
  it('fails an After hook on anything else, with the body', async () => {
    const config = await configOf(aWebhook('a'));
    assert.deepEqual(testResult(config, response(500, 'boom')), {
      statusCode: 500,
      durationMs: 7,
      outcome: 'Failed',
      error: 'HTTP 500: boom',
      responseBody: 'boom',
    });
  });
  it('keeps the first 1 KiB of the body', async () => {
    const config = await configOf(aWebhook('a'));
    const result = testResult(config, response(500, 'x'.repeat(4096)));
    assert.equal(result.responseBody?.length, 1024);
  });
  it('fails on a network error', async () => {
    const config = await configOf(aWebhook('a'));
    const result = testResult(config, {
      kind: 'error',
      error: 'network',
      message: 'ECONNREFUSED',
      durationMs: 1,
    });
    assert.deepEqual(result, { durationMs: 1, outcome: 'Failed', error: 'network: ECONNREFUSED' });
  });
  it('passes a Before hook only on its expected status', async () => {
    const config = await configOf(aWebhook('b', { spec: { phase: 'Before', expectedStatus: 201 } }));
    assert.equal(testResult(config, response(201)).outcome, 'Succeeded');
    const other = testResult(config, response(200));
    assert.equal(other.outcome, 'Failed');
    assert.equal(other.error, 'HTTP 200 (expected HTTP 201)');
  });
});

/** A client that records Events and status patches; `claimed` Event names already exist. */
function fakeClient(claimed = new Set<string>()) {
  const patches: { path: string; lastTest: LastTest }[] = [];
  const client = {
    create: (_path: string, body: { metadata: { name: string } }) => {
      if (claimed.has(body.metadata.name))
        return Promise.reject(new KubeApiError(409, 'AlreadyExists', 'exists'));
      claimed.add(body.metadata.name);
      return Promise.resolve(body);
    },
    mergePatch: (path: string, patch: { status: { lastTest: LastTest } }) => {
      patches.push({ path, lastTest: patch.status.lastTest });
      return Promise.resolve({});
    },
  } as unknown as KubeClient;
  return { client, patches, claimed };
}

function aSender(client: KubeClient, result: HttpResult) {
  const sent: HttpRequest[] = [];
  const http = {
    send: (request: HttpRequest) => {
      sent.push(request);
      return Promise.resolve(result);
    },
  } as unknown as HttpClient;
  const tests = new SendTests({
    client,
    namespace: 'shop',
    source: 'orders',
    http: () => http,
    logger: pino({ level: 'silent' }),
  });
  return { tests, sent };
}

describe('SendTests', () => {
  it('sends one synthetic event through the request path and writes the answer once, however many syncs', async () => {
    const { client, patches } = fakeClient();
    const { tests, sent } = aSender(client, { kind: 'response', status: 200, body: '', durationMs: 12 });
    const raw = aWebhook('a', { token: 'tok' });
    const resolve = async (object: RawObject) => ({ ok: true as const, config: await configOf(object) });
    tests.sync([raw], resolve);
    tests.sync([raw], resolve);
    await tests.stop();
    assert.equal(sent.length, 1);
    const [request] = sent;
    assert.equal(request!.url.href, 'https://a.example.com/hook');
    assert.equal(request!.headers['Hookline-Event-Id'], 'test-tok');
    assert.equal(request!.headers['Hookline-Event-Type'], 'hookline.test');
    assert.deepEqual(JSON.parse(request!.body.toString()), {
      type: 'hookline.test',
      webhook: 'a',
      token: 'tok',
    });
    assert.equal(patches.length, 1);
    assert.equal(patches[0]!.path, '/apis/hookline.dev/v1alpha1/namespaces/shop/webhooks/a/status');
    assert.deepEqual(
      { ...patches[0]!.lastTest, time: '-' },
      {
        token: 'tok',
        time: '-',
        eventId: 'test-tok',
        statusCode: 200,
        durationMs: 12,
        outcome: 'Succeeded',
      },
    );
  });

  it('leaves a token another replica took to it', async () => {
    const { client, patches, claimed } = fakeClient();
    const first = aSender(client, { kind: 'response', status: 200, body: '', durationMs: 1 });
    const second = aSender(client, { kind: 'response', status: 200, body: '', durationMs: 1 });
    const raw = aWebhook('a', { token: 'tok' });
    const resolve = async (object: RawObject) => ({ ok: true as const, config: await configOf(object) });
    first.tests.sync([raw], resolve);
    await first.tests.stop();
    second.tests.sync([raw], resolve);
    await second.tests.stop();
    assert.equal(first.sent.length + second.sent.length, 1);
    assert.equal(patches.length, 1);
    assert.equal(claimed.size, 1);
  });

  it('answers a Webhook that cannot be resolved with why', async () => {
    const { client, patches } = fakeClient();
    const { tests, sent } = aSender(client, { kind: 'response', status: 200, body: '', durationMs: 1 });
    tests.sync([aWebhook('a', { token: 'tok' })], () =>
      Promise.resolve({ ok: false, reason: 'Secret "keys" not found' }),
    );
    await tests.stop();
    assert.equal(sent.length, 0);
    assert.equal(patches[0]!.lastTest.outcome, 'Failed');
    assert.equal(patches[0]!.lastTest.error, 'the Webhook cannot be called: Secret "keys" not found');
  });
});
