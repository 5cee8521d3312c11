// The Secret entries a resource names, each with the field that names it: the one list both
// the operator (to check them and to name them in the dispatcher's Role) and the dispatcher
// (to read them) go by.
import type { EventSourceSpec } from './api/v1alpha1/eventsource.ts';
import type { WebhookSpec } from './api/v1alpha1/webhook.ts';
import type { RawObject } from './kube/objects.ts';
import { signingSecretName } from './names.ts';
import { defaultSecretKey } from './signing/keys.ts';

/** One entry of a Secret, and the field of the spec that refers to it (for messages). */
export interface SecretKeyRef {
  field: string;
  name: string;
  key: string;
}

export interface WebhookSecretRefs {
  /**
   * The signing keys, in their rotation order; empty for scheme none. `generated` when the
   * Webhook names no Secret and the operator generates one.
   */
  signing: { refs: SecretKeyRef[]; generated: boolean };
  /** The auth method's entries: one, or username and password for basic. */
  auth?: { method: 'jwt' | 'apiKey' | 'basic' | 'bearer'; refs: SecretKeyRef[] };
}

export function webhookSecretRefs(webhook: string, spec: WebhookSpec): WebhookSecretRefs {
  return { signing: signingRefs(webhook, spec.signing), ...authRefs(spec.auth) };
}

function signingRefs(webhook: string, signing: WebhookSpec['signing']): WebhookSecretRefs['signing'] {
  const { scheme, secretRef } = signing;
  if (scheme === 'none') return { refs: [], generated: false };
  if (!secretRef) {
    const generated = {
      field: 'spec.signing',
      name: signingSecretName(webhook),
      key: defaultSecretKey(scheme),
    };
    return { refs: [generated], generated: true };
  }
  const keys = secretRef.keys ?? [secretRef.key ?? defaultSecretKey(scheme)];
  return {
    refs: keys.map((key) => ({ field: 'spec.signing.secretRef', name: secretRef.name, key })),
    generated: false,
  };
}

function authRefs(auth: WebhookSpec['auth']): Pick<WebhookSecretRefs, 'auth'> {
  if (auth?.jwt) return single('jwt', auth.jwt.secretRef);
  if (auth?.apiKey) return single('apiKey', auth.apiKey.secretRef);
  if (auth?.bearer) return single('bearer', auth.bearer.secretRef);
  if (auth?.basic) {
    const { name, usernameKey, passwordKey } = auth.basic.secretRef;
    const field = 'spec.auth.basic.secretRef';
    return {
      auth: {
        method: 'basic',
        refs: [
          { field, name, key: usernameKey },
          { field, name, key: passwordKey },
        ],
      },
    };
  }
  return {};
}

function single(
  method: 'jwt' | 'apiKey' | 'bearer',
  ref: { name: string; key: string },
): Pick<WebhookSecretRefs, 'auth'> {
  return { auth: { method, refs: [{ field: `spec.auth.${method}.secretRef`, ...ref }] } };
}

/** The Secret entries an EventSource names. */
export function sourceSecretRefs(spec: EventSourceSpec): SecretKeyRef[] {
  const { rabbitmq, kafka, http, broker } = spec;
  const refs: SecretKeyRef[] = [];
  if (rabbitmq) refs.push({ ...rabbitmq.connectionSecretRef, field: 'spec.rabbitmq.connectionSecretRef' });
  if (http) refs.push({ ...http.authSecretRef, field: 'spec.http.authSecretRef' });
  if (broker) refs.push({ ...broker.connectionSecretRef, field: 'spec.broker.connectionSecretRef' });
  const tls = kafka?.tls;
  if (tls?.caSecretRef) refs.push({ ...tls.caSecretRef, field: 'spec.kafka.tls.caSecretRef' });
  if (tls?.certSecretRef) refs.push({ ...tls.certSecretRef, field: 'spec.kafka.tls.certSecretRef' });
  if (tls?.keySecretRef) refs.push({ ...tls.keySecretRef, field: 'spec.kafka.tls.keySecretRef' });
  if (kafka?.sasl) {
    const { name, usernameKey, passwordKey } = kafka.sasl.secretRef;
    const field = 'spec.kafka.sasl.secretRef';
    refs.push({ name, key: usernameKey, field }, { name, key: passwordKey, field });
  }
  return refs;
}

/**
 * The names of the Secrets a raw object refers to, read before validation (an object that is
 * not valid yet still names its Secrets): every `secretRef` and `*SecretRef` in its spec, and
 * for a Webhook that signs without naming a Secret, the one the operator generates.
 */
export function secretNamesOf(object: RawObject): string[] {
  const names = new Set<string>();
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    for (const [key, child] of Object.entries(value)) {
      const name = (child as { name?: unknown } | null)?.name;
      if ((key === 'secretRef' || key.endsWith('SecretRef')) && typeof name === 'string') names.add(name);
      else visit(child);
    }
  };
  visit(object.spec);
  const signing = (object.spec as { signing?: { scheme?: string; secretRef?: unknown } } | undefined)
    ?.signing;
  if (object.kind === 'Webhook' && signing?.scheme !== 'none' && signing?.secretRef === undefined)
    names.add(signingSecretName(object.metadata.name));
  return [...names];
}
