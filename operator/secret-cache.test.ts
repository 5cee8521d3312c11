import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { HooklineError } from '../core/errors.ts';
import type { KubeClient } from '../core/kube/client.ts';
import type { Informer } from '../core/kube/informer.ts';
import type { Secret } from '../core/kube/objects.ts';
import { contentsOmitted, keepSecret, SecretCache } from './secret-cache.ts';

const aSecret = (name: string, labels?: Record<string, string>): Secret => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: {
    name,
    namespace: 'shop',
    uid: `uid-${name}`,
    resourceVersion: '7',
    ...(labels ? { labels } : {}),
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"token":"c2VjcmV0"}}' },
    managedFields: [{ manager: 'kubectl' }],
  },
  data: { token: 'c2VjcmV0' },
});

describe('keepSecret', () => {
  const keep = keepSecret((key) => key === 'shop/named');
  it('keeps a named Secret whole, but for its managed fields', () => {
    const kept = keep(aSecret('named'));
    assert.equal(kept.data?.token, 'c2VjcmV0');
    assert.equal(kept.metadata.managedFields, undefined);
    assert.ok(!contentsOmitted(kept));
  });
  it("keeps the operator's own Secrets whole", () => {
    const kept = keep(
      aSecret('hookline-broker-anchor', { 'app.kubernetes.io/managed-by': 'hookline-operator' }),
    );
    assert.equal(kept.data?.token, 'c2VjcmV0');
  });
  it('keeps only the name, version and labels of any other Secret: no data, no annotations', () => {
    const kept = keep(aSecret('other', { team: 'a' }));
    assert.deepEqual(JSON.parse(JSON.stringify(kept)), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'other',
        namespace: 'shop',
        uid: 'uid-other',
        resourceVersion: '7',
        labels: { team: 'a' },
      },
    });
    assert.ok(contentsOmitted(kept));
  });
});

describe('SecretCache', () => {
  function aCache(cached: Secret | undefined, read: () => Promise<Secret | undefined>) {
    const filled: string[] = [];
    const replaced: Secret[] = [];
    const informer = {
      get: () => cached,
      fill: (secret: Secret) => {
        replaced.push(secret);
        cached = secret;
        return true;
      },
    } as unknown as Informer<Secret>;
    let reads = 0;
    const client = {
      find: () => {
        reads++;
        return read();
      },
    } as unknown as KubeClient;
    const cache = new SecretCache({
      informer,
      client,
      logger: pino({ level: 'silent' }),
      onFilled: (key) => filled.push(key),
    });
    return { cache, filled, replaced, reads: () => reads };
  }

  it('answers a cached Secret, and undefined for one that does not exist', () => {
    const whole = aSecret('named');
    assert.equal(aCache(whole, () => Promise.resolve(undefined)).cache.get('shop/named'), whole);
    assert.equal(aCache(undefined, () => Promise.resolve(undefined)).cache.get('shop/none'), undefined);
  });

  it('reads a Secret whose contents were left out, once, and says so to its readers', async () => {
    const omitted = keepSecret(() => false)(aSecret('later'));
    const { cache, filled, reads } = aCache(omitted, () => Promise.resolve(aSecret('later')));
    assert.throws(
      () => cache.get('shop/later'),
      (error: unknown) =>
        error instanceof HooklineError && error.reason === 'SecretLoading' && error.reported,
    );
    cache.fill('shop/later');
    await sleep(10);
    assert.equal(reads(), 1, 'one read for both asks');
    assert.deepEqual(filled, ['shop/later']);
    assert.equal(cache.get('shop/later')?.data?.token, 'c2VjcmV0');
  });
});
