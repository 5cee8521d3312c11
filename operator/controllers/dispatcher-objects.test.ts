import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import { dispatcherObjects, ingestEndpoint, sourceType, type Manifest } from './dispatcher-objects.ts';

function source(spec: Partial<EventSource['spec']>): EventSource {
  return {
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'EventSource',
    metadata: { name: 'shop', namespace: 'tenant-a', uid: 'u-1' },
    spec: { dispatcher: { replicas: 2 }, ...spec } as EventSource['spec'],
  };
}
const http = { http: { authSecretRef: { name: 'tokens', key: 'tokens' } } } as Partial<EventSource['spec']>;
const kafka = { kafka: { brokers: ['k:9092'], topic: 't' } } as unknown as Partial<EventSource['spec']>;

const objects = (spec: Partial<EventSource['spec']>, secretNames: string[] = ['b', 'a']) =>
  dispatcherObjects({
    source: source(spec),
    image: 'hookline:1',
    brokerSecret: { name: 'hookline-broker-shop', key: 'uri' },
    configHash: 'h1',
    secretNames,
    delivery: { allowedCidrs: ['10.0.0.0/8'], allowHttpUrls: false },
  });
interface DeploymentShape {
  spec: {
    replicas: number;
    template: {
      metadata: { annotations: Record<string, string> };
      spec: {
        serviceAccountName: string;
        securityContext: { runAsNonRoot: boolean };
        containers: {
          args: string[];
          env: { name: string; valueFrom?: unknown }[];
          securityContext: { readOnlyRootFilesystem: boolean };
        }[];
      };
    };
  };
}
const byKind = (list: Manifest[], kind: string) => list.find((m) => m.kind === kind) as unknown;

describe('dispatcherObjects', () => {
  it('makes a ServiceAccount, Role, RoleBinding and Deployment, and a Service only for an http source', () => {
    assert.deepEqual(
      objects(kafka).map((m) => m.kind),
      ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment'],
    );
    assert.deepEqual(
      objects(http).map((m) => m.kind),
      ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service'],
    );
  });

  it('lets the dispatcher read only the Secrets it names, sorted, and none when it names none', () => {
    const secretRule = (list: Manifest[]) =>
      (
        (byKind(list, 'Role') as { rules: unknown }).rules as {
          resources: string[];
          resourceNames?: string[];
        }[]
      ).find((r) => r.resources.includes('secrets'));
    assert.deepEqual(secretRule(objects(kafka))?.resourceNames, ['a', 'b']);
    assert.equal(secretRule(objects(kafka, [])), undefined);
  });

  it('grants only what the dispatcher does: read its kinds, patch Webhook status, create Events', () => {
    const role = byKind(objects(kafka), 'Role') as {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    };
    const grants = role.rules.flatMap((rule) =>
      rule.resources.flatMap((resource) =>
        rule.verbs.map((verb) => `${verb} ${rule.apiGroups[0] || 'core'}/${resource}`),
      ),
    );
    assert.deepEqual(grants.sort(), [
      'create core/events',
      'get core/secrets',
      'get hookline.dev/webhooks',
      'list hookline.dev/callbackpolicies',
      'list hookline.dev/eventsources',
      'list hookline.dev/webhooks',
      'patch hookline.dev/webhooks/status',
      'watch hookline.dev/callbackpolicies',
      'watch hookline.dev/eventsources',
      'watch hookline.dev/webhooks',
    ]);
  });

  it('owns every object by the source, in its namespace', () => {
    for (const manifest of objects(http)) {
      assert.equal(manifest.metadata.namespace, 'tenant-a');
      assert.deepEqual(
        (
          manifest.metadata as unknown as { ownerReferences: { uid: string; controller: boolean }[] }
        ).ownerReferences.map((o) => [o.uid, o.controller]),
        [['u-1', true]],
      );
    }
  });

  it('runs the Deployment with the broker URI from the Secret, the config hash and a locked-down container', () => {
    const deployment = byKind(objects(kafka), 'Deployment') as DeploymentShape;
    const template = deployment.spec.template;
    const container = template.spec.containers[0]!;
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(template.metadata.annotations['hookline.dev/config-hash'], 'h1');
    assert.deepEqual(container.env.find((e) => e.name === 'HOOKLINE_BROKER_URI')?.valueFrom, {
      secretKeyRef: { name: 'hookline-broker-shop', key: 'uri' },
    });
    assert.deepEqual(container.args, ['dispatcher', '--namespace=tenant-a', '--source=shop']);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(template.spec.securityContext.runAsNonRoot, true);
    assert.equal(template.spec.serviceAccountName, 'hookline-dispatcher-shop');
  });
});

describe('dispatcherObjects, tracing', () => {
  it("gives every dispatcher the install's OTEL_* variables after its own", () => {
    const env = [
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://collector:4318' },
      { name: 'OTEL_SERVICE_NAME', value: 'hookline-dispatcher' },
    ];
    const deployment = byKind(
      dispatcherObjects({
        source: source(kafka),
        image: 'hookline:1',
        brokerSecret: { name: 'hookline-broker-shop', key: 'uri' },
        configHash: 'h1',
        secretNames: [],
        delivery: { allowedCidrs: [], allowHttpUrls: false },
        env,
      }),
      'Deployment',
    ) as DeploymentShape;
    const names = deployment.spec.template.spec.containers[0]!.env.map((e) => e.name);
    assert.deepEqual(names.slice(-2), ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME']);
    assert.ok(names.indexOf('HOOKLINE_NAMESPACE') < names.indexOf('OTEL_SERVICE_NAME'));
    // None without them.
    const plain = byKind(objects(kafka), 'Deployment') as DeploymentShape;
    assert.ok(plain.spec.template.spec.containers[0]!.env.every((e) => !e.name.startsWith('OTEL_')));
  });
});

describe('sourceType and ingestEndpoint', () => {
  it('name the kind of source and the endpoint of an http one', () => {
    assert.equal(sourceType(source(kafka)), 'kafka');
    assert.equal(sourceType(source(http)), 'http');
    assert.equal(sourceType(source({ rabbitmq: {} } as Partial<EventSource['spec']>)), 'rabbitmq');
    assert.equal(ingestEndpoint(source(http)), 'http://hookline-ingest-shop.tenant-a.svc/v1/events');
    assert.equal(ingestEndpoint(source(kafka)), undefined);
  });
});
