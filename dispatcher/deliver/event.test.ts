import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Delivery } from '../broker/session.ts';
import { compileMatch, eventMeta, HEADER, jsonTooDeep, parseEvent, pointer, topicMatches } from './event.ts';

const delivery = (
  body: string,
  properties: Delivery['properties'] = {},
  routingKey = 'invoice.created',
): Delivery => ({
  body: Buffer.from(body),
  exchange: 'events',
  routingKey,
  redelivered: false,
  properties,
  ack: () => undefined,
  nack: () => undefined,
});

describe('eventMeta', () => {
  it('takes the Hookline headers of a retried event', () => {
    const meta = eventMeta(
      delivery(
        '{}',
        {
          headers: {
            [HEADER.eventId]: 'evt_9',
            [HEADER.eventType]: 'payment.created',
            [HEADER.attempt]: 3,
            [HEADER.firstSeen]: 5,
          },
        },
        'hookline.ns.h.retry.2',
      ),
      10,
    );
    assert.deepEqual(meta, { id: 'evt_9', type: 'payment.created', attempt: 3, firstSeen: 5 });
  });

  it('uses the messageId and routing key of a message from the source', () => {
    assert.deepEqual(eventMeta(delivery('{}', { messageId: 'm-1' }), 10), {
      id: 'm-1',
      type: 'invoice.created',
      attempt: 1,
      firstSeen: 10,
    });
  });

  it('derives the same id from the same message when it has no messageId', () => {
    const a = eventMeta(delivery('{"a":1}', { timestamp: 1 }), 10).id;
    assert.equal(eventMeta(delivery('{"a":1}', { timestamp: 1 }), 99).id, a);
    assert.notEqual(eventMeta(delivery('{"a":2}', { timestamp: 1 }), 10).id, a);
    assert.match(a, /^evt_[A-Za-z0-9_-]{24}$/);
  });
});

describe('pointer', () => {
  const doc = { transaction: { sep: '24', 'a/b': 1, 'c~d': 2 }, list: [10, 20] };
  const cases: [string, unknown][] = [
    ['/transaction/sep', '24'],
    ['/transaction/a~1b', 1],
    ['/transaction/c~0d', 2],
    ['/list/1', 20],
    ['/missing/x', undefined],
    ['', doc],
  ];
  for (const [path, expected] of cases)
    it(`${path || '(root)'}`, () => assert.deepEqual(pointer(doc, path), expected));
});

describe('compileMatch', () => {
  const cases: [Record<string, unknown> | undefined, unknown, boolean][] = [
    [undefined, { any: 1 }, true],
    [{ '/shop_id': 55 }, { shop_id: 55 }, true],
    [{ '/shop_id': 55 }, { shop_id: '55' }, false],
    [{ '/shop_id': 55 }, { shop_id: 56 }, false],
    [{ '/organizationId': ['a', 'b'] }, { organizationId: 'b' }, true],
    [{ '/transaction/sep': '24', '/type': 'x' }, { transaction: { sep: '24' }, type: 'y' }, false],
    [{ '/flag': null }, { flag: null }, true],
  ];
  for (const [match, document, expected] of cases) {
    it(`${JSON.stringify(match)} on ${JSON.stringify(document)} → ${expected}`, () =>
      assert.equal(compileMatch(match)(document), expected));
  }
});

describe('topicMatches (RabbitMQ topic semantics)', () => {
  const cases: [string, string, boolean][] = [
    ['app.created', 'app.created', true],
    ['app.created', 'app.updated', false],
    ['app.*', 'app.created', true],
    ['app.*', 'app', false],
    ['app.*', 'app.created.extra', false],
    ['*.created', 'plan.created', true],
    ['#', 'anything.at.all', true],
    ['#', 'single', true],
    ['plan.#', 'plan', true],
    ['plan.#', 'plan.a.b', true],
    ['#.deleted', 'access-token.deleted', true],
    ['#.deleted', 'access-token.updated', false],
    ['a.#.z', 'a.z', true],
    ['a.#.z', 'a.b.c.z', true],
    ['a.#.z', 'a.b.c', false],
    ['transaction_created', 'transaction_created', true],
  ];
  for (const [pattern, key, expected] of cases)
    it(`${pattern} vs ${key} → ${expected}`, () => assert.equal(topicMatches(pattern, key), expected));
});

describe('parseEvent and jsonTooDeep', () => {
  const nested = (depth: number, open = '[', close = ']') =>
    Buffer.from(open.repeat(depth) + close.repeat(depth));

  it('refuses JSON nested deeper than the limit, which JSON.stringify could not write back', () => {
    const deep = nested(200_000);
    const result = parseEvent(deep, 10_000_000);
    assert.ok('unusable' in result && /nests deeper than 128 levels/.test(result.unusable));
  });

  it('takes JSON nested up to the limit, and brackets inside strings do not count', () => {
    assert.ok('json' in parseEvent(nested(128), 1_000_000));
    const objects = (depth: number) => Buffer.from('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
    assert.ok('json' in parseEvent(objects(128), 1_000_000));
    assert.ok('unusable' in parseEvent(objects(129), 1_000_000));
    const quoted = Buffer.from(JSON.stringify({ text: '['.repeat(1000), escaped: '\\"[[[[' }));
    assert.equal(jsonTooDeep(quoted), false);
    assert.ok('json' in parseEvent(quoted, 1_000_000));
  });

  it('counts objects and arrays alike, and many shallow ones are fine', () => {
    const shallow = Buffer.from(JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ i, tags: [i] }))));
    assert.equal(jsonTooDeep(shallow), false);
    const mixed = Buffer.from('{"a":'.repeat(64) + '['.repeat(65) + ']'.repeat(65) + '}'.repeat(64));
    assert.equal(jsonTooDeep(mixed), true);
  });
});
