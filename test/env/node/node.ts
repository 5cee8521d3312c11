// An opt-in Kubernetes node for tests, in an environment of its own (its own etcd,
// kube-apiserver, state directory and ports, so that the shared test environment keeps
// having no controllers): kube-controller-manager and kube-scheduler, and in a network
// namespace of its own ("the node") containerd, a kubelet and kube-proxy.
//
// Networking never leaves this machine: the node's namespace has one veth to the host
// (host 10.241.0.1/30, node 10.241.0.2/30) and no default route; pods sit on a bridge
// (cni0, 10.244.0.0/24, Debian's containernetworking-plugins bridge + host-local) inside
// it. The host routes 10.244.0.0/16 and the Service range to the node, so tests reach pods
// and Services; pods reach only the API server (bound to 10.241.0.1) and whatever a test
// listens on at 10.241.0.1. The host's own forwarding is left as it is.
//
// The sandbox has a hybrid cgroup v1 layout and no systemd: containerd and the kubelet use
// the cgroupfs driver, `failCgroupV1: false`, and QoS cgroups and node-allocatable
// enforcement are off. No image can be pulled: the pod sandbox image is built here from
// pause.c, and tests load their images from podman's storage (loadImage).
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { envConfig, versions, type EnvConfig } from '../config.ts';
import { readState, type EnvState } from '../env.ts';
import { issueCertificate } from '../kube.ts';
import { obtainAll, obtainKubeNode, type Binaries } from '../obtain.ts';
import {
  assertPortsFree,
  EnvError,
  isAlive,
  portOpen,
  run,
  startDaemon,
  stopDaemon,
  waitUntil,
} from '../process.ts';

export const netns = 'hookline-node';
export const nodeName = 'hookline-node';
export const hostAddress = '10.241.0.1';
export const nodeAddress = '10.241.0.2';
const linkCidr = 30;
export const podCidr = '10.244.0.0/24';
export const clusterCidr = '10.244.0.0/16';
export const serviceCidr = '10.96.0.0/16';
const pauseImage = 'localhost/hookline-pause:1';

export interface NodeConfig {
  base: EnvConfig;
  /** `$HOOKLINE_NODE_ENV_DIR`, or `node-env` in the cache. */
  stateDir: string;
  ports: {
    etcdClient: number;
    etcdPeer: number;
    apiServer: number;
    controllerManager: number;
    scheduler: number;
  };
}

export function nodeConfig(environment: NodeJS.ProcessEnv = process.env): NodeConfig {
  const base = envConfig(environment);
  const portBase = Number(environment.HOOKLINE_NODE_PORT_BASE ?? 25000);
  if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65000) {
    throw new Error(`HOOKLINE_NODE_PORT_BASE must be an integer from 1024 to 65000`);
  }
  return {
    base,
    stateDir: environment.HOOKLINE_NODE_ENV_DIR ?? path.join(base.cacheDir, 'node-env'),
    ports: {
      etcdClient: portBase + 379,
      etcdPeer: portBase + 380,
      apiServer: portBase + 443,
      controllerManager: portBase + 257,
      scheduler: portBase + 259,
    },
  };
}

export interface NodeState {
  versions: typeof versions;
  pids: Record<Daemon, number>;
  server: string;
  /** The admin's kubeconfig (system:masters), for tests, kubectl and helm. */
  kubeconfig: string;
  kubectl: string;
  helm: string;
  ctr: string;
  containerdSocket: string;
  snapshotter: string;
  stateDir: string;
  timings: Record<string, number>;
  /** The machine's kernel settings the kubelet changes at start, as they were: restored by downNode. */
  kernelTunables?: Record<string, string>;
}

/**
 * The kernel settings a kubelet sets at start (protectKernelDefaults: false; true would
 * refuse to start where they differ). They are the machine's, not the node namespace's:
 * upNode records them and downNode puts them back.
 */
const kernelTunables = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

function readKernelTunables(): Record<string, string> {
  return Object.fromEntries(
    kernelTunables.flatMap((name) => {
      try {
        return [[name, fs.readFileSync(`/proc/sys/${name}`, 'utf8').trim()]];
      } catch {
        return [];
      }
    }),
  );
}

