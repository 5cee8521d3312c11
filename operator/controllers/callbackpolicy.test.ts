import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallbackPolicy } from '../../core/api/v1alpha1/callbackpolicy.ts';
import { aCallbackPolicy } from '../../test/fixtures/manifests.ts';
import type { RawObject } from '../../core/kube/objects.ts';
import { policyProblems, webhooksUsing } from './callbackpolicy.ts';

const parse = (spec: Record<string, unknown>) =>
  CallbackPolicy.parse({ ...aCallbackPolicy(spec), metadata: { name: 'p', namespace: 'ns' } });

describe('policyProblems', () => {
  const cases: [string, Record<string, unknown>, RegExp | undefined][] = [
    ['the built-in policy is fine', {}, undefined],
    [
      'a first delay above the cap',
      { retry: { backoff: { delay: '2h', max: '1h' } } },
      /delay \(2h\) is longer than/,
    ],
    ['purging without disabling', { onExhausted: { purgeQueue: true } }, /purgeQueue needs disableWebhook/],
    [
      'the payment policy is fine',
      {
        retry: { schedule: ['30s', '5m', '15m', '1h'] },
        onExhausted: { deadLetter: false, disableWebhook: true, purgeQueue: true },
        ordering: 'Strict',
      },
      undefined,
    ],
  ];
  for (const [name, spec, expected] of cases) {
    it(name, () => {
      const problems = policyProblems(parse(spec));
      if (expected) assert.match(problems.join('; '), expected);
      else assert.deepEqual(problems, []);
    });
  }
});

describe('webhooksUsing', () => {
  const hook = (namespace: string, policyRef?: string): RawObject => ({
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'Webhook',
    metadata: { name: 'w', namespace },
    spec: policyRef ? { policyRef: { name: policyRef } } : {},
  });
  const hooks = [hook('a', 'strict'), hook('a'), hook('a'), hook('b', 'strict'), hook('a', 'other')];
  it('counts Webhooks naming the policy in its namespace', () =>
    assert.equal(webhooksUsing(hooks, 'a', 'strict'), 1));
  it('counts Webhooks naming no policy for the policy named default', () =>
    assert.equal(webhooksUsing(hooks, 'a', 'default'), 2));
});
