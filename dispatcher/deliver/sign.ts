// Request signing, one scheme per Webhook (../../shared/SPEC.md §2):
//   standard-webhooks  webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256>
//                      of "<id>.<timestamp>.<body>"; one signature per key, space-separated
//   ed25519            the same headers, v1a,<base64 ed25519>
//   hmac-sha256        <header>: sha256=<hex HMAC-SHA256 of the body>, keyed with the stored bytes
//   rsa-sha256         Content-Signature: alg=RS256; digest=<base64url> (or a plain signature)
//   stellar            Signature: t=<unix>, s=<base64 ed25519 of "<t>.<host[:port]>.<body>">
//   none
import crypto from 'node:crypto';
import type { SigningScheme } from '../../core/api/v1alpha1/webhook.ts';
import { signingKeys } from '../../core/signing/keys.ts';

export interface SigningInput {
  id: string;
  /** Unix seconds. */
  timestamp: number;
  body: Buffer;
  url: URL;
}

export interface SigningOptions {
  scheme: SigningScheme;
  /** The secrets as the Secret stores them; several only for key rotation. */
  secrets: readonly string[];
  header?: string;
  encoding?: 'base64url' | 'base64' | 'hex';
  format?: 'content-signature' | 'plain';
  legacyHeader?: boolean;
}

export type Signer = (input: SigningInput) => Record<string, string>;

function signedContent(input: SigningInput): Buffer {
  return Buffer.concat([Buffer.from(`${input.id}.${input.timestamp}.`), input.body]);
}

/** host[:port] as the Stellar Anchor Platform signs it: the port only when the URL names one. */
export function stellarHost(url: URL): string {
  return url.port ? `${url.hostname}:${url.port}` : url.hostname;
}

/** A signer for the scheme; throws a SigningKeyError when a secret is no key of it. */
export function createSigner(options: SigningOptions): Signer {
  // KeyObjects made once: an HMAC keyed with a Buffer converts the key on every call.
  const keys = signingKeys(options.scheme, options.secrets);
  switch (options.scheme) {
    case 'none':
      return () => ({});
    case 'standard-webhooks':
      return (input) => {
        // The prefix and the body fed in turn: no copy of the body per delivery.
        const prefix = `${input.id}.${input.timestamp}.`;
        const signatures = keys.map(
          (key) =>
            `v1,${crypto.createHmac('sha256', key).update(prefix).update(input.body).digest('base64')}`,
        );
        return {
          'webhook-id': input.id,
          'webhook-timestamp': String(input.timestamp),
          'webhook-signature': signatures.join(' '),
        };
      };
    case 'ed25519':
      return (input) => {
        const content = signedContent(input);
        return {
          'webhook-id': input.id,
          'webhook-timestamp': String(input.timestamp),
          'webhook-signature': keys
            .map((key) => `v1a,${crypto.sign(null, content, key).toString('base64')}`)
            .join(' '),
        };
      };
    case 'hmac-sha256': {
      const key = keys[0]!;
      const header = options.header ?? 'X-Hookline-Signature';
      return (input) => ({
        [header]: `sha256=${crypto.createHmac('sha256', key).update(input.body).digest('hex')}`,
      });
    }
    case 'rsa-sha256': {
      const key = keys[0]!;
      const plain = options.format === 'plain';
      const header = options.header ?? (plain ? 'X-Signature' : 'Content-Signature');
      const encoding = options.encoding ?? (plain ? 'base64' : 'base64url');
      return (input) => {
        const signature = crypto
          .sign('sha256', input.body, { key, padding: crypto.constants.RSA_PKCS1_PADDING })
          .toString(encoding);
        return { [header]: plain ? signature : `alg=RS256; digest=${signature}` };
      };
    }
    case 'stellar': {
      const key = keys[0]!;
      return (input): Record<string, string> => {
        const content = Buffer.concat([
          Buffer.from(`${input.timestamp}.${stellarHost(input.url)}.`),
          input.body,
        ]);
        const value = `t=${input.timestamp}, s=${crypto.sign(null, content, key).toString('base64')}`;
        return options.legacyHeader
          ? { Signature: value, 'X-Stellar-Signature': value }
          : { Signature: value };
      };
    }
  }
}
