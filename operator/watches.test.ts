import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawObject } from '../core/kube/objects.ts';
import { onDeployment, onPolicy, onSecret, onSource, onWebhook, type Listed } from './watches.ts';

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
  sources: [
    object('EventSource', 'a', 'shop', { http: { authSecretRef: { name: 'tokens' } } }),
    object('EventSource', 'a', 'billing', { rabbitmq: { connectionSecretRef: { name: 'amqp' } } }),
    object('EventSource', 'b', 'shop', { http: { authSecretRef: { name: 'tokens' } } }),
  ],
  policies: [object('CallbackPolicy', 'a', 'default'), object('CallbackPolicy', 'a', 'strict')],
};

describe('watch-to-key mappers', () => {
  const cases: [string, ReturnType<typeof onSource>, ReturnType<typeof onSource>][] = [
    [
      'a Webhook: it, its source and its policy',
      onWebhook('a/orders', listed.webhooks[0], listed),
      { webhooks: ['a/orders'], sources: ['a/shop'], policies: ['a/strict'] },
    ],
    [
      'a Webhook with no policy named: the default policy',
      onWebhook('a/audit', listed.webhooks[1], listed),
      { webhooks: ['a/audit'], sources: ['a/shop'], policies: ['a/default'] },
    ],
    [
      'a Webhook gone: every source and policy of its namespace (their counts)',
      onWebhook('a/gone', undefined, listed),
      { webhooks: ['a/gone'], sources: ['a/shop', 'a/billing'], policies: ['a/default', 'a/strict'] },
    ],
    [
      'an EventSource: it and its Webhooks in its namespace only',
      onSource('a/shop', listed),
      { webhooks: ['a/orders', 'a/audit'], sources: ['a/shop'], policies: [] },
    ],
    [
      'a CallbackPolicy: it and the Webhooks that follow it',
      onPolicy('a/default', listed),
      { webhooks: ['a/audit', 'a/other'], sources: [], policies: ['a/default'] },
    ],
    [
      'a Secret an auth method names, in its namespace only',
      onSecret('a/token', listed),
      { webhooks: ['a/orders'], sources: [], policies: [] },
    ],
    [
      'a generated signing Secret',
      onSecret('a/audit-signing', listed),
      { webhooks: ['a/audit'], sources: [], policies: [] },
    ],
    ["a source's Secret", onSecret('a/amqp', listed), { webhooks: [], sources: ['a/billing'], policies: [] }],
    ['a Secret nobody names', onSecret('a/unrelated', listed), { webhooks: [], sources: [], policies: [] }],
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
