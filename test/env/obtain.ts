// Obtains each component of the test environment from the package registries this
// project may use, into the cache, once: Go programs are built from the Go module proxy,
// Kafka's jars come from Maven Central, RabbitMQ and Prometheus from Debian's packages.
// The OpenTelemetry Collector and Prometheus are obtained by the tests that use them
// (obtainOtelcol, obtainPrometheus), not by obtainAll.
import fs from 'node:fs';
import path from 'node:path';
import { versions, type EnvConfig } from './config.ts';
import { EnvError, runVisible, which } from './process.ts';

export interface Binaries {
  kubeApiServer: string;
  kubectl: string;
  etcd: string;
  helm: string;
  kafkaLibs: string;
  rabbitmqServer: string;
  epmd: string;
  java: string;
  openssl: string;
}

function note(message: string): void {
  process.stderr.write(`[hookline env] ${message}\n`);
}

async function requireTool(tool: string, component: string, remedy: string): Promise<string> {
  const found = await which(tool);
  if (!found) {
    throw new EnvError(
      'ToolMissing',
      `${component}: cannot be obtained because '${tool}' is not installed. ${remedy}`,
    );
  }
  return found;
}

async function buildGoProgram(
  config: EnvConfig,
  component: 'kube' | 'kube-node' | 'etcd' | 'helm' | 'otelcol',
  version: string,
  outputDir: string,
  outputs: readonly string[],
): Promise<void> {
  if (outputs.every((file) => fs.existsSync(path.join(outputDir, file)))) return;
  await requireTool(
    'go',
    component,
    'Install Go 1.26 or newer (the Go toolchain), or run scripts/obtain/system-packages.sh.',
  );
  note(
    `building ${component} ${version} from the Go module proxy into ${outputDir} (first use only; minutes)`,
  );
  const started = Date.now();
  try {
    await runVisible('bash', [
      path.join(config.repoDir, 'scripts/obtain/go-binaries.sh'),
      component,
      version,
      outputDir,
    ]);
  } catch (error) {
    throw new EnvError(
      'BuildFailed',
      `${component} ${version}: the build from the Go module proxy failed (see the output above). ` +
        'Check that the Go module proxy is reachable (GOPROXY) and that there is disk space, then retry.',
      { cause: error },
    );
  }
  note(`built ${component} ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
}

async function obtainKafka(config: EnvConfig): Promise<string> {
  const dir = path.join(config.cacheDir, `kafka-${versions.kafka}`);
  const libs = path.join(dir, 'libs');
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker)) return libs;
  const remedy =
    'Install Maven and a JDK 17+ (Debian: maven, default-jdk-headless), or run scripts/obtain/system-packages.sh.';
  await requireTool('mvn', 'kafka', remedy);
  note(`fetching Apache Kafka ${versions.kafka} jars from Maven Central into ${libs}`);
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    await runVisible('mvn', [
      '-q',
      '-B',
      '-f',
      path.join(config.repoDir, 'scripts/obtain/kafka-pom.xml'),
      `-Dkafka.version=${versions.kafka}`,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${libs}`,
      '-DincludeScope=runtime',
    ]);
  } catch (error) {
    throw new EnvError(
      'DownloadFailed',
      `kafka ${versions.kafka}: resolving the broker's jars from Maven Central failed (see the output above). ` +
        'Check that Maven Central is reachable, then retry.',
      { cause: error },
    );
  }
  fs.writeFileSync(marker, new Date().toISOString());
  return libs;
}

/** The OpenTelemetry Collector (OTLP receiver; debug and file exporters), built on first use. */
export async function obtainOtelcol(config: EnvConfig): Promise<string> {
  const dir = path.join(config.cacheDir, `otelcol-${versions.otelcol}`);
  await buildGoProgram(config, 'otelcol', versions.otelcol, dir, ['otelcol']);
  return path.join(dir, 'otelcol');
}

export interface KubeNodeBinaries {
  controllerManager: string;
  scheduler: string;
  kubelet: string;
  kubeProxy: string;
  containerd: string;
  ctr: string;
}

/**
 * The opt-in node's programs (test/env/node): kube-controller-manager, kube-scheduler, the
 * kubelet and kube-proxy built from the Go module proxy; containerd, runc, the CNI plugins,
 * iptables and a C compiler with libc6-dev (for the pause image) from Debian's packages.
 */
