// Hookline on a real node (test/env/node): `helm install` of the chart with the image built
// here (scripts/image/build.sh), loaded into the node's containerd; the operator pod becomes
// Ready through its probes and takes its Lease; examples/quickstart makes a dispatcher
// Deployment whose pod becomes Ready; events posted to the http source through its Service
// reach the verifying receiver; `kubectl get webhooks` shows the deliveries; a dispatcher
// pod deleted by hand is replaced and nothing is lost; deleting the example removes its pods
// and broker objects. Run by `npm run test:node` (root), not by `npm test` (its glob is
// *.test.ts; this file is *.node.ts).
//
// Pods reach only the host's end of the node's veth (10.241.0.1): the receiver listens
// there, and RabbitMQ (the shared environment's, on loopback) is forwarded there.
// Timings (node start, image load, pod start to Ready, first delivery) are diagnostics.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startVerifyingReceiver, type VerifyingReceiver } from '../../examples/quickstart/receiver.ts';
import { envConfig } from '../env/config.ts';
import { down, up } from '../env/env.ts';
import {
  downNode,
  nodeHealthy,
  hostAddress,
  loadImage,
  nodeConfig,
  readNodeState,
  upNode,
  type NodeState,
} from '../env/node/node.ts';

// Every fixture below (kubectl, helm, the API client) reaches the node's cluster.
const sharedConfig = envConfig();
const config = nodeConfig();
process.env.HOOKLINE_ENV_DIR = config.stateDir;

