import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import type { Secret } from '../../core/kube/objects.ts';
import type { Settings } from '../settings.ts';
import { BrokerResolver, brokerLabel, parseBrokerLabel, type BrokerRef } from './broker.ts';
import type { Caches } from './context.ts';

describe('broker labels', () => {
  const refs: BrokerRef[] = [
    { kind: 'default' },
    { kind: 'secret', name: 'amqp', key: 'uri' },
    { kind: 'secret', name: 'amqp', key: 'a/b' },
  ];
  for (const ref of refs)
    it(`reads back ${brokerLabel(ref)}`, () => assert.deepEqual(parseBrokerLabel(brokerLabel(ref)), ref));
  for (const label of ['', 'secret:', 'secret:/uri', 'secret:amqp/', 'other:amqp/uri'])
    it(`refuses "${label}"`, () => assert.equal(parseBrokerLabel(label), undefined));
});

describe('BrokerResolver', () => {
  const secrets = new Map<string, Secret>();
  const setSecret = (name: string, uri: string | undefined) =>
    uri === undefined
      ? secrets.delete(`ns/${name}`)
      : secrets.set(`ns/${name}`, {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name, namespace: 'ns' },
          data: { uri: Buffer.from(uri).toString('base64') },
        });
  const caches = { secrets: { get: (key: string) => secrets.get(key) } } as unknown as Caches;
  const settings = (defaultBrokerUri?: string) =>
    ({ defaultBrokerUri, defaultQueueType: 'quorum' }) as unknown as Settings;
  const source = (spec: Record<string, unknown>) =>
    ({
      apiVersion: 'hookline.dev/v1alpha1',
      kind: 'EventSource',
      metadata: { name: 'shop', namespace: 'ns' },
      spec,
    }) as unknown as EventSource;

  it('resolves the default broker, with the Secret the operator writes for the dispatcher', () => {
    const resolved = new BrokerResolver(caches, settings('amqp://default')).ofSource(source({ http: {} }));
    assert.ok(resolved.ok);
    assert.equal(resolved.value.uri, 'amqp://default');
    assert.equal(resolved.value.label, 'default');
    assert.deepEqual(resolved.value.dispatcherSecret, { name: 'hookline-broker-shop', key: 'uri' });
    assert.equal(resolved.value.exchange, 'hookline.ns.shop');
    assert.equal(resolved.value.queueType, 'quorum');
  });

  it("resolves a rabbitmq source's own broker and exchange", () => {
    setSecret('amqp', 'amqp://own');
    const resolved = new BrokerResolver(caches, settings()).ofSource(
      source({
        rabbitmq: {
          connectionSecretRef: { name: 'amqp', key: 'uri' },
          exchange: 'orders',
          exchangeType: 'direct',
        },
      }),
    );
    assert.ok(resolved.ok);
    assert.deepEqual(
      [resolved.value.uri, resolved.value.label, resolved.value.exchange, resolved.value.exchangeType],
      ['amqp://own', 'secret:amqp/uri', 'orders', 'direct'],
    );
  });

  it('says what is missing: the Secret, or any broker at all', () => {
    const missing = new BrokerResolver(caches, settings()).ofSource(
      source({ broker: { connectionSecretRef: { name: 'nope', key: 'uri' } } }),
    );
    assert.deepEqual(missing.ok ? undefined : [missing.reason, missing.message], [
      'SecretNotFound',
      'EventSource shop spec.broker.connectionSecretRef: Secret ns/nope does not exist',
    ]);
    const none = new BrokerResolver(caches, settings()).ofSource(source({ http: {} }));
    assert.equal(none.ok ? undefined : none.reason, 'BrokerNotConfigured');
  });

  it('finds a broker by the label status recorded, after its Secret is gone too', () => {
    setSecret('amqp', 'amqp://own');
    const resolver = new BrokerResolver(caches, settings());
    resolver.ofSource(source({ broker: { connectionSecretRef: { name: 'amqp', key: 'uri' } } }));
    setSecret('amqp', undefined);
    assert.equal(resolver.ofLabel('ns', 'secret:amqp/uri'), 'amqp://own');
    assert.equal(resolver.ofLabel('ns', 'secret:never-seen/uri'), undefined);
    assert.equal(resolver.ofLabel('ns', 'garbage'), undefined);
  });
});
