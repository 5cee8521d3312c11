import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawObject } from '../core/kube/objects.ts';
import { onDeployment, onPolicy, onSource, onWebhook, SecretReferences, type Listed } from './watches.ts';

const object = (kind: string, namespace: string, name: string, spec: unknown = {}): RawObject => ({
  apiVersion: 'hookline.dev/v1alpha1',
  kind,
  metadata: { name, namespace },
  spec,
});

const listed: Listed = {
  webhooks: [
    object('Webhook', 'a', 'orders', {
      sourceRef: { name: 'shop' },
      policyRef: { name: 'strict' },
      auth: { bearer: { secretRef: { name: 'token' } } },
    }),
    object('Webhook', 'a', 'audit', { sourceRef: { name: 'shop' } }),
    object('Webhook', 'a', 'other', { sourceRef: { name: 'billing' }, signing: { scheme: 'none' } }),
    object('Webhook', 'b', 'orders', {
      sourceRef: { name: 'shop' },
      auth: { bearer: { secretRef: { name: 'token' } } },
    }),
  ],
};
const sources = [
  object('EventSource', 'a', 'shop', { http: { authSecretRef: { name: 'tokens' } } }),
  object('EventSource', 'a', 'billing', { rabbitmq: { connectionSecretRef: { name: 'amqp' } } }),
  object('EventSource', 'b', 'shop', { http: { authSecretRef: { name: 'tokens' } } }),
];

/** The same object at another generation, or with only its status changed. */
const version = (o: RawObject, generation: number, status?: Record<string, unknown>): RawObject => ({
  ...o,
  metadata: { ...o.metadata, generation },
  ...(status ? { status } : {}),
});
const [orders, audit] = listed.webhooks as [RawObject, RawObject];
const shop = sources[0]!;
const strict = object('CallbackPolicy', 'a', 'strict');

const references = new SecretReferences();
for (const w of listed.webhooks) references.set('webhooks', `${w.metadata.namespace}/${w.metadata.name}`, w);
for (const s of sources) references.set('sources', `${s.metadata.namespace}/${s.metadata.name}`, s);

describe('watch-to-key mappers', () => {
  const moved = version(
    { ...orders, spec: { ...(orders.spec as object), sourceRef: { name: 'billing' } } },
    2,
  );
  const cases: [string, ReturnType<typeof onSource>, ReturnType<typeof onSource>][] = [
    [
      'a new Webhook: it, its source and its policy',
      onWebhook('a/orders', { object: orders, previous: undefined }),
      { webhooks: ['a/orders'], sources: ['a/shop'], policies: ['a/strict'] },
    ],
    [
      'a Webhook with no policy named: the default policy',
      onWebhook('a/audit', { object: audit, previous: undefined }),
      { webhooks: ['a/audit'], sources: ['a/shop'], policies: ['a/default'] },
    ],
    [
      'a Webhook moved to another source: both sources (their counts)',
      onWebhook('a/orders', { object: moved, previous: version(orders, 1) }),
      { webhooks: ['a/orders'], sources: ['a/billing', 'a/shop'], policies: ['a/strict'] },
    ],
    [
      'a Webhook whose status alone changed: it alone',
      onWebhook('a/orders', { object: version(orders, 1, { delivered: 5 }), previous: version(orders, 1) }),
      { webhooks: ['a/orders'], sources: [], policies: [] },
    ],
    [
      'a Webhook gone: the source and policy it named (their counts)',
      onWebhook('a/orders', { object: undefined, previous: orders }),
      { webhooks: ['a/orders'], sources: ['a/shop'], policies: ['a/strict'] },
    ],
    [
      'an EventSource whose spec changed: it and its Webhooks in its namespace only',
      onSource('a/shop', { object: version(shop, 2), previous: version(shop, 1) }, listed),
      { webhooks: ['a/orders', 'a/audit'], sources: ['a/shop'], policies: [] },
    ],
    [
      'an EventSource whose status alone changed: it alone',
      onSource('a/shop', { object: version(shop, 1, { webhooks: 3 }), previous: version(shop, 1) }, listed),
      { webhooks: [], sources: ['a/shop'], policies: [] },
    ],
    [
      'an EventSource being deleted: its Webhooks too',
      onSource(
        'a/shop',
        {
          object: { ...shop, metadata: { ...shop.metadata, deletionTimestamp: '2026-12-04T00:00:00Z' } },
          previous: shop,
        },
        listed,
      ),
      { webhooks: ['a/orders', 'a/audit'], sources: ['a/shop'], policies: [] },
    ],
    [
      'a CallbackPolicy: it and the Webhooks that follow it',
      onPolicy(
        'a/default',
        { object: object('CallbackPolicy', 'a', 'default'), previous: undefined },
        listed,
      ),
      { webhooks: ['a/audit', 'a/other'], sources: [], policies: ['a/default'] },
    ],
    [
      'a CallbackPolicy whose status alone changed: it alone',
      onPolicy(
        'a/strict',
        { object: version(strict, 1, { webhooks: 1 }), previous: version(strict, 1) },
        listed,
      ),
      { webhooks: [], sources: [], policies: ['a/strict'] },
    ],
    [
      'a Secret an auth method names, in its namespace only',
      references.onSecret('a/token'),
      { webhooks: ['a/orders'], sources: [], policies: [] },
    ],
    [
      'a generated signing Secret',
      references.onSecret('a/audit-signing'),
      { webhooks: ['a/audit'], sources: [], policies: [] },
    ],
    [
      "a source's Secret",
      references.onSecret('a/amqp'),
      { webhooks: [], sources: ['a/billing'], policies: [] },
    ],
    [
      'a Secret nobody names',
      references.onSecret('a/unrelated'),
      { webhooks: [], sources: [], policies: [] },
    ],
    [
      'a dispatcher Deployment: its EventSource',
      onDeployment('a/hookline-dispatcher-shop', {
        metadata: { name: 'hookline-dispatcher-shop', labels: { 'hookline.dev/eventsource': 'shop' } },
      }),
      { webhooks: [], sources: ['a/shop'], policies: [] },
    ],
    [
      'a Deployment gone',
      onDeployment('a/hookline-dispatcher-shop', undefined),
      { webhooks: [], sources: [], policies: [] },
    ],
  ];
  for (const [name, actual, expected] of cases) it(name, () => assert.deepEqual(actual, expected));
});

describe('SecretReferences', () => {
  it('follows a Webhook that stops naming a Secret, and one that is gone', () => {
    const index = new SecretReferences();
    index.set('webhooks', 'a/orders', orders);
    index.set('webhooks', 'b/orders', listed.webhooks[3]);
    assert.deepEqual(index.onSecret('a/token').webhooks, ['a/orders']);
    index.set('webhooks', 'a/orders', { ...orders, spec: { sourceRef: { name: 'shop' } } });
    assert.deepEqual(index.onSecret('a/token').webhooks, []);
    assert.deepEqual(index.onSecret('a/orders-signing').webhooks, ['a/orders']);
    index.set('webhooks', 'a/orders', undefined);
    assert.deepEqual(index.onSecret('a/orders-signing').webhooks, []);
    assert.deepEqual(index.onSecret('b/token').webhooks, ['b/orders']);
  });
});