function restoreKernelTunables(saved: Record<string, string>): void {
  for (const [name, value] of Object.entries(saved)) {
    try {
      if (fs.readFileSync(`/proc/sys/${name}`, 'utf8').trim() !== value)
        fs.writeFileSync(`/proc/sys/${name}`, value);
    } catch (error) {
      note(`could not restore ${name.replaceAll('/', '.')}=${value}: ${String(error)}`);
    }
  }
}

const daemons = [
  'etcd',
  'kubeApiServer',
  'controllerManager',
  'scheduler',
  'containerd',
  'kubelet',
  'kubeProxy',
] as const;
type Daemon = (typeof daemons)[number];

function note(message: string): void {
  process.stderr.write(`[hookline node] ${message}\n`);
}

// --- the network namespace ------------------------------------------------------------

async function ip(args: readonly string[]): Promise<void> {
  await run('ip', args);
}

async function netnsExists(): Promise<boolean> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').some((line) => line.split(' ')[0] === netns);
}

/** The node's namespace, its veth to the host and the host's routes to pods and Services. */
async function ensureNetwork(): Promise<void> {
  if (await netnsExists()) await removeNetwork();
  await ip(['netns', 'add', netns]);
  await ip(['link', 'add', 'hl-node0', 'type', 'veth', 'peer', 'name', 'hl-host0', 'netns', netns]);
  await ip(['addr', 'add', `${hostAddress}/${linkCidr}`, 'dev', 'hl-node0']);
  await ip(['link', 'set', 'hl-node0', 'up']);
  await ip(['-n', netns, 'addr', 'add', `${nodeAddress}/${linkCidr}`, 'dev', 'hl-host0']);
  await ip(['-n', netns, 'link', 'set', 'hl-host0', 'up']);
  await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
  await ip(['route', 'replace', clusterCidr, 'via', nodeAddress, 'dev', 'hl-node0']);
  await ip(['route', 'replace', serviceCidr, 'via', nodeAddress, 'dev', 'hl-node0']);
  // Forwarding inside the node's namespace only (pods <-> host, Services); the host's own
  // setting is not touched, and the node has no default route: nothing leaves.
  await run('ip', ['netns', 'exec', netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
}

/** Removes the node's namespace, its veth and routes, and the pods' namespaces containerd left. */
async function removeNetwork(): Promise<void> {
  await run('ip', ['route', 'del', clusterCidr]).catch(() => undefined);
  await run('ip', ['route', 'del', serviceCidr]).catch(() => undefined);
  await run('ip', ['link', 'del', 'hl-node0']).catch(() => undefined);
  if (await netnsExists()) await ip(['netns', 'del', netns]);
}

// --- certificates and kubeconfigs -----------------------------------------------------

interface Pki {
  dir: string;
  ca: string;
  saKey: string;
  saPub: string;
}

const identities = {
  admin: '/O=system:masters/CN=hookline-admin',
  kubelet: `/O=system:nodes/CN=system:node:${nodeName}`,
  'controller-manager': '/CN=system:kube-controller-manager',
  scheduler: '/CN=system:kube-scheduler',
  'kube-proxy': '/CN=system:kube-proxy',
} as const;
type Identity = keyof typeof identities;

const clientExtensions = 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n';

async function ensurePki(openssl: string, dir: string): Promise<Pki> {
  const pki = {
    dir,
    ca: path.join(dir, 'ca.crt'),
    saKey: path.join(dir, 'sa.key'),
    saPub: path.join(dir, 'sa.pub'),
  };
  const all = [pki.ca, pki.saKey, pki.saPub, 'apiserver', 'kubelet-serving', ...Object.keys(identities)].map(
    (name) => (name.includes('/') ? name : path.join(dir, `${name}.crt`)),
  );
  if (all.every((file) => fs.existsSync(file))) return pki;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  // prettier-ignore
  await run(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'ca.key'),
    '-out', pki.ca, '-days', '3650', '-subj', '/CN=hookline-node-ca']);
  await issueCertificate(
    openssl,
    dir,
    'apiserver',
    '/CN=kube-apiserver',
    `subjectAltName=IP:${hostAddress},IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n` +
      'extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n',
  );
  await issueCertificate(
    openssl,
    dir,
    'kubelet-serving',
    `/O=system:nodes/CN=system:node:${nodeName}`,
    `subjectAltName=IP:${nodeAddress},DNS:${nodeName}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`,
  );
  for (const [name, subject] of Object.entries(identities)) {
    await issueCertificate(openssl, dir, name, subject, clientExtensions);
  }
  await run(openssl, ['genrsa', '-out', pki.saKey, '2048']);
  await run(openssl, ['rsa', '-in', pki.saKey, '-pubout', '-out', pki.saPub]);
  return pki;
}

