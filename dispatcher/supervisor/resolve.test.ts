import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawObject } from '../../core/kube/objects.ts';
import { ingestExchangeName } from '../../core/rabbit/topology.ts';
import type { SecretReader } from '../secrets.ts';
import {
  deliverable,
  inputsOf,
  observedWebhooks,
  resolveWebhook,
  sourceTarget,
  SyncedParts,
  type ObjectCache,
  type ResolveTarget,
} from './resolve.ts';

/** A Webhook as the informer holds it, with `spec` and `status` merged over a minimal valid one. */
function aWebhook(
  name: string,
  options: {
    spec?: Record<string, unknown>;
    status?: Record<string, unknown>;
    generation?: number;
    deleting?: boolean;
  } = {},
): RawObject {
  return {
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'Webhook',
    metadata: {
      name,
      namespace: 'shop',
      generation: options.generation ?? 1,
      ...(options.deleting ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}),
    },
    spec: {
      sourceRef: { name: 'orders' },
      url: `https://${name}.example.com/hook`,
      events: ['order.*'],
      signing: { scheme: 'none' },
      ...options.spec,
    },
    ...(options.status ? { status: options.status } : {}),
  };
}

/** The status of a Webhook whose queues the operator declared. */
const applied = { status: { topology: { broker: 'default', exchange: 'orders', bindings: ['order.*'] } } };

function aPolicy(name: string, resourceVersion: string, spec: Record<string, unknown> = {}): RawObject {
  return {
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'CallbackPolicy',
    metadata: { name, namespace: 'shop', resourceVersion },
    spec,
  };
}

const cache = (...objects: RawObject[]): ObjectCache =>
  new Map(objects.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));

const noSecrets = {
  entry: (name: string, key: string, field: string) =>
    Promise.reject(new Error(`${field}: Secret ${name} has no key "${key}"`)),
} as unknown as SecretReader;

const target: ResolveTarget = {
  sourceVersion: '7',
  exchange: 'hookline-ingest.shop.orders',
  maxEventBytes: 2048,
};

describe('sourceTarget', () => {
  it('defaults the exchange, the event size and the version while the source is unknown', () => {
    const { spec, target } = sourceTarget('shop', 'orders', undefined);
    assert.equal(spec, undefined);
    assert.deepEqual(target, {
      sourceVersion: '-',
      exchange: ingestExchangeName('shop', 'orders'),
      maxEventBytes: 1024 * 1024,
    });
  });

  it("takes a rabbitmq source's exchange, its event size and its version", () => {
    const raw: RawObject = {
      apiVersion: 'hookline.dev/v1alpha1',
      kind: 'EventSource',
      metadata: { name: 'orders', namespace: 'shop', resourceVersion: '42' },
      spec: {
        rabbitmq: { connectionSecretRef: { name: 'broker' }, exchange: 'orders.events' },
        dispatcher: { maxEventBytes: 4096 },
      },
    };
    const { spec, target } = sourceTarget('shop', 'orders', raw);
    assert.equal(spec?.rabbitmq?.exchange, 'orders.events');
    assert.deepEqual(target, { sourceVersion: '42', exchange: 'orders.events', maxEventBytes: 4096 });
  });

  it('resolves against the defaults (but its version) while the source is invalid', () => {
    const raw: RawObject = {
      apiVersion: 'hookline.dev/v1alpha1',
      kind: 'EventSource',
      metadata: { name: 'orders', namespace: 'shop', resourceVersion: '43' },
      spec: {
        rabbitmq: { connectionSecretRef: { name: 'broker' }, exchange: 'orders.events' },
        kafka: { brokers: ['k:9092'], topic: 't' },
      },
    };
    const { spec, target } = sourceTarget('shop', 'orders', raw);
    assert.equal(spec, undefined);
    assert.deepEqual(target, {
      sourceVersion: '43',
      exchange: ingestExchangeName('shop', 'orders'),
      maxEventBytes: 1024 * 1024,
    });
  });
});

