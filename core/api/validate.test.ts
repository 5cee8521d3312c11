import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aCallbackPolicy,
  anEventSource,
  aWebhook,
  invalidManifests,
  operatorOnlyInvalid,
} from '../../test/fixtures/manifests.ts';
import { builtInPolicy, CallbackPolicy, EventSource, Webhook } from './v1alpha1/index.ts';
import { fieldPath, validate } from './validate.ts';

const schemaOf = { Webhook, EventSource, CallbackPolicy } as const;

function withNamespace<T extends { metadata: unknown }>(manifest: T): T {
  return { ...manifest, metadata: { ...(manifest.metadata as object), namespace: 'ns' } };
}

describe('fieldPath', () => {
  const cases: [PropertyKey[], string][] = [
    [['spec', 'url'], 'spec.url'],
    [['spec', 'events', 0], 'spec.events[0]'],
    [['spec', 'match', '/shop_id'], 'spec.match["/shop_id"]'],
    [[], ''],
  ];
  for (const [path, expected] of cases)
    it(`${JSON.stringify(path)} → ${expected}`, () => assert.equal(fieldPath(path), expected));
});

describe('runtime validation refuses what the API server refuses, naming the field', () => {
  for (const { name, manifest, field } of [...invalidManifests, ...operatorOnlyInvalid]) {
    it(name, () => {
      const schema = schemaOf[manifest.kind as keyof typeof schemaOf];
      const result = validate(schema, withNamespace(manifest));
      assert.equal(result.ok, false, 'the manifest was accepted');
      if (!result.ok) assert.ok(result.message.includes(field), `"${result.message}" does not name ${field}`);
    });
  }
});

describe('runtime validation accepts valid objects and fills the defaults', () => {
  it('a Webhook url with @ only after its host', () => {
    for (const url of ['https://hooks.example.com/users/a@b', 'https://hooks.example.com/in?by=@ops#x@y']) {
      const result = validate(Webhook, withNamespace(aWebhook({ url })));
      assert.ok(result.ok, `${url}: ${result.ok ? '' : result.message}`);
    }
  });

  it('a minimal Webhook', () => {
    const result = validate(Webhook, withNamespace(aWebhook()));
    assert.ok(result.ok);
    if (!result.ok) return;
    assert.equal(result.value.spec.phase, 'After');
    assert.equal(result.value.spec.suspend, false);
    assert.equal(result.value.spec.signing.scheme, 'standard-webhooks');
    assert.equal(result.value.spec.payload.format, 'raw');
  });

  it('a minimal EventSource', () => {
    const result = validate(EventSource, withNamespace(anEventSource()));
    assert.ok(result.ok);
    if (!result.ok) return;
    assert.equal(result.value.spec.dispatcher.replicas, 1);
    assert.equal(result.value.spec.dispatcher.maxEventBytes, 1024 * 1024);
    assert.equal(result.value.spec.rabbitmq?.exchangeType, 'topic');
    assert.equal(result.value.spec.rabbitmq?.declare, false);
    assert.equal(result.value.spec.rabbitmq?.connectionSecretRef.key, 'uri');
  });

  it('an empty CallbackPolicy is the built-in policy', () => {
    const result = validate(CallbackPolicy, withNamespace(aCallbackPolicy()));
    assert.ok(result.ok);
    if (!result.ok) return;
    assert.deepEqual(result.value.spec, builtInPolicy);
    assert.deepEqual(builtInPolicy.retry, {
      backoff: { policy: 'exponential', delay: '5s', max: '1h', attempts: 8, jitter: 0.2 },
    });
    assert.deepEqual(builtInPolicy.timeout, { connect: '10s', request: '10s' });
    assert.deepEqual(builtInPolicy.successCodes, ['2xx']);
    assert.deepEqual(builtInPolicy.onExhausted, {
      deadLetter: true,
      disableWebhook: false,
      purgeQueue: false,
    });
    assert.equal(builtInPolicy.ordering, 'Unordered');
    assert.equal(builtInPolicy.concurrency, 16);
  });

  it('an EventSource with a header event type', () => {
    const manifest = anEventSource({
      kafka: { brokers: ['k:9092'], topic: 'T' },
      eventType: { header: 'type' },
    });
    delete manifest.spec.rabbitmq;
    const result = validate(EventSource, withNamespace(manifest));
    assert.ok(result.ok, result.ok ? '' : result.message);
  });
});
