import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventSourceSpec } from './api/v1alpha1/eventsource.ts';
import type { WebhookSpec } from './api/v1alpha1/webhook.ts';
import { secretNamesOf, sourceSecretRefs, webhookSecretRefs } from './secret-refs.ts';

const spec = (partial: Record<string, unknown>) =>
  ({ signing: { scheme: 'standard-webhooks' }, ...partial }) as unknown as WebhookSpec;

describe('webhookSecretRefs', () => {
  it('names the generated signing Secret when the Webhook names none', () => {
    assert.deepEqual(webhookSecretRefs('orders', spec({})), {
      signing: { refs: [{ field: 'spec.signing', name: 'orders-signing', key: 'secret' }], generated: true },
    });
  });
  it('lists rotation keys in order, with the default key of the scheme otherwise', () => {
    const rotated = spec({
      signing: { scheme: 'standard-webhooks', secretRef: { name: 's', keys: ['new', 'old'] } },
    });
    assert.deepEqual(
      webhookSecretRefs('w', rotated).signing.refs.map((r) => r.key),
      ['new', 'old'],
    );
    const rsa = spec({ signing: { scheme: 'rsa-sha256', secretRef: { name: 's' } } });
    assert.deepEqual(webhookSecretRefs('w', rsa).signing.refs, [
      { field: 'spec.signing.secretRef', name: 's', key: 'privateKey' },
    ]);
  });
  it('names nothing to sign with for scheme none', () => {
    assert.deepEqual(webhookSecretRefs('w', spec({ signing: { scheme: 'none' } })).signing, {
      refs: [],
      generated: false,
    });
  });
  it('names the auth method entries, username before password', () => {
    const basic = spec({
      signing: { scheme: 'none' },
      auth: { basic: { secretRef: { name: 'creds', usernameKey: 'u', passwordKey: 'p' } } },
    });
    assert.deepEqual(webhookSecretRefs('w', basic).auth, {
      method: 'basic',
      refs: [
        { field: 'spec.auth.basic.secretRef', name: 'creds', key: 'u' },
        { field: 'spec.auth.basic.secretRef', name: 'creds', key: 'p' },
      ],
    });
    const jwt = spec({ auth: { jwt: { secretRef: { name: 'k', key: 'secret' } } } });
    const refs = webhookSecretRefs('w', jwt);
    assert.deepEqual(
      [...refs.signing.refs, ...(refs.auth?.refs ?? [])].map((r) => `${r.field} ${r.name}/${r.key}`),
      ['spec.signing w-signing/secret', 'spec.auth.jwt.secretRef k/secret'],
    );
  });
});

describe('sourceSecretRefs', () => {
  it('lists every Secret entry of a kafka source with TLS and SASL', () => {
    const kafka = {
      kafka: {
        tls: { caSecretRef: { name: 'tls', key: 'ca.crt' } },
        sasl: { secretRef: { name: 'sasl', usernameKey: 'user', passwordKey: 'pass' } },
      },
      broker: { connectionSecretRef: { name: 'amqp', key: 'uri' } },
    } as unknown as EventSourceSpec;
    assert.deepEqual(
      sourceSecretRefs(kafka).map((r) => `${r.field} ${r.name}/${r.key}`),
      [
        'spec.broker.connectionSecretRef amqp/uri',
        'spec.kafka.tls.caSecretRef tls/ca.crt',
        'spec.kafka.sasl.secretRef sasl/user',
        'spec.kafka.sasl.secretRef sasl/pass',
      ],
    );
  });
});

describe('secretNamesOf', () => {
  const raw = (kind: string, name: string, rawSpec: unknown) => ({
    apiVersion: 'hookline.dev/v1alpha1',
    kind,
    metadata: { name },
    spec: rawSpec,
  });
  const cases: [string, ReturnType<typeof raw>, string[]][] = [
    [
      'a Webhook that is not valid yet',
      raw('Webhook', 'w', { auth: { jwt: { secretRef: { name: 'k' } } } }),
      ['k', 'w-signing'],
    ],
    [
      'a Webhook naming its signing Secret',
      raw('Webhook', 'w', { signing: { secretRef: { name: 's' } } }),
      ['s'],
    ],
    ['a Webhook that does not sign', raw('Webhook', 'w', { signing: { scheme: 'none' } }), []],
    [
      'an EventSource',
      raw('EventSource', 's', { broker: { connectionSecretRef: { name: 'amqp' } } }),
      ['amqp'],
    ],
    ['an object without spec', raw('CallbackPolicy', 'p', undefined), []],
  ];
  for (const [name, object, expected] of cases)
    it(name, () => assert.deepEqual(secretNamesOf(object).sort(), expected));
});
