import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finalizerPatch } from './finalizer.ts';

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