const { freshNamespace, helm, kubectl, rabbitApi, testEnv } = await import('../env/handles.ts');
const { chartDir, valuesFile } = await import('../fixtures/chart.ts');
const { secretManifest, testClient, waitForReady, waitForSucceeded } = await import('../fixtures/cluster.ts');
const { buildImage } = await import('../fixtures/container.ts');
const { installCrds } = await import('../fixtures/crds.ts');
const { exampleManifests, trustQuickstartKeys } = await import('../fixtures/examples.ts');
const { eventually } = await import('../fixtures/wait.ts');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-node-'));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A TCP forwarder from the host's end of the veth to a port on loopback. */
async function forward(target: string): Promise<{ url: URL; close: () => Promise<void> }> {
  const url = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(url.port), url.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, hostAddress, resolve));
  const forwarded = new URL(target);
  forwarded.hostname = hostAddress;
  forwarded.port = String((server.address() as net.AddressInfo).port);
  return {
    url: forwarded,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Pod {
  metadata: { name: string; creationTimestamp: string; deletionTimestamp?: string };
  status?: {
    phase?: string;
    podIP?: string;
    startTime?: string;
    conditions?: { type: string; status: string; lastTransitionTime: string }[];
  };
}

async function pods(namespace: string, selector: string): Promise<Pod[]> {
  const { stdout } = await kubectl(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json']);
  return (JSON.parse(stdout) as { items: Pod[] }).items;
}

const readyAt = (pod: Pod) => {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
  return ready ? Date.parse(ready.lastTransitionTime) : undefined;
};

/** The pod's creation to its Ready condition (both by the API server's clock, in seconds). */
const startToReady = (pod: Pod) => readyAt(pod)! - Date.parse(pod.metadata.creationTimestamp);

async function readyPods(namespace: string, selector: string, count: number, timeoutMs = 180_000) {
  return eventually(
    `${count} Ready pod(s) ${selector} in ${namespace}`,
    async () => {
      const found = (await pods(namespace, selector)).filter(
        (p) => !p.metadata.deletionTimestamp && readyAt(p) !== undefined,
      );
      return found.length === count ? found : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** kubectl's table output as rows keyed by column header (columns start where headers do). */
function tableColumns(table: string): Record<string, string>[] {
  const [header = '', ...lines] = table.trimEnd().split('\n');
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  return lines.map((line) =>
    Object.fromEntries(
      starts.map(({ name, at }, k) => [name, line.slice(at, starts[k + 1]?.at ?? line.length).trim()]),
    ),
  );
}

let node: NodeState;
let startedShared: Awaited<ReturnType<typeof up>>['started'] = [];
let startedNode = false;
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  const shared = await up(sharedConfig);
  startedShared = shared.started;
  const previous = readNodeState(config);
  startedNode = !(previous && (await nodeHealthy(previous)));
  node = await upNode(config);
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  if (process.env.HOOKLINE_KEEP_ENV !== '1') {
    if (startedNode) await downNode(config);
    if (startedShared.length > 0) await down(sharedConfig, startedShared);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('Hookline on a node: the chart, the image, the quickstart', () => {
  it('runs the operator and a dispatcher in pods that deliver every event', async (t: TestContext) => {
    t.diagnostic(
      `node environment: ${Object.entries(node.timings)
        .map(([k, v]) => `${k} ${seconds(v)}`)
        .join(', ')}${startedNode ? '' : ' (reused)'}`,
    );
    const build = await buildImage();
    const { image, id } = build.summary;
    const loadMs = await loadImage(node, image, id);
    t.diagnostic(
      `image ${image}: build script ${seconds(build.seconds * 1000)}, load into containerd ${seconds(loadMs)}`,
    );
    const [repository, tag] = [
      image.slice(0, image.lastIndexOf(':')),
      image.slice(image.lastIndexOf(':') + 1),
    ];

    // RabbitMQ, forwarded to where pods can reach it.
    const { amqpUrl, managementUrl, user, password } = testEnv().rabbitmq;
    const amqpForward = await forward(amqpUrl);
    const managementForward = await forward(managementUrl);
    closers.push(amqpForward.close, managementForward.close);
    const management = new URL(managementForward.url);
    management.username = encodeURIComponent(user);
    management.password = encodeURIComponent(password);

    await installCrds();
    const releaseNamespace = await freshNamespace('node-release');
    const work = await freshNamespace('node-work');
    const release = 'hookline';
    await kubectl(
      ['apply', '-n', releaseNamespace, '-f', '-'],
      secretManifest('rabbitmq', { uri: amqpForward.url.toString(), management: management.toString() }),
    );
    const values = {
      image: { repository, tag, pullPolicy: 'Never' },
      replicaCount: 1,
      watchNamespace: work,
      broker: { existingSecret: 'rabbitmq', key: 'uri', managementKey: 'management' },
      // The receiver listens on the host's end of the node's veth, over plain http.
      allowHttpUrls: true,
      allowedCidrs: [`${hostAddress}/32`],
    };
    const installed = Date.now();
    await helm([
      'install',
      release,
      chartDir,
      '--namespace',
      releaseNamespace,
      '--skip-crds',
      '-f',
      valuesFile(tmp, values),
    ]);
    closers.push(() => helm(['uninstall', release, '--namespace', releaseNamespace, '--wait']));

    // The operator's pod: Ready through the chart's probes, then the Lease.
    const [operatorPod] = await readyPods(releaseNamespace, 'app.kubernetes.io/name=hookline', 1);
    t.diagnostic(
      `operator pod: created to Ready ${seconds(startToReady(operatorPod!))} (helm install to Ready ${seconds(Date.now() - installed)})`,
    );
    const lease = await eventually('the operator to hold its Lease', async () => {
      const found = await testClient().find<{ spec: { holderIdentity?: string } }>(
        `/apis/coordination.k8s.io/v1/namespaces/${releaseNamespace}/leases/${release}`,
      );
      return found?.spec.holderIdentity ? found : undefined;
    });
    assert.equal(lease.spec.holderIdentity, operatorPod!.metadata.name);

    // The quickstart, its Webhooks pointed at the verifying receiver.
    const receiver: VerifyingReceiver = await startVerifyingReceiver({
      port: 0,
      host: hostAddress,
      print: () => undefined,
    });
    closers.push(() => receiver.close());
    const manifests = exampleManifests('quickstart', (doc) => {
      if (doc.kind !== 'Webhook') return doc;
      const url = new URL(doc.spec!.url as string);
      url.hostname = hostAddress;
      url.port = String(receiver.port);
      return { ...doc, spec: { ...doc.spec, url: url.toString() } };
    });
    const exampleFile = path.join(tmp, 'quickstart.yaml');
    fs.writeFileSync(exampleFile, manifests);
    const applied = Date.now();
    await kubectl(['apply', '-n', work, '-f', exampleFile]);
    await waitForReady(work, 'webhooks', 'orders', 'True', undefined, 120_000);
    await waitForReady(work, 'webhooks', 'audit', 'True', undefined, 120_000);
    await trustQuickstartKeys(receiver, work);

    // The dispatcher Deployment the operator wrote, its pod Ready on the node.
    const dispatcherSelector = 'app.kubernetes.io/name=hookline-dispatcher';
    const [dispatcherPod] = await readyPods(work, dispatcherSelector, 1);
    t.diagnostic(
      `dispatcher pod: created to Ready ${seconds(startToReady(dispatcherPod!))} (apply to Ready ${seconds(Date.now() - applied)})`,
    );
    const { stdout: serviceJson } = await kubectl(['get', 'services', '-n', work, '-o', 'json']);
    const services = (
      JSON.parse(serviceJson) as { items: { metadata: { name: string }; spec: { clusterIP: string } }[] }
    ).items;
    assert.equal(services.length, 1, 'one Service, the http source');
    const ingest = `http://${services[0]!.spec.clusterIP}/v1/events`;
    t.diagnostic(
      `events go to the http source's Service ${services[0]!.metadata.name} (${ingest}, kube-proxy's iptables rules)`,
    );

    const post = async (event: Record<string, unknown>) => {
      const response = await fetch(ingest, {
        method: 'POST',
        headers: { authorization: 'Bearer quickstart-token', 'content-type': 'application/json' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(response.status, 202, await response.text());
    };
    const events = [
      { type: 'order.created', order: { id: 'ord_1001', total: 42.5, currency: 'EUR' } },
      { type: 'order.paid', order: { id: 'ord_1001' } },
      { type: 'customer.updated', customer: { id: 'cus_77' } },
      { type: 'order.created', order: { id: 'ord_1002', total: 9.9, currency: 'EUR' } },
      { type: 'order.shipped', order: { id: 'ord_1001', carrier: 'post' } },
    ];
    const posted = Date.now();
    for (const event of events) await post(event);
    await eventually('a first delivery', () => (receiver.deliveries.length > 0 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    t.diagnostic(
      `dispatcher pod: created to first delivery ${seconds(Date.now() - Date.parse(dispatcherPod!.metadata.creationTimestamp))} ` +
        `(Ready to first delivery ${seconds(Date.now() - readyAt(dispatcherPod!)!)}; post to first delivery ${seconds(Date.now() - posted)}; ` +
        'events posted once the pod was Ready)',
    );
    const delivered = (expected: Record<string, number>) =>
      eventually(
        `deliveries ${JSON.stringify(expected)}`,
        () =>
          Object.entries(expected).every(
            ([hook, count]) =>
              receiver.deliveries.filter((d) => d.path === hook && d.verified).length === count,
          ),
        { timeoutMs: 90_000 },
      );
    await delivered({ '/hooks/orders': 4, '/hooks/audit': 5 });

    // A dispatcher pod deleted by hand: replaced, and nothing is lost.
    const deleted = Date.now();
    await kubectl(['delete', 'pod', '-n', work, dispatcherPod!.metadata.name, '--wait=false']);
    const [replacement] = await eventually(
      'a replacement dispatcher pod',
      async () => {
        const found = (await pods(work, dispatcherSelector)).filter(
          (p) => p.metadata.name !== dispatcherPod!.metadata.name && readyAt(p) !== undefined,
        );
        return found.length === 1 ? found : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 250 },
    );
    t.diagnostic(
      `replacement dispatcher pod ${replacement!.metadata.name}: delete to Ready ${seconds(readyAt(replacement!)! - deleted)}`,
    );
    const more = [
      { type: 'order.created', order: { id: 'ord_1003', total: 1, currency: 'EUR' } },
      { type: 'customer.deleted', customer: { id: 'cus_78' } },
    ];
    await eventually(
      'the Service to reach the replacement',
      async () => {
        await post(more[0]!);
        return true;
      },
      { timeoutMs: 60_000 },
    );
    await post(more[1]!);
    await delivered({ '/hooks/orders': 5, '/hooks/audit': 7 });
    assert.deepEqual(
      receiver.deliveries.filter((d) => !d.verified),
      [],
      'the receiver refused a signature',
    );
    const ids = receiver.deliveries.map((d) => `${d.path} ${d.id}`);
    assert.equal(new Set(ids).size, ids.length, `a delivery came twice: ${ids.join(', ')}`);

    // What the dispatchers wrote with their ServiceAccount; kubectl shows it.
    await waitForSucceeded(work, { orders: 5, audit: 7 }, 60_000);
    const { stdout: table } = await kubectl(['get', 'webhooks', '-n', work]);
    t.diagnostic(`kubectl get webhooks:\n${table}`);
    const columns = tableColumns(table);
    assert.deepEqual(
      columns
        .filter((row) => row.NAME === 'orders' || row.NAME === 'audit')
        .map((row) => [row.NAME, row.DELIVERED, row.FAILED]),
      [
        ['audit', '7', '0'],
        ['orders', '5', '0'],
      ],
    );

    // Deleting the example removes its pods and its queues and exchanges.
    const prefixes = [`hookline.${work}.`, `hookline-ingest.${work}.`];
    const brokerObjects = async () => {
      const names = async (kind: string) =>
        ((await rabbitApi<{ name: string }[]>(`/${kind}/%2F?columns=name`)) ?? [])
          .map((o) => o.name)
          .filter((name) => prefixes.some((p) => name.startsWith(p)));
      return [...(await names('queues')), ...(await names('exchanges'))];
    };
    assert.notDeepEqual(await brokerObjects(), [], 'the quickstart has queues on the broker');
    await kubectl(['delete', '-n', work, '-f', exampleFile, '--wait=true', '--timeout=180s']);
    await eventually(
      'the dispatcher pods to be gone',
      async () => ((await pods(work, dispatcherSelector)).length === 0 ? true : undefined),
      {
        timeoutMs: 120_000,
      },
    );
    await eventually(
      'the broker objects to be gone',
      async () => ((await brokerObjects()).length === 0 ? true : undefined),
      {
        timeoutMs: 120_000,
      },
    );
  });
});
