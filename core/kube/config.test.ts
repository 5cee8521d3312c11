import assert from 'node:assert/strict';
import fs from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { fromKubeconfig, inCluster, loadKubeAccess, type KubeAccess } from './config.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-kubeconfig-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string | object): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : stringify(content));
  return file;
}

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>) {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'c',
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
    clusters: [{ name: 'k', cluster }],
    users: [{ name: 'u', user }],
  };
}

async function optionsOf(access: KubeAccess): Promise<https.RequestOptions> {
  const options: https.RequestOptions = {};
  await access.applyToHTTPSOptions(options);
  return options;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('loadKubeAccess', () => {
  it('reads certificates inline and from files relative to the kubeconfig, as client-node does', async () => {
    write('ca.crt', 'CA FILE');
    const file = write(
      'certs.yaml',
      kubeconfig(
        { server: 'https://10.0.0.1:6443', 'certificate-authority': 'ca.crt' },
        { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
      ),
    );
    const own = await loadKubeAccess(file);
    assert.ok(!(own instanceof k8s.KubeConfig), 'read without client-node');
    const reference = new k8s.KubeConfig();
    reference.loadFromFile(file);
    const [mine, theirs] = [await optionsOf(own), await optionsOf(reference)];
    assert.equal(own.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
    const text = (value: unknown) => Buffer.from(value as Buffer).toString();
    assert.equal(text(mine.ca), 'CA FILE');
    assert.equal(text(mine.cert), 'CERT');
    assert.equal(text(mine.key), 'KEY');
    for (const field of ['ca', 'cert', 'key'] as const)
      assert.equal(text(mine[field]), text(theirs[field]), field);
    assert.equal(mine.rejectUnauthorized, undefined);
  });

  it('sends a token and honours insecure-skip-tls-verify', async () => {
    const file = write(
      'token.yaml',
      kubeconfig({ server: 'https://h:1', 'insecure-skip-tls-verify': true }, { token: 'abc' }),
    );
    const options = await optionsOf(await loadKubeAccess(file));
    assert.equal(options.rejectUnauthorized, false);
    assert.deepEqual(options.headers, { authorization: 'Bearer abc' });
  });

  it('hands an exec plugin to client-node', async () => {
    const file = write(
      'exec.yaml',
      kubeconfig(
        { server: 'https://h:1' },
        { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } },
      ),
    );
    const access = await loadKubeAccess(file);
    assert.ok(access instanceof k8s.KubeConfig);
    assert.equal(access.getCurrentCluster()?.server, 'https://h:1');
  });

  it('names the file and the context that is missing', async () => {
    const file = write('bad.yaml', { ...kubeconfig({ server: 'x' }, {}), 'current-context': 'nope' });
    await assert.rejects(loadKubeAccess(file), /bad\.yaml has no current context "nope"/);
    await assert.rejects(
      loadKubeAccess(path.join(dir, 'absent.yaml')),
      /cannot read the kubeconfig .*absent\.yaml/,
    );
    assert.throws(
      () => fromKubeconfig(kubeconfig({}, {}), dir, 'k.yaml'),
      /k\.yaml names no server for context "c"/,
    );
  });

  it('uses KUBECONFIG when no file is given', async () => {
    const file = write('env.yaml', kubeconfig({ server: 'https://from-env:1' }, {}));
    const access = await loadKubeAccess(undefined, { KUBECONFIG: file, HOME: dir });
    assert.equal(access.getCurrentCluster()?.server, 'https://from-env:1');
  });
});

describe('inCluster', () => {
  it('reads the mounted CA and re-reads the rotated token after a minute', async () => {
    const mount = fs.mkdtempSync(path.join(dir, 'sa-'));
    fs.writeFileSync(path.join(mount, 'ca.crt'), 'CLUSTER CA');
    fs.writeFileSync(path.join(mount, 'token'), 'first\n');
    let now = 0;
    const access = inCluster(
      { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
      mount,
      () => now,
    );
    assert.equal(access.getCurrentCluster()?.server, 'https://[fd00::1]:443');
    assert.equal(String((await optionsOf(access)).ca), 'CLUSTER CA');
    assert.deepEqual((await optionsOf(access)).headers, { authorization: 'Bearer first' });
    fs.writeFileSync(path.join(mount, 'token'), 'second\n');
    now = 30_000;
    assert.deepEqual((await optionsOf(access)).headers, { authorization: 'Bearer first' });
    now = 61_000;
    assert.deepEqual((await optionsOf(access)).headers, { authorization: 'Bearer second' });
  });
});
