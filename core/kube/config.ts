// Where the API server is and how to authenticate to it, read the way kubectl reads it:
// the given kubeconfig file, else KUBECONFIG, else ~/.kube/config, else the pod's service
// account. The common shapes (certificates, a token or a token file, in-cluster) are read
// here; anything else (exec plugins, auth providers, merged files, proxies) goes to
// @kubernetes/client-node, loaded only then: it costs the operator ~55 MiB of memory.
import fs from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { HooklineError } from '../errors.ts';

/** What kubeClient needs: the server, and TLS options and headers for each request. */
export interface KubeAccess {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How long a token file is trusted before it is read again (the kubelet rotates it). */
const TOKEN_REREAD_MS = 60_000;

const CLUSTER_KEYS = new Set([
  'server',
  'certificate-authority',
  'certificate-authority-data',
  'insecure-skip-tls-verify',
]);
const USER_KEYS = new Set([
  'token',
  'tokenFile',
  'client-certificate',
  'client-certificate-data',
  'client-key',
  'client-key-data',
]);

interface Access {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure: boolean;
  token?: string;
  tokenFile?: string;
}

/** The access of `file`, or of the default places; undefined fields fall back to client-node. */
export async function loadKubeAccess(
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubeAccess> {
  const own = readOwn(file, env);
  if (own) return accessOf(own);
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  if (file) config.loadFromFile(file);
  else config.loadFromDefault();
  return config;
}

/** The kubeconfig file to read, 'in-cluster', or undefined when only client-node can tell. */
function chooseSource(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (file) return file;
  if (env.KUBECONFIG) return env.KUBECONFIG.includes(path.delimiter) ? undefined : env.KUBECONFIG;
  const home = path.join(env.HOME ?? os.homedir(), '.kube', 'config');
  if (fs.existsSync(home)) return home;
  if (env.KUBERNETES_SERVICE_HOST && fs.existsSync(`${SERVICE_ACCOUNT}/token`)) return 'in-cluster';
  return undefined;
}

function readOwn(file: string | undefined, env: NodeJS.ProcessEnv): Access | undefined {
  const source = chooseSource(file, env);
  if (source === undefined) return undefined;
  if (source === 'in-cluster') return inClusterAccess(env, SERVICE_ACCOUNT);
  let text: string;
  try {
    text = fs.readFileSync(source, 'utf8');
  } catch (error) {
    throw new HooklineError('NoCluster', `cannot read the kubeconfig ${source}: ${(error as Error).message}`);
  }
  return fromKubeconfig(parse(text) as Kubeconfig | null, path.dirname(source), source);
}

/** The pod's own service account (`dir` is where the kubelet mounts it). */
export function inCluster(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT, now = Date.now): KubeAccess {
  return accessOf(inClusterAccess(env, dir), now);
}

function inClusterAccess(env: NodeJS.ProcessEnv, dir: string): Access {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: fs.readFileSync(`${dir}/ca.crt`),
    insecure: false,
    tokenFile: `${dir}/token`,
  };
}

type Fields = Record<string, unknown>;
interface Kubeconfig {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name: string; cluster?: Fields }[];
  users?: { name: string; user?: Fields }[];
}

/** The access a parsed kubeconfig describes, or undefined when it uses what only client-node reads. */
export function fromKubeconfig(config: Kubeconfig | null, dir: string, where: string): Access | undefined {
  const contextName = config?.['current-context'];
  const context = config?.contexts?.find((c) => c.name === contextName)?.context;
  if (!context)
    throw new HooklineError(
      'NoCluster',
      `the kubeconfig ${where} has no current context${contextName ? ` "${contextName}"` : ''}`,
    );
  const cluster = config?.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== 'string')
    throw new HooklineError(
      'NoCluster',
      `the kubeconfig ${where} names no server for context "${contextName}"`,
    );
  const user = config?.users?.find((u) => u.name === context.user)?.user ?? {};
  if (
    Object.keys(cluster).some((k) => !CLUSTER_KEYS.has(k)) ||
    Object.keys(user).some((k) => !USER_KEYS.has(k))
  )
    return undefined;
  const material = (data: unknown, file: unknown): Buffer | undefined => {
    if (typeof data === 'string') return Buffer.from(data, 'base64');
    if (typeof file === 'string') return fs.readFileSync(path.resolve(dir, file));
    return undefined;
  };
  return {
    server: cluster.server,
    ca: material(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: material(user['client-certificate-data'], user['client-certificate']),
    key: material(user['client-key-data'], user['client-key']),
    insecure: cluster['insecure-skip-tls-verify'] === true,
    ...(typeof user.token === 'string' ? { token: user.token } : {}),
    ...(typeof user.tokenFile === 'string' ? { tokenFile: path.resolve(dir, user.tokenFile) } : {}),
  };
}

function accessOf(access: Access, now: () => number = Date.now): KubeAccess {
  let token = access.token;
  let readAt = 0;
  const currentToken = (): string | undefined => {
    if (!access.tokenFile) return token;
    const at = now();
    if (token === undefined || at - readAt >= TOKEN_REREAD_MS) {
      token = fs.readFileSync(access.tokenFile, 'utf8').trim();
      readAt = at;
    }
    return token;
  };
  return {
    getCurrentCluster: () => ({ server: access.server }),
    applyToHTTPSOptions(options) {
      if (access.ca) options.ca = access.ca;
      if (access.cert) options.cert = access.cert;
      if (access.key) options.key = access.key;
      if (access.insecure) options.rejectUnauthorized = false;
      const bearer = currentToken();
      if (bearer) options.headers = { ...options.headers, authorization: `Bearer ${bearer}` };
      return Promise.resolve();
    },
  };
}