export async function obtainKubeNode(config: EnvConfig): Promise<KubeNodeBinaries> {
  const packages: Record<string, string> = {
    containerd: 'containerd',
    ctr: 'containerd',
    runc: 'runc',
    '/usr/lib/cni/bridge': 'containernetworking-plugins',
    iptables: 'iptables',
    conntrack: 'conntrack',
    gcc: 'gcc',
    // pause.c is linked statically: libc.a and the headers.
    '/usr/include/signal.h': 'libc6-dev',
  };
  const missing = new Set<string>();
  for (const [tool, pkg] of Object.entries(packages)) {
    if (tool.startsWith('/') ? !fs.existsSync(tool) : !(await which(tool))) missing.add(pkg);
  }
  if (missing.size > 0) {
    note(`installing ${[...missing].join(', ')} from Debian's packages (apt-get; once)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () =>
      runVisible('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env });
    try {
      // A new machine's package lists may be missing or old: refresh them once if needed.
      await install().catch(async () => {
        await runVisible('apt-get', ['update', '-q'], { env });
        await install();
      });
    } catch (error) {
      throw new EnvError(
        'ToolMissing',
        `the node needs Debian's ${[...missing].join(', ')}: apt-get install failed (see the output above). ` +
          'Run it as root (after apt-get update), then retry.',
        { cause: error },
      );
    }
  }
  const dir = path.join(config.cacheDir, `kube-node-${versions.kubernetes}`);
  const programs = ['kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'];
  await buildGoProgram(config, 'kube-node', versions.kubernetes, dir, programs);
  return {
    controllerManager: path.join(dir, 'kube-controller-manager'),
    scheduler: path.join(dir, 'kube-scheduler'),
    kubelet: path.join(dir, 'kubelet'),
    kubeProxy: path.join(dir, 'kube-proxy'),
    containerd: (await which('containerd'))!,
    ctr: (await which('ctr'))!,
  };
}

export interface PrometheusBinaries {
  prometheus: string;
  promtool: string;
}

/** Prometheus and promtool from Debian's prometheus package. */
export async function obtainPrometheus(config: EnvConfig): Promise<PrometheusBinaries> {
  await ensureSystemPackages(config);
  const remedy =
    "Install Debian's prometheus package (apt-get install prometheus), or run scripts/obtain/system-packages.sh.";
  return {
    prometheus: await requireTool('prometheus', 'prometheus', remedy),
    promtool: await requireTool('promtool', 'prometheus', remedy),
  };
}

/**
 * What the environment needs from Debian's packages (RabbitMQ, a JDK, Maven, openssl,
 * Prometheus), installed by scripts/obtain/system-packages.sh where the user may install
 * packages (root, or sudo); it does nothing when none is missing.
 */
async function ensureSystemPackages(config: EnvConfig): Promise<void> {
  try {
    await runVisible('bash', [path.join(config.repoDir, 'scripts/obtain/system-packages.sh')]);
  } catch (error) {
    throw new EnvError(
      'ToolMissing',
      "Debian's packages the environment needs could not be installed (see the output above). " +
        'Install them as it says, or run scripts/obtain/system-packages.sh as root, then retry.',
      { cause: error },
    );
  }
}

function findRabbitmqServer(): string | undefined {
  const root = '/usr/lib/rabbitmq/lib';
  if (!fs.existsSync(root)) return undefined;
  const release = fs
    .readdirSync(root)
    .filter((name) => name.startsWith('rabbitmq_server-'))
    .sort()
    .at(-1);
  const script = release && path.join(root, release, 'sbin', 'rabbitmq-server');
  return script && fs.existsSync(script) ? script : undefined;
}

export async function obtainAll(config: EnvConfig): Promise<Binaries> {
  await ensureSystemPackages(config);
  const rabbitmqServer = findRabbitmqServer();
  if (!rabbitmqServer) {
    throw new EnvError(
      'ToolMissing',
      "rabbitmq: Debian's rabbitmq-server package is not installed. " +
        'Run scripts/obtain/system-packages.sh (apt-get install rabbitmq-server) and retry.',
    );
  }
  const epmd = await requireTool(
    'epmd',
    'rabbitmq',
    'Install the rabbitmq-server package (it brings Erlang).',
  );
  const java = await requireTool('java', 'kafka', 'Install a JDK 17+ (Debian: default-jdk-headless).');
  const openssl = await requireTool('openssl', 'kube-apiserver', 'Install openssl (Debian: openssl).');

  const kubeDir = path.join(config.cacheDir, `kubernetes-${versions.kubernetes}`);
  const etcdDir = path.join(config.cacheDir, `etcd-${versions.etcd}`);
  const helmDir = path.join(config.cacheDir, `helm-${versions.helm}`);
  // Go builds run one after another: each uses every core. Maven runs beside them.
  const goBuilds = (async () => {
    await buildGoProgram(config, 'etcd', versions.etcd, etcdDir, ['etcd']);
    await buildGoProgram(config, 'kube', versions.kubernetes, kubeDir, ['kube-apiserver', 'kubectl']);
    await buildGoProgram(config, 'helm', versions.helm, helmDir, ['helm']);
  })();
  const [kafkaLibs] = await Promise.all([obtainKafka(config), goBuilds]);
  return {
    kubeApiServer: path.join(kubeDir, 'kube-apiserver'),
    kubectl: path.join(kubeDir, 'kubectl'),
    etcd: path.join(etcdDir, 'etcd'),
    helm: path.join(helmDir, 'helm'),
    kafkaLibs,
    rabbitmqServer,
    epmd,
    java,
    openssl,
  };
}
