import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubeMicroTime, kubeTime } from './time.ts';

describe('kube times', () => {
  const cases: [string, Date, string][] = [
    ['drops milliseconds', new Date('2026-12-02T14:33:19.987Z'), '2026-12-02T14:33:19Z'],
    ['keeps a whole second', new Date('2026-01-01T00:00:00.000Z'), '2026-01-01T00:00:00Z'],
  ];
  for (const [name, date, expected] of cases)
    it(`kubeTime ${name}`, () => assert.equal(kubeTime(date), expected));

  it('kubeTime of the same second twice, then of the next, and of one before', () => {
    const at = Date.parse('2026-12-02T14:33:19.000Z');
    assert.equal(kubeTime(new Date(at + 10)), '2026-12-02T14:33:19Z');
    assert.equal(kubeTime(new Date(at + 990)), '2026-12-02T14:33:19Z');
    assert.equal(kubeTime(new Date(at + 1000)), '2026-12-02T14:33:20Z');
    assert.equal(kubeTime(new Date(at - 1)), '2026-12-02T14:33:18Z');
  });

  it('kubeMicroTime writes six fractional digits', () => {
    assert.equal(kubeMicroTime(Date.parse('2026-12-02T14:33:19.123Z')), '2026-12-02T14:33:19.123000Z');
  });
});
