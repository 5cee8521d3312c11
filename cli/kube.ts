// The cluster as kubectl would reach it: the kubeconfig of --kubeconfig, else of KUBECONFIG
// (several files merged), else ~/.kube/config, else the in-cluster service account; the
// context of --context, else the current one; the namespace of -n, else the context's, else
// "default". Requests go through the project's own Kubernetes client.
import * as k8s from '@kubernetes/client-node';
import { isNotFound, kubeClient, resourcePath, type KubeClient } from '../core/kube/client.ts';
import type { RawObject } from '../core/kube/objects.ts';

/** A failure to tell the user about; the CLI exits with 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

export interface Cluster {
  client: KubeClient;
  namespace: string;
}

export function connect(flags: { kubeconfig?: string; context?: string; namespace?: string }): Cluster {
  const config = new k8s.KubeConfig();
  try {
    if (flags.kubeconfig) config.loadFromFile(flags.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    throw new CliError(`cannot read the kubeconfig: ${(error as Error).message}`);
  }
  if (flags.context !== undefined) {
    if (!config.getContextObject(flags.context))
      throw new CliError(`context "${flags.context}" is not in the kubeconfig`);
    config.setCurrentContext(flags.context);
  }
  const namespace =
    flags.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  return { client: kubeClient(config, { fieldManager: 'kubectl-hookline', timeoutMs: 30_000 }), namespace };
}

export const webhookPath = (namespace: string | undefined, name?: string) =>
  resourcePath({ group: 'hookline.dev', version: 'v1alpha1', plural: 'webhooks', namespace, name });

/** The Webhook, or the error kubectl would give for a missing one. */
export async function getWebhook(cluster: Cluster, name: string): Promise<RawObject> {
  const found = await cluster.client.find<RawObject>(webhookPath(cluster.namespace, name));
  if (!found) throw new CliError(`webhook "${name}" not found in namespace "${cluster.namespace}"`);
  return found;
}

/** The Webhooks of the namespace (every namespace with `all`), sorted as kubectl sorts them. */
export async function listWebhooks(cluster: Cluster, all: boolean): Promise<RawObject[]> {
  try {
    const list = await cluster.client.get<{ items: RawObject[] }>(
      webhookPath(all ? undefined : cluster.namespace),
    );
    return [...list.items].sort(
      (a, b) =>
        (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
  } catch (error) {
    if (isNotFound(error))
      throw new CliError(
        'the server has no hookline.dev/v1alpha1 Webhooks: are the Hookline CRDs installed?',
      );
    throw error;
  }
}

/** Merges `annotations` (null removes one) into the Webhook's metadata. */
export async function annotate(
  cluster: Cluster,
  name: string,
  annotations: Record<string, string | null>,
): Promise<RawObject> {
  return cluster.client.mergePatch<RawObject>(webhookPath(cluster.namespace, name), {
    metadata: { annotations },
  });
}

export interface KubeEvent {
  type?: string;
  reason?: string;
  message?: string;
  lastTimestamp?: string;
  eventTime?: string;
  metadata: { name: string; creationTimestamp?: string; resourceVersion?: string };
}

/** The Events recorded about the Webhook. */
export async function webhookEvents(cluster: Cluster, name: string): Promise<KubeEvent[]> {
  const list = await cluster.client.get<{ items: KubeEvent[] }>(
    resourcePath({ group: '', version: 'v1', plural: 'events', namespace: cluster.namespace }),
    { fieldSelector: `involvedObject.kind=Webhook,involvedObject.name=${name}` },
  );
  return list.items;
}
