// The image built from the Dockerfile (scripts/image/build.sh, with podman) and run in
// containers: its size and layers, the user and read-only root filesystem it runs with,
// `hookline sign` inside it, and the operator and a dispatcher run from it with host
// networking against the test environment, each exactly as its Deployment says: the
// operator from the Helm chart's rendering under the chart's RBAC (a ServiceAccount token
// mounted where a pod finds it, not the admin kubeconfig), the dispatcher from the
// Deployment the operator wrote for examples/quickstart, with its own ServiceAccount's
// token. The dispatcher's deliveries are checked by the quickstart's verifying receiver.
// Timings (build, operator start to Ready, dispatcher start to first delivery) are
// printed as diagnostics.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startVerifyingReceiver, type VerifyingReceiver } from '../../examples/quickstart/receiver.ts';
import { containerCommand } from '../../scripts/local/dispatchers.ts';
import { ReadinessReporter, readyzProbe, templateOf } from '../../scripts/local/readiness.ts';
import { freshNamespace, helm, kubectl, managementUriWithCredentials, testEnv } from '../env/handles.ts';
import { freePort } from '../fixtures/binary.ts';
import { chartDir, renderChart, valuesFile, type K8sObject } from '../fixtures/chart.ts';
import { apply, secretManifest, testClient, waitForReady, waitForSucceeded } from '../fixtures/cluster.ts';
import {
  buildImage,
  podContainer,
  podman,
  startContainer,
  type ImageBuild,
  type PodTemplateSpec,
  type RunningContainer,
} from '../fixtures/container.ts';
import { installCrds } from '../fixtures/crds.ts';
import { dispatcherDeployment } from '../fixtures/dispatcher.ts';
import { exampleManifests, trustQuickstartKeys } from '../fixtures/examples.ts';
import { verifyStandardWebhooks } from '../fixtures/verifiers.ts';
import { eventually } from '../fixtures/wait.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-image-'));
// Containers run as user 65532: the files mounted into them must be reachable.
fs.chmodSync(tmp, 0o755);

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

let build: ImageBuild;

before(async () => {
  build = await buildImage();
});

after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs a one-off container of the image; its exit code, stdout and stderr. */
async function runOnce(
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await podman(
      ['run', '--rm', '--pull=never', ...(input === undefined ? [] : ['--interactive']), ...args],
      { input },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const cause = (error as { cause?: { code?: number } }).cause;
    return { code: cause?.code ?? -1, stdout: '', stderr: (error as Error).message };
  }
}

