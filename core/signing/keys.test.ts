import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { SIGNING_SCHEMES, type SigningScheme } from '../api/v1alpha1/webhook.ts';
import { ed25519PrivateKey, generateSecret, publicKeyOf, SigningKeyError, signingKeys } from './keys.ts';
import { encodeStrkey, VERSION_PUBLIC_KEY } from './strkey.ts';

describe('generated signing secrets', () => {
  const formats: Record<string, RegExp> = {
    'standard-webhooks': /^whsec_[A-Za-z0-9+/]{43}=$/,
    'hmac-sha256': /^[0-9a-f]{64}$/,
    'rsa-sha256': /^-----BEGIN PRIVATE KEY-----/,
    ed25519: /^whsk_[A-Za-z0-9+/]{43}=$/,
    stellar: /^S[A-Z2-7]{55}$/,
    none: /^$/,
  };
  for (const scheme of SIGNING_SCHEMES) {
    it(`${scheme} has the expected format`, () =>
      assert.match(generateSecret(scheme, 1024), formats[scheme]!));
  }

  it('publishes an RSA public key that verifies what the private key signs', () => {
    const secret = generateSecret('rsa-sha256', 1024);
    const signature = crypto.sign('sha256', Buffer.from('body'), secret);
    assert.ok(crypto.verify('sha256', Buffer.from('body'), publicKeyOf('rsa-sha256', secret)!, signature));
  });

  it('publishes a Stellar G… key matching the S… seed', () => {
    const seed = generateSecret('stellar');
    const publicKey = publicKeyOf('stellar', seed)!;
    assert.match(publicKey, /^G[A-Z2-7]{55}$/);
    const signature = crypto.sign(null, Buffer.from('x'), ed25519PrivateKey('stellar', seed));
    const spki = crypto.createPublicKey(ed25519PrivateKey('stellar', seed));
    assert.ok(crypto.verify(null, Buffer.from('x'), spki, signature));
  });

  it('publishes no public key for symmetric schemes', () => {
    assert.equal(publicKeyOf('standard-webhooks', generateSecret('standard-webhooks')), undefined);
  });
});

