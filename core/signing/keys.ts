// Signing secrets: the one reading of a stored secret as a key, shared by the dispatcher
// (which signs with it) and the operator (which says Ready=False, SecretInvalid, when it
// cannot be read); the secrets the operator generates for `signing.generate: true` (or
// when a Webhook names no Secret); and the public keys receivers verify with.
import crypto from 'node:crypto';
import type { SigningScheme } from '../api/v1alpha1/webhook.ts';
import { errorMessage, HooklineError } from '../errors.ts';
import { decodeStrkey, encodeStrkey, VERSION_PUBLIC_KEY, VERSION_SEED } from './strkey.ts';

/** A stored secret that is no key of its scheme. The message says why, never the secret. */
export class SigningKeyError extends HooklineError {
  /** Which of the secrets given is unusable; undefined when none was given. */
  readonly index: number | undefined;
  constructor(message: string, index?: number, cause?: unknown) {
    super('SigningKeyInvalid', message, cause);
    this.name = 'SigningKeyError';
    this.index = index;
  }
}

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

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The bytes of standard (not url-safe) base64, or undefined when the text is not that. */
function strictBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64');
}

/** The key bytes of a Standard Webhooks secret: whsec_ followed by base64 of 16 bytes or more. */
export function standardWebhooksKey(secret: string): Buffer {
  const trimmed = secret.trim();
  const key = trimmed.startsWith('whsec_') ? strictBase64(trimmed.slice('whsec_'.length)) : undefined;
  if (!key || key.length < 16)
    throw new SigningKeyError(
      'a standard-webhooks secret must be whsec_ followed by base64 of at least 16 bytes',
    );
  return key;
}

/** The private key of a stored ed25519 (whsk_<base64 seed>) or stellar (S… seed) secret. */
export function ed25519PrivateKey(scheme: 'ed25519' | 'stellar', secret: string): crypto.KeyObject {
  if (scheme === 'stellar') {
    try {
      return ed25519FromSeed(decodeStrkey(VERSION_SEED, secret.trim()));
    } catch (error) {
      throw new SigningKeyError(
        `a stellar secret must be a Stellar secret seed (S…): ${errorMessage(error)}`,
      );
    }
  }
  const seed = strictBase64(secret.trim().replace(/^whsk_/, ''));
  if (seed?.length !== 32)
    throw new SigningKeyError('an ed25519 secret must be whsk_ followed by the base64 of a 32-byte seed');
  return ed25519FromSeed(seed);
}

function rsaPrivateKey(secret: string): crypto.KeyObject {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(secret);
  } catch (error) {
    throw new SigningKeyError(`the rsa-sha256 secret is not a PEM private key: ${errorMessage(error)}`);
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new SigningKeyError(
      `the rsa-sha256 secret is a PEM ${key.asymmetricKeyType ?? 'unknown'} key, not an RSA private key`,
    );
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 1024) throw new SigningKeyError(`the rsa-sha256 key has ${bits} bits; 1024 at least are needed`);
  return key;
}

/** The key one stored secret stands for in its scheme. */
function signingKey(scheme: Exclude<SigningScheme, 'none'>, secret: string): crypto.KeyObject {
  switch (scheme) {
    case 'standard-webhooks':
      return crypto.createSecretKey(standardWebhooksKey(secret));
    case 'hmac-sha256':
      // Keyed with the bytes exactly as stored.
      return crypto.createSecretKey(Buffer.from(secret, 'utf8'));
    case 'rsa-sha256':
      return rsaPrivateKey(secret);
    case 'ed25519':
    case 'stellar':
      return ed25519PrivateKey(scheme, secret);
  }
}

/**
 * The keys a scheme signs with, read from the secrets as the Secret stores them (several
 * only for key rotation; blank ones are left out). Throws a SigningKeyError that says
 * which secret is unusable and why: what the dispatcher cannot sign with, the operator
 * reports.
 */
export function signingKeys(scheme: SigningScheme, secrets: readonly string[]): crypto.KeyObject[] {
  if (scheme === 'none') return [];
  const keys: crypto.KeyObject[] = [];
  for (const [index, secret] of secrets.entries()) {
    if (secret.trim() === '') continue;
    try {
      keys.push(signingKey(scheme, secret));
    } catch (error) {
      if (!(error instanceof SigningKeyError)) throw error;
      throw new SigningKeyError(error.message, index, error.cause);
    }
  }
  if (keys.length === 0) throw new SigningKeyError(`the ${scheme} scheme needs a secret`);
  return keys;
}

/** The public key of a signing key, to publish in status.signing.publicKey; undefined for symmetric schemes. */
export function publicKeyOfKey(scheme: SigningScheme, key: crypto.KeyObject): string | undefined {
  switch (scheme) {
    case 'rsa-sha256':
      return crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
    case 'ed25519':
      return `whpk_${ed25519RawPublicKey(key).toString('base64')}`;
    case 'stellar':
      return encodeStrkey(VERSION_PUBLIC_KEY, ed25519RawPublicKey(key));
    default:
      return undefined;
  }
}

/** The public key of a stored secret; undefined for symmetric schemes. */
export function publicKeyOf(scheme: SigningScheme, secret: string): string | undefined {
  if (scheme === 'none') return undefined;
  return publicKeyOfKey(scheme, signingKeys(scheme, [secret])[0]!);
}
