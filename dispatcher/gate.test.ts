import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { HttpClient, HttpRequest, HttpResult } from './deliver/http.ts';
import { BeforeGate, unavailableHook, type BeforeHook, type GateEvent, type GateHooks } from './gate.ts';
import { resolveHook } from './hooks.ts';
import type { SecretReader } from './secrets.ts';
import type { AttemptRecord } from './status/delta.ts';
import type { StatusWriter } from './status/writer.ts';

const now = () => new Date('2030-01-01T00:00:00Z');

function anEvent(type: string, json: unknown = {}): GateEvent {
  return { id: 'evt_1', type, body: Buffer.from(JSON.stringify(json)), json };
}

/** A Before hook that can be called, answering `result` to every call. */
async function callable(name: string, events: string[], result: HttpResult): Promise<BeforeHook> {
  const resolved = await resolveHook({
    raw: {
      apiVersion: 'hookline.dev/v1alpha1',
      kind: 'Webhook',
      metadata: { name, namespace: 'api' },
      spec: {
        sourceRef: { name: 'api-manager' },
        phase: 'Before',
        url: `https://${name}.example.com/check`,
        events,
        signing: { scheme: 'none' },
      },
    },
    policies: new Map(),
    secrets: {} as SecretReader,
    sourceExchange: 'hookline-ingest.api.api-manager',
    maxEventBytes: 1024,
  });
  assert.ok(resolved.ok, resolved.ok ? '' : resolved.reason);
  const http = { send: (_request: HttpRequest) => Promise.resolve(result) } as unknown as HttpClient;
  return { config: resolved.config, http };
}

const ok: HttpResult = { kind: 'response', status: 200, body: '', durationMs: 3 };

function aGate(hooks: () => GateHooks | undefined) {
  const recorded: { webhook: string; record: AttemptRecord }[] = [];
  const verdicts: string[] = [];
  const status = { record: (webhook: string, record: AttemptRecord) => recorded.push({ webhook, record }) };
  const gate = new BeforeGate({
    hooks,
    status: status as unknown as StatusWriter,
    logger: pino({ level: 'silent' }),
    onVerdict: (verdict) => verdicts.push(`${verdict.webhook}:${verdict.allowed ? 'allowed' : 'denied'}`),
    now,
  });
  return { gate, recorded, verdicts };
}

describe('BeforeGate', () => {
  it('answers that it is resolving, and allows nothing, until the hooks are resolved', async () => {
    const { gate, recorded } = aGate(() => undefined);
    assert.deepEqual(await gate.decide(anEvent('app.created')), {
      resolved: false,
      allowed: false,
      verdicts: [],
    });
    assert.equal(recorded.length, 0);
  });

  it('allows when every matching hook answers its expected status', async () => {
    const naming = await callable('app-naming', ['app.*'], ok);
    const { gate } = aGate(() => ({ callable: [naming], unavailable: [] }));
    const decision = await gate.decide(anEvent('app.created'));
    assert.equal(decision.resolved, true);
    assert.equal(decision.allowed, true);
    assert.deepEqual(
      decision.verdicts.map((v) => [v.webhook, v.allowed]),
      [['app-naming', true]],
    );
  });

  it('denies when a matching hook cannot be called, naming it and why', async () => {
    const naming = await callable('app-naming', ['app.*'], ok);
    const quota = unavailableHook(
      'app-quota',
      { events: ['app.created'] },
      'spec.signing.secretRef: Secret quota-keys does not exist',
    );
    const { gate, recorded, verdicts } = aGate(() => ({ callable: [naming], unavailable: [quota] }));
    const decision = await gate.decide(anEvent('app.created'));
    assert.equal(decision.resolved, true);
    assert.equal(decision.allowed, false);
    const denied = decision.verdicts.find((v) => v.webhook === 'app-quota');
    assert.equal(denied?.allowed, false);
    assert.equal(denied?.statusCode, undefined);
    assert.match(
      denied?.reason ?? '',
      /cannot be called: spec\.signing\.secretRef: Secret quota-keys does not exist/,
    );
    // Recorded and counted like any denial, so that the Webhook's status and metrics show it.
    const record = recorded.find((r) => r.webhook === 'app-quota')?.record;
    assert.equal(record?.outcome, 'Denied');
    assert.equal(record?.error, denied?.reason);
    assert.deepEqual(verdicts.sort(), ['app-naming:allowed', 'app-quota:denied']);
  });

  it('lets through an event that no hook which cannot be called concerns', async () => {
    const quota = unavailableHook(
      'app-quota',
      { events: ['app.created'] },
      'Secret quota-keys does not exist',
    );
    const { gate, recorded } = aGate(() => ({ callable: [], unavailable: [quota] }));
    const decision = await gate.decide(anEvent('plan.created'));
    assert.deepEqual(decision, { resolved: true, allowed: true, verdicts: [] });
    assert.equal(recorded.length, 0);
  });
});

describe('unavailableHook', () => {
  const cases: { name: string; spec: unknown; event: GateEvent; concerned: boolean }[] = [
    {
      name: 'a matching pattern',
      spec: { events: ['app.*'] },
      event: anEvent('app.created'),
      concerned: true,
    },
    {
      name: 'no matching pattern',
      spec: { events: ['plan.#'] },
      event: anEvent('app.created'),
      concerned: false,
    },
    {
      name: 'a pattern and its match',
      spec: { events: ['#'], match: { '/shop_id': [55, 56] } },
      event: anEvent('invoice.created', { shop_id: 56 }),
      concerned: true,
    },
    {
      name: 'a pattern but not its match',
      spec: { events: ['#'], match: { '/shop_id': 55 } },
      event: anEvent('invoice.created', { shop_id: 7 }),
      concerned: false,
    },
    // A spec that cannot be read concerns every event: the gate fails closed.
    { name: 'no spec', spec: undefined, event: anEvent('app.created'), concerned: true },
    { name: 'events that are not a list', spec: { events: 'app.*' }, event: anEvent('x'), concerned: true },
    { name: 'events that are not strings', spec: { events: [1] }, event: anEvent('x'), concerned: true },
    {
      name: 'a match that is not a map',
      spec: { events: ['app.*'], match: ['/shop_id'] },
      event: anEvent('app.created'),
      concerned: true,
    },
  ];
  for (const { name, spec, event, concerned } of cases)
    it(`${concerned ? 'concerns' : 'does not concern'} an event with ${name}`, () =>
      assert.equal(unavailableHook('hook', spec, 'why').concerns(event), concerned));
});
