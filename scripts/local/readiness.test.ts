import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countsMatch, deploymentCounts } from './readiness.ts';

describe('deploymentCounts', () => {
  const cases: [string, { template: string; ready: boolean }[], Record<string, number>][] = [
    ['no replica', [], { replicas: 0, readyReplicas: 0, availableReplicas: 0, updatedReplicas: 0 }],
    [
      'one starting',
      [{ template: 'b', ready: false }],
      { replicas: 1, readyReplicas: 0, availableReplicas: 0, updatedReplicas: 1 },
    ],
    [
      'an old ready one beside a new starting one',
      [
        { template: 'a', ready: true },
        { template: 'b', ready: false },
      ],
      { replicas: 2, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 },
    ],
    [
      'two ready on the current template',
      [
        { template: 'b', ready: true },
        { template: 'b', ready: true },
      ],
      { replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 },
    ],
  ];
  for (const [name, replicas, expected] of cases) {
    it(name, () => {
      assert.deepEqual(deploymentCounts(7, 'b', replicas), { observedGeneration: 7, ...expected });
    });
  }
});

describe('countsMatch', () => {
  const zero = deploymentCounts(1, 't', []);
  it('reads counts the API server left out as 0', () => {
    assert.equal(countsMatch({ observedGeneration: 1 }, zero), true);
  });
  it('sees an unreported status as different', () => {
    assert.equal(countsMatch(undefined, zero), false);
  });
  it('sees a change of any count', () => {
    const one = deploymentCounts(1, 't', [{ template: 't', ready: true }]);
    assert.equal(countsMatch(zero, one), false);
    assert.equal(countsMatch({ ...one }, one), true);
  });
});
