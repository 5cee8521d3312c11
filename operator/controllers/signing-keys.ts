// Signing secrets the operator generates for `signing.generate: true` (or when a Webhook
// names no Secret), and the public keys receivers verify with.
import crypto from 'node:crypto';
import type { SigningScheme } from '../api/v1alpha1/webhook.ts';
import { decodeStrkey, encodeStrkey, VERSION_PUBLIC_KEY, VERSION_SEED } from './strkey.ts';

/** The Secret key a scheme's secret is stored under when `secretRef.key` is not given. */
export function defaultSecretKey(scheme: SigningScheme): string {
  switch (scheme) {
    case 'rsa-sha256':
      return 'privateKey';
    case 'stellar':
      return 'seed';
    default:
      return 'secret';
  }
}

/** A fresh secret for the scheme, as the Secret stores it. */
export function generateSecret(scheme: SigningScheme, keySize = 2048): string {
  switch (scheme) {
    case 'standard-webhooks':
      return `whsec_${crypto.randomBytes(32).toString('base64')}`;
    case 'hmac-sha256':
      return crypto.randomBytes(32).toString('hex');
    case 'rsa-sha256':
      return crypto
        .generateKeyPairSync('rsa', { modulusLength: keySize })
        .privateKey.export({ type: 'pkcs8', format: 'pem' })
        .toString();
    case 'ed25519':
      return `whsk_${crypto.randomBytes(32).toString('base64')}`;
    case 'stellar':
      return encodeStrkey(VERSION_SEED, crypto.randomBytes(32));
    case 'none':
      return '';
  }
}

function ed25519FromSeed(seed: Uint8Array): crypto.KeyObject {
  // PKCS#8 wrapping of a raw ed25519 seed: a fixed 16-byte prefix, then the seed.
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return crypto.createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519RawPublicKey(privateKey: crypto.KeyObject): Buffer {
  const der = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

/** The private key of a stored ed25519 (whsk_) or stellar (S…) secret. */
export function ed25519PrivateKey(scheme: 'ed25519' | 'stellar', secret: string): crypto.KeyObject {
  if (scheme === 'stellar') return ed25519FromSeed(decodeStrkey(VERSION_SEED, secret.trim()));
  const seed = Buffer.from(secret.trim().replace(/^whsk_/, ''), 'base64');
  if (seed.length !== 32)
    throw new Error('an ed25519 secret must be whsk_ followed by the base64 of a 32-byte seed');
  return ed25519FromSeed(seed);
}

/** The public key to publish in status.signing.publicKey; undefined for symmetric schemes. */
export function publicKeyOf(scheme: SigningScheme, secret: string): string | undefined {
  switch (scheme) {
    case 'rsa-sha256':
      return crypto.createPublicKey(secret).export({ type: 'spki', format: 'pem' }).toString();
    case 'ed25519':
      return `whpk_${ed25519RawPublicKey(ed25519PrivateKey('ed25519', secret)).toString('base64')}`;
    case 'stellar':
      return encodeStrkey(VERSION_PUBLIC_KEY, ed25519RawPublicKey(ed25519PrivateKey('stellar', secret)));
    default:
      return undefined;
  }
}
