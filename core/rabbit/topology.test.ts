import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DELAY_LEVELS,
  MAX_DELAY_MS,
  delayDestination,
  delayRoutingKey,
  delayTopology,
  deliverPattern,
  parseDelayRoutingKey,
  planTopology,
  webhookObjects,
  webhookTopology,
  wildcardPatterns,
  type AppliedTopology,
} from './topology.ts';

const names = { namespace: 'shop', webhook: 'hook' };
const base = {
  ...names,
  phase: 'After' as const,
  sourceExchange: 'events',
  exchangeType: 'topic',
  events: ['invoice.*', 'payment.#'],
  ordering: 'Unordered' as const,
  queueType: 'quorum' as const,
};

/** RabbitMQ's topic matching, enough to follow a key through the delay levels. */
function topicMatches(pattern: string, key: string): boolean {
  const match = (p: string[], k: string[]): boolean => {
    if (p.length === 0) return k.length === 0;
    const [head, ...rest] = p;
    if (head === '#') return match(rest, k) || (k.length > 0 && match(p, k.slice(1)));
    if (k.length === 0) return false;
    return (head === '*' || head === k[0]) && match(rest, k.slice(1));
  };
  return match(pattern.split('.'), key.split('.'));
}

/** Follows a message through the delay infrastructure: the queues it waits in, and where it lands. */
function route(key: string): { waitedMs: number; queues: string[]; landedOn: string } {
  const delay = delayTopology('shop', 'quorum');
  const byExchange = new Map(delay.levels.map((l) => [l.exchange, l]));
  let exchange = delay.levels[0]!.exchange;
  let waitedMs = 0;
  const queues: string[] = [];
  for (;;) {
    const level = byExchange.get(exchange);
    if (!level) return { waitedMs, queues, landedOn: exchange };
    const hold = topicMatches(level.holdPattern, key);
    const pass = topicMatches(level.passPattern, key);
    assert.notEqual(hold, pass, `exactly one binding of ${level.exchange} matches ${key}`);
    if (hold) {
      queues.push(level.queue);
      waitedMs += level.ttlMs;
    }
    exchange = level.next;
  }
}

describe('delay routing keys', () => {
  for (const delayMs of [0, 1, 999, 1000, 30_000, 120_000, 3_600_000, MAX_DELAY_MS]) {
    it(`carry ${delayMs} ms through the levels to the deliver exchange`, () => {
      const key = delayRoutingKey(delayMs, 'hook');
      assert.deepEqual(parseDelayRoutingKey(key), { delayMs, destination: 'hook' });
      const { waitedMs, landedOn } = route(key);
      assert.equal(waitedMs, delayMs);
      assert.equal(landedOn, 'hookline.shop.~delay.deliver');
      assert.ok(topicMatches(deliverPattern('hook'), key), 'the deliver binding of its Webhook matches');
      assert.ok(!topicMatches(deliverPattern('other'), key), 'no other Webhook gets it');
    });
  }

  it('clamps delays beyond the infrastructure and below zero', () => {
    assert.equal(parseDelayRoutingKey(delayRoutingKey(MAX_DELAY_MS * 4, 'h'))?.delayMs, MAX_DELAY_MS);
    assert.equal(parseDelayRoutingKey(delayRoutingKey(-5, 'h'))?.delayMs, 0);
  });

  it('keeps dotted Webhook names as they are and hashes names that would not fit a key', () => {
    const dotted = delayRoutingKey(5, 'a.b.c');
    assert.equal(parseDelayRoutingKey(dotted)?.destination, 'a.b.c');
    assert.ok(topicMatches(deliverPattern('a.b.c'), dotted));
    assert.ok(!topicMatches(deliverPattern('a.b'), dotted));
    const long = 'x'.repeat(253);
    assert.notEqual(delayDestination(long), long);
    assert.ok(Buffer.byteLength(delayRoutingKey(MAX_DELAY_MS, delayDestination(long))) <= 255);
    assert.notEqual(delayDestination(long), delayDestination(`${'x'.repeat(252)}y`));
  });

  it('is a constant set of queues per namespace, named apart from any Webhook', () => {
    const delay = delayTopology('shop', 'classic');
    assert.equal(delay.levels.length, DELAY_LEVELS);
    for (const level of delay.levels) assert.match(level.queue, /^hookline\.shop\.~delay\.\d+$/);
    assert.equal(delay.unroutedQueue, 'hookline.shop.~delay.unrouted');
    assert.notEqual(delayTopology('other', 'classic').deliverExchange, delay.deliverExchange);
  });
});