function writeKubeconfig(file: string, server: string, pki: Pki, identity: Identity): string {
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: hookline-node
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(pki.ca)}
users:
- name: ${identity}
  user:
    client-certificate-data: ${b64(path.join(pki.dir, `${identity}.crt`))}
    client-key-data: ${b64(path.join(pki.dir, `${identity}.key`))}
contexts:
- name: hookline-node
  context:
    cluster: hookline-node
    user: ${identity}
current-context: hookline-node
`,
    { mode: 0o600 },
  );
  return file;
}

function apiReady(server: string, pki: Pki, pathname = '/readyz'): Promise<boolean> {
  return new Promise((resolve) => {
    const request = https.get(
      `${server}${pathname}`,
      {
        ca: fs.readFileSync(pki.ca),
        cert: fs.readFileSync(path.join(pki.dir, 'admin.crt')),
        key: fs.readFileSync(path.join(pki.dir, 'admin.key')),
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

// --- containerd and images ------------------------------------------------------------

async function snapshotterFor(dir: string): Promise<string> {
  // overlayfs cannot stack on an overlay filesystem; native (copies) works anywhere.
  const { stdout } = await run('findmnt', ['-no', 'FSTYPE', '-T', dir]).catch(() => ({ stdout: '' }));
  return stdout.trim() === 'overlay' ? 'native' : 'overlayfs';
}

function writeContainerdConfig(dir: string, cniConfDir: string, snapshotter: string): string {
  const file = path.join(dir, 'config.toml');
  fs.writeFileSync(
    file,
    `# Written by test/env/node/node.ts: containerd reads nothing from /etc.
version = 2
root = "${dir}/root"
state = "${dir}/state"
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${snapshotter}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${dir}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${cniConfDir}"
`,
  );
  return file;
}

function writeCniConfig(dir: string, ipamDir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, '10-hookline.conflist'),
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'hookline-pods',
        plugins: [
          {
            type: 'bridge',
            bridge: 'cni0',
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              dataDir: ipamDir,
              ranges: [[{ subnet: podCidr, gateway: '10.244.0.1' }]],
              routes: [{ dst: '0.0.0.0/0' }],
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ),
  );
}

async function ctr(state: Pick<NodeState, 'ctr' | 'containerdSocket'>, args: readonly string[]) {
  return run(state.ctr, ['--address', state.containerdSocket, '-n', 'k8s.io', ...args], {
    timeoutMs: 10 * 60_000,
  });
}

/**
 * Loads an image from podman's storage (scripts/image/podman.sh) into the node's containerd,
 * unless containerd has it already (`id`: podman's image ID, the config digest, which the
 * CRI plugin lists as a reference of its own). Returns the milliseconds spent, 0 when cached.
 */
export async function loadImage(state: NodeState, image: string, id?: string): Promise<number> {
  if (id) {
    const refs = (await ctr(state, ['images', 'ls', '-q'])).stdout.split('\n');
    const digest = id.startsWith('sha256:') ? id : `sha256:${id}`;
    if (refs.includes(image) && refs.includes(digest)) return 0;
  }
  const started = Date.now();
  const archive = path.join(state.stateDir, `image-${process.pid}.tar`);
  try {
    await run('bash', [podmanScript(), 'save', '--format', 'oci-archive', '-o', archive, image], {
      timeoutMs: 5 * 60_000,
    });
    await ctr(state, ['images', 'import', '--snapshotter', state.snapshotter, archive]);
  } finally {
    fs.rmSync(archive, { force: true });
  }
  return Date.now() - started;
}

function podmanScript(): string {
  return path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'image', 'podman.sh');
}

/** The pod sandbox image: pause.c, linked statically, alone in an image. */
async function ensurePauseImage(state: NodeState, work: string): Promise<void> {
  const { stdout } = await ctr(state, ['images', 'ls', '-q']);
  if (stdout.split('\n').includes(pauseImage)) return;
  const dir = path.join(work, 'pause');
  fs.mkdirSync(dir, { recursive: true });
  // prettier-ignore
  await run('gcc', ['-static', '-Os', '-s', '-o', path.join(dir, 'pause'), path.join(import.meta.dirname, 'pause.c')]);
  fs.writeFileSync(
    path.join(dir, 'Containerfile'),
    'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n',
  );
  await run('bash', [podmanScript(), 'build', '-q', '-t', pauseImage, dir], { timeoutMs: 5 * 60_000 });
  await loadImage(state, pauseImage);
}

// --- the programs ---------------------------------------------------------------------

// nsenter, not `ip netns exec`: the latter also makes a mount namespace with a fresh /sys,
// which hides the cgroup mounts under /sys/fs/cgroup from the kubelet ("failed to get
// mounted cgroup subsystems: failed to find cgroup mounts").
function inNetns(command: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: 'nsenter', args: [`--net=/var/run/netns/${netns}`, '--', command, ...args] };
}

function writeKubeletConfig(dir: string, pki: Pki, socket: string, logsDir: string): string {
  const file = path.join(dir, 'kubelet.yaml');
  fs.writeFileSync(
    file,
    `# Written by test/env/node/node.ts.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${nodeAddress}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${pki.ca} }
