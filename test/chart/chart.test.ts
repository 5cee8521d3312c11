// The Helm chart (charts/hookline): helm lint, renderings that the operator's own settings
// loader accepts, the values schema, CRDs in step with crds/, server-side dry runs on the
// real kube-apiserver, and the operator run under the chart's ServiceAccount and RBAC.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { addressPolicy } from '../../dispatcher/deliver/address-policy.ts';
import { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import { dispatcherObjects } from '../../operator/controllers/dispatcher-objects.ts';
import { dispatcherLabels } from '../../operator/controllers/names.ts';
import { loadSettings } from '../../operator/settings.ts';
import { freshNamespace, helm, kubectl, managementUriWithCredentials, testEnv } from '../env/handles.ts';
import {
  apply,
  secretManifest,
  testClient,
  waitForReady,
  waitForSourceInPlace,
} from '../fixtures/cluster.ts';
import { freePort } from '../fixtures/binary.ts';
import {
  renderChart,
  resolvedEnv,
  serviceAccountKubeconfig,
  valuesFile as writeValuesFile,
  type EnvVar,
  type K8sObject,
  type Rendering,
} from '../fixtures/chart.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startProcess, type RunningProcess } from '../fixtures/process.ts';
import { eventually } from '../fixtures/wait.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const chart = path.join(repo, 'charts', 'hookline');
const appVersion = (parse(fs.readFileSync(path.join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string })
  .appVersion;

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  securityContext: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string; items: { key: string; path: string }[] } }[];
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
}

interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: PodSpec;
    };
  };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-chart-'));
const valuesFile = (values: Record<string, unknown>) => writeValuesFile(tmp, values);
const render = (
  values: Record<string, unknown> = {},
  options: { release?: string; namespace?: string } = {},
) => renderChart(tmp, values, options);

