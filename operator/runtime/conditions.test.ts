import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonEqual, setCondition } from './conditions.ts';

const t0 = new Date('2026-01-01T00:00:00.123Z');
const t1 = new Date('2026-01-01T01:00:00Z');

describe('setCondition', () => {
  it('adds a condition with the transition time and generation', () => {
    const list = setCondition([], { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, 3, t0);
    assert.deepEqual(list, [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Ready',
        message: 'ok',
        observedGeneration: 3,
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ]);
  });

  it('keeps lastTransitionTime while the status stays, even when reason and message change', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, 1, t0);
    const second = setCondition(first, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, 2, t1);
    assert.equal(second[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.equal(second[0]?.reason, 'B');
    assert.equal(second[0]?.observedGeneration, 2);
  });

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, 1, t0);
    const second = setCondition(
      first,
      { type: 'Ready', status: 'True', reason: 'Ready', message: '' },
      1,
      t1,
    );
    assert.equal(second[0]?.lastTransitionTime, '2026-01-01T01:00:00Z');
  });

  it('leaves other conditions alone', () => {
    const list = setCondition(
      [{ type: 'Stalled', status: 'True', reason: 'X', message: '', lastTransitionTime: 'T' }],
      { type: 'Ready', status: 'True', reason: 'Ready', message: '' },
      1,
      t0,
    );
    assert.deepEqual(
      list.map((c) => c.type),
      ['Stalled', 'Ready'],
    );
  });
});

describe('jsonEqual', () => {
  const cases: [unknown, unknown, boolean][] = [
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }, true],
    [{ a: 1 }, { a: 1, b: undefined }, true],
    [{ a: 1 }, { a: 2 }, false],
    [[1, 2], [2, 1], false],
    [null, {}, false],
  ];
  for (const [a, b, expected] of cases)
    it(`${JSON.stringify(a)} vs ${JSON.stringify(b)}`, () => assert.equal(jsonEqual(a, b), expected));
});