authorization: { mode: Webhook }
tlsCertFile: ${path.join(pki.dir, 'kubelet-serving.crt')}
tlsPrivateKeyFile: ${path.join(pki.dir, 'kubelet-serving.key')}
containerRuntimeEndpoint: unix://${socket}
# A hybrid cgroup v1 layout without systemd: cgroupfs, no QoS cgroups, no enforcement.
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
podCIDR: ${podCidr}
podLogsDir: ${logsDir}
maxPods: 40
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
resolvConf: ${path.join(dir, 'resolv.conf')}
`,
  );
  // Pods have no route to a DNS server: an empty search list, a nameserver on the node.
  fs.writeFileSync(path.join(dir, 'resolv.conf'), `nameserver ${nodeAddress}\n`);
  return file;
}

function writeKubeProxyConfig(dir: string, kubeconfig: string): string {
  const file = path.join(dir, 'kube-proxy.yaml');
  fs.writeFileSync(
    file,
    `# Written by test/env/node/node.ts.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: ${kubeconfig} }
mode: iptables
hostnameOverride: ${nodeName}
bindAddress: ${nodeAddress}
clusterCIDR: ${clusterCidr}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Every Service connection is masqueraded, so that a pod reaching a pod on its own bridge
# through a Service gets its answer back through the node.
iptables: { masqueradeAll: true }
# conntrack's table size is the host's: not set from a namespace.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
`,
  );
  return file;
}

function stateFile(config: NodeConfig): string {
  return path.join(config.stateDir, 'node.json');
}

/**
 * The node environment as the test fixtures see an environment (test/env/handles.ts reads
 * `state.json` in `$HOOKLINE_ENV_DIR`): its own control plane, and the shared environment's
 * RabbitMQ and Kafka on loopback. A test of the node sets HOOKLINE_ENV_DIR to
 * `nodeConfig().stateDir`, so that kubectl, helm and the API client reach the node's
 * cluster. Pods reach the brokers through a forwarder on the host's end of the veth.
 */
function writeEnvState(config: NodeConfig, state: NodeState, binaries: Binaries): void {
  const shared = readState(config.base);
  const envState: EnvState = {
    versions,
    binaries,
    kube: {
      etcdPid: state.pids.etcd,
      apiServerPid: state.pids.kubeApiServer,
      server: state.server,
      kubeconfig: state.kubeconfig,
    },
    rabbitmq: shared?.rabbitmq,
    kafka: shared?.kafka,
  };
  const file = path.join(config.stateDir, 'state.json');
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(envState, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

export function readNodeState(config: NodeConfig = nodeConfig()): NodeState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(config), 'utf8')) as NodeState;
  } catch {
    return undefined;
  }
}

async function nodeReady(state: NodeState): Promise<boolean> {
  const { stdout } = await run(state.kubectl, [
    '--kubeconfig',
    state.kubeconfig,
    'get',
    'node',
    nodeName,
    '-o',
    'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
  ]).catch(() => ({ stdout: '' }));
  return stdout.trim() === 'True';
}

export async function nodeHealthy(state: NodeState): Promise<boolean> {
  return daemons.every((daemon) => isAlive(state.pids[daemon])) && (await nodeReady(state));
}

/**
 * Brings the node environment up, or reuses it when every program runs and the node is
 * Ready. Needs root (network namespaces, containerd).
 */
export async function upNode(config: NodeConfig = nodeConfig()): Promise<NodeState> {
  const previous = readNodeState(config);
  if (previous && (await nodeHealthy(previous))) return previous;
  if (previous) await downNode(config);
  if (os.userInfo().uid !== 0) {
    throw new EnvError(
      'NotRoot',
      'the node environment needs root (network namespaces, containerd, a kubelet)',
    );
  }
  const timings: Record<string, number> = {};
  const began = Date.now();
  const lap = (name: string, since: number) => (timings[name] = Date.now() - since);
  const bin = await obtainAll(config.base);
  const node = await obtainKubeNode(config.base);
  lap('obtain', began);

  const { stateDir, ports } = config;
  fs.mkdirSync(stateDir, { recursive: true });
  const pki = await ensurePki(bin.openssl, path.join(stateDir, 'pki'));
  const pids: Partial<Record<Daemon, number>> = {};
  const log = (name: string) => path.join(stateDir, `${name}.log`);
  const server = `https://${hostAddress}:${ports.apiServer}`;
  const saved: Pick<NodeState, 'kernelTunables'> = {};
  const partial = (): NodeState => ({
    ...saved,
    versions,
    pids: pids as Record<Daemon, number>,
    server,
    kubeconfig: path.join(stateDir, 'kubeconfig'),
    kubectl: bin.kubectl,
    helm: bin.helm,
    ctr: node.ctr,
    containerdSocket: path.join(stateDir, 'containerd', 'containerd.sock'),
    snapshotter: 'overlayfs',
    stateDir,
    timings,
  });
  const start = (name: Daemon, command: string, args: readonly string[], ns = false) => {
    fs.rmSync(log(name), { force: true });
    const spec = ns ? inNetns(command, args) : { command, args };
    pids[name] = startDaemon({ ...spec, logFile: log(name) });
    writeState(config, partial());
    return pids[name];
  };
  try {
    let since = Date.now();
    await assertPortsFree('node environment', [
      ports.etcdClient,
      ports.etcdPeer,
      ports.controllerManager,
      ports.scheduler,
    ]);
    await ensureNetwork();
    if (await portOpen(ports.apiServer, hostAddress)) {
      throw new EnvError(
        'PortInUse',
        `node environment: ${hostAddress}:${ports.apiServer} is taken (a kube-apiserver left running?)`,
      );
    }
    lap('network', since);

    since = Date.now();
    const etcdData = path.join(stateDir, 'etcd');
    fs.rmSync(etcdData, { recursive: true, force: true });
    const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    // prettier-ignore
    const etcdPid = start('etcd', bin.etcd, [
      '--name=hookline-node', `--data-dir=${etcdData}`, `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`, `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=hookline-node=http://127.0.0.1:${ports.etcdPeer}`, '--unsafe-no-fsync', '--log-level=warn',
    ]);
    await waitUntil(
      async () => (await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) })).ok,
      {
        what: 'etcd (node environment)',
        timeoutMs: 30_000,
        pid: etcdPid,
        logFile: log('etcd'),
      },
    );
    const kubeconfig = writeKubeconfig(path.join(stateDir, 'kubeconfig'), server, pki, 'admin');
    // prettier-ignore
    const apiPid = start('kubeApiServer', bin.kubeApiServer, [
      `--etcd-servers=${etcdUrl}`, `--bind-address=${hostAddress}`, `--advertise-address=${hostAddress}`,
      `--secure-port=${ports.apiServer}`, `--tls-cert-file=${path.join(pki.dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${path.join(pki.dir, 'apiserver.key')}`, `--client-ca-file=${pki.ca}`,
      `--kubelet-client-certificate=${path.join(pki.dir, 'admin.crt')}`,
      `--kubelet-client-key=${path.join(pki.dir, 'admin.key')}`,
      `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
      '--service-account-issuer=https://kubernetes.default.svc', `--service-cluster-ip-range=${serviceCidr}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--authorization-mode=Node,RBAC', `--cert-dir=${path.join(stateDir, 'apiserver-certs')}`, '--v=1',
    ]);
    await waitUntil(() => apiReady(server, pki), {
      what: 'kube-apiserver (node environment)',
      timeoutMs: 90_000,
      pid: apiPid,
      logFile: log('kubeApiServer'),
    });
    lap('controlPlane', since);

    since = Date.now();
    // prettier-ignore
    start('controllerManager', node.controllerManager, [
      `--kubeconfig=${writeKubeconfig(path.join(stateDir, 'controller-manager.kubeconfig'), server, pki, 'controller-manager')}`,
      '--bind-address=127.0.0.1', `--secure-port=${ports.controllerManager}`, '--leader-elect=false',
      `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.ca}`,
      '--use-service-account-credentials=true', `--service-cluster-ip-range=${serviceCidr}`, '--v=1',
    ]);
    // prettier-ignore
    start('scheduler', node.scheduler, [
      `--kubeconfig=${writeKubeconfig(path.join(stateDir, 'scheduler.kubeconfig'), server, pki, 'scheduler')}`,
      '--bind-address=127.0.0.1', `--secure-port=${ports.scheduler}`, '--leader-elect=false', '--v=1',
    ]);

    const containerdDir = path.join(stateDir, 'containerd');
    fs.rmSync(path.join(containerdDir, 'state'), { recursive: true, force: true });
    fs.mkdirSync(containerdDir, { recursive: true });
    const snapshotter = await snapshotterFor(containerdDir);
    const cniConf = path.join(stateDir, 'cni');
    const ipamDir = path.join(stateDir, 'cni-ipam');
    fs.rmSync(ipamDir, { recursive: true, force: true });
    writeCniConfig(cniConf, ipamDir);
    const containerdPid = start(
      'containerd',
      node.containerd,
      ['--config', writeContainerdConfig(containerdDir, cniConf, snapshotter)],
      true,
    );
    const state: NodeState = { ...partial(), snapshotter };
    await waitUntil(async () => (await ctr(state, ['version'])).stdout.includes('Server'), {
      what: 'containerd',
      timeoutMs: 30_000,
      pid: containerdPid,
      logFile: log('containerd'),
    });
    await ensurePauseImage(state, stateDir);
    lap('containerd', since);

    since = Date.now();
    saved.kernelTunables = readKernelTunables();
    writeState(config, partial());
    const kubeletDir = path.join(stateDir, 'kubelet');
    fs.mkdirSync(kubeletDir, { recursive: true });
    const podLogs = path.join(stateDir, 'pod-logs');
    fs.mkdirSync(podLogs, { recursive: true });
    // prettier-ignore
    const kubeletPid = start('kubelet', node.kubelet, [
      `--config=${writeKubeletConfig(stateDir, pki, state.containerdSocket, podLogs)}`,
      `--kubeconfig=${writeKubeconfig(path.join(stateDir, 'kubelet.kubeconfig'), server, pki, 'kubelet')}`,
      `--root-dir=${kubeletDir}`, `--hostname-override=${nodeName}`, `--node-ip=${nodeAddress}`, '--v=1',
    ], true);
    const proxyKubeconfig = writeKubeconfig(
      path.join(stateDir, 'kube-proxy.kubeconfig'),
      server,
      pki,
      'kube-proxy',
    );
    start(
      'kubeProxy',
      node.kubeProxy,
      [`--config=${writeKubeProxyConfig(stateDir, proxyKubeconfig)}`, '--v=1'],
      true,
    );
    await waitUntil(() => nodeReady(state), {
      what: 'the kubelet (node Ready)',
      timeoutMs: 120_000,
      pid: kubeletPid,
      logFile: log('kubelet'),
    });
    lap('kubelet', since);
    timings.total = Date.now() - began;
    const ready: NodeState = { ...partial(), snapshotter, kubeconfig };
    writeState(config, ready);
    writeEnvState(config, ready, bin);
    return ready;
  } catch (error) {
    await downNode(config);
    throw error;
  }
}