function only<T extends K8sObject = K8sObject>(rendering: Rendering, kind: string, name?: string): T {
  const found = rendering.objects.filter(
    (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as T;
}

function kinds(rendering: Rendering): string[] {
  return rendering.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

function operatorContainer(rendering: Rendering): Container {
  const deployment = only<Deployment>(rendering, 'Deployment');
  const container = deployment.spec.template.spec.containers.find((c) => c.name === 'operator');
  assert.ok(container, 'the Deployment has no operator container');
  return container;
}

/** True when some rule grants `verb` on `group`/`resource` (for `name`, when it names one). */
function grants(
  rules: readonly Rule[],
  group: string,
  resource: string,
  verb: string,
  name?: string,
): boolean {
  return rules.some(
    (rule) =>
      (rule.apiGroups.includes(group) || rule.apiGroups.includes('*')) &&
      (rule.resources.includes(resource) || rule.resources.includes('*')) &&
      (rule.verbs.includes(verb) || rule.verbs.includes('*')) &&
      (!rule.resourceNames || (name !== undefined && rule.resourceNames.includes(name))),
  );
}

/** The rules of the Role the operator writes for a dispatcher of each kind of source. */
function dispatcherRoleRules(): Rule[] {
  const specs = [
    { rabbitmq: { connectionSecretRef: { name: 'broker', key: 'uri' }, exchange: 'events' } },
    { kafka: { brokers: ['kafka:9092'], topic: 'TRANSACTION' } },
    { http: { authSecretRef: { name: 'ingest', key: 'tokens' } } },
  ];
  return specs.flatMap((spec) => {
    const source = EventSource.parse({
      apiVersion: 'hookline.dev/v1alpha1',
      kind: 'EventSource',
      metadata: { name: 'source', namespace: 'team', uid: 'uid-1' },
      spec,
    });
    const objects = dispatcherObjects({
      source,
      image: 'hookline:test',
      brokerSecret: { name: 'broker', key: 'uri' },
      configHash: 'hash',
      secretNames: ['broker', 'signing'],
      delivery: { allowedCidrs: [], allowHttpUrls: false },
    });
    const role = objects.find((o) => o.kind === 'Role');
    assert.ok(role, 'dispatcherObjects wrote no Role');
    return role.rules as Rule[];
  });
}

/** Fails unless `rules` grant every permission `required` grants. */
function assertCovers(rules: readonly Rule[], required: readonly Rule[], what: string): void {
  for (const rule of required)
    for (const group of rule.apiGroups)
      for (const resource of rule.resources)
        for (const verb of rule.verbs)
          for (const name of rule.resourceNames ?? [undefined])
            assert.ok(
              grants(rules, group, resource, verb, name),
              `the dispatcher Role grants ${verb} ${group}/${resource}${name ? ` ${name}` : ''}; ${what} does not`,
            );
}

/** Every HOOKLINE_* variable the operator reads, from its settings module. */
const operatorVariables = new Set(
  fs.readFileSync(path.join(repo, 'operator', 'settings.ts'), 'utf8').match(/HOOKLINE_[A-Z_]+/g) ?? [],
);

describe('the Helm chart', () => {
  it('passes helm lint, also with --strict, with no warnings', async () => {
    const variants = [
      {},
      {
        watchNamespace: 'team-a',
        broker: { existingSecret: 'rabbitmq', key: 'uri' },
        allowedCidrs: ['10.0.0.0/8'],
        metrics: { serviceMonitor: { enabled: true }, dispatcherPodMonitor: { enabled: true } },
      },
    ];
    for (const values of variants) {
      for (const strict of [[], ['--strict']]) {
        const { stdout } = await helm(['lint', chart, ...strict, '-f', valuesFile(values)]);
        assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        assert.doesNotMatch(stdout, /\[(WARNING|ERROR)\]/, stdout);
      }
    }
  });

  it('ships CRDs byte-identical to crds/', () => {
    const generated = fs.readdirSync(path.join(repo, 'crds')).sort();
    const shipped = fs.readdirSync(path.join(chart, 'crds')).sort();
    assert.deepEqual(shipped, generated, 'charts/hookline/crds/ and crds/ hold different files');
    for (const file of generated) {
      assert.ok(
        fs
          .readFileSync(path.join(chart, 'crds', file))
          .equals(fs.readFileSync(path.join(repo, 'crds', file))),
        `charts/hookline/crds/${file} drifted from crds/${file}: cp crds/*.yaml charts/hookline/crds/`,
      );
    }
  });

  describe('with default values', () => {
    let rendering: Rendering;
    before(async () => {
      rendering = await render();
    });

    it('renders the operator, its RBAC, metrics Service and PodDisruptionBudget', () => {
      assert.deepEqual(kinds(rendering), [
        'ClusterRole/rel-hookline',
        'ClusterRole/rel-hookline-edit',
        'ClusterRole/rel-hookline-view',
        'ClusterRoleBinding/rel-hookline',
        'Deployment/rel-hookline',
        'PodDisruptionBudget/rel-hookline',
        'Role/rel-hookline-leader-election',
        'RoleBinding/rel-hookline-leader-election',
        'Service/rel-hookline-metrics',
        'ServiceAccount/rel-hookline',
      ]);
      for (const object of rendering.objects.filter((o) => !o.kind.startsWith('Cluster'))) {
        assert.equal(object.metadata.namespace, 'hookline-system', `${object.kind} ${object.metadata.name}`);
      }
    });

    it('runs two replicas of the operator with leader election, from the appVersion image', () => {
      const deployment = only<Deployment>(rendering, 'Deployment');
      const container = operatorContainer(rendering);
      assert.equal(deployment.spec.replicas, 2);
      assert.equal(container.image, `hookline:${appVersion}`);
      assert.deepEqual(container.args, ['operator']);
      assert.equal(deployment.spec.template.spec.serviceAccountName, 'rel-hookline');
      for (const [key, value] of Object.entries(deployment.spec.selector.matchLabels))
        assert.equal(
          deployment.spec.template.metadata.labels[key],
          value,
          `the selector misses the pods (${key})`,
        );
    });

    it('sets only variables the operator reads, and values its settings loader accepts', () => {
      const container = operatorContainer(rendering);
      for (const { name } of container.env) {
        assert.ok(operatorVariables.has(name), `${name} is not read by operator/settings.ts`);
      }
      const env = resolvedEnv(container, { namespace: 'hookline-system', name: 'rel-hookline-abc' });
      const settings = loadSettings([], env, 'unused-hostname');
      assert.equal(settings.namespace, 'hookline-system');
      assert.equal(settings.identity, 'rel-hookline-abc');
      assert.equal(settings.watchNamespace, undefined);
      assert.equal(settings.leaderElection, true);
      assert.equal(settings.dispatcherImage, container.image, 'dispatchers must run the operator image');
      assert.equal(settings.defaultBrokerUri, undefined);
      assert.equal(settings.allowHttpUrls, false);
      assert.deepEqual(settings.allowedCidrs, []);
      assert.equal(settings.logLevel, 'info');
      assert.equal(settings.leaseDuration, 15_000);
      assert.equal(settings.resyncPeriod, 300_000);
      const port = (name: string) => container.ports.find((p) => p.name === name)?.containerPort;
      assert.equal(port('metrics'), settings.metricsPort);
      assert.equal(port('probes'), settings.probesPort);
      const leaseRole = only<
        K8sObject & {
          rules: Rule[];
        }
      >(rendering, 'Role', 'rel-hookline-leader-election');
      for (const verb of ['get', 'update'])
        assert.ok(grants(leaseRole.rules, 'coordination.k8s.io', 'leases', verb, settings.leaseName), verb);
      assert.ok(grants(leaseRole.rules, 'coordination.k8s.io', 'leases', 'create'));
    });

    it('probes /healthz and /readyz on the probes port, and runs locked down', () => {
      const deployment = only<Deployment>(rendering, 'Deployment');
      const container = operatorContainer(rendering);
      assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'probes' });
      assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'probes' });
      const pod = deployment.spec.template.spec.securityContext;
      assert.equal(pod.runAsNonRoot, true);
      assert.equal(pod.runAsUser, 65532);
      assert.deepEqual(pod.seccompProfile, { type: 'RuntimeDefault' });
      assert.deepEqual(container.securityContext, {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
    });

    it('selects the operator pods from the metrics Service and the PodDisruptionBudget', () => {
      const podLabels = only<Deployment>(rendering, 'Deployment').spec.template.metadata.labels;
      const service = only<
        K8sObject & {
          spec: { selector: Record<string, string>; ports: { targetPort: string }[] };
        }
      >(rendering, 'Service');
      const pdb = only<
        K8sObject & {
          spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
        }
      >(rendering, 'PodDisruptionBudget');
      for (const selector of [service.spec.selector, pdb.spec.selector.matchLabels]) {
        for (const [key, value] of Object.entries(selector)) assert.equal(podLabels[key], value, key);
      }
      assert.equal(service.spec.ports[0]?.targetPort, 'metrics');
      assert.equal(pdb.spec.minAvailable, 1);
    });

    it('binds the ClusterRole to the operator ServiceAccount, with every permission of the dispatcher Role', () => {
      const role = only<K8sObject & { rules: Rule[] }>(rendering, 'ClusterRole', 'rel-hookline');
      const binding = only<
        K8sObject & {
          roleRef: { kind: string; name: string };
          subjects: { kind: string; name: string; namespace: string }[];
        }
      >(rendering, 'ClusterRoleBinding');
      assert.deepEqual(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'rel-hookline',
      });
      assert.deepEqual(binding.subjects, [
        { kind: 'ServiceAccount', name: 'rel-hookline', namespace: 'hookline-system' },
      ]);
      // RBAC escalation prevention: the operator may only write a Role granting what it holds.
      assertCovers(role.rules, dispatcherRoleRules(), "the operator's ClusterRole");
      // And no more than it needs where it matters most.
      assert.ok(!grants(role.rules, 'hookline.dev', 'webhooks', 'update'), 'the operator never writes spec');
      assert.ok(!grants(role.rules, 'rbac.authorization.k8s.io', 'roles', 'escalate'));
      assert.ok(!grants(role.rules, 'rbac.authorization.k8s.io', 'roles', 'bind'));
      assert.ok(!rendering.objects.some((o) => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor'));
    });
  });

  it('renders a namespace-scoped install when watchNamespace is set', async () => {
    const rendering = await render({
      watchNamespace: 'team-a',
      metrics: { dispatcherPodMonitor: { enabled: true } },
    });
    assert.ok(!rendering.objects.some((o) => o.kind === 'ClusterRoleBinding'), 'no cluster-wide binding');
    assert.ok(!rendering.objects.some((o) => o.kind === 'ClusterRole' && o.metadata.name === 'rel-hookline'));
    const role = only<K8sObject & { rules: Rule[] }>(rendering, 'Role', 'rel-hookline');
    const binding = only<
      K8sObject & {
        subjects: { name: string; namespace: string }[];
      }
    >(rendering, 'RoleBinding', 'rel-hookline');
    assert.equal(role.metadata.namespace, 'team-a');
    assert.equal(binding.metadata.namespace, 'team-a');
    assert.deepEqual(binding.subjects[0], {
      kind: 'ServiceAccount',
      name: 'rel-hookline',
      namespace: 'hookline-system',
    });
    assertCovers(role.rules, dispatcherRoleRules(), "the operator's Role");
    // The Lease stays in the release namespace.
    assert.equal(
      only(rendering, 'Role', 'rel-hookline-leader-election').metadata.namespace,
      'hookline-system',
    );
    const env = resolvedEnv(operatorContainer(rendering), { namespace: 'hookline-system', name: 'pod' });
    assert.equal(loadSettings([], env, 'host').watchNamespace, 'team-a');
    const podMonitor = only<
      K8sObject & {
        spec: { namespaceSelector: { matchNames?: string[]; any?: boolean } };
      }
    >(rendering, 'PodMonitor');
    assert.deepEqual(podMonitor.spec.namespaceSelector, { matchNames: ['team-a'] });
  });

  it('renders a ServiceMonitor for the operator and a PodMonitor for the dispatchers when enabled', async () => {
    const rendering = await render({
      metrics: {
        serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prometheus' } },
        dispatcherPodMonitor: { enabled: true },
      },
    });
    const service = only(rendering, 'Service');
    const serviceMonitor = only<
      K8sObject & {
        spec: {
          namespaceSelector: { matchNames: string[] };
          selector: { matchLabels: Record<string, string> };
          endpoints: { port: string; path: string; interval: string }[];
        };
      }
    >(rendering, 'ServiceMonitor');
    assert.equal(serviceMonitor.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(serviceMonitor.metadata.labels?.release, 'prometheus');
    assert.deepEqual(serviceMonitor.spec.namespaceSelector.matchNames, ['hookline-system']);
    for (const [key, value] of Object.entries(serviceMonitor.spec.selector.matchLabels))
      assert.equal(
        service.metadata.labels?.[key],
        value,
        `the ServiceMonitor does not select the Service (${key})`,
      );
    assert.deepEqual(serviceMonitor.spec.endpoints, [
      { port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '10s' },
    ]);

    // The PodMonitor must select what the operator writes for dispatchers, on their port.
    const podMonitor = only<
      K8sObject & {
        spec: {
          namespaceSelector: { any?: boolean };
          selector: { matchLabels: Record<string, string> };
          podMetricsEndpoints: { port: string; path: string }[];
        };
      }
    >(rendering, 'PodMonitor');
    const dispatcher = dispatcherObjects({
      source: EventSource.parse({
        apiVersion: 'hookline.dev/v1alpha1',
        kind: 'EventSource',
        metadata: { name: 'orders', namespace: 'shop', uid: 'u' },
        spec: { rabbitmq: { connectionSecretRef: { name: 'broker', key: 'uri' }, exchange: 'orders' } },
      }),
      image: 'hookline:test',
      brokerSecret: { name: 'broker', key: 'uri' },
      configHash: 'h',
      secretNames: [],
      delivery: { allowedCidrs: [], allowHttpUrls: false },
    }).find((o) => o.kind === 'Deployment') as unknown as Deployment;
    const dispatcherPod = dispatcher.spec.template;
    assert.deepEqual(dispatcherPod.metadata.labels, dispatcherLabels('orders'));
    for (const [key, value] of Object.entries(podMonitor.spec.selector.matchLabels))
      assert.equal(
        dispatcherPod.metadata.labels[key],
        value,
        `the PodMonitor does not select dispatcher pods (${key})`,
      );
    const portName = podMonitor.spec.podMetricsEndpoints[0]?.port;
    assert.ok(
      dispatcherPod.spec.containers[0]?.ports.some((p) => p.name === portName),
      `no dispatcher port ${portName}`,
    );
    assert.equal(podMonitor.spec.podMetricsEndpoints[0]?.path, '/metrics');
    assert.equal(podMonitor.spec.namespaceSelector.any, true);
  });

  it('mounts the default broker Secret as a file, never as a variable', async () => {
    const rendering = await render({ broker: { existingSecret: 'rabbitmq', key: 'amqp-uri' } });
    const deployment = only<Deployment>(rendering, 'Deployment');
    const container = operatorContainer(rendering);
    const file = container.env.find((v) => v.name === 'HOOKLINE_DEFAULT_BROKER_URI_FILE')?.value;
    assert.ok(file, 'HOOKLINE_DEFAULT_BROKER_URI_FILE is not set');
    assert.ok(!container.env.some((v) => v.name === 'HOOKLINE_DEFAULT_BROKER_URI'));
    const volume = deployment.spec.template.spec.volumes?.find((v) => v.secret?.secretName === 'rabbitmq');
    assert.ok(volume, 'no volume from Secret rabbitmq');
    const mount = container.volumeMounts?.find((m) => m.name === volume.name);
    assert.ok(mount, 'the broker volume is not mounted');
    const item = volume.secret?.items.find((i) => i.key === 'amqp-uri');
    assert.equal(`${mount.mountPath}/${item?.path}`, file);

    // What the operator reads from that file.
    const uriFile = path.join(tmp, 'broker-uri');
    fs.writeFileSync(uriFile, 'amqps://hookline:secret@rabbitmq.example:5671/\n');
    const env = {
      ...resolvedEnv(container, { namespace: 'ns', name: 'pod' }),
      HOOKLINE_DEFAULT_BROKER_URI_FILE: uriFile,
    };
    assert.equal(
      loadSettings([], env, 'host').defaultBrokerUri,
      'amqps://hookline:secret@rabbitmq.example:5671/',
    );
  });

  it("mounts the broker's management API URL from the same Secret when a key is named", async () => {
    assert.ok(
      !operatorContainer(await render({ broker: { existingSecret: 'rabbitmq', key: 'uri' } })).env.some(
        (v) => v.name === 'HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI_FILE',
      ),
    );
    const rendering = await render({
      broker: { existingSecret: 'rabbitmq', key: 'uri', managementKey: 'management' },
    });
    const deployment = only<Deployment>(rendering, 'Deployment');
    const container = operatorContainer(rendering);
    const file = container.env.find((v) => v.name === 'HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI_FILE')?.value;
    const volume = deployment.spec.template.spec.volumes?.find((v) => v.secret?.secretName === 'rabbitmq');
    const mount = container.volumeMounts?.find((m) => m.name === volume?.name);
    const item = volume?.secret?.items.find((i) => i.key === 'management');
    assert.ok(file && mount && item, 'the management URL is not mounted as a file');
    assert.equal(`${mount.mountPath}/${item.path}`, file);
    const managementFile = path.join(tmp, 'management-uri');
    fs.writeFileSync(managementFile, 'https://admin:secret@rabbitmq.example:15671/\n');
    const uriFile = path.join(tmp, 'broker-uri-with-management');
    fs.writeFileSync(uriFile, 'amqps://hookline:secret@rabbitmq.example:5671/\n');
    const env = {
      ...resolvedEnv(container, { namespace: 'ns', name: 'pod' }),
      HOOKLINE_DEFAULT_BROKER_URI_FILE: uriFile,
      HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI_FILE: managementFile,
    };
    assert.equal(
      loadSettings([], env, 'host').defaultBrokerManagementUri,
      'https://admin:secret@rabbitmq.example:15671/',
    );
  });

  it('hands allowedCidrs and allowHttpUrls to the operator in a form the SSRF guard accepts', async () => {
    const rendering = await render({ allowedCidrs: ['10.20.0.0/16', 'fd00:1::/64'], allowHttpUrls: true });
    const settings = loadSettings(
      [],
      resolvedEnv(operatorContainer(rendering), { namespace: 'ns', name: 'p' }),
      'h',
    );
    assert.deepEqual(settings.allowedCidrs, ['10.20.0.0/16', 'fd00:1::/64']);
    assert.equal(settings.allowHttpUrls, true);
    const guard = addressPolicy(settings.allowedCidrs);
    assert.equal(guard.refusal('10.20.3.4'), undefined);
    assert.equal(guard.refusal('fd00:1::5'), undefined);
    assert.match(guard.refusal('10.21.0.1') ?? '', /private/);
  });

  it('follows the values for image, pods, resources and the PodDisruptionBudget', async () => {
    const rendering = await render({
      replicaCount: 1,
      image: { repository: 'registry.example/hookline', tag: '0.1.0-rc1', pullPolicy: 'Always' },
      dispatcher: { image: 'registry.example/hookline-dispatcher:7', kafkaClient: 'kafkajs' },
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'hookline', effect: 'NoSchedule' }],
      podAnnotations: { 'example.com/team': 'platform' },
      logLevel: 'debug',
    });
    const deployment = only<Deployment>(rendering, 'Deployment');
    const container = operatorContainer(rendering);
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(container.image, 'registry.example/hookline:0.1.0-rc1');
    assert.deepEqual(deployment.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.equal(deployment.spec.template.spec.tolerations?.length, 1);
    assert.equal(deployment.spec.template.metadata.annotations?.['example.com/team'], 'platform');
    const settings = loadSettings([], resolvedEnv(container, { namespace: 'ns', name: 'p' }), 'h');
    assert.equal(settings.dispatcherImage, 'registry.example/hookline-dispatcher:7');
    assert.deepEqual(settings.dispatcherEnv, [{ name: 'HOOKLINE_KAFKA_CLIENT', value: 'kafkajs' }]);
    assert.equal(settings.logLevel, 'debug');
    assert.ok(
      !rendering.objects.some((o) => o.kind === 'PodDisruptionBudget'),
      'a PDB of minAvailable 1 would block every drain of a single replica',
    );
  });

  it('refuses several replicas without leader election', async () => {
    await assert.rejects(
      render({ replicaCount: 3, leaderElection: { enabled: false } }),
      /needs leaderElection\.enabled/,
    );
    const single = await render({ replicaCount: 1, leaderElection: { enabled: false } });
    assert.ok(
      !single.objects.some((o) => o.metadata.name.endsWith('-leader-election')),
      'no Lease RBAC without election',
    );
  });

  const refused: { values: Record<string, unknown>; where: RegExp }[] = [
    { values: { replicaCount: 'two' }, where: /\/replicaCount': got string, want integer/ },
    { values: { replicas: 2 }, where: /additional properties 'replicas' not allowed/ },
    { values: { allowedCidrs: ['10.0.0.0'] }, where: /\/allowedCidrs\/0/ },
    { values: { allowHttpUrls: 'true' }, where: /\/allowHttpUrls': got string, want boolean/ },
    { values: { logLevel: 'verbose' }, where: /\/logLevel/ },
    { values: { dispatcher: { kafkaClient: 'rdkafka' } }, where: /\/dispatcher\/kafkaClient/ },
    { values: { image: { pullPolicy: 'Sometimes' } }, where: /\/image\/pullPolicy/ },
    { values: { resyncPeriod: '5 minutes' }, where: /\/resyncPeriod/ },
    { values: { watchNamespace: 'Team_A' }, where: /\/watchNamespace/ },
    {
      values: { metrics: { serviceMonitor: { enabled: 'true' } } },
      where: /\/metrics\/serviceMonitor\/enabled/,
    },
    {
      values: { broker: { existingSecret: 'rabbit', uri: 'amqp://x' } },
      where: /additional properties 'uri' not allowed/,
    },
  ];
  for (const { values, where } of refused) {
    it(`refuses ${JSON.stringify(values)} by its values schema`, async () => {
      await assert.rejects(render(values), (error: Error) => {
        assert.match(error.message, /values don't meet the specifications of the schema/);
        assert.match(error.message, where);
        return true;
      });
    });
  }
});

async function dryRun(rendering: Rendering): Promise<string> {
  const { stdout } = await kubectl(
    ['apply', '--server-side', '--dry-run=server', '-f', '-'],
    rendering.objects.map((o) => stringify(o)).join('---\n'),
  );
  return stdout;
}

/** Whether the API server would let `user` do this (a SubjectAccessReview). */
async function allowed(
  serviceAccount: { namespace: string; name: string },
  attributes: { verb: string; group?: string; resource: string; namespace?: string; name?: string },
): Promise<boolean> {
  const review = await testClient().create<{ status: { allowed: boolean } }>(
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`,
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${serviceAccount.namespace}`,
          'system:authenticated',
        ],
        resourceAttributes: { group: '', ...attributes },
      },
    },
  );
  return review.status.allowed;
}

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

describe('the Helm chart on the real kube-apiserver', () => {
  const releases: { name: string; namespace: string }[] = [];
  const operators: RunningProcess[] = [];

  before(async () => {
    await installCrds();
  });

  after(async () => {
    for (const operator of operators) await operator.kill();
    // Cluster-scoped objects (ClusterRoles, bindings) outlive the test namespaces otherwise.
    for (const { name, namespace } of releases) await helm(['uninstall', name, '--namespace', namespace]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('accepts the default rendering in a server-side dry run', async () => {
    const namespace = await freshNamespace('chart-dry');
    const rendering = await render({}, { release: namespace, namespace });
    const stdout = await dryRun(rendering);
    for (const object of rendering.objects) {
      const kind = object.kind.toLowerCase();
      assert.match(
        stdout,
        new RegExp(`${kind}[.a-z0-9]*/${object.metadata.name} serverside-applied \\(server dry run\\)`),
      );
    }
  });

  it('accepts a namespace-scoped rendering with every option set in a server-side dry run', async () => {
    const namespace = await freshNamespace('chart-dry-ns');
    const watched = await freshNamespace('chart-dry-watched');
    const rendering = await render(
      {
        watchNamespace: watched,
        broker: { existingSecret: 'rabbitmq', key: 'uri' },
        allowedCidrs: ['10.0.0.0/8', 'fd00::/8'],
        allowHttpUrls: true,
        imagePullSecrets: ['registry'],
        serviceAccount: { annotations: { 'example.com/role': 'hookline' } },
        podAnnotations: { 'example.com/scrape': 'true' },
        podLabels: { team: 'platform' },
        priorityClassName: 'system-cluster-critical',
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
        affinity: {
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 100,
                podAffinityTerm: {
                  topologyKey: 'kubernetes.io/hostname',
                  labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'hookline' } },
                },
              },
            ],
          },
        },
        metrics: {
          service: { annotations: { 'example.com/team': 'platform' } },
          serviceMonitor: { enabled: true },
          dispatcherPodMonitor: { enabled: true },
        },
      },
      { release: namespace, namespace },
    );
    // The prometheus-operator kinds have no CRD on the test API server; their shape is
    // checked in the rendering tests above.
    const served = {
      ...rendering,
      objects: rendering.objects.filter((o) => o.apiVersion !== 'monitoring.coreos.com/v1'),
    };
    assert.equal(served.objects.length, rendering.objects.length - 2);
    const stdout = await dryRun(served);
    assert.match(
      stdout,
      new RegExp(`role.rbac.authorization.k8s.io/${namespace}-hookline serverside-applied`),
    );
    for (const object of served.objects)
      assert.match(stdout, new RegExp(`/${object.metadata.name} serverside-applied \\(server dry run\\)`));
  });

  for (const scope of ['cluster', 'namespace'] as const) {
    it(`lets the operator do its work under the chart's ${scope}-scoped RBAC, and no more`, async () => {
      const releaseNamespace = await freshNamespace(`chart-${scope}`);
      const watched = await freshNamespace(`chart-${scope}-work`);
      const other = await freshNamespace(`chart-${scope}-other`);
      const release = releaseNamespace;
      const [metricsPort, probesPort] = [await freePort(), await freePort()];
      const amqpUrl = testEnv().rabbitmq.amqpUrl;
      const managementUri = managementUriWithCredentials();
      await kubectl(
        ['apply', '-n', releaseNamespace, '-f', '-'],
        secretManifest('rabbitmq', { uri: amqpUrl, management: managementUri }),
      );
      const values = {
        ...(scope === 'namespace' ? { watchNamespace: watched } : {}),
        broker: { existingSecret: 'rabbitmq', key: 'uri', managementKey: 'management' },
        metrics: { port: metricsPort },
        probes: { port: probesPort },
        leaderElection: { enabled: true, leaseDuration: '4s', renewDeadline: '3s', retryPeriod: '500ms' },
      };
      await helm([
        'install',
        release,
        chart,
        '--namespace',
        releaseNamespace,
        '--skip-crds',
        '-f',
        valuesFile(values),
      ]);
      releases.push({ name: release, namespace: releaseNamespace });
      const installed = await render(values, { release, namespace: releaseNamespace });
      const container = operatorContainer(installed);
      const serviceAccount = { namespace: releaseNamespace, name: `${release}-hookline` };

      // The operator process as the Deployment would run it, with the ServiceAccount's token
      // and the broker Secret's file. A cluster-scoped install is pointed at its work
      // namespace (HOOKLINE_WATCH_NAMESPACE) only so that it leaves the other tests sharing
      // this API server alone; its rights are the ClusterRole's all the same, and the
      // cluster-wide lists and watches are checked by access reviews below.
      const uriFile = path.join(tmp, `uri-${release}`);
      fs.writeFileSync(uriFile, amqpUrl);
      const managementFile = path.join(tmp, `management-uri-${release}`);
      fs.writeFileSync(managementFile, managementUri);
      const identity = `${release}-hookline-7d9f-x2`;
      const env = {
        ...resolvedEnv(container, { namespace: releaseNamespace, name: identity }),
        HOOKLINE_DEFAULT_BROKER_URI_FILE: uriFile,
        HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI_FILE: managementFile,
        HOOKLINE_WATCH_NAMESPACE: watched,
      };
      const operator = startProcess(
        `operator-${scope}`,
        [path.join(repo, 'hookline.ts'), ...(container.args ?? [])],
        {
          PATH: process.env.PATH,
          KUBECONFIG: await serviceAccountKubeconfig(tmp, serviceAccount.namespace, serviceAccount.name),
          ...env,
        },
      );
      operators.push(operator);
      await operator.waitForLog('Controllers started', (line) => line.msg === 'Controllers started');

      await apply(
        watched,
        `${secretManifest('broker', { uri: amqpUrl })}
---
${secretManifest('ingest-tokens', { tokens: 'a-token' })}
---
apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: orders}
spec:
  rabbitmq: {connectionSecretRef: {name: broker, key: uri}, exchange: chart-${release}, declare: true}
---
apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: ingest}
spec:
  http: {authSecretRef: {name: ingest-tokens, key: tokens}}
  eventType: {template: '{/type}'}
---
apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: default}
spec: {}
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: receiver}
spec:
  sourceRef: {name: orders}
  url: https://receiver.example.com/hooks
  events: ['order.*']
  signing: {scheme: standard-webhooks, generate: true}
`,
      );
      await waitForSourceInPlace(watched, 'orders');
      await waitForSourceInPlace(watched, 'ingest'); // on the default broker, from the file
      await waitForReady(watched, 'callbackpolicies', 'default', 'True');
      await waitForReady(watched, 'webhooks', 'receiver', 'True');

      // Written by the operator: a dispatcher's Role and RoleBinding pass RBAC escalation
      // prevention only with the dispatcher's permissions in the operator's own role.
      const { stdout: children } = await kubectl([
        'get',
        'deploy,sa,role,rolebinding,service,secret',
        '-n',
        watched,
        '-o',
        'name',
      ]);
      for (const child of [
        'deployment.apps/hookline-dispatcher-orders',
        'role.rbac.authorization.k8s.io/hookline-dispatcher-orders',
        'rolebinding.rbac.authorization.k8s.io/hookline-dispatcher-orders',
        'serviceaccount/hookline-dispatcher-ingest',
        'service/hookline-ingest-ingest',
        'secret/hookline-broker-ingest',
        'secret/receiver-signing',
      ])
        assert.ok(children.split('\n').includes(child), `${child} was not created:\n${children}`);

      // Probes and metrics where the chart's Deployment looks for them.
      const lease = await testClient().get<{ spec: { holderIdentity: string } }>(
        `/apis/coordination.k8s.io/v1/namespaces/${releaseNamespace}/leases/${release}-hookline`,
      );
      assert.equal(lease.spec.holderIdentity, identity);
      assert.equal(
        (await httpGet(`http://127.0.0.1:${probesPort}${container.livenessProbe.httpGet.path}`)).status,
        200,
      );
      assert.deepEqual(
        await httpGet(`http://127.0.0.1:${probesPort}${container.readinessProbe.httpGet.path}`),
        {
          status: 200,
          body: 'leading',
        },
      );
      assert.match((await httpGet(`http://127.0.0.1:${metricsPort}/metrics`)).body, /^hookline_leader 1$/m);

      // Deletion: finalizers run and are removed.
      await kubectl([
        'delete',
        '-n',
        watched,
        'webhook/receiver',
        'eventsource/orders',
        'eventsource/ingest',
        '--wait=false',
      ]);
      await eventually(
        'the Webhook and EventSources to be gone',
        async () => {
          const { stdout } = await kubectl(['get', 'webhooks,eventsources', '-n', watched, '-o', 'name']);
          return stdout.trim() === '';
        },
        { timeoutMs: 30_000 },
      );
      const refused = operator.logs.filter((line) => /\b403\b|forbidden/i.test(JSON.stringify(line)));
      assert.deepEqual(refused, [], 'the API server refused the operator something');
      assert.equal(await operator.stop(), 0);

      // What the operator may and may not do beyond the namespace it was pointed at.
      const clusterWide = scope === 'cluster';
      for (const [group, resource] of [
        ['hookline.dev', 'webhooks'],
        ['hookline.dev', 'eventsources'],
        ['hookline.dev', 'callbackpolicies'],
        ['', 'secrets'],
        ['apps', 'deployments'],
      ] as const) {
        for (const verb of ['list', 'watch']) {
          assert.equal(
            await allowed(serviceAccount, { verb, group, resource }),
            clusterWide,
            `${verb} ${resource} in all namespaces`,
          );
          assert.equal(
            await allowed(serviceAccount, { verb, group, resource, namespace: other }),
            clusterWide,
            `${verb} ${resource} in ${other}`,
          );
          assert.equal(
            await allowed(serviceAccount, { verb, group, resource, namespace: watched }),
            true,
            `${verb} ${resource} in ${watched}`,
          );
        }
      }
      const never: { verb: string; group?: string; resource: string; namespace?: string; name?: string }[] = [
        { verb: 'update', group: 'hookline.dev', resource: 'webhooks', namespace: watched },
        { verb: 'delete', group: 'hookline.dev', resource: 'webhooks', namespace: watched },
        { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
        { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: watched },
        { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: watched },
        { verb: 'impersonate', resource: 'users' },
        { verb: 'create', resource: 'pods', namespace: watched },
        { verb: 'list', resource: 'configmaps', namespace: watched },
        { verb: 'get', resource: 'nodes' },
        { verb: 'update', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
        { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: watched },
        {
          verb: 'update',
          group: 'coordination.k8s.io',
          resource: 'leases',
          namespace: releaseNamespace,
          name: 'another-lease',
        },
      ];
      for (const attributes of never)
        assert.equal(await allowed(serviceAccount, attributes), false, JSON.stringify(attributes));
    });
  }
});