describe('the image built from the Dockerfile', () => {
  it('is reported: size, layers and build times', async (t: TestContext) => {
    const { summary } = build;
    t.diagnostic(`image ${summary.image} (${summary.id.slice(0, 12)}): ${megabytes(summary.size)}`);
    t.diagnostic(`scripts/image/build.sh took ${build.seconds.toFixed(1)} s in all`);
    for (const [name, base] of Object.entries(summary.bases ?? {}))
      t.diagnostic(
        `${name} base ${base.image}: ${base.cached ? 'cached' : `assembled in ${base.seconds.toFixed(1)} s`}`,
      );
    t.diagnostic(`podman build of the Dockerfile: ${summary.seconds.toFixed(1)} s`);
    const { stdout } = await podman(['history', '--format', 'json', summary.image]);
    const layers = (JSON.parse(stdout) as { size: number; CreatedBy: string }[]).reverse();
    for (const layer of layers.filter((l) => l.size > 0))
      t.diagnostic(
        `layer ${megabytes(layer.size).padStart(9)}  ${layer.CreatedBy.replace(/^\/bin\/sh -c #\(nop\) /, '').slice(0, 90)}`,
      );
    assert.ok(summary.size < 400e6, `the image is ${megabytes(summary.size)}`);

    const [config] = JSON.parse((await podman(['image', 'inspect', summary.image])).stdout) as {
      Config: { User: string; Entrypoint: string[]; Cmd: string[]; WorkingDir: string };
    }[];
    assert.equal(config!.Config.User, '65532:65532');
    assert.deepEqual(config!.Config.Entrypoint, ['/nodejs/bin/node', 'hookline.ts']);
    assert.deepEqual(config!.Config.Cmd, ['operator']);
    assert.equal(config!.Config.WorkingDir, '/app');
  });

  it('runs as UID 65532 with a read-only root filesystem, and has no shell', async () => {
    const image = build.summary.image;
    const probe = `
      const fs = require('node:fs');
      const tries = ['/app/x', '/tmp/x', '/nodejs/x'].map((file) => {
        try { fs.writeFileSync(file, ''); return 'written'; } catch (error) { return error.code; }
      });
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), tries, node: process.version }));
    `;
    // As the image's own user, and as the chart runs it (--user, read-only, nothing writable).
    for (const user of [[], ['--user', '65532']]) {
      const result = await runOnce([
        '--read-only',
        '--read-only-tmpfs=false',
        '--cap-drop=ALL',
        ...user,
        '--entrypoint',
        '/nodejs/bin/node',
        image,
        '-e',
        probe,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const seen = JSON.parse(result.stdout) as { uid: number; gid: number; tries: string[]; node: string };
      assert.equal(seen.uid, 65532);
      assert.equal(seen.gid, 65532);
      assert.deepEqual(seen.tries, ['EROFS', 'EROFS', 'EROFS']);
      assert.match(seen.node, /^v24\./);
    }
    // Without --read-only the files are still not the process's to change.
    const writable = await runOnce([
      '--entrypoint',
      '/nodejs/bin/node',
      image,
      '-e',
      "require('fs').writeFileSync('/app/hookline.ts', '')",
    ]);
    assert.notEqual(writable.code, 0);
    assert.match(writable.stderr, /EACCES/);
    for (const shell of ['/bin/sh', '/bin/bash', '/bin/dash', '/usr/bin/env']) {
      const result = await runOnce(['--entrypoint', shell, image, '-c', 'true']);
      assert.notEqual(result.code, 0, `${shell} ran`);
      assert.match(result.stderr, /no such file or directory/i);
    }
  });

  it('runs `hookline sign`, whose headers a Standard Webhooks verifier accepts', async () => {
    const secret = `whsec_${Buffer.from('an image test secret of 32 bytes').toString('base64')}`;
    const secretDir = path.join(tmp, 'sign');
    fs.mkdirSync(secretDir, { mode: 0o755 });
    fs.writeFileSync(path.join(secretDir, 'secret'), secret, { mode: 0o644 });
    const body = '{"type":"order.created","order":{"id":"ord_1"}}';
    const result = await runOnce(
      [
        '--read-only',
        '--read-only-tmpfs=false',
        '--user',
        '65532',
        '--volume',
        `${secretDir}:/secret:ro`,
        build.summary.image,
        'sign',
        '--scheme',
        'standard-webhooks',
        '--secret-file',
        '/secret/secret',
        '--id',
        'msg_image',
      ],
      body,
    );
    assert.equal(result.code, 0, result.stderr);
    const headers = JSON.parse(result.stdout) as Record<string, string>;
    assert.equal(headers['webhook-id'], 'msg_image');
    assert.ok(
      verifyStandardWebhooks(
        {
          method: 'POST',
          path: '/',
          headers,
          body: Buffer.from(body),
          receivedAt: Date.now(),
          receivedAtMonotonic: performance.now(),
        },
        secret,
      ),
      `the signature does not verify: ${result.stdout}`,
    );
  });
});

interface Deployment extends K8sObject {
  spec: { template: { spec: PodTemplateSpec } };
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(true));
    server.listen(port, () => server.close(() => resolve(false)));
  });
}