function writeState(config: NodeConfig, state: NodeState): void {
  fs.mkdirSync(config.stateDir, { recursive: true });
  const file = stateFile(config);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

/**
 * Stops the node environment: the pods' containers (through containerd, before the kubelet
 * stops), every program in reverse order, then the network namespaces and routes.
 */
export async function downNode(config: NodeConfig = nodeConfig()): Promise<void> {
  const state = readNodeState(config);
  if (state) {
    // The kubelet first, so that it restarts no container that is being stopped.
    await stopDaemon(state.pids.kubeProxy);
    await stopDaemon(state.pids.kubelet);
    if (isAlive(state.pids.containerd)) await stopPodContainers(state).catch(() => undefined);
    for (const daemon of ['containerd', 'scheduler', 'controllerManager', 'kubeApiServer', 'etcd'] as const) {
      await stopDaemon(state.pids[daemon]);
    }
    killShims(state.containerdSocket);
    if (state.kernelTunables) restoreKernelTunables(state.kernelTunables);
    fs.rmSync(stateFile(config), { force: true });
    fs.rmSync(path.join(config.stateDir, 'state.json'), { force: true });
  }
  await unmountUnder(config.stateDir);
  await removePodNamespaces();
  removeHostLeftovers(config.stateDir);
  await removeNetwork().catch((error: unknown) => note(`could not remove the network: ${String(error)}`));
}

/** Kills, deletes and removes every container containerd runs for the node (the pods'). */
async function stopPodContainers(state: NodeState): Promise<void> {
  const { stdout } = await ctr(state, ['tasks', 'ls', '-q']);
  const tasks = stdout.split('\n').filter(Boolean);
  for (const id of tasks)
    await ctr(state, ['tasks', 'kill', '-a', '-s', 'SIGKILL', id]).catch(() => undefined);
  for (const id of tasks) await ctr(state, ['tasks', 'delete', '-f', id]).catch(() => undefined);
  const containers = (await ctr(state, ['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
  if (containers.length > 0) await ctr(state, ['containers', 'delete', ...containers]).catch(() => undefined);
}

/**
 * containerd's shims outlive containerd (they start their own sessions): SIGKILL to each shim
 * of this node's containerd (found by its socket in the shim's command line) and to its
 * children, the containers' processes.
 */
function killShims(socket: string): void {
  const processes = fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        const ppid = Number(/^PPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]);
        return [{ pid: Number(name), ppid, cmdline }];
      } catch {
        return [];
      }
    });
  const shims = processes.filter(
    (p) => p.cmdline[0]?.endsWith('containerd-shim-runc-v2') && p.cmdline.includes(socket),
  );
  const shimPids = new Set(shims.map((p) => p.pid));
  for (const p of processes) {
    if (shimPids.has(p.pid) || shimPids.has(p.ppid)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/**
 * What the kubelet and containerd keep in fixed places on the machine, whatever their
 * configuration: the kubelet's links in /var/log/containers to the node's pod logs, its
 * device-plugin socket, and the CNI results cached in /var/lib/cni for the node's network.
 */
function removeHostLeftovers(stateDir: string): void {
  const remove = (file: string) => fs.rmSync(file, { force: true });
  const list = (dir: string) => {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  };
  for (const name of list('/var/log/containers')) {
    const link = path.join('/var/log/containers', name);
    try {
      if (fs.readlinkSync(link).startsWith(`${stateDir}/`)) remove(link);
    } catch {
      // not a link
    }
  }
  const results = '/var/lib/cni/results';
  for (const name of list(results)) {
    const id = /^hookline-pods-([0-9a-f]+)-eth0$/.exec(name)?.[1];
    if (!id) continue;
    remove(path.join(results, name));
    remove(path.join(results, `cni-loopback-${id}-lo`));
  }
  remove('/var/lib/kubelet/device-plugins/kubelet.sock');
  for (const dir of ['/var/lib/kubelet/device-plugins', '/var/lib/kubelet']) {
    if (list(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The kubelet's and containerd's mounts (volumes, rootfs, shm) under the state directory. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((target): target is string => !!target && target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) await run('umount', ['-l', target]).catch(() => undefined);
}

/** containerd's per-pod network namespaces (cni-…) that outlived their pods. */
async function removePodNamespaces(): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list']).catch(() => ({ stdout: '' }));
  for (const name of stdout.split('\n').map((line) => line.split(' ')[0] ?? '')) {
    if (name.startsWith('cni-')) await run('ip', ['netns', 'del', name]).catch(() => undefined);
  }
}
