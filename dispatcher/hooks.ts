// Everything a worker needs to deliver to one Webhook, resolved from the Webhook, its
// CallbackPolicy, its source and its Secrets. A fingerprint over all of it tells the
// supervisor when a running worker must be restarted with a new configuration.
import crypto from 'node:crypto';
import type { CallbackPolicySpec } from '../core/api/v1alpha1/callbackpolicy.ts';
import { parseDuration } from '../core/api/v1alpha1/duration.ts';
import { Webhook, type WebhookSpec } from '../core/api/v1alpha1/webhook.ts';
import { validate } from '../core/api/validate.ts';
import type { RawObject } from '../core/kube/objects.ts';
import { namespaceOf } from '../core/names.ts';
import { resolvePolicy } from '../core/policy.ts';
import { webhookSecretRefs, type WebhookSecretRefs } from '../core/secret-refs.ts';
import { webhookQueues, type WebhookQueues } from '../core/rabbit/topology.ts';
import { createAuthenticator, type AuthConfig, type Authenticator } from './deliver/auth.ts';
import { compileMatch, type Matcher } from './deliver/event.ts';
import { createSigner, type Signer } from './deliver/sign.ts';
import type { SecretReader } from './secrets.ts';

export interface HookConfig {
  name: string;
  namespace: string;
  spec: WebhookSpec;
  policy: CallbackPolicySpec;
  topology: WebhookQueues;
  url: URL;
  signer: Signer;
  authenticate: Authenticator;
  match: Matcher;
  /** The CloudEvents `source` of this hook's events. */
  eventSource: string;
  maxEventBytes: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  fingerprint: string;
}

export type Resolved = { ok: true; config: HookConfig } | { ok: false; reason: string };

/** Reads the auth method's Secret entries (one list: core/secret-refs.ts) into its configuration. */
async function authConfig(
  webhook: Webhook,
  refs: WebhookSecretRefs['auth'],
  secrets: SecretReader,
): Promise<AuthConfig | undefined> {
  const { auth } = webhook.spec;
  if (!auth || !refs) return undefined;
  const [first, second] = await Promise.all(
    refs.refs.map((ref) => secrets.entry(ref.name, ref.key, ref.field)),
  );
  if (auth.jwt)
    return {
      kind: 'jwt',
      secret: first!,
      expirationMs: parseDuration(auth.jwt.expiration) ?? 30_000,
      header: auth.jwt.header,
    };
  if (auth.apiKey) return { kind: 'apiKey', key: first!, header: auth.apiKey.header };
  if (auth.basic) return { kind: 'basic', username: first!, password: second! };
  if (auth.bearer) return { kind: 'bearer', token: first! };
  return undefined;
}

/** The signing secrets, in rotation order; the generated Secret's when the Webhook names none. */
function signingSecrets(refs: WebhookSecretRefs['signing'], secrets: SecretReader): Promise<string[]> {
  return Promise.all(
    refs.refs.map((ref) =>
      secrets.entry(ref.name, ref.key, refs.generated ? 'spec.signing (generated)' : ref.field),
    ),
  );
}

export interface ResolveInput {
  raw: RawObject;
  policies: { get(key: string): RawObject | undefined };
  secrets: SecretReader;
  sourceExchange: string;
  maxEventBytes: number;
}

export async function resolveHook(input: ResolveInput): Promise<Resolved> {
  const parsed = validate(Webhook, input.raw);
  if (!parsed.ok) return { ok: false, reason: `invalid: ${parsed.message}` };
  const webhook = parsed.value;
  const namespace = namespaceOf(webhook);
  const policy = resolvePolicy(input.policies, namespace, webhook.spec.policyRef);
  if (!policy.ok) return { ok: false, reason: policy.message };
  try {
    const refs = webhookSecretRefs(webhook.metadata.name, webhook.spec);
    const secretValues = await signingSecrets(refs.signing, input.secrets);
    const auth = await authConfig(webhook, refs.auth, input.secrets);
    const { signing } = webhook.spec;
    const signer = createSigner({
      scheme: signing.scheme,
      secrets: secretValues,
      header: signing.header,
      encoding: signing.encoding,
      format: signing.format,
      legacyHeader: signing.legacyHeader,
    });
    const fingerprint = crypto
      .createHash('sha256')
      .update(
        JSON.stringify({
          spec: webhook.spec,
          policy: policy.value.spec,
          secretValues,
          auth,
          exchange: input.sourceExchange,
          max: input.maxEventBytes,
        }),
      )
      .digest('hex');
    return {
      ok: true,
      config: {
        name: webhook.metadata.name,
        namespace,
        spec: webhook.spec,
        policy: policy.value.spec,
        topology: webhookQueues(namespace, webhook.metadata.name),
        url: new URL(webhook.spec.url),
        signer,
        authenticate: createAuthenticator(auth),
        match: compileMatch(webhook.spec.match),
        eventSource: `/apis/hookline.dev/v1alpha1/namespaces/${namespace}/eventsources/${webhook.spec.sourceRef.name}`,
        maxEventBytes: input.maxEventBytes,
        connectTimeoutMs: parseDuration(policy.value.spec.timeout.connect) ?? 10_000,
        requestTimeoutMs: parseDuration(policy.value.spec.timeout.request) ?? 10_000,
        fingerprint,
      },
    };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}
