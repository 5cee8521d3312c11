// An EventSource is Ready only while its dispatcher is: the operator reads the readiness of
// the dispatcher Deployment's replicas from the Deployment's status, which here (no kubelet)
// the dispatcher fixture and the local runner write from each process's /readyz.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dispatcherName } from '../../operator/controllers/names.ts';
import { resourcePath } from '../../core/kube/client.ts';
import { LocalDispatchers } from '../../scripts/local/dispatchers.ts';
import { freshNamespace, testEnv } from '../env/handles.ts';
import {
  apply,
  rabbitSourceManifests,
  readyCondition,
  testClient,
  waitForReady,
  type HooklineObject,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';

// Loopback ports of this file's local runner, clear of the e2e test's and the local run's.
const DISPATCHER_PORTS = { first: 24420, count: 10 };

/**
 * A Webhook bound to the source: a dispatcher connects to RabbitMQ (and so answers /readyz
 * with 200) once it has a queue to consume. Nothing is published, so nothing is delivered.
 */
const hookOf = (source: string) => `apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${source}-hook}
spec:
  sourceRef: {name: ${source}}
  url: https://receiver.example.com/hooks
  events: ["#"]
`;

const dispatcherStatus = (source: HooklineObject) => source.status?.dispatcher;

async function deploymentStatus(namespace: string, source: string): Promise<Record<string, number>> {
  const deployment = await testClient().get<{ status?: Record<string, number> }>(
    resourcePath({
      group: 'apps',
      version: 'v1',
      plural: 'deployments',
      namespace,
      name: dispatcherName(source),
    }),
  );
  return deployment.status ?? {};
}

describe('EventSource readiness follows its dispatcher', () => {
  let namespace: string;
  let operator: OperatorProcess;

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('readiness');
    operator = startOperator({ namespace });
    await operator.waitForLog('Controllers started', (l) => l.msg === 'Controllers started');
  });
  after(async () => {
    await operator.stop();
  });

  it('is Ready=False while no dispatcher runs, Ready=True while one is ready, and False again once it stops', async () => {
    await apply(
      namespace,
      rabbitSourceManifests('ledger', testEnv().rabbitmq.amqpUrl, `ledger.${namespace}`),
    );
    await apply(namespace, hookOf('ledger'));
    const waiting = await waitForReady(namespace, 'eventsources', 'ledger', 'False', 'DispatcherNotReady');
    assert.match(readyCondition(waiting)!.message, /^0\/1 dispatcher replicas ready/);
    assert.deepEqual(dispatcherStatus(waiting), { replicas: 1, readyReplicas: 0 });

    const dispatcher = await startDispatcher(namespace, 'ledger');
    try {
      const ready = await waitForReady(namespace, 'eventsources', 'ledger', 'True');
      assert.match(readyCondition(ready)!.message, /\b1\/1 dispatcher replicas ready/);
      assert.deepEqual(dispatcherStatus(ready), { replicas: 1, readyReplicas: 1 });
      const deployment = await deploymentStatus(namespace, 'ledger');
      assert.equal(deployment.readyReplicas, 1);
      assert.equal(deployment.updatedReplicas, 1);
    } finally {
      await dispatcher.stop();
    }

    const stopped = await waitForReady(namespace, 'eventsources', 'ledger', 'False', 'DispatcherNotReady');
    assert.equal(readyCondition(stopped)!.message, '0/1 dispatcher replicas ready');
    assert.deepEqual(dispatcherStatus(stopped), { replicas: 1, readyReplicas: 0 });
  });

  it('counts every replica the local runner starts, and none once it stops them', async () => {
    await apply(
      namespace,
      rabbitSourceManifests(
        'orders',
        testEnv().rabbitmq.amqpUrl,
        `orders.${namespace}`,
        '  dispatcher: {replicas: 2}\n',
      ),
    );
    await apply(namespace, hookOf('orders'));
    const waiting = await waitForReady(namespace, 'eventsources', 'orders', 'False', 'DispatcherNotReady');
    assert.deepEqual(dispatcherStatus(waiting), { replicas: 2, readyReplicas: 0 });

    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-readiness-'));
    const runner = new LocalDispatchers({
      client: testClient(),
      kubeconfig: testEnv().kubeconfig,
      logDir,
      ports: DISPATCHER_PORTS,
      namespace,
    });
    runner.start();
    try {
      const ready = await waitForReady(namespace, 'eventsources', 'orders', 'True', undefined, 60_000);
      assert.match(readyCondition(ready)!.message, /\b2\/2 dispatcher replicas ready/);
      assert.deepEqual(dispatcherStatus(ready), { replicas: 2, readyReplicas: 2 });
    } finally {
      await runner.stop();
    }
    const stopped = await waitForReady(namespace, 'eventsources', 'orders', 'False', 'DispatcherNotReady');
    assert.equal(readyCondition(stopped)!.message, '0/2 dispatcher replicas ready');
    // The API server leaves counts of 0 out.
    const counts = await deploymentStatus(namespace, 'orders');
    for (const count of ['replicas', 'readyReplicas', 'availableReplicas', 'updatedReplicas'])
      assert.equal(counts[count] ?? 0, 0, `${count} of ${JSON.stringify(counts)}`);
    fs.rmSync(logDir, { recursive: true, force: true });
  });
});
