import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawObject } from './kube/objects.ts';
import { namesSecret, policyOf, sourceOf } from './references.ts';

const object = (kind: string, name: string, spec: unknown): RawObject => ({
  apiVersion: 'hookline.dev/v1alpha1',
  kind,
  metadata: { name, namespace: 'ns' },
  spec,
});

describe('namesSecret', () => {
  const cases: [string, RawObject, string, boolean][] = [
    [
      'a nested secretRef',
      object('Webhook', 'w', { auth: { jwt: { secretRef: { name: 'jwt' } } } }),
      'jwt',
      true,
    ],
    [
      'a *SecretRef field',
      object('EventSource', 's', { rabbitmq: { connectionSecretRef: { name: 'amqp' } } }),
      'amqp',
      true,
    ],
    ['a generated signing secret', object('Webhook', 'w', {}), 'w-signing', true],
    [
      'another Secret',
      object('EventSource', 's', { http: { authSecretRef: { name: 'tokens' } } }),
      'other',
      false,
    ],
  ];
  for (const [name, obj, secret, expected] of cases)
    it(name, () => assert.equal(namesSecret(obj, secret), expected));
});

describe('sourceOf and policyOf', () => {
  it('read the references, with the default policy when none is named', () => {
    const hook = object('Webhook', 'w', { sourceRef: { name: 's' } });
    assert.equal(sourceOf(hook), 's');
    assert.equal(policyOf(hook), 'default');
  });
});
