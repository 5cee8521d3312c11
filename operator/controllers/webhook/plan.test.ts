import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Webhook, WebhookStatus } from '../../../core/api/v1alpha1/webhook.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import {
  deadLetteredAt,
  desiredStatus,
  exchangeProblem,
  handledTokens,
  inReplayWindow,
  reenableRequest,
  replayedMessage,
  replayRequest,
  replayWindow,
  sourceProblem,
  type Ensured,
  type NotReady,
  type ReplayWindow,
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

describe('replayWindow', () => {
  const since = 'hookline.dev/replay-since';
  const until = 'hookline.dev/replay-until';
  const cases: {
    name: string;
    annotations: Record<string, string>;
    window?: { since?: string; until?: string };
    problem?: RegExp;
  }[] = [
    { name: 'no bounds: every dead letter', annotations: {}, window: {} },
    { name: 'an empty bound is no bound', annotations: { [since]: ' ' }, window: {} },
    {
      name: 'since only',
      annotations: { [since]: '2026-12-02T09:00:00Z' },
      window: { since: '2026-12-02T09:00:00.000Z' },
    },
    {
      name: 'both, with an offset and fractions',
      annotations: { [since]: '2026-12-02T10:00:00.250+01:00', [until]: '2026-12-02T10:00:00Z' },
      window: { since: '2026-12-02T09:00:00.250Z', until: '2026-12-02T10:00:00.000Z' },
    },
    {
      name: 'a duration is not a time',
      annotations: { [since]: '1h' },
      problem: /^annotation hookline\.dev\/replay-since: "1h" is not an RFC 3339 time/,
    },
    {
      name: 'a date without a time is not a time',
      annotations: { [until]: '2026-12-02' },
      problem: /^annotation hookline\.dev\/replay-until: "2026-12-02"/,
    },
    {
      name: 'an impossible date',
      annotations: { [since]: '2026-13-45T00:00:00Z' },
      problem: /replay-since: "2026-13-45T00:00:00Z" is not an RFC 3339 time/,
    },
    {
      name: 'both wrong: both named',
      annotations: { [since]: 'yesterday', [until]: 'today' },
      problem: /replay-since: "yesterday".*; annotation hookline\.dev\/replay-until: "today"/,
    },
    {
      name: 'since not before until',
      annotations: { [since]: '2026-12-02T10:00:00Z', [until]: '2026-12-02T10:00:00Z' },
      problem: /replay-since \(2026-12-02T10:00:00.000Z\) is not before hookline\.dev\/replay-until/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const parsed = replayWindow(raw({ annotations: { 'hookline.dev/replay': 't', ...c.annotations } }));
      if (c.problem) {
        assert.equal(parsed.ok, false);
        assert.match(parsed.ok ? '' : parsed.message, c.problem);
        return;
      }
      assert.ok(parsed.ok);
      assert.deepEqual(
        {
          ...(parsed.window.since ? { since: parsed.window.since.toISOString() } : {}),
          ...(parsed.window.until ? { until: parsed.window.until.toISOString() } : {}),
        },
        c.window,
      );
    });
  }
});

describe('which dead letters a replay moves', () => {
  const window: ReplayWindow = {
    since: new Date('2026-12-02T09:00:00Z'),
    until: new Date('2026-12-02T10:00:00Z'),
  };
  const stamped = (time: string) => ({ 'x-hookline-dead-lettered-at': time });
  const died = (seconds: number) => ({ 'x-death': [{ time: { '!': 'timestamp', value: seconds } }, {}] });
  const cases: { name: string; headers: Record<string, unknown> | undefined; inside: boolean }[] = [
    { name: 'at since: inside', headers: stamped('2026-12-02T09:00:00.000Z'), inside: true },
    { name: 'just before since: outside', headers: stamped('2026-12-02T08:59:59.999Z'), inside: false },
    { name: 'between: inside', headers: stamped('2026-12-02T09:30:00Z'), inside: true },
    { name: 'at until: outside', headers: stamped('2026-12-02T10:00:00.000Z'), inside: false },
    {
      name: "the broker's latest x-death when the dispatcher wrote no time",
      headers: died(Date.parse('2026-12-02T09:15:00Z') / 1000),
      inside: true,
    },
    { name: 'x-death outside', headers: died(Date.parse('2026-12-02T11:00:00Z') / 1000), inside: false },
    {
      name: "Hookline's time before the broker's",
      headers: { ...stamped('2026-12-02T11:00:00Z'), ...died(Date.parse('2026-12-02T09:15:00Z') / 1000) },
      inside: false,
    },
    { name: 'no time at all: not moved by a window', headers: {}, inside: false },
    { name: 'no headers', headers: undefined, inside: false },
    { name: 'a time that does not parse', headers: stamped('soon'), inside: false },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(inReplayWindow(window, c.headers), c.inside));
  }

  it('moves everything without bounds, times or not', () => {
    assert.equal(inReplayWindow({}, {}), true);
    assert.equal(inReplayWindow({}, stamped('2000-01-01T00:00:00Z')), true);
  });

  it('reads the time in each form', () => {
    assert.equal(deadLetteredAt(stamped('2026-12-02T09:00:00Z'))?.toISOString(), '2026-12-02T09:00:00.000Z');
    assert.equal(
      deadLetteredAt({ 'x-death': [{ time: 1796205600 }] })?.toISOString(),
      '2026-12-02T10:00:00.000Z',
    );
    assert.equal(deadLetteredAt({ 'x-death': [] }), undefined);
  });

  it("says what moved and what stayed, ending with the token's marker", () => {
    assert.equal(
      replayedMessage('abc', 'hookline.shop.orders', window, { moved: 3, kept: 2 }),
      'Moved 3 events dead-lettered since 2026-12-02T09:00:00.000Z and until 2026-12-02T10:00:00.000Z back to queue hookline.shop.orders; 2 others stay in the dead-letter queue [replay abc]',
    );
    assert.equal(
      replayedMessage('abc', 'hookline.shop.orders', {}, { moved: 1, kept: 0 }),
      'Moved 1 dead-lettered events back to queue hookline.shop.orders [replay abc]',
    );
  });
});