describe('webhookTopology', () => {
  it('gives an Unordered Webhook its queue and dead-letter queue only', () => {
    const t = webhookTopology(base);
    assert.deepEqual(
      t.queues.map((q) => q.name),
      ['hookline.shop.hook', 'hookline.shop.hook.dlq'],
    );
    assert.deepEqual(t.bindings, ['invoice.*', 'payment.#']);
    assert.equal(t.queues[0]!.args['x-queue-type'], 'quorum');
    assert.equal(t.queues[0]!.args['x-dead-letter-routing-key'], 'hookline.shop.hook.dlq');
    assert.equal(t.queues[0]!.args['x-dead-letter-strategy'], 'at-least-once');
  });

  it('adds the head queue under Strict ordering', () => {
    assert.deepEqual(
      webhookTopology({ ...base, ordering: 'Strict' }).queues.map((q) => q.name),
      ['hookline.shop.hook', 'hookline.shop.hook.dlq', 'hookline.shop.hook.head'],
    );
  });

  it('gives a Before hook no queue and no binding', () => {
    const t = webhookTopology({ ...base, phase: 'Before' });
    assert.deepEqual(t.queues, []);
    assert.deepEqual(t.bindings, []);
  });

  it('declares classic queues without arguments', () => {
    for (const q of webhookTopology({ ...base, queueType: 'classic' }).queues) assert.deepEqual(q.args, {});
  });

  it('binds a fanout exchange once, whatever events says, and deduplicates patterns', () => {
    assert.deepEqual(webhookTopology({ ...base, exchangeType: 'fanout' }).bindings, ['']);
    assert.deepEqual(webhookTopology({ ...base, events: ['a', 'a'] }).bindings, ['a']);
  });
});

describe('wildcardPatterns', () => {
  it('finds the patterns a direct exchange cannot route', () => {
    assert.deepEqual(wildcardPatterns(['a.b', 'a.*', '#', 'a.b*', 'x.#.y']), ['a.*', '#', 'x.#.y']);
  });
});

