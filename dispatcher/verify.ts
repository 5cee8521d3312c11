// Checking a delivery's signature the way a receiver does: with the shared secret, or the
// public key for asymmetric schemes (a private key is accepted too and its public half
// used). Used by `hookline verify` to debug receivers.
import crypto from 'node:crypto';
import type { SigningScheme } from '../core/api/v1alpha1/webhook.ts';
import { ed25519PrivateKey, ed25519RawPublicKey, standardWebhooksKey } from '../core/signing/keys.ts';
import { decodeStrkey, VERSION_PUBLIC_KEY } from '../core/signing/strkey.ts';
import { stellarHost } from './deliver/sign.ts';

export interface CapturedRequest {
  headers: Record<string, string>;
  body: Buffer;
  url?: URL;
}

export type Verdict = { valid: true } | { valid: false; reason: string };

function header(headers: Record<string, string>, name: string): string | undefined {
  const found = Object.entries(headers).find(([key]) => key.toLowerCase() === name.toLowerCase());
  return found?.[1];
}

function ed25519PublicKey(key: string, scheme: 'ed25519' | 'stellar'): crypto.KeyObject {
  const raw = key.trim();
  let bytes: Buffer;
  if (scheme === 'stellar' && raw.startsWith('G')) bytes = Buffer.from(decodeStrkey(VERSION_PUBLIC_KEY, raw));
  else if (scheme === 'ed25519' && raw.startsWith('whpk_')) bytes = Buffer.from(raw.slice(5), 'base64');
  else bytes = ed25519RawPublicKey(ed25519PrivateKey(scheme, raw));
  const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
  return crypto.createPublicKey({ key: Buffer.concat([spkiPrefix, bytes]), format: 'der', type: 'spki' });
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

export function verifyRequest(
  scheme: SigningScheme,
  key: string,
  request: CapturedRequest,
  options: { toleranceSeconds?: number; now?: number; header?: string } = {},
): Verdict {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  switch (scheme) {
    case 'none':
      return { valid: true };
    case 'standard-webhooks':
    case 'ed25519': {
      const id = header(request.headers, 'webhook-id');
      const timestamp = header(request.headers, 'webhook-timestamp');
      const signatures = header(request.headers, 'webhook-signature');
      if (!id || !timestamp || !signatures)
        return { valid: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
      if (Math.abs(now - Number(timestamp)) > tolerance)
        return { valid: false, reason: `timestamp ${timestamp} is outside the ${tolerance} s tolerance` };
      const content = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), request.body]);
      for (const candidate of signatures.split(' ')) {
        const [version, signature] = candidate.split(',');
        if (!signature) continue;
        if (scheme === 'standard-webhooks' && version === 'v1') {
          const expected = crypto
            .createHmac('sha256', standardWebhooksKey(key))
            .update(content)
            .digest('base64');
          if (safeEqual(expected, signature)) return { valid: true };
        }
        if (scheme === 'ed25519' && version === 'v1a') {
          if (
            crypto.verify(null, content, ed25519PublicKey(key, 'ed25519'), Buffer.from(signature, 'base64'))
          )
            return { valid: true };
        }
      }
      return { valid: false, reason: 'no signature matches' };
    }
    case 'hmac-sha256': {
      const value = header(request.headers, options.header ?? 'X-Hookline-Signature');
      if (!value) return { valid: false, reason: `missing ${options.header ?? 'X-Hookline-Signature'}` };
      const expected = `sha256=${crypto.createHmac('sha256', Buffer.from(key, 'utf8')).update(request.body).digest('hex')}`;
      return safeEqual(expected, value)
        ? { valid: true }
        : { valid: false, reason: 'signature does not match' };
    }
    case 'rsa-sha256': {
      const value =
        header(request.headers, options.header ?? 'Content-Signature') ??
        header(request.headers, 'X-Signature');
      if (!value) return { valid: false, reason: 'missing Content-Signature or X-Signature' };
      const digest = /digest=([^;\s]+)/.exec(value)?.[1] ?? value.trim();
      const bytes =
        /^[0-9a-f]+$/i.test(digest) && digest.length % 2 === 0 && digest.length >= 256
          ? Buffer.from(digest, 'hex')
          : Buffer.from(digest.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
      const publicKey = crypto.createPublicKey(key);
      return crypto.verify('sha256', request.body, publicKey, bytes)
        ? { valid: true }
        : { valid: false, reason: 'signature does not match' };
    }
    case 'stellar': {
      const value = header(request.headers, 'Signature') ?? header(request.headers, 'X-Stellar-Signature');
      const match = value && /^t=(\d+),\s*s=(.+)$/.exec(value);
      if (!match) return { valid: false, reason: 'missing or malformed Signature header' };
      if (!request.url) return { valid: false, reason: 'the stellar scheme signs the host: pass --url' };
      if (Math.abs(now - Number(match[1])) > tolerance)
        return { valid: false, reason: `timestamp ${match[1]} is outside the ${tolerance} s tolerance` };
      const content = Buffer.concat([Buffer.from(`${match[1]}.${stellarHost(request.url)}.`), request.body]);
      return crypto.verify(null, content, ed25519PublicKey(key, 'stellar'), Buffer.from(match[2]!, 'base64'))
        ? { valid: true }
        : { valid: false, reason: 'signature does not match' };
    }
  }
}
