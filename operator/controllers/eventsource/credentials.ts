// The broker credential a source's dispatcher gets on the operator's default broker: a user
// of its own (see operator/rabbit/users.ts) whose password lives only in the Secret the
// operator writes for the dispatcher (`hookline-broker-<source>`, owned by the source). The
// password is kept while the Secret holds it, replaced when the annotation
// `hookline.dev/rotate-credentials` takes a new value, and the user is deleted with the source.
import type { RawObject } from '../../../core/kube/objects.ts';
import { namespaceOf } from '../../../core/names.ts';
import {
  BrokerUsers,
  credentialsOf,
  generatePassword,
  namespacePermissions,
  sameBroker,
  sourceUserName,
  userUri,
  vhostOf,
} from '../../rabbit/users.ts';
import type { Caches } from '../context.ts';
import { brokerSecretName, hashOf } from '../names.ts';
import { secretEntry } from '../secrets.ts';

export const ROTATE_ANNOTATION = 'hookline.dev/rotate-credentials';

/** What status records of a source's broker credential: never the password. */
export interface CredentialStatus {
  user: string;
  /** The last value of the rotate annotation that was carried out. */
  rotation?: string;
  rotatedAt?: string;
}

export interface SourceCredential {
  /** The URI the dispatcher connects with. */
  uri: string;
  status: CredentialStatus;
  /** Whether this reconcile gave the user a new password. */
  rotated: boolean;
}

/**
 * The password a source's user should have: the one its Secret (or this operator's last
 * write, while the cache lags) holds for the same broker and user, unless a rotation is
 * asked for. Pure.
 */
export function chooseCredential(input: {
  brokerUri: string;
  user: string;
  held: string | undefined;
  rotation: string | undefined;
  lastRotation: string | undefined;
  newPassword: () => string;
}): { password: string; rotated: boolean } {
  const held = input.held !== undefined ? credentialsOf(input.held) : undefined;
  const rotate = input.rotation !== undefined && input.rotation !== input.lastRotation;
  if (held && held.user === input.user && sameBroker(input.held!, input.brokerUri) && !rotate)
    return { password: held.password, rotated: false };
  return { password: input.newPassword(), rotated: rotate };
}

export class SourceCredentials {
  readonly #users: BrokerUsers;
  readonly #caches: Caches;
  readonly #maxAgeMs: number;
  readonly #now: () => Date;
  /** Per source uid: the URI last put in place, the rotation it carried out, and when. */
  readonly #last = new Map<string, { uri: string; hash: string; at: number; status: CredentialStatus }>();

  constructor(options: { managementUri: string; caches: Caches; maxAgeMs: number; now: () => Date }) {
    this.#users = new BrokerUsers(options.managementUri);
    this.#caches = options.caches;
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now;
  }

  /** Puts the source's user in place on the broker at `brokerUri` and answers its URI. */
  async ensure(raw: RawObject, brokerUri: string): Promise<SourceCredential> {
    const namespace = namespaceOf(raw);
    const name = raw.metadata.name;
    const uid = raw.metadata.uid ?? `${namespace}/${name}`;
    const user = sourceUserName(namespace, name);
    const recorded = (raw.status?.brokerCredentials ?? undefined) as CredentialStatus | undefined;
    const last = this.#last.get(uid);
    const secret = secretEntry(this.#caches, namespace, { name: brokerSecretName(name), key: 'uri' }, 'uri');
    const rotation = raw.metadata.annotations?.[ROTATE_ANNOTATION] || undefined;
    const lastRotation = last?.status.rotation ?? recorded?.rotation;
    const chosen = chooseCredential({
      brokerUri,
      user,
      held: last?.uri ?? (secret.ok ? secret.value : undefined),
      rotation,
      lastRotation,
      newPassword: generatePassword,
    });
    const uri = userUri(brokerUri, user, chosen.password);
    const status: CredentialStatus = chosen.rotated
      ? { user, rotation, rotatedAt: this.#now().toISOString() }
      : {
          user,
          ...(lastRotation !== undefined ? { rotation: lastRotation } : {}),
          ...((last?.status.rotatedAt ?? recorded?.rotatedAt) !== undefined
            ? { rotatedAt: (last?.status.rotatedAt ?? recorded?.rotatedAt)! }
            : {}),
        };
    const permissions = namespacePermissions(namespace);
    const hash = hashOf({ uri, permissions });
    const now = this.#now().getTime();
    if (last?.hash !== hash || now - last.at >= this.#maxAgeMs)
      await this.#users.put(user, chosen.password, vhostOf(brokerUri), permissions);
    this.#last.set(uid, { uri, hash, at: now, status });
    return { uri, status, rotated: chosen.rotated };
  }

  /** Deletes the source's user: its dispatcher can no longer reach the broker. */
  async remove(raw: RawObject): Promise<void> {
    const namespace = namespaceOf(raw);
    this.#last.delete(raw.metadata.uid ?? `${namespace}/${raw.metadata.name}`);
    await this.#users.delete(sourceUserName(namespace, raw.metadata.name));
  }
}
