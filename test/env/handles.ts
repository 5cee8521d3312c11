// Handles on the running test environment for tests: the control plane, RabbitMQ
// (AMQP and management API), Kafka, kubectl and helm.
import crypto from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import amqp from 'amqplib';
import '../../dispatcher/ingest/kafkajs-queue.ts';
import { Kafka, logLevel } from 'kafkajs';
import { envConfig } from './config.ts';
import { envInfo, readState, type EnvInfo } from './env.ts';
import { run, type RunResult } from './process.ts';

let cached: EnvInfo | undefined;

export function testEnv(): EnvInfo {
  if (!cached) {
    const config = envConfig();
    const state = readState(config);
    if (!state) throw new Error('the test environment is not up: run `npm run env:up` or `npm test`');
    cached = envInfo(state, config);
  }
  return cached;
}

export function kubeConfig(): k8s.KubeConfig {
  const config = new k8s.KubeConfig();
  config.loadFromFile(testEnv().kubeconfig);
  return config;
}

/** A new namespace for one test. The test control plane never finishes deleting one, so none is deleted. */
export async function freshNamespace(prefix = 't'): Promise<string> {
  const slug =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, 40)
      .replace(/^-+|-+$/g, '') || 't';
  const name = `${slug}-${crypto.randomBytes(3).toString('hex')}`;
  await kubeConfig()
    .makeApiClient(k8s.CoreV1Api)
    .createNamespace({ body: { metadata: { name, labels: { 'hookline.dev/test': 'true' } } } });
  return name;
}

export function kubectl(args: readonly string[], input?: string): Promise<RunResult> {
  const env = testEnv();
  return run(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args], { input, timeoutMs: 60_000 });
}

export function helm(args: readonly string[]): Promise<RunResult> {
  const env = testEnv();
  return run(env.helm, args, {
    env: {
      ...process.env,
      KUBECONFIG: env.kubeconfig,
      HELM_CACHE_HOME: `${env.stateDir}/helm/cache`,
      HELM_CONFIG_HOME: `${env.stateDir}/helm/config`,
      HELM_DATA_HOME: `${env.stateDir}/helm/data`,
    },
    timeoutMs: 60_000,
  });
}

export function amqpConnect(): Promise<amqp.ChannelModel> {
  return amqp.connect(testEnv().rabbitmq.amqpUrl);
}

/** The management API's URL with the admin credential in it, as the operator is given it. */
export function managementUriWithCredentials(): string {
  const { managementUrl, user, password } = testEnv().rabbitmq;
  const url = new URL(managementUrl);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/** Reads the RabbitMQ management API (`/api/...`); a 404 gives `undefined`. */
export async function rabbitApi<T = unknown>(apiPath: string): Promise<T | undefined> {
  const { managementUrl, user, password } = testEnv().rabbitmq;
  const response = await fetch(`${managementUrl}/api${apiPath}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`GET /api${apiPath}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export function kafka(clientId = 'hookline-test'): Kafka {
  // The tests' producers partition with kafkajs's default (murmur2, as the Java client does);
  // without this, each producer's first send logs a notice that the default changed in 2.0.
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  return new Kafka({ brokers: testEnv().kafka.brokers, clientId, logLevel: logLevel.WARN });
}
