import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventSource } from '../../../core/api/v1alpha1/eventsource.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import type { SourceBroker } from '../broker.ts';
import { brokerSecretManifests, desiredStatus, manifestPath, readinessProblem } from './plan.ts';

const NOW = new Date('2026-12-02T10:00:00Z');
const source = {
  apiVersion: 'hookline.dev/v1alpha1',
  kind: 'EventSource',
  metadata: { name: 'shop', namespace: 'tenant-a', uid: 'u-1', generation: 4 },
  spec: { http: { authSecretRef: { name: 'tokens', key: 'tokens' } }, dispatcher: { replicas: 2 } },
} as unknown as EventSource;
const raw = source as unknown as RawObject;
const broker = (ref: SourceBroker['ref']): SourceBroker => ({
  uri: 'amqp://u:p@127.0.0.1:5672',
  ref,
  label: 'x',
  dispatcherSecret: ref.kind === 'default' ? { name: 'hookline-broker-shop', key: 'uri' } : ref,
  exchange: 'e',
  exchangeType: 'topic',
  queueType: 'quorum',
});

describe('brokerSecretManifests', () => {
  it("writes the dispatcher's own URI into a Secret the source owns, and nothing for a broker it names", () => {
    const own = 'amqp://hookline~ns~shop:generated@127.0.0.1:5672';
    const [secret, ...rest] = brokerSecretManifests(source, broker({ kind: 'default' }), own);
    assert.equal(rest.length, 0);
    assert.deepEqual(secret?.metadata.name, 'hookline-broker-shop');
    // Never the operator's own credential.
    assert.deepEqual(secret?.stringData, { uri: own });
    assert.deepEqual(
      brokerSecretManifests(source, broker({ kind: 'secret', name: 'amqp', key: 'uri' }), own),
      [],
    );
  });
});

describe('manifestPath', () => {
  const cases: [string, string, string][] = [
    ['v1', 'Secret', '/api/v1/namespaces/ns/secrets/n'],
    ['apps/v1', 'Deployment', '/apis/apps/v1/namespaces/ns/deployments/n'],
    ['rbac.authorization.k8s.io/v1', 'Role', '/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/n'],
  ];
  for (const [apiVersion, kind, path] of cases)
    it(`places a ${kind}`, () =>
      assert.equal(manifestPath({ apiVersion, kind, metadata: { name: 'n', namespace: 'ns' } }), path));
  it('refuses a kind it does not make', () =>
    assert.throws(
      () => manifestPath({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'n', namespace: 'ns' } }),
      /Pod/,
    ));
});

describe('desiredStatus', () => {
  const readiness = {
    ready: true,
    replicas: 2,
    readyReplicas: 2,
    message: '2 of 2 dispatcher replicas are ready',
  };
  const notReady = {
    ready: false,
    replicas: 2,
    readyReplicas: 1,
    message: '1 of 2 dispatcher replicas are ready',
  };
  const cases = [
    {
      name: 'Ready with the dispatcher ready',
      problem: readinessProblem(readiness),
      observed: { source, readiness },
      ready: 'True/Ready',
    },
    {
      name: 'DispatcherNotReady while a replica is not ready, not retried',
      problem: readinessProblem(notReady),
      observed: { source, readiness: notReady },
      ready: 'False/DispatcherNotReady',
    },
    {
      name: 'a Secret missing',
      problem: { reason: 'SecretNotFound', message: 'spec.http.authSecretRef: gone', retry: true },
      observed: undefined,
      ready: 'False/SecretNotFound',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const status = desiredStatus(raw, c.problem, c.observed, 3, NOW);
      const [condition] = status.conditions as {
        status: string;
        reason: string;
        observedGeneration: number;
      }[];
      assert.equal(`${condition?.status}/${condition?.reason}`, c.ready);
      assert.equal(condition?.observedGeneration, 4);
      assert.equal(status.webhooks, 3);
      if (c.observed) {
        assert.equal(status.sourceType, 'http');
        assert.deepEqual(status.dispatcher, {
          replicas: c.observed.readiness.replicas,
          readyReplicas: c.observed.readiness.readyReplicas,
        });
        assert.equal(status.endpoint, 'http://hookline-ingest-shop.tenant-a.svc/v1/events');
      } else assert.equal(status.sourceType, undefined);
    });
  }
  it('says a dispatcher not ready is waited for, not retried', () => {
    assert.equal(readinessProblem(notReady)?.retry, false);
    assert.equal(readinessProblem(readiness), undefined);
  });
});
