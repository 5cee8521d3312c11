import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppliedManifests } from './applied.ts';
import type { Manifest } from './dispatcher-objects.ts';

const role = (names: string[]): Manifest => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name: 'hookline-dispatcher-shop', namespace: 'a' },
  rules: [{ resources: ['secrets'], resourceNames: names }],
});

describe('AppliedManifests', () => {
  it('says a manifest changed until it is applied, then again when it differs or ages out', () => {
    let now = 0;
    const applied = new AppliedManifests(60_000, () => new Date(now));
    assert.equal(applied.changed('uid-1', role(['a'])), true, 'never applied');
    applied.applied('uid-1', role(['a']));
    assert.equal(applied.changed('uid-1', role(['a'])), false, 'the same manifest');
    assert.equal(applied.changed('uid-2', role(['a'])), true, 'another owner');
    assert.equal(applied.changed('uid-1', role(['a', 'b'])), true, 'a new Secret name');
    now = 59_999;
    assert.equal(applied.changed('uid-1', role(['a'])), false);
    now = 60_000;
    assert.equal(applied.changed('uid-1', role(['a'])), true, 'aged out: applied again at the resync');
  });

  it('forgets what an owner applied', () => {
    const applied = new AppliedManifests(60_000, () => new Date(0));
    applied.applied('uid-1', role(['a']));
    applied.applied('uid-10', role(['a']));
    applied.forget('uid-1');
    assert.equal(applied.changed('uid-1', role(['a'])), true);
    assert.equal(applied.changed('uid-10', role(['a'])), false, 'an owner whose uid starts the same is kept');
  });
});
