import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { duration, formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  const cases: [string, number | undefined][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1m500ms', 60_500],
    ['0s', 0],
    ['', undefined],
    ['5', undefined],
    ['5 m', undefined],
    ['-5s', undefined],
    ['1.5s', undefined],
    ['5d', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`"${text}" → ${expected}`, () => assert.equal(parseDuration(text), expected));
  }
});

describe('formatDuration', () => {
  const cases: [number, string][] = [
    [500, '500ms'],
    [30_000, '30s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [90_000, '90s'],
  ];
  for (const [ms, expected] of cases) {
    it(`${ms} → ${expected}`, () => assert.equal(formatDuration(ms), expected));
  }
});

describe('duration schema', () => {
  it('accepts durations up to its bound and names the problem otherwise', () => {
    const schema = duration('A delay.', '1h');
    assert.equal(schema.parse('59m'), '59m');
    assert.match(schema.safeParse('2h').error?.issues[0]?.message ?? '', /at most 1h/);
    assert.match(schema.safeParse('soon').error?.issues[0]?.message ?? '', /must be a duration/);
  });
});
