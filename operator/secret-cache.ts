// The operator's cache of Secrets keeps the contents of those a Hookline object names or the
// operator wrote itself (labelled managed-by hookline-operator). Of every other Secret in
// the cluster it keeps the name, version and labels alone: no data, and no annotations
// (kubectl's last-applied-configuration holds a whole Secret), so that the operator's memory
// follows Hookline's objects rather than the cluster's Secrets. A Secret that becomes named
// while only its name is cached is read once, by name.
import type { Logger } from 'pino';
import { errorMessage, reportedCondition } from '../core/errors.ts';
import { resourcePath, type KubeClient } from '../core/kube/client.ts';
import { objectKey, stripManagedFields, type Informer } from '../core/kube/informer.ts';
import type { Secret } from '../core/kube/objects.ts';
import { MANAGED_BY } from './controllers/names.ts';

/** Marks a cached Secret whose contents were left out. */
export const CONTENTS_OMITTED = Symbol('contents omitted');

type Cached = Secret & { [CONTENTS_OMITTED]?: true };

export function contentsOmitted(secret: Cached | undefined): boolean {
  return secret?.[CONTENTS_OMITTED] === true;
}

/** The informer's transform: the whole Secret when `named` (or the operator's own), else its name only. */
export function keepSecret(named: (key: string) => boolean): (secret: Secret) => Secret {
  return (secret) => {
    stripManagedFields(secret);
    const labels = secret.metadata.labels as Record<string, string> | undefined;
    if (named(objectKey(secret)) || labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY) return secret;
    const { name, namespace, uid, resourceVersion } = secret.metadata;
    const kept: Cached = {
      apiVersion: secret.apiVersion,
      kind: secret.kind,
      metadata: { name, namespace, uid, resourceVersion, ...(labels ? { labels } : {}) },
      [CONTENTS_OMITTED]: true,
    };
    return kept;
  };
}

export interface SecretCacheOptions {
  informer: Informer<Secret>;
  client: KubeClient;
  logger: Logger;
  /** A Secret's contents arrived after it was asked for: reconcile who names it. */
  onFilled: (key: string) => void;
}

/** What the controllers read Secrets from. */
export class SecretCache {
  readonly #options: SecretCacheOptions;
  readonly #filling = new Set<string>();

  constructor(options: SecretCacheOptions) {
    this.#options = options;
  }

  /**
   * The cached Secret (undefined: it does not exist). One whose contents are not cached yet
   * is read by name, and meanwhile this throws SecretLoading: a quiet retry, no status change.
   */
  get(key: string): Secret | undefined {
    const secret = this.#options.informer.get(key);
    if (!contentsOmitted(secret)) return secret;
    this.fill(key);
    throw reportedCondition('SecretLoading', `reading Secret ${key}, which was not cached until now`);
  }

  /** Reads a Secret whose contents are not cached (it just became named), once at a time. */
  fill(key: string): void {
    if (!contentsOmitted(this.#options.informer.get(key)) || this.#filling.has(key)) return;
    this.#filling.add(key);
    void this.#read(key).finally(() => this.#filling.delete(key));
  }

  async #read(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const { client, informer, logger, onFilled } = this.#options;
    try {
      const secret = await client.find<Secret>(
        resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace, name }),
      );
      // Gone, or newer than the cached name: the watch brings it (with its contents, as it is named now).
      if (secret && informer.fill(secret)) onFilled(key);
    } catch (error) {
      logger.warn(
        { secret: key, err: errorMessage(error) },
        'Could not read a Secret; retrying with its readers',
      );
    }
  }
}
