import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dispatcherReadiness, type DeploymentState } from './dispatcher-readiness.ts';

const deployment = (
  generation: number,
  replicas: number,
  status?: DeploymentState['status'],
): DeploymentState => ({ metadata: { generation }, spec: { replicas }, ...(status ? { status } : {}) });

describe('dispatcherReadiness', () => {
  const cases: [string, DeploymentState | undefined, number, boolean, number, RegExp][] = [
    ['no Deployment yet', undefined, 1, false, 0, /^0\/1 dispatcher replicas ready: no Deployment yet$/],
    ['written, nothing reported', deployment(1, 1), 1, false, 0, /^0\/1 .*generation 1 is not rolled out/],
    [
      'observed, no replica ready',
      deployment(1, 1, { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 0 }),
      1,
      false,
      0,
      /^0\/1 dispatcher replicas ready$/,
    ],
    [
      'all ready',
      deployment(2, 2, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }),
      2,
      true,
      2,
      /^2\/2 dispatcher replicas ready$/,
    ],
    [
      'one of two ready',
      deployment(1, 2, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 1 }),
      2,
      false,
      1,
      /^1\/2 dispatcher replicas ready$/,
    ],
    [
      'ready counts of a generation not yet observed',
      deployment(3, 1, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1 }),
      1,
      false,
      1,
      /^1\/1 .*generation 3 is not rolled out yet$/,
    ],
    [
      'the ready replica runs the old template',
      deployment(3, 1, { observedGeneration: 3, replicas: 1, updatedReplicas: 0, readyReplicas: 1 }),
      1,
      false,
      1,
      /^1\/1 dispatcher replicas ready, but 0\/1 run the current pod template$/,
    ],
    [
      'an old replica still running beside the new ones',
      deployment(3, 1, { observedGeneration: 3, replicas: 2, updatedReplicas: 1, readyReplicas: 2 }),
      1,
      false,
      2,
      /^2\/1 dispatcher replicas ready, but 1 old replicas still run$/,
    ],
    [
      'more ready than desired (a surge)',
      deployment(1, 1, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }),
      1,
      true,
      2,
      /^2\/1 dispatcher replicas ready$/,
    ],
    [
      'no replica left of the current template',
      deployment(2, 1, { observedGeneration: 2 }),
      1,
      false,
      0,
      /^0\/1 dispatcher replicas ready$/,
    ],
    ['scaled to zero', deployment(4, 0, { observedGeneration: 4 }), 0, true, 0, /^0\/0 /],
    [
      'desired replicas as the Deployment says, one replica short',
      deployment(2, 3, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }),
      2,
      false,
      2,
      /^2\/3 dispatcher replicas ready$/,
    ],
  ];
  for (const [name, state, desired, ready, readyReplicas, message] of cases) {
    it(name, () => {
      const readiness = dispatcherReadiness(state, desired);
      assert.equal(readiness.ready, ready);
      assert.equal(readiness.readyReplicas, readyReplicas);
      assert.equal(readiness.replicas, state?.spec?.replicas ?? desired);
      assert.match(readiness.message, message);
    });
  }
});
