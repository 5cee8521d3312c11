// Which reconciles a change of one watched object asks for: the keys (namespace/name) each
// informer callback enqueues, per controller. Pure, over the caches' current lists.
import type { KubeObject } from '../core/kube/informer.ts';
import type { RawObject } from '../core/kube/objects.ts';
import { namespaceOf } from '../core/names.ts';
import { policyOf, sourceOf } from '../core/references.ts';
import { secretNamesOf } from '../core/secret-refs.ts';

/** Keys to reconcile, by controller. */
export interface Enqueue {
  webhooks: string[];
  sources: string[];
  policies: string[];
}

export interface Listed {
  webhooks: readonly RawObject[];
  sources: readonly RawObject[];
  policies: readonly RawObject[];
}

const keyOf = (object: RawObject) => `${namespaceOf(object)}/${object.metadata.name}`;
const split = (key: string) => key.split('/') as [string, string];
const inNamespace = (objects: readonly RawObject[], namespace: string) =>
  objects.filter((o) => o.metadata.namespace === namespace);

/** A Webhook changed (or is gone, `webhook` undefined): it, its source and its policy (their counts). */
export function onWebhook(key: string, webhook: RawObject | undefined, listed: Listed): Enqueue {
  const [namespace] = split(key);
  if (!webhook) {
    // Gone: counts may have changed on any source or policy of the namespace.
    return {
      webhooks: [key],
      sources: inNamespace(listed.sources, namespace).map(keyOf),
      policies: inNamespace(listed.policies, namespace).map(keyOf),
    };
  }
  const source = sourceOf(webhook);
  return {
    webhooks: [key],
    sources: source ? [`${namespace}/${source}`] : [],
    policies: [`${namespace}/${policyOf(webhook)}`],
  };
}

/** An EventSource changed: it, and the Webhooks bound to it. */
export function onSource(key: string, listed: Listed): Enqueue {
  const [namespace, name] = split(key);
  const webhooks = inNamespace(listed.webhooks, namespace).filter((w) => sourceOf(w) === name);
  return { webhooks: webhooks.map(keyOf), sources: [key], policies: [] };
}

/** A CallbackPolicy changed: it, and the Webhooks that follow it. */
export function onPolicy(key: string, listed: Listed): Enqueue {
  const [namespace, name] = split(key);
  const webhooks = inNamespace(listed.webhooks, namespace).filter((w) => policyOf(w) === name);
  return { webhooks: webhooks.map(keyOf), sources: [], policies: [key] };
}

/** A Secret changed: the sources and Webhooks of its namespace that name it. */
export function onSecret(key: string, listed: Listed): Enqueue {
  const [namespace, name] = split(key);
  const naming = (objects: readonly RawObject[]) =>
    inNamespace(objects, namespace)
      .filter((o) => secretNamesOf(o).includes(name))
      .map(keyOf);
  return { webhooks: naming(listed.webhooks), sources: naming(listed.sources), policies: [] };
}

/** A dispatcher Deployment changed: the EventSource its label names (its readiness). */
export function onDeployment(key: string, deployment: KubeObject | undefined): Enqueue {
  const labels = deployment?.metadata.labels as Record<string, string> | undefined;
  const source = labels?.['hookline.dev/eventsource'];
  return { webhooks: [], sources: source ? [`${split(key)[0]}/${source}`] : [], policies: [] };
}
