import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeClient } from '../../core/kube/client.ts';
import { requeueAfter } from './controller.ts';
import { finalized, finalizerPatch } from './finalizer.ts';

const F = 'hookline.dev/topology';

describe('finalizerPatch', () => {
  const cases: { name: string; finalizers: string[] | undefined; present: boolean; expected: unknown }[] = [
    {
      name: 'adds the first finalizer, guarded by resourceVersion',
      finalizers: undefined,
      present: true,
      expected: [
        { op: 'test', path: '/metadata/resourceVersion', value: '7' },
        { op: 'add', path: '/metadata/finalizers', value: [F] },
      ],
    },
    {
      name: 'appends beside others, guarded by the current list',
      finalizers: ['other'],
      present: true,
      expected: [
        { op: 'test', path: '/metadata/finalizers', value: ['other'] },
        { op: 'replace', path: '/metadata/finalizers', value: ['other', F] },
      ],
    },
    {
      name: 'removes only its own',
      finalizers: ['other', F],
      present: false,
      expected: [
        { op: 'test', path: '/metadata/finalizers', value: ['other', F] },
        { op: 'replace', path: '/metadata/finalizers', value: ['other'] },
      ],
    },
    { name: 'does nothing when already present', finalizers: [F], present: true, expected: undefined },
    { name: 'does nothing when already absent', finalizers: undefined, present: false, expected: undefined },
  ];
  for (const { name, finalizers, present, expected } of cases) {
    it(name, () =>
      assert.deepEqual(
        finalizerPatch({ metadata: { finalizers, resourceVersion: '7' } }, F, present),
        expected,
      ),
    );
  }
});

describe('finalized', () => {
  type Object = { metadata: { finalizers?: string[]; resourceVersion?: string; deletionTimestamp?: string } };
  const run = async (object: Object) => {
    const calls: string[] = [];
    const client = {
      jsonPatch: (_path: string, patch: unknown[]) => {
        calls.push(`patch ${JSON.stringify((patch[1] as { value: unknown }).value)}`);
        return Promise.resolve(object);
      },
    } as unknown as KubeClient;
    const action = await finalized(client, '/x', object, F, {
      apply: () => (calls.push('apply'), Promise.resolve(requeueAfter(5))),
      cleanup: () => (calls.push('cleanup'), Promise.resolve()),
      wrote: () => void calls.push('wrote'),
    });
    return { calls, action };
  };
  const deleted = '2026-01-01T00:00:00Z';
  const cases: { name: string; object: Object; calls: string[]; action: string }[] = [
    {
      name: 'adds the finalizer first, then applies the object the patch answered',
      object: { metadata: {} },
      calls: [`patch ["${F}"]`, 'wrote', 'apply'],
      action: 'requeue',
    },
    {
      name: 'applies once the finalizer is on',
      object: { metadata: { finalizers: [F] } },
      calls: ['apply'],
      action: 'requeue',
    },
    {
      name: 'cleans up a deleted object, then lets it go',
      object: { metadata: { finalizers: ['other', F], deletionTimestamp: deleted } },
      calls: ['cleanup', 'patch ["other"]', 'wrote'],
      action: 'await',
    },
    {
      name: 'skips cleanup when its finalizer is absent',
      object: { metadata: { finalizers: ['other'], deletionTimestamp: deleted } },
      calls: [],
      action: 'await',
    },
  ];
  for (const { name, object, calls, action } of cases) {
    it(name, async () => {
      const ran = await run(object);
      assert.deepEqual(ran.calls, calls);
      assert.equal(ran.action.kind, action);
    });
  }
});
