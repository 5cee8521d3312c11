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
}

const keyOf = (object: RawObject) => `${namespaceOf(object)}/${object.metadata.name}`;
const split = (key: string) => key.split('/') as [string, string];
const inNamespace = (objects: readonly RawObject[], namespace: string) =>
  objects.filter((o) => o.metadata.namespace === namespace);

/**
 * Whether what other objects read of this one changed: it appeared or vanished, its spec
 * (the generation), or its deletion. A status-only change (the echo of a status write, the
 * dispatcher's delivery counters every second) changes nothing another reconcile reads.
 */
export function specChanged(object: RawObject | undefined, previous: RawObject | undefined): boolean {
  if (!object || !previous) return true;
  return (
    object.metadata.generation !== previous.metadata.generation ||
    object.metadata.deletionTimestamp !== previous.metadata.deletionTimestamp
  );
}

/**
 * A Webhook changed (`webhook` undefined: gone; `previous` undefined: new): it, and when
 * its spec changed, the sources and policies it names and named (their counts).
 */
export function onWebhook(key: string, { object: webhook, previous }: Change): Enqueue {
  if (!specChanged(webhook, previous)) return { webhooks: [key], sources: [], policies: [] };
  const [namespace] = split(key);
  const sources = new Set<string>();
  const policies = new Set<string>();
  for (const version of [webhook, previous]) {
    if (!version) continue;
    const source = sourceOf(version);
    if (source) sources.add(`${namespace}/${source}`);
    policies.add(`${namespace}/${policyOf(version)}`);
  }
  return { webhooks: [key], sources: [...sources], policies: [...policies] };
}

/** An EventSource changed: it, and when its spec changed, the Webhooks bound to it. */
export function onSource(key: string, change: Change, listed: Listed): Enqueue {
  if (!specChanged(change.object, change.previous)) return { webhooks: [], sources: [key], policies: [] };
  const [namespace, name] = split(key);
  const webhooks = inNamespace(listed.webhooks, namespace).filter((w) => sourceOf(w) === name);
  return { webhooks: webhooks.map(keyOf), sources: [key], policies: [] };
}

/** A CallbackPolicy changed: it, and when its spec changed, the Webhooks that follow it. */
export function onPolicy(key: string, change: Change, listed: Listed): Enqueue {
  if (!specChanged(change.object, change.previous)) return { webhooks: [], sources: [], policies: [key] };
  const [namespace, name] = split(key);
  const webhooks = inNamespace(listed.webhooks, namespace).filter((w) => policyOf(w) === name);
  return { webhooks: webhooks.map(keyOf), sources: [], policies: [key] };
}

/** An object as the informer has it now and as it had it before. */
export interface Change {
  object: RawObject | undefined;
  previous: RawObject | undefined;
}

/**
 * Which Webhooks and sources name which Secrets, kept current from the informers'
 * callbacks, so that a Secret event looks up who names it instead of reading every object.
 */
export class SecretReferences {
  /** Object (`webhooks:ns/name`) → the Secret keys (`ns/name`) it names. */
  readonly #names = new Map<string, string[]>();
  /** Secret key → the objects that name it. */
  readonly #naming = new Map<string, Set<string>>();

  /** Whether a Hookline object names the Secret `ns/name`. */
  named(secret: string): boolean {
    return this.#naming.has(secret);
  }

  /** Records what `object` names now; answers the Secret keys it names. */
  set(kind: 'webhooks' | 'sources', key: string, object: RawObject | undefined): string[] {
    const id = `${kind}:${key}`;
    for (const secret of this.#names.get(id) ?? []) {
      const naming = this.#naming.get(secret);
      naming?.delete(id);
      if (naming?.size === 0) this.#naming.delete(secret);
    }
    if (!object) {
      this.#names.delete(id);
      return [];
    }
    const namespace = split(key)[0];
    const secrets = [...new Set(secretNamesOf(object))].map((name) => `${namespace}/${name}`);
    this.#names.set(id, secrets);
    for (const secret of secrets) {
      let naming = this.#naming.get(secret);
      if (!naming) this.#naming.set(secret, (naming = new Set()));
      naming.add(id);
    }
    return secrets;
  }

  /** A Secret changed: the sources and Webhooks of its namespace that name it. */
  onSecret(key: string): Enqueue {
    const enqueue: Enqueue = { webhooks: [], sources: [], policies: [] };
    for (const id of this.#naming.get(key) ?? []) {
      const colon = id.indexOf(':');
      enqueue[id.slice(0, colon) as 'webhooks' | 'sources'].push(id.slice(colon + 1));
    }
    return enqueue;
  }
}

/** A dispatcher Deployment changed: the EventSource its label names (its readiness). */
export function onDeployment(key: string, deployment: KubeObject | undefined): Enqueue {
  const labels = deployment?.metadata.labels as Record<string, string> | undefined;
  const source = labels?.['hookline.dev/eventsource'];
  return { webhooks: [], sources: source ? [`${split(key)[0]}/${source}`] : [], policies: [] };
}