describe('reading stored secrets as signing keys', () => {
  const rsa = generateSecret('rsa-sha256', 1024);
  const seed = generateSecret('stellar');
  const pem = (key: crypto.KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
  interface Case {
    name: string;
    scheme: SigningScheme;
    secrets: string[];
    /** How many keys are read, or why the secret at `index` is refused. */
    keys?: number;
    refused?: RegExp;
    index?: number;
  }
  const cases: Case[] = [
    {
      name: 'a generated whsec_ secret',
      scheme: 'standard-webhooks',
      secrets: [generateSecret('standard-webhooks')],
      keys: 1,
    },
    {
      name: 'the Standard Webhooks test vector',
      scheme: 'standard-webhooks',
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      keys: 1,
    },
    {
      name: 'a whsec_ secret with a trailing newline',
      scheme: 'standard-webhooks',
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n'],
      keys: 1,
    },
    {
      name: 'base64 without the whsec_ prefix',
      scheme: 'standard-webhooks',
      secrets: ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      refused: /whsec_ followed by base64/,
      index: 0,
    },
    {
      name: 'a passphrase',
      scheme: 'standard-webhooks',
      secrets: ['correct horse battery staple'],
      refused: /whsec_/,
      index: 0,
    },
    {
      name: 'whsec_ followed by url-safe base64',
      scheme: 'standard-webhooks',
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa_-'],
      refused: /base64/,
      index: 0,
    },
    {
      name: 'whsec_ followed by too few bytes',
      scheme: 'standard-webhooks',
      secrets: ['whsec_AA=='],
      refused: /at least 16 bytes/,
      index: 0,
    },
    {
      name: 'the second key of a rotation',
      scheme: 'standard-webhooks',
      secrets: [generateSecret('standard-webhooks'), 'not-a-secret'],
      refused: /whsec_/,
      index: 1,
    },
    {
      name: 'a rotation with a blank entry',
      scheme: 'standard-webhooks',
      secrets: [generateSecret('standard-webhooks'), ' '],
      keys: 1,
    },
    { name: 'no secret', scheme: 'standard-webhooks', secrets: [], refused: /needs a secret/ },
    { name: 'any bytes for hmac-sha256', scheme: 'hmac-sha256', secrets: ['plain-bytes-key'], keys: 1 },
    { name: 'a blank hmac-sha256 secret', scheme: 'hmac-sha256', secrets: ['  '], refused: /needs a secret/ },
    { name: 'an RSA private key', scheme: 'rsa-sha256', secrets: [rsa], keys: 1 },
    {
      name: 'text that is no PEM',
      scheme: 'rsa-sha256',
      secrets: ['nope'],
      refused: /not a PEM private key/,
      index: 0,
    },
    {
      name: 'an RSA public key',
      scheme: 'rsa-sha256',
      secrets: [crypto.createPublicKey(rsa).export({ type: 'spki', format: 'pem' }).toString()],
      refused: /not a PEM private key/,
      index: 0,
    },
    {
      name: 'an EC private key',
      scheme: 'rsa-sha256',
      secrets: [pem(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)],
      refused: /ec key, not an RSA private key/,
      index: 0,
    },
    {
      name: 'a 512-bit RSA key',
      scheme: 'rsa-sha256',
      secrets: [pem(crypto.generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey)],
      refused: /512 bits/,
      index: 0,
    },
    { name: 'a generated ed25519 secret', scheme: 'ed25519', secrets: [generateSecret('ed25519')], keys: 1 },
    {
      name: 'an ed25519 seed of 16 bytes',
      scheme: 'ed25519',
      secrets: [`whsk_${crypto.randomBytes(16).toString('base64')}`],
      refused: /32-byte seed/,
      index: 0,
    },
    {
      name: 'an ed25519 seed that is not base64',
      scheme: 'ed25519',
      secrets: [`whsk_${'!'.repeat(43)}=`],
      refused: /32-byte seed/,
      index: 0,
    },
    { name: 'a Stellar seed', scheme: 'stellar', secrets: [seed], keys: 1 },
    {
      name: 'a Stellar public key',
      scheme: 'stellar',
      secrets: [encodeStrkey(VERSION_PUBLIC_KEY, crypto.randomBytes(32))],
      refused: /Stellar secret seed/,
      index: 0,
    },
    {
      name: 'a Stellar seed with a bad checksum',
      scheme: 'stellar',
      secrets: [`${seed.slice(0, 55)}${seed.endsWith('A') ? 'B' : 'A'}`],
      refused: /checksum/,
      index: 0,
    },
    {
      name: 'a Stellar seed that is not base32',
      scheme: 'stellar',
      secrets: [`S${'1'.repeat(55)}`],
      refused: /Stellar secret seed/,
      index: 0,
    },
    {
      name: 'a whsk_ secret for stellar',
      scheme: 'stellar',
      secrets: [generateSecret('ed25519')],
      refused: /Stellar secret seed/,
      index: 0,
    },
    { name: 'nothing for none', scheme: 'none', secrets: [], keys: 0 },
  ];
  for (const c of cases) {
    it(`${c.refused ? 'refuses' : 'reads'} ${c.name} (${c.scheme})`, () => {
      if (!c.refused) return assert.equal(signingKeys(c.scheme, c.secrets).length, c.keys);
      assert.throws(
        () => signingKeys(c.scheme, c.secrets),
        (error) =>
          error instanceof SigningKeyError &&
          c.refused!.test(error.message) &&
          error.index === c.index &&
          c.secrets.every((secret) => secret.trim() === '' || !error.message.includes(secret.trim())),
      );
    });
  }
});
