import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Webhook, WebhookStatus } from '../../../core/api/v1alpha1/webhook.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import {
  desiredStatus,
  exchangeProblem,
  handledTokens,
  reenableRequest,
  replayRequest,
  sourceProblem,
  type Ensured,
  type NotReady,
} from './plan.ts';

const NOW = new Date('2026-12-02T10:00:00Z');

function raw(
  options: { generation?: number; annotations?: Record<string, string>; status?: WebhookStatus } = {},
): RawObject {
  return {
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'Webhook',
    metadata: {
      name: 'orders',
      namespace: 'shop',
      generation: options.generation ?? 1,
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: {},
    ...(options.status ? { status: options.status } : {}),
  };
}

function webhook(spec: Partial<Webhook['spec']>): Webhook {
  return {
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'Webhook',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {
      url: 'https://receiver.example/hooks',
      sourceRef: { name: 'shop' },
      phase: 'After',
      events: ['order.*'],
      ...spec,
    } as Webhook['spec'],
  };
}

const source = (spec: Record<string, unknown>): RawObject => ({
  apiVersion: 'hookline.dev/v1alpha1',
  kind: 'EventSource',
  metadata: { name: 'shop', namespace: 'shop' },
  spec,
});
const httpSource = source({ http: { authSecretRef: { name: 'tokens', key: 'tokens' } } });
const kafkaSource = source({
  kafka: { brokers: ['127.0.0.1:9092'], topic: 't' },
  eventType: { header: 'type' },
});

describe('sourceProblem', () => {
  const cases: { name: string; hook: Webhook; source?: RawObject; allowHttp?: boolean; reason?: string }[] = [
    { name: 'an https Webhook on an http source', hook: webhook({}), source: httpSource },
    {
      name: 'a plain http URL where the installation refuses them',
      hook: webhook({ url: 'http://receiver.example/' }),
      source: httpSource,
      reason: 'InvalidSpec',
    },
    {
      name: 'a plain http URL where they are allowed',
      hook: webhook({ url: 'http://receiver.example/' }),
      source: httpSource,
      allowHttp: true,
    },
    { name: 'a source that does not exist', hook: webhook({}), reason: 'SourceNotFound' },
    { name: 'a source that is not valid', hook: webhook({}), source: source({}), reason: 'SourceNotReady' },
    {
      name: 'a Before hook on a kafka source',
      hook: webhook({ phase: 'Before' }),
      source: kafkaSource,
      reason: 'InvalidSpec',
    },
    { name: 'a Before hook on an http source', hook: webhook({ phase: 'Before' }), source: httpSource },
  ];
  for (const c of cases) {
    it(c.reason ? `refuses ${c.name}: ${c.reason}` : `accepts ${c.name}`, () => {
      const result = sourceProblem(c.hook, c.source, { allowHttpUrls: c.allowHttp ?? false });
      if (c.reason) assert.equal((result as NotReady).reason, c.reason);
      else assert.equal((result as { source: { metadata: { name: string } } }).source.metadata.name, 'shop');
    });
  }
  it('names the field and the missing source', () => {
    const result = sourceProblem(webhook({}), undefined, { allowHttpUrls: false }) as NotReady;
    assert.equal(result.message, 'spec.sourceRef: EventSource shop/shop does not exist');
    assert.equal(result.retry, true);
  });
});

describe('exchangeProblem', () => {
  const cases: [string, string[], string, string | undefined][] = [
    ['exact keys on a direct exchange', ['order.created'], 'direct', undefined],
    ['wildcards on a topic exchange', ['order.*', '#'], 'topic', undefined],
    [
      'wildcards on a direct exchange',
      ['order.created', 'order.*', '#'],
      'direct',
      '"order.*", "#" cannot match',
    ],
  ];
  for (const [name, events, type, expected] of cases) {
    it(name, () => {
      const problem = exchangeProblem(events, type);
      if (expected === undefined) assert.equal(problem, undefined);
      else assert.ok(problem?.message.endsWith(expected), problem?.message);
    });
  }
});

describe('annotation tokens', () => {
  const cases: {
    name: string;
    object: RawObject;
    reenable: ReturnType<typeof reenableRequest>;
    replay: string | undefined;
    handled: Record<string, string>;
  }[] = [
    { name: 'none', object: raw(), reenable: undefined, replay: undefined, handled: {} },
    {
      name: 'new tokens',
      object: raw({ annotations: { 'hookline.dev/reenable': 'a', 'hookline.dev/replay': 'b' } }),
      reenable: { token: 'a', specChanged: false },
      replay: 'b',
      handled: { reenable: 'a', replay: 'b' },
    },
    {
      name: 'tokens handled before',
      object: raw({
        annotations: { 'hookline.dev/reenable': 'a', 'hookline.dev/replay': 'b' },
        status: { handledAnnotations: { reenable: 'a', replay: 'b' } },
      }),
      reenable: undefined,
      replay: undefined,
      handled: { reenable: 'a', replay: 'b' },
    },
    {
      name: 'a spec change without a token',
      object: raw({ generation: 3, status: { observedGeneration: 2 } }),
      reenable: { specChanged: true },
      replay: undefined,
      handled: {},
    },
    {
      name: 'annotations removed after being handled',
      object: raw({ status: { handledAnnotations: { replay: 'old' } } }),
      reenable: undefined,
      replay: undefined,
      handled: { replay: 'old' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(reenableRequest(c.object), c.reenable);
      assert.equal(replayRequest(c.object), c.replay);
      assert.deepEqual(handledTokens(c.object), c.handled);
    });
  }
});

describe('desiredStatus', () => {
  const applied = {
    version: 2,
    broker: 'default',
    queue: 'hookline.shop.orders',
  } as unknown as Ensured['topology'];
  const ready = (status: Record<string, unknown>) =>
    (status.conditions as { type: string; status: string; reason: string }[]).map(
      (c) => `${c.type}=${c.status}/${c.reason}`,
    );
  const disabled = {
    disabled: true,
    disabledReason: 'retries ran out at 410',
    observedGeneration: 1,
  } as WebhookStatus;
  const cases: {
    name: string;
    object: RawObject;
    problem?: NotReady;
    ensured?: Ensured;
    conditions: string[];
    extra?: Record<string, unknown>;
  }[] = [
    {
      name: 'Ready with its queue, topology and public key',
      object: raw(),
      ensured: { topology: applied, queue: 'hookline.shop.orders', publicKey: 'pk' },
      conditions: ['Ready=True/Ready'],
      extra: { queue: 'hookline.shop.orders', topology: applied, signing: { publicKey: 'pk' } },
    },
    {
      name: 'a problem keeps what status recorded before',
      object: raw({
        status: { queue: 'q', topology: applied, signing: { publicKey: 'old' } } as unknown as WebhookStatus,
      }),
      problem: { reason: 'SecretNotFound', message: 'gone', retry: true },
      conditions: ['Ready=False/SecretNotFound'],
      extra: { queue: 'q', topology: applied, signing: { publicKey: 'old' } },
    },
    {
      name: 'disabled: Ready=False and Stalled, RetriesExhausted',
      object: raw({ status: disabled }),
      ensured: {},
      conditions: ['Ready=False/RetriesExhausted', 'Stalled=True/RetriesExhausted'],
    },
    {
      name: 'disabled, then a new reenable token: Ready again',
      object: raw({ annotations: { 'hookline.dev/reenable': 'now' }, status: disabled }),
      ensured: {},
      conditions: ['Ready=True/Ready'],
      extra: { handledAnnotations: { reenable: 'now' } },
    },
    {
      name: 'disabled, a reenable token, but a problem: still disabled, token not handled',
      object: raw({ annotations: { 'hookline.dev/reenable': 'now' }, status: disabled }),
      problem: { reason: 'BrokerUnreachable', message: 'down', retry: true },
      conditions: ['Ready=False/BrokerUnreachable', 'Stalled=True/RetriesExhausted'],
      extra: { handledAnnotations: {} },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const status = desiredStatus(c.object, c.problem, c.ensured ?? {}, NOW);
      assert.deepEqual(ready(status), c.conditions);
      assert.equal(status.observedGeneration, 1);
      for (const [key, value] of Object.entries(c.extra ?? {})) assert.deepEqual(status[key], value, key);
    });
  }
});
