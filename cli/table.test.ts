import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ageOf, cut, formatTable, humanAge } from './table.ts';

describe('formatTable', () => {
  it('pads each column to its widest cell, three spaces apart, the last one unpadded', () => {
    assert.equal(
      formatTable(
        ['NAME', 'READY', 'LAST-ERROR'],
        [
          ['orders', 'True', '-'],
          ['payments-eu', 'False', 'HTTP 500: boom'],
        ],
      ),
      'NAME          READY   LAST-ERROR\n' +
        'orders        True    -\n' +
        'payments-eu   False   HTTP 500: boom\n',
    );
  });
  it('counts characters, not UTF-16 units', () => {
    assert.equal(formatTable(['A', 'B'], [['é…', 'x']]), 'A    B\né…   x\n');
  });
  it('prints the header alone without rows', () => {
    assert.equal(formatTable(['NAME', 'READY'], []), 'NAME   READY\n');
  });
});

describe('cut', () => {
  const cases: [string | undefined | null, number, string][] = [
    [undefined, 10, '-'],
    [null, 10, '-'],
    ['  ', 10, '-'],
    ['short', 10, 'short'],
    ['exactly 10', 10, 'exactly 10'],
    ['one line\n  and   more', 40, 'one line and more'],
    ['HTTP 503: the receiver is in maintenance', 12, 'HTTP 503: t…'],
  ];
  for (const [text, max, expected] of cases)
    it(`${JSON.stringify(text)} at ${max}`, () => assert.equal(cut(text, max), expected));
});

describe('humanAge (as kubectl prints ages)', () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  const cases: [number, string][] = [
    [-5 * s, '0s'],
    [0, '0s'],
    [59 * s, '59s'],
    [119 * s, '119s'],
    [2 * m, '2m'],
    [3 * m + 20 * s, '3m20s'],
    [10 * m + 30 * s, '10m'],
    [179 * m, '179m'],
    [3 * h, '3h'],
    [7 * h + 59 * m, '7h59m'],
    [8 * h + 30 * m, '8h'],
    [47 * h, '47h'],
    [2 * d, '2d'],
    [7 * d + 5 * h, '7d5h'],
    [8 * d + 5 * h, '8d'],
    [800 * d, '2y70d'],
    [9 * 365 * d, '9y'],
  ];
  for (const [ms, expected] of cases)
    it(`${ms} ms is ${expected}`, () => assert.equal(humanAge(ms), expected));

  it('gives the age of a time, or "-"', () => {
    const now = new Date('2026-12-02T10:00:00Z');
    assert.equal(ageOf('2026-12-02T09:59:30Z', now), '30s');
    assert.equal(ageOf(undefined, now), '-');
    assert.equal(ageOf('not a time', now), '-');
  });
});
