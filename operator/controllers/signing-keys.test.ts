import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { SIGNING_SCHEMES } from '../api/v1alpha1/webhook.ts';
import { ed25519PrivateKey, generateSecret, publicKeyOf } from './signing-keys.ts';

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
