// Where the test environment keeps its binaries and runtime state, which versions it
// runs, and which loopback ports it listens on. Everything can be moved with env vars.
import os from 'node:os';
import path from 'node:path';

export const versions = {
  kubernetes: 'v1.36.3',
  etcd: 'v3.6.7',
  helm: 'v3.22.0',
  kafka: '4.2.2',
  /** OpenTelemetry Collector core release; its stable v1.x modules and contrib's fileexporter follow it. */
  otelcol: 'v0.161.0',
} as const;

export interface EnvConfig {
  /** Binaries and jars, reused across runs: `$HOOKLINE_CACHE` or `~/.cache/hookline`. */
  cacheDir: string;
  /** Data directories, logs, PKI, kubeconfig and the state file of the running environment. */
  stateDir: string;
  /** The repository root (for the scripts that obtain components). */
  repoDir: string;
  ports: {
    etcdClient: number;
    etcdPeer: number;
    apiServer: number;
    amqp: number;
    rabbitManagement: number;
    rabbitDist: number;
    epmd: number;
    kafka: number;
    kafkaController: number;
  };
}

export function envConfig(environment: NodeJS.ProcessEnv = process.env): EnvConfig {
  const cacheDir =
    environment.HOOKLINE_CACHE ??
    path.join(environment.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'hookline');
  // Below Linux's ephemeral range (32768+), so that no client connection holds one of
  // these ports as its local port when a component starts.
  const base = Number(environment.HOOKLINE_ENV_PORT_BASE ?? 24000);
  if (!Number.isInteger(base) || base < 1024 || base > 65000) {
    throw new Error(
      `HOOKLINE_ENV_PORT_BASE must be an integer from 1024 to 65000, got "${environment.HOOKLINE_ENV_PORT_BASE}"`,
    );
  }
  return {
    cacheDir,
    stateDir: environment.HOOKLINE_ENV_DIR ?? path.join(cacheDir, 'env'),
    repoDir: path.resolve(import.meta.dirname, '..', '..'),
    ports: {
      etcdClient: base + 379,
      etcdPeer: base + 380,
      apiServer: base + 443,
      amqp: base + 672,
      rabbitManagement: base + 673,
      rabbitDist: base + 674,
      epmd: base + 675,
      kafka: base + 92,
      kafkaController: base + 93,
    },
  };
}
