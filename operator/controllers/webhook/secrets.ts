// The Secrets of a Webhook, from the operator's side: every entry it names must exist; the
// signing secret must be one the dispatcher can sign with (read with the dispatcher's own
// rules, so that Ready=False, SecretInvalid, says so before a delivery fails); and when the
// Webhook names none, the operator generates it. The public key goes to status.
import type { Webhook } from '../../../core/api/v1alpha1/webhook.ts';
import { isConflict, resourcePath } from '../../../core/kube/client.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import type { Lookup } from '../../../core/lookup.ts';
import { namespaceOf } from '../../../core/names.ts';
import { webhookSecretRefs, type SecretKeyRef } from '../../../core/secret-refs.ts';
import { generateSecret, publicKeyOfKey, SigningKeyError, signingKeys } from '../../../core/signing/keys.ts';
import type { OperatorContext } from '../context.ts';
import { ownerReference } from '../names.ts';
import { secretEntry } from '../secrets.ts';

type Scheme = Webhook['spec']['signing']['scheme'];

/** The first auth entry that cannot be read, as a lookup failure. */
export function checkAuthSecrets(ctx: OperatorContext, webhook: Webhook): Lookup<undefined> {
  const { auth } = webhookSecretRefs(webhook.metadata.name, webhook.spec);
  for (const ref of auth?.refs ?? []) {
    const entry = secretEntry(ctx.caches, namespaceOf(webhook), ref, ref.field);
    if (!entry.ok) return entry;
  }
  return { ok: true, value: undefined };
}

/** Checks the signing Secret, creating it when the operator generates it; answers the public key. */
export async function ensureSigningSecret(
  ctx: OperatorContext,
  webhook: Webhook,
  raw: RawObject,
): Promise<Lookup<string | undefined>> {
  const namespace = namespaceOf(webhook);
  const { scheme } = webhook.spec.signing;
  const { signing } = webhookSecretRefs(webhook.metadata.name, webhook.spec);
  const [first] = signing.refs;
  if (!first) return { ok: true, value: undefined };
  if (signing.generated) return ensureGenerated(ctx, webhook, raw, first);
  const values: string[] = [];
  for (const ref of signing.refs) {
    const entry = secretEntry(ctx.caches, namespace, ref, ref.field);
    if (!entry.ok) return entry;
    values.push(entry.value);
  }
  return publicKey(
    scheme,
    values,
    `spec.signing.secretRef: Secret ${namespace}/${first.name}`,
    signing.refs.map((ref) => ref.key),
  );
}

async function ensureGenerated(
  ctx: OperatorContext,
  webhook: Webhook,
  raw: RawObject,
  { name, key }: SecretKeyRef,
): Promise<Lookup<string | undefined>> {
  const { caches, client } = ctx;
  const namespace = namespaceOf(webhook);
  const { scheme, keySize } = webhook.spec.signing;
  const path = resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace, name });
  // Not in the cache: most likely new. Create it; a 409 says it exists and the cache lags.
  let secret: StoredSecret | undefined = caches.secrets.get(`${namespace}/${name}`);
  if (!secret) {
    try {
      secret = await client.create<StoredSecret>(
        resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace }),
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name,
            namespace,
            labels: {
              'app.kubernetes.io/managed-by': 'hookline-operator',
              'hookline.dev/webhook': webhook.metadata.name.slice(0, 63),
            },
            ownerReferences: [ownerReference(raw)],
          },
          type: 'Opaque',
          stringData: { [key]: generateSecret(scheme, keySize) },
        },
      );
      // Told without waiting: the recorder reports its own failures, and the reconcile goes on.
      void ctx.recorder.normal(
        raw,
        'GeneratedSecret',
        `Generated ${scheme} signing secret in Secret ${name}`,
      );
    } catch (error) {
      if (!isConflict(error)) throw error;
      secret = await client.find<StoredSecret>(path);
    }
  }
  if (secret && secret.data?.[key] === undefined)
    secret = await client.mergePatch<StoredSecret>(path, {
      stringData: { [key]: generateSecret(scheme, keySize) },
    });
  const stored = secret?.data?.[key];
  if (stored === undefined)
    return { ok: false, reason: 'SecretNotFound', message: `Secret ${namespace}/${name} lost key "${key}"` };
  return publicKey(
    scheme,
    [Buffer.from(stored, 'base64').toString('utf8')],
    `spec.signing: generated Secret ${namespace}/${name}`,
    [key],
  );
}

type StoredSecret = { data?: Record<string, string> };

/** Deletes the signing Secret the operator generated for this Webhook, and no other. */
export async function deleteGeneratedSecret(
  ctx: OperatorContext,
  raw: RawObject,
  name: string,
): Promise<void> {
  const path = resourcePath({
    group: '',
    version: 'v1',
    plural: 'secrets',
    namespace: namespaceOf(raw),
    name,
  });
  const secret = await ctx.client.find<{ metadata: { ownerReferences?: { uid: string }[] } }>(path);
  if (secret?.metadata.ownerReferences?.some((o) => o.uid === raw.metadata.uid))
    await ctx.client.delete(path);
}

/**
 * Reads the secrets with the dispatcher's own rules (signingKeys); answers the public key.
 * `where` and `keys` name the Secret and its entries in the message; no value ever is.
 */
function publicKey(
  scheme: Scheme,
  values: readonly string[],
  where: string,
  keys: readonly string[],
): Lookup<string | undefined> {
  try {
    const [first] = signingKeys(scheme, values);
    return { ok: true, value: first && publicKeyOfKey(scheme, first) };
  } catch (error) {
    if (!(error instanceof SigningKeyError)) throw error;
    const named = error.index === undefined ? keys : [keys[error.index]];
    const entries = `${named.length === 1 ? 'key' : 'keys'} ${named.map((k) => `"${k}"`).join(', ')}`;
    return {
      ok: false,
      reason: 'SecretInvalid',
      message: `${where} ${entries} cannot sign ${scheme} requests: ${error.message}`,
    };
  }
}
