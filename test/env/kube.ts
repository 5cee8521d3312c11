// A Kubernetes control plane for tests: etcd and kube-apiserver, with a private CA,
// client-certificate authentication for an admin in system:masters, RBAC authorization,
// and a kubeconfig that both @kubernetes/client-node and kubectl accept. There is no
// kubelet, scheduler or controller-manager (so no garbage collector).
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { EnvConfig } from './config.ts';
import type { Binaries } from './obtain.ts';
import { assertPortsFree, isAlive, run, startDaemon, stopDaemon, waitUntil } from './process.ts';

export interface KubeState {
  etcdPid: number;
  apiServerPid: number;
  server: string;
  kubeconfig: string;
}

interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

function pkiPaths(dir: string): Pki {
  return {
    caCert: path.join(dir, 'ca.crt'),
    serverCert: path.join(dir, 'apiserver.crt'),
    serverKey: path.join(dir, 'apiserver.key'),
    adminCert: path.join(dir, 'admin.crt'),
    adminKey: path.join(dir, 'admin.key'),
    serviceAccountKey: path.join(dir, 'sa.key'),
    serviceAccountPub: path.join(dir, 'sa.pub'),
  };
}

export async function issueCertificate(
  openssl: string,
  dir: string,
  name: string,
  subject: string,
  extensions: string,
): Promise<void> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, extensions);
  await run(openssl, [
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    subject,
  ]);
  await run(openssl, [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    path.join(dir, 'ca.crt'),
    '-CAkey',
    path.join(dir, 'ca.key'),
    '-CAcreateserial',
    '-out',
    path.join(dir, `${name}.crt`),
    '-days',
    '3650',
    '-sha256',
    '-extfile',
    ext,
  ]);
}

/** Creates the CA, serving, admin and service-account keys once; later runs reuse them. */
async function ensurePki(openssl: string, dir: string): Promise<Pki> {
  const pki = pkiPaths(dir);
  if (Object.values<string>({ ...pki }).every((file) => fs.existsSync(file))) return pki;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  await run(openssl, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    path.join(dir, 'ca.key'),
    '-out',
    pki.caCert,
    '-days',
    '3650',
    '-subj',
    '/CN=hookline-test-ca',
  ]);
  await issueCertificate(
    openssl,
    dir,
    'apiserver',
    '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes.default.svc\n' +
      'extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n',
  );
  await issueCertificate(
    openssl,
    dir,
    'admin',
    '/O=system:masters/CN=hookline-admin',
    'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n',
  );
  await run(openssl, ['genrsa', '-out', pki.serviceAccountKey, '2048']);
  await run(openssl, ['rsa', '-in', pki.serviceAccountKey, '-pubout', '-out', pki.serviceAccountPub]);
  return pki;
}

function writeKubeconfig(file: string, server: string, pki: Pki): void {
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: hookline-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(pki.caCert)}
users:
- name: hookline-admin
  user:
    client-certificate-data: ${b64(pki.adminCert)}
    client-key-data: ${b64(pki.adminKey)}
contexts:
- name: hookline-test
  context:
    cluster: hookline-test
    user: hookline-admin
current-context: hookline-test
`;
  fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
}

function apiServerReady(server: string, pki: Pki): Promise<boolean> {
  return new Promise((resolve) => {
    const request = https.get(
      `${server}/readyz`,
      {
        ca: fs.readFileSync(pki.caCert),
        cert: fs.readFileSync(pki.adminCert),
        key: fs.readFileSync(pki.adminKey),
        timeout: 2000,
      },
      (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      },
    );
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(false));
  });
}

export async function kubeHealthy(state: KubeState, config: EnvConfig): Promise<boolean> {
  return (
    isAlive(state.etcdPid) &&
    isAlive(state.apiServerPid) &&
    apiServerReady(state.server, pkiPaths(path.join(config.stateDir, 'pki')))
  );
}

export async function startKube(config: EnvConfig, bin: Binaries): Promise<KubeState> {
  const { ports, stateDir } = config;
  await assertPortsFree('kube', [ports.etcdClient, ports.etcdPeer, ports.apiServer]);
  const pki = await ensurePki(bin.openssl, path.join(stateDir, 'pki'));
  const etcdData = path.join(stateDir, 'etcd');
  fs.rmSync(etcdData, { recursive: true, force: true });
  const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
  const etcdLog = path.join(stateDir, 'etcd.log');
  const etcdPid = startDaemon({
    command: bin.etcd,
    args: [
      '--name=hookline-test',
      `--data-dir=${etcdData}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=hookline-test=http://127.0.0.1:${ports.etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logFile: etcdLog,
  });
  await waitUntil(async () => (await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) })).ok, {
    what: 'etcd',
    timeoutMs: 30_000,
    pid: etcdPid,
    logFile: etcdLog,
  });

  const server = `https://127.0.0.1:${ports.apiServer}`;
  const kubeconfig = path.join(stateDir, 'kubeconfig');
  writeKubeconfig(kubeconfig, server, pki);
  try {
    const apiServerPid = await startApiServer(config, bin, pki, etcdUrl, server);
    return { etcdPid, apiServerPid, server, kubeconfig };
  } catch (error) {
    await stopDaemon(etcdPid);
    throw error;
  }
}

async function startApiServer(
  config: EnvConfig,
  bin: Binaries,
  pki: Pki,
  etcdUrl: string,
  server: string,
): Promise<number> {
  const { ports, stateDir } = config;
  const apiLog = path.join(stateDir, 'kube-apiserver.log');
  const apiServerPid = startDaemon({
    command: bin.kubeApiServer,
    args: [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.apiServer}`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      `--cert-dir=${path.join(stateDir, 'apiserver-certs')}`,
      '--v=1',
    ],
    logFile: apiLog,
  });
  try {
    await waitUntil(() => apiServerReady(server, pki), {
      what: 'kube-apiserver',
      timeoutMs: 90_000,
      pid: apiServerPid,
      logFile: apiLog,
    });
  } catch (error) {
    await stopDaemon(apiServerPid);
    throw error;
  }
  return apiServerPid;
}

/** Stops kube-apiserver (etcd keeps the data), waits `outageMs`, and starts it again: an API outage. */
export async function interruptApiServer(
  config: EnvConfig,
  bin: Binaries,
  state: KubeState,
  outageMs: number,
): Promise<KubeState> {
  await stopDaemon(state.apiServerPid);
  await new Promise((resolve) => setTimeout(resolve, outageMs));
  const pki = pkiPaths(path.join(config.stateDir, 'pki'));
  const apiServerPid = await startApiServer(
    config,
    bin,
    pki,
    `http://127.0.0.1:${config.ports.etcdClient}`,
    state.server,
  );
  return { ...state, apiServerPid };
}

export async function stopKube(state: KubeState): Promise<void> {
  await stopDaemon(state.apiServerPid);
  await stopDaemon(state.etcdPid);
}