describe('deliverable', () => {
  const cases: {
    name: string;
    webhook: RawObject;
    disabledHere?: [string, number | undefined][];
    want: 'after' | 'before' | 'none';
    shownDisabled?: boolean;
  }[] = [
    { name: 'an After hook of the source', webhook: aWebhook('a', applied), want: 'after' },
    {
      name: 'an After hook whose queues the operator has not declared yet',
      webhook: aWebhook('q'),
      want: 'none',
    },
    {
      name: 'a Before hook (it has no queue)',
      webhook: aWebhook('b', { spec: { phase: 'Before' } }),
      want: 'before',
    },
    {
      name: 'a hook of another source',
      webhook: aWebhook('c', { spec: { sourceRef: { name: 'payments' } } }),
      want: 'none',
    },
    { name: 'a hook being deleted', webhook: aWebhook('d', { deleting: true }), want: 'none' },
    { name: 'a suspended hook', webhook: aWebhook('e', { spec: { suspend: true } }), want: 'none' },
    {
      name: 'a hook the API shows disabled',
      webhook: aWebhook('f', { status: { disabled: true } }),
      want: 'none',
      shownDisabled: true,
    },
    {
      name: 'a hook this replica disabled at its generation',
      webhook: aWebhook('g', { generation: 3 }),
      disabledHere: [['g', 3]],
      want: 'none',
    },
    {
      name: 'a hook this replica disabled at an earlier generation',
      webhook: aWebhook('h', { generation: 4, ...applied }),
      disabledHere: [['h', 3]],
      want: 'after',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.want}`, () => {
      const found = deliverable([c.webhook], 'orders', new Map(c.disabledHere ?? []));
      const name = c.webhook.metadata.name;
      assert.deepEqual([...found.after.keys()], c.want === 'after' ? [name] : []);
      assert.deepEqual([...found.before.keys()], c.want === 'before' ? [name] : []);
      assert.deepEqual(found.shownDisabled, c.shownDisabled ? [name] : []);
    });
  }
});

describe('observedWebhooks', () => {
  it("samples the After hooks of the source whose queues were declared, with their policy's ordering", () => {
    const policies = cache(aPolicy('strict', '1', { ordering: 'Strict' }));
    const found = observedWebhooks(
      [
        aWebhook('a', applied),
        aWebhook('b', {
          spec: { policyRef: { name: 'strict' } },
          status: { ...applied.status, disabled: true },
        }),
        aWebhook('undeclared'),
        aWebhook('before', { spec: { phase: 'Before' }, ...applied }),
        aWebhook('other', { spec: { sourceRef: { name: 'payments' } }, ...applied }),
        aWebhook('deleting', { deleting: true, ...applied }),
      ],
      'orders',
      { namespace: 'shop', policies },
    );
    assert.deepEqual(found, [
      { name: 'a', disabled: false, strict: false },
      { name: 'b', disabled: true, strict: true },
    ]);
  });
});

describe('inputsOf', () => {
  const policies = cache(aPolicy('default', '10'), aPolicy('fast', '20'));
  const of = (webhook: RawObject, sourceVersion = '7', epoch = 0) =>
    inputsOf(webhook, { namespace: 'shop', policies }, sourceVersion, epoch);

  it("joins the generation, the policy's and the source's versions and the Secrets epoch", () => {
    assert.equal(of(aWebhook('a', { generation: 2 })), '2|10|7|0');
    assert.equal(of(aWebhook('a', { spec: { policyRef: { name: 'fast' } } }), '8', 3), '1|20|8|3');
    assert.equal(of(aWebhook('a', { spec: { policyRef: { name: 'absent' } } })), '1|-|7|0');
  });

  it('does not change with the status', () => {
    assert.equal(of(aWebhook('a', { status: { deliveries: { succeeded: 9 } } })), of(aWebhook('a')));
  });
});

describe('SyncedParts', () => {
  /** The Webhook as a later watch event brings it: a new resourceVersion, and whatever else changed. */
  const echo = (raw: RawObject, version: string): RawObject => ({
    ...raw,
    metadata: {
      ...raw.metadata,
      resourceVersion: version,
      managedFields: [{ manager: version }],
    },
  });

  it('needs no sync for the echo of a status write', () => {
    const parts = new SyncedParts();
    assert.equal(parts.changed('shop/a', echo(aWebhook('a'), '1')), true, 'first seen');
    const counted = aWebhook('a', {
      status: { deliveries: { succeeded: 9 }, lastAttempts: [{ eventId: 'x' }] },
    });
    assert.equal(parts.changed('shop/a', echo(counted, '2')), false);
  });

  it('needs one for a spec change, a label, a disabled status, an answered send-test and a deletion', () => {
    const parts = new SyncedParts();
    parts.changed('shop/a', aWebhook('a'));
    const changes: [string, RawObject][] = [
      ['queues declared', aWebhook('a', applied)],
      ['spec', aWebhook('a', { generation: 2, spec: { url: 'https://b.example.com/hook' } })],
      [
        'label',
        {
          ...aWebhook('a', { generation: 2, spec: { url: 'https://b.example.com/hook' } }),
          metadata: { ...aWebhook('a').metadata, generation: 2, labels: { team: 'x' } },
        },
      ],
      ['disabled', aWebhook('a', { status: { disabled: true } })],
      ['send-test', aWebhook('a', { status: { disabled: true, lastTest: { token: 't-1' } } })],
      ['deleting', aWebhook('a', { deleting: true, status: { disabled: true, lastTest: { token: 't-1' } } })],
    ];
    for (const [what, raw] of changes) assert.equal(parts.changed('shop/a', raw), true, what);
    assert.equal(parts.changed('shop/a', undefined), true, 'deleted');
    assert.equal(parts.changed('shop/a', aWebhook('a')), true, 'seen again after its deletion');
  });
});

describe('resolveWebhook', () => {
  const deps = { policies: cache(), secrets: noSecrets, allowHttpUrls: false };

  it("resolves a Webhook against the source's exchange and event size", async () => {
    const resolved = await resolveWebhook(aWebhook('a'), target, deps);
    assert.ok(resolved.ok, resolved.ok ? '' : resolved.reason);
    assert.equal(resolved.config.name, 'a');
    assert.equal(resolved.config.namespace, 'shop');
    assert.equal(resolved.config.maxEventBytes, 2048);
    assert.equal(resolved.config.url.href, 'https://a.example.com/hook');
  });

  it('takes the timeouts of the policy it names', async () => {
    const policies = cache(aPolicy('fast', '1', { timeout: { connect: '2s', request: '3s' } }));
    const webhook = aWebhook('a', { spec: { policyRef: { name: 'fast' } } });
    const resolved = await resolveWebhook(webhook, target, { ...deps, policies });
    assert.ok(resolved.ok, resolved.ok ? '' : resolved.reason);
    assert.equal(resolved.config.connectTimeoutMs, 2000);
    assert.equal(resolved.config.requestTimeoutMs, 3000);
  });

  it('changes its fingerprint with the exchange it is resolved against', async () => {
    const one = await resolveWebhook(aWebhook('a'), target, deps);
    const other = await resolveWebhook(aWebhook('a'), { ...target, exchange: 'elsewhere' }, deps);
    assert.ok(one.ok && other.ok);
    assert.notEqual(one.config.fingerprint, other.config.fingerprint);
  });

  const reasons: { name: string; webhook: RawObject; allowHttpUrls?: boolean; reason: RegExp }[] = [
    {
      name: 'plain http, when the install does not allow it',
      webhook: aWebhook('a', { spec: { url: 'http://a.example.com/hook' } }),
      reason: /^plain http is not allowed$/,
    },
    {
      name: 'an invalid Webhook',
      webhook: aWebhook('a', { spec: { url: 'not a url' } }),
      reason: /^invalid: /,
    },
    {
      name: 'a policy that does not exist',
      webhook: aWebhook('a', { spec: { policyRef: { name: 'absent' } } }),
      reason: /CallbackPolicy shop\/absent does not exist/,
    },
    {
      name: 'a signing Secret that cannot be read',
      webhook: aWebhook('a', { spec: { signing: { scheme: 'hmac-sha256' } } }),
      reason: /spec\.signing \(generated\): Secret .* has no key/,
    },
  ];
  for (const c of reasons) {
    it(`says why it cannot call ${c.name}`, async () => {
      const resolved = await resolveWebhook(c.webhook, target, deps);
      assert.equal(resolved.ok, false);
      assert.match(resolved.ok ? '' : resolved.reason, c.reason);
    });
  }

  it('resolves plain http when the install allows it', async () => {
    const webhook = aWebhook('a', { spec: { url: 'http://a.example.com/hook' } });
    const resolved = await resolveWebhook(webhook, target, { ...deps, allowHttpUrls: true });
    assert.ok(resolved.ok, resolved.ok ? '' : resolved.reason);
    assert.equal(resolved.config.url.protocol, 'http:');
  });
});