describe('planTopology', () => {
  const deliver = { exchange: 'hookline.shop.~delay.deliver', pattern: deliverPattern('hook') };
  /** A queue a dispatcher publishes to by name, bound by it on the namespace's direct exchange. */
  const direct = (queue: string) => ({ exchange: 'hookline.shop.~direct', pattern: queue, queue });
  const dlq = direct('hookline.shop.hook.dlq');
  const head = direct('hookline.shop.hook.head');
  const v2 = (overrides: Partial<AppliedTopology> = {}): AppliedTopology => ({
    broker: 'default',
    exchange: 'events',
    bindings: ['invoice.*', 'payment.#'],
    version: 2,
    queueType: 'quorum',
    head: false,
    ...overrides,
  });
  const legacy = (retryQueues: number): AppliedTopology => ({
    broker: 'default',
    exchange: 'events',
    bindings: ['invoice.*'],
    retryQueues,
    returnTo: 'hookline.shop.hook',
  });
  const cases: {
    name: string;
    desired: Parameters<typeof webhookTopology>[0];
    applied: AppliedTopology | undefined;
    expected: ReturnType<typeof planTopology>;
  }[] = [
    {
      name: 'binds the patterns and the delay destination the first time',
      desired: base,
      applied: undefined,
      expected: {
        bind: [
          { exchange: 'events', pattern: 'invoice.*' },
          { exchange: 'events', pattern: 'payment.#' },
          deliver,
          dlq,
        ],
        unbind: [],
        drain: [],
        deleteQueues: [],
        deleteExchanges: [],
      },
    },
    {
      name: 'unbinds a pattern no longer listed and those of a former exchange',
      desired: { ...base, events: ['payment.#'] },
      applied: v2({ bindings: ['invoice.*', 'payment.#'] }),
      expected: {
        bind: [{ exchange: 'events', pattern: 'payment.#' }, deliver, dlq],
        unbind: [{ exchange: 'events', pattern: 'invoice.*' }],
        drain: [],
        deleteQueues: [],
        deleteExchanges: [],
      },
    },
    {
      name: "drains and deletes the first version's retry and head queues (Unordered)",
      desired: base,
      applied: legacy(2),
      expected: {
        bind: [
          { exchange: 'events', pattern: 'invoice.*' },
          { exchange: 'events', pattern: 'payment.#' },
          deliver,
          dlq,
        ],
        unbind: [],
        drain: [
          { from: 'hookline.shop.hook.retry.1', to: 'hookline.shop.hook' },
          { from: 'hookline.shop.hook.retry.2', to: 'hookline.shop.hook' },
          { from: 'hookline.shop.hook.head', to: 'hookline.shop.hook' },
        ],
        deleteQueues: ['hookline.shop.hook.retry.1', 'hookline.shop.hook.retry.2', 'hookline.shop.hook.head'],
        deleteExchanges: ['hookline.shop.hook.return'],
      },
    },
    {
      name: "drains the first version's retry queues into the head queue under Strict ordering, and keeps it",
      desired: { ...base, ordering: 'Strict' },
      applied: legacy(1),
      expected: {
        bind: [
          { exchange: 'events', pattern: 'invoice.*' },
          { exchange: 'events', pattern: 'payment.#' },
          deliver,
          dlq,
          head,
        ],
        unbind: [],
        drain: [{ from: 'hookline.shop.hook.retry.1', to: 'hookline.shop.hook.head' }],
        deleteQueues: ['hookline.shop.hook.retry.1'],
        deleteExchanges: ['hookline.shop.hook.return'],
      },
    },
    {
      name: 'drains the head queue into the queue when Strict ordering ends',
      desired: base,
      applied: v2({ head: true }),
      expected: {
        bind: [
          { exchange: 'events', pattern: 'invoice.*' },
          { exchange: 'events', pattern: 'payment.#' },
          deliver,
          dlq,
        ],
        unbind: [],
        drain: [{ from: 'hookline.shop.hook.head', to: 'hookline.shop.hook' }],
        deleteQueues: ['hookline.shop.hook.head'],
        deleteExchanges: [],
      },
    },
    {
      name: 'deletes every queue a Before hook was given by the first version',
      desired: { ...base, phase: 'Before' },
      applied: legacy(1),
      expected: {
        bind: [],
        unbind: [],
        drain: [],
        deleteQueues: [
          'hookline.shop.hook.retry.1',
          'hookline.shop.hook.head',
          'hookline.shop.hook',
          'hookline.shop.hook.dlq',
        ],
        deleteExchanges: ['hookline.shop.hook.return'],
      },
    },
    {
      name: 'plans nothing for a Before hook that never had queues',
      desired: { ...base, phase: 'Before' },
      applied: undefined,
      expected: { bind: [], unbind: [], drain: [], deleteQueues: [], deleteExchanges: [] },
    },
  ];
  for (const c of cases) {
    it(c.name, () =>
      assert.deepEqual(planTopology(webhookTopology(c.desired), c.applied, names), c.expected),
    );
  }
});

describe('webhookObjects', () => {
  it("lists the first version's retry queues and return exchange for the finalizer", () => {
    assert.deepEqual(
      webhookObjects('shop', 'hook', {
        broker: 'default',
        exchange: 'events',
        bindings: [],
        retryQueues: 2,
      }),
      {
        queues: [
          'hookline.shop.hook',
          'hookline.shop.hook.head',
          'hookline.shop.hook.dlq',
          'hookline.shop.hook.retry.1',
          'hookline.shop.hook.retry.2',
        ],
        exchanges: ['hookline.shop.hook.return'],
      },
    );
    assert.deepEqual(
      webhookObjects('shop', 'hook', { broker: 'd', exchange: 'e', bindings: [], version: 2 }).exchanges,
      [],
    );
  });
});
