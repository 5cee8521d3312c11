// Everything a worker needs to deliver to one Webhook, resolved from the Webhook, its
// CallbackPolicy, its source and its Secrets. A fingerprint over all of it tells the
// supervisor when a running worker must be restarted with a new configuration.
import crypto from 'node:crypto';
import type { CallbackPolicySpec } from '../core/api/v1alpha1/callbackpolicy.ts';
import { parseDuration } from '../core/api/v1alpha1/duration.ts';
import { Webhook, type WebhookSpec } from '../core/api/v1alpha1/webhook.ts';
import { validate } from '../core/api/validate.ts';
import type { RawObject } from '../core/kube/objects.ts';
import { signingSecretName } from '../core/names.ts';
import { resolvePolicy } from '../core/policy.ts';
import { defaultSecretKey } from '../core/signing/keys.ts';
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

async function authConfig(spec: WebhookSpec, secrets: SecretReader): Promise<AuthConfig | undefined> {
  const { auth } = spec;
  if (!auth) return undefined;
  if (auth.jwt) {
    return {
      kind: 'jwt',
      secret: await secrets.entry(auth.jwt.secretRef.name, auth.jwt.secretRef.key, 'spec.auth.jwt.secretRef'),
      expirationMs: parseDuration(auth.jwt.expiration) ?? 30_000,
      header: auth.jwt.header,
    };
  }
  if (auth.apiKey) {
    return {
      kind: 'apiKey',
      key: await secrets.entry(
        auth.apiKey.secretRef.name,
        auth.apiKey.secretRef.key,
        'spec.auth.apiKey.secretRef',
      ),
      header: auth.apiKey.header,
    };
  }
  if (auth.basic) {
    const { name, usernameKey, passwordKey } = auth.basic.secretRef;
    return {
      kind: 'basic',
      username: await secrets.entry(name, usernameKey, 'spec.auth.basic.secretRef'),
      password: await secrets.entry(name, passwordKey, 'spec.auth.basic.secretRef'),
    };
  }
  if (auth.bearer)
    return {
      kind: 'bearer',
      token: await secrets.entry(
        auth.bearer.secretRef.name,
        auth.bearer.secretRef.key,
        'spec.auth.bearer.secretRef',
      ),
    };
  return undefined;
}

async function signingSecrets(webhook: Webhook, secrets: SecretReader): Promise<string[]> {
  const { scheme, secretRef } = webhook.spec.signing;
  if (scheme === 'none') return [];
  if (!secretRef)
    return [
      await secrets.entry(
        signingSecretName(webhook.metadata.name),
        defaultSecretKey(scheme),
        'spec.signing (generated)',
      ),
    ];
  const keys = secretRef.keys ?? [secretRef.key ?? defaultSecretKey(scheme)];
  return Promise.all(keys.map((key) => secrets.entry(secretRef.name, key, 'spec.signing.secretRef')));
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
  const namespace = webhook.metadata.namespace ?? 'default';
  const policy = resolvePolicy(input.policies, namespace, webhook.spec.policyRef);
  if (!policy.ok) return { ok: false, reason: policy.message };
  try {
    const secretValues = await signingSecrets(webhook, input.secrets);
    const auth = await authConfig(webhook.spec, input.secrets);
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
