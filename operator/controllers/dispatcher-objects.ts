// The desired children of an EventSource: the dispatcher Deployment, its ServiceAccount,
// a least-privilege Role and RoleBinding, and for http sources the ingest Service. Pure.
import type { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import {
  CONFIG_HASH_ANNOTATION,
  dispatcherLabels,
  dispatcherName,
  ingestServiceName,
  ownerReference,
} from './names.ts';
import { namespaceOf } from '../../core/names.ts';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

export interface DispatcherInputs {
  source: EventSource;
  image: string;
  /** Where the dispatcher finds the URI of the broker holding the queues. */
  brokerSecret: { name: string; key: string };
  /** Changes whenever the dispatcher's configuration or a Secret it was started with changes. */
  configHash: string;
  /** Secrets the dispatcher may read: the ones its source and its Webhooks name. */
  secretNames: readonly string[];
  /** Install values the dispatcher enforces: address ranges allowed despite the SSRF guard, plain http. */
  delivery: { allowedCidrs: readonly string[]; allowHttpUrls: boolean };
  /** Install-wide variables every dispatcher gets: the operator's OTEL_* ones (tracing). */
  env?: readonly { name: string; value: string }[];
}

export const DISPATCHER_PORT = 8080;

export function sourceType(source: EventSource): 'rabbitmq' | 'kafka' | 'http' {
  if (source.spec.kafka) return 'kafka';
  if (source.spec.http) return 'http';
  return 'rabbitmq';
}

export function ingestEndpoint(source: EventSource): string | undefined {
  if (!source.spec.http) return undefined;
  return `http://${ingestServiceName(source.metadata.name)}.${source.metadata.namespace}.svc/v1/events`;
}

export function dispatcherObjects(inputs: DispatcherInputs): Manifest[] {
  const { source } = inputs;
  const namespace = namespaceOf(source);
  const name = dispatcherName(source.metadata.name);
  const labels = dispatcherLabels(source.metadata.name);
  const metadata = (objectName: string) => ({
    name: objectName,
    namespace,
    labels,
    ownerReferences: [ownerReference(source)],
  });

  const serviceAccount: Manifest = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(name) };
  // What the dispatcher does, and no more: its informers list and watch the three kinds;
  // the status writer reads a Webhook afresh after a conflict and merge-patches its status;
  // Events are created, never patched; Secrets are read by name.
  const rules: unknown[] = [
    { apiGroups: ['hookline.dev'], resources: ['webhooks'], verbs: ['get', 'list', 'watch'] },
    {
      apiGroups: ['hookline.dev'],
      resources: ['callbackpolicies', 'eventsources'],
      verbs: ['list', 'watch'],
    },
    { apiGroups: ['hookline.dev'], resources: ['webhooks/status'], verbs: ['patch'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ];
  if (inputs.secretNames.length > 0) {
    rules.push({
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: [...inputs.secretNames].sort(),
      verbs: ['get'],
    });
  }
  const role: Manifest = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: metadata(name),
    rules,
  };
  const roleBinding: Manifest = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: metadata(name),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  };

  const { dispatcher } = source.spec;
  const deployment: Manifest = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(name),
    spec: {
      replicas: dispatcher.replicas,
      selector: {
        matchLabels: {
          'app.kubernetes.io/name': 'hookline-dispatcher',
          'app.kubernetes.io/instance': labels['app.kubernetes.io/instance'],
        },
      },
      template: {
        metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: inputs.configHash } },
        spec: {
          serviceAccountName: name,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: 'dispatcher',
              image: dispatcher.image ?? inputs.image,
              args: ['dispatcher', `--namespace=${namespace}`, `--source=${source.metadata.name}`],
              env: [
                { name: 'HOOKLINE_NAMESPACE', value: namespace },
                { name: 'HOOKLINE_SOURCE', value: source.metadata.name },
                {
                  name: 'HOOKLINE_BROKER_URI',
                  valueFrom: {
                    secretKeyRef: { name: inputs.brokerSecret.name, key: inputs.brokerSecret.key },
                  },
                },
                { name: 'HOOKLINE_PORT', value: String(DISPATCHER_PORT) },
                { name: 'HOOKLINE_ALLOWED_CIDRS', value: inputs.delivery.allowedCidrs.join(',') },
                { name: 'HOOKLINE_ALLOW_HTTP_URLS', value: String(inputs.delivery.allowHttpUrls) },
                ...(inputs.env ?? []).map(({ name, value }) => ({ name, value })),
              ],
              ports: [{ name: 'http', containerPort: DISPATCHER_PORT, protocol: 'TCP' }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
              livenessProbe: {
                httpGet: { path: '/healthz', port: 'http' },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              resources: dispatcher.resources ?? {
                requests: { cpu: '100m', memory: '128Mi' },
                limits: { memory: '512Mi' },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };

  const objects = [serviceAccount, role, roleBinding, deployment];
  if (source.spec.http) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(ingestServiceName(source.metadata.name)),
      spec: {
        selector: {
          'app.kubernetes.io/name': 'hookline-dispatcher',
          'app.kubernetes.io/instance': labels['app.kubernetes.io/instance'],
        },
        ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
      },
    });
  }
  return objects;
}
