// Where the opt-in clusters keep their state and which loopback ports they listen on: a
// 3-node RabbitMQ cluster and a 3-broker Kafka cluster, apart from the default environment
// (its single nodes, from port 24000) so that both can run at once.
import path from 'node:path';
import { envConfig, type EnvConfig } from '../config.ts';

export const CLUSTER_SIZE = 3;

export interface ClusterConfig {
  /** The default environment's settings (cache directory, repository). */
  env: EnvConfig;
  /** State files, data directories and logs of the clusters: `$HOOKLINE_CLUSTER_DIR` or `<cache>/cluster`. */
  stateDir: string;
  rabbitmq: {
    /** One Erlang port mapper for the three nodes, as on a host that runs several. */
    epmd: number;
    nodes: { name: string; amqp: number; management: number; dist: number }[];
  };
  kafka: { brokers: { nodeId: number; client: number; controller: number }[] };
}

export function clusterConfig(environment: NodeJS.ProcessEnv = process.env): ClusterConfig {
  const env = envConfig(environment);
  const base = Number(environment.HOOKLINE_CLUSTER_PORT_BASE ?? 27000);
  if (!Number.isInteger(base) || base < 1024 || base > 65000) {
    throw new Error(
      `HOOKLINE_CLUSTER_PORT_BASE must be an integer from 1024 to 65000, got "${environment.HOOKLINE_CLUSTER_PORT_BASE}"`,
    );
  }
  const members = Array.from({ length: CLUSTER_SIZE }, (_, index) => index + 1);
  return {
    env,
    stateDir: environment.HOOKLINE_CLUSTER_DIR ?? path.join(env.cacheDir, 'cluster'),
    rabbitmq: {
      epmd: base + 5,
      nodes: members.map((n) => ({
        name: `hookline-${n}@localhost`,
        amqp: base + n * 10,
        management: base + n * 10 + 1,
        dist: base + n * 10 + 2,
      })),
    },
    kafka: {
      brokers: members.map((n) => ({
        nodeId: n,
        client: base + 100 + n * 10,
        controller: base + 100 + n * 10 + 1,
      })),
    },
  };
}