async function firstOk(url: string, timeoutMs: number): Promise<number> {
  return eventually(
    `${url} to answer 200`,
    async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      return response.status === 200 ? performance.now() : undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

describe('the operator and a dispatcher in containers of the image', () => {
  const containers: RunningContainer[] = [];
  const reporters: ReadinessReporter[] = [];
  const releases: { name: string; namespace: string }[] = [];
  let receiver: VerifyingReceiver | undefined;

  before(async () => {
    await installCrds();
  });

  after(async () => {
    for (const container of containers) await container.kill();
    for (const reporter of reporters) await reporter.close();
    await receiver?.close();
    for (const { name, namespace } of releases) await helm(['uninstall', name, '--namespace', namespace]);
  });

  it('reconciles the quickstart from the chart, and the dispatcher delivers signed events', async (t) => {
    const { image } = build.summary;
    const [repository, tag] = [
      image.slice(0, image.lastIndexOf(':')),
      image.slice(image.lastIndexOf(':') + 1),
    ];
    const releaseNamespace = await freshNamespace('image-release');
    const work = await freshNamespace('image-work');
    const release = releaseNamespace;
    const [metricsPort, probesPort] = [await freePort(), await freePort()];
    const { amqpUrl } = testEnv().rabbitmq;
    await kubectl(
      ['apply', '-n', releaseNamespace, '-f', '-'],
      secretManifest('rabbitmq', { uri: amqpUrl, management: managementUriWithCredentials() }),
    );
    const values = {
      image: { repository, tag },
      watchNamespace: work,
      broker: { existingSecret: 'rabbitmq', key: 'uri', managementKey: 'management' },
      // The quickstart's receiver listens on loopback over plain http.
      allowHttpUrls: true,
      allowedCidrs: ['127.0.0.0/8'],
      metrics: { port: metricsPort },
      probes: { port: probesPort },
    };
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
    releases.push({ name: release, namespace: releaseNamespace });

    // The operator: the chart's pod template, run as the kubelet would run it.
    const rendering = await renderChart(tmp, values, { release, namespace: releaseNamespace });
    const operatorDeployment = rendering.objects.find((o) => o.kind === 'Deployment') as Deployment;
    const podName = `${release}-hookline-0`;
    const operatorSpec = await podContainer({
      client: testClient(),
      namespace: releaseNamespace,
      podName,
      pod: operatorDeployment.spec.template.spec,
      containerName: 'operator',
      dir: tmp,
    });
    assert.equal(operatorSpec.image, image);
    assert.equal(operatorSpec.env.KUBECONFIG, undefined, 'the operator must use its ServiceAccount');
    assert.ok(
      operatorSpec.readOnlyRootFilesystem && operatorSpec.dropAllCapabilities && operatorSpec.noNewPrivileges,
    );
    const operator = startContainer(operatorSpec);
    containers.push(operator);
    const operatorReady =
      (await firstOk(`http://127.0.0.1:${probesPort}/readyz`, 60_000)) - operator.startedAt;
    t.diagnostic(`operator container: start to Ready (/readyz 200) ${seconds(operatorReady)}`);
    await operator.waitForLog('Controllers started', (line) => line.msg === 'Controllers started');
    const lease = await eventually('the operator to hold its Lease', async () => {
      const found = await testClient().find<{ spec: { holderIdentity?: string } }>(
        `/apis/coordination.k8s.io/v1/namespaces/${releaseNamespace}/leases/${release}-hookline`,
      );
      return found?.spec.holderIdentity === podName ? found : undefined;
    });
    assert.equal(lease.spec.holderIdentity, podName);

    // The quickstart, its Webhooks pointed at the verifying receiver.
    const counting = await startVerifyingReceiver({ port: 0, host: '127.0.0.1', print: () => undefined });
    receiver = counting;
    const receiverPort = counting.port;
    const manifests = exampleManifests('quickstart', (doc) => {
      if (doc.kind !== 'Webhook') return doc;
      const url = new URL(doc.spec!.url as string);
      url.port = String(receiverPort);
      return { ...doc, spec: { ...doc.spec, url: url.toString() } };
    });
    await apply(work, manifests);
    await waitForReady(work, 'webhooks', 'orders', 'True', undefined, 60_000);
    await waitForReady(work, 'webhooks', 'audit', 'True', undefined, 60_000);
    await trustQuickstartKeys(counting, work);

    // The dispatcher: exactly the Deployment the operator wrote, with its own ServiceAccount.
    const deployment = await dispatcherDeployment(work, 'shop');
    const pod = (deployment as unknown as Deployment).spec.template.spec;
    const dispatcherSpec = await podContainer({
      client: testClient(),
      namespace: work,
      podName: `${deployment.metadata.name}-0-${work}`,
      pod,
      dir: tmp,
    });
    assert.equal(dispatcherSpec.image, image, 'the dispatcher runs the operator image');
    assert.equal(dispatcherSpec.env.KUBECONFIG, undefined);
    const local = await containerCommand(testClient(), deployment);
    assert.deepEqual(dispatcherSpec.args, local.args);
    for (const [name, value] of Object.entries(local.env))
      assert.equal(dispatcherSpec.env[name], value, name);
    let port = Number(dispatcherSpec.env.HOOKLINE_PORT);
    if (await portTaken(port)) {
      // Host networking shares the machine's ports; another program holds the Deployment's.
      port = await freePort();
      t.diagnostic(
        `port ${dispatcherSpec.env.HOOKLINE_PORT} is taken on this machine: HOOKLINE_PORT=${port}`,
      );
      dispatcherSpec.env.HOOKLINE_PORT = String(port);
    }
    const reporter = new ReadinessReporter({
      client: testClient(),
      namespace: work,
      name: deployment.metadata.name,
    });
    reporters.push(reporter);
    const dispatcher = startContainer(dispatcherSpec);
    containers.push(dispatcher);
    reporter.add({ template: templateOf(deployment), ready: readyzProbe(port) });
    reporter.start();
    const dispatcherReady = (await firstOk(`http://127.0.0.1:${port}/readyz`, 60_000)) - dispatcher.startedAt;

    const events = [
      { type: 'order.created', order: { id: 'ord_1001', total: 42.5, currency: 'EUR' } },
      { type: 'order.paid', order: { id: 'ord_1001' } },
      { type: 'customer.updated', customer: { id: 'cus_77' } },
      { type: 'order.created', order: { id: 'ord_1002', total: 9.9, currency: 'EUR' } },
      { type: 'order.shipped', order: { id: 'ord_1001', carrier: 'post' } },
    ];
    for (const event of events) {
      const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: 'POST',
        headers: { authorization: 'Bearer quickstart-token', 'content-type': 'application/json' },
        body: JSON.stringify(event),
      });
      assert.equal(response.status, 202, await response.text());
    }
    const firstDelivery = await eventually(
      'a first delivery',
      () => (counting.deliveries.length > 0 ? performance.now() : undefined),
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    t.diagnostic(
      `dispatcher container: start to Ready ${seconds(dispatcherReady)}, ` +
        `start to first delivery ${seconds(firstDelivery - dispatcher.startedAt)} (events posted once Ready)`,
    );
    const expected = { '/hooks/orders': 4, '/hooks/audit': 5 };
    await eventually(
      'every event delivered and verified',
      () =>
        Object.entries(expected).every(
          ([hook, count]) =>
            counting.deliveries.filter((d) => d.path === hook && d.verified).length === count,
        ),
      { timeoutMs: 60_000 },
    );
    assert.deepEqual(
      counting.deliveries.filter((d) => !d.verified),
      [],
      'the receiver refused a signature',
    );

    // What the dispatcher wrote with its own ServiceAccount, under the Role the operator gave it.
    await waitForSucceeded(work, { orders: 4, audit: 5 }, 30_000);
    await waitForReady(work, 'eventsources', 'shop', 'True', undefined, 30_000);

    for (const container of [operator, dispatcher]) {
      const refused = container.logs.filter((line) => /\b403\b|forbidden/i.test(JSON.stringify(line)));
      assert.deepEqual(refused, [], `the API server refused ${container.name} something`);
      assert.deepEqual(
        container.logs.filter((line) => line.level >= 50),
        [],
        `${container.name} logged errors`,
      );
    }
    assert.equal(await dispatcher.stop(), 0);
    assert.equal(await operator.stop(), 0);
  });
});
