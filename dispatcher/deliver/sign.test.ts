// Signatures checked with code independent of the signer: the standardwebhooks library,
// @stellar/stellar-base, and node:crypto verification written out here.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { Keypair } from '@stellar/stellar-base';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { generateSecret } from '../../core/signing/keys.ts';
import { createSigner } from './sign.ts';

const body = Buffer.from('{"test": 2432232314}');
const input = {
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body,
  url: new URL('https://wallet.example.com:8443/cb'),
};

describe('standard-webhooks', () => {
  it('reproduces the Standard Webhooks test vector', () => {
    const headers = createSigner({
      scheme: 'standard-webhooks',
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    })(input);
    assert.deepEqual(headers, {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('signs with every key during a rotation, each verifiable by the standardwebhooks library', () => {
    const oldKey = generateSecret('standard-webhooks');
    const newKey = generateSecret('standard-webhooks');
    const now = { ...input, timestamp: Math.floor(Date.now() / 1000) };
    const headers = createSigner({ scheme: 'standard-webhooks', secrets: [oldKey, newKey] })(now);
    assert.equal(headers['webhook-signature']!.split(' ').length, 2);
    for (const key of [oldKey, newKey]) {
      assert.doesNotThrow(() => new StandardWebhook(key).verify(body.toString(), headers));
    }
    assert.throws(() =>
      new StandardWebhook(generateSecret('standard-webhooks')).verify(body.toString(), headers),
    );
  });
});

describe('ed25519', () => {
  it('signs v1a over id.timestamp.body, verifiable with the public key', () => {
    const secret = generateSecret('ed25519');
    const headers = createSigner({ scheme: 'ed25519', secrets: [secret] })(input);
    const [version, signature] = headers['webhook-signature']!.split(',');
    assert.equal(version, 'v1a');
    const seed = Buffer.from(secret.slice('whsk_'.length), 'base64');
    const privateKey = crypto.createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
      format: 'der',
      type: 'pkcs8',
    });
    const content = Buffer.from(`${input.id}.${input.timestamp}.${body.toString()}`);
    assert.ok(
      crypto.verify(null, content, crypto.createPublicKey(privateKey), Buffer.from(signature!, 'base64')),
    );
  });
});

describe('hmac-sha256', () => {
  it('sends sha256=<hex> of the body keyed with the stored bytes, in the configured header', () => {
    const headers = createSigner({ scheme: 'hmac-sha256', secrets: ['s3cret'], header: 'X-Sig' })(input);
    assert.deepEqual(headers, {
      'X-Sig': `sha256=${crypto.createHmac('sha256', 's3cret').update(body).digest('hex')}`,
    });
    assert.ok(createSigner({ scheme: 'hmac-sha256', secrets: ['k'] })(input)['X-Hookline-Signature']);
  });
});

describe('rsa-sha256', () => {
  const secret = generateSecret('rsa-sha256', 2048);
  const publicKey = crypto.createPublicKey(secret);
  it('sends Content-Signature: alg=RS256; digest=<base64url> by default', () => {
    const value = createSigner({ scheme: 'rsa-sha256', secrets: [secret] })(input)['Content-Signature']!;
    const match = /^alg=RS256; digest=([A-Za-z0-9_-]+)$/.exec(value);
    assert.ok(match, value);
    assert.ok(
      crypto.createVerify('RSA-SHA256').update(body).verify(publicKey, Buffer.from(match[1]!, 'base64url')),
    );
  });
  it('sends the older X-Signature: <base64> form', () => {
    const headers = createSigner({ scheme: 'rsa-sha256', secrets: [secret], format: 'plain' })(input);
    assert.ok(
      crypto
        .createVerify('RSA-SHA256')
        .update(body)
        .verify(publicKey, Buffer.from(headers['X-Signature']!, 'base64')),
    );
  });
  it('accepts 1024-bit keys', () => {
    const small = generateSecret('rsa-sha256', 1024);
    const value = createSigner({ scheme: 'rsa-sha256', secrets: [small], encoding: 'hex', header: 'Sig' })(
      input,
    ).Sig!;
    assert.ok(
      crypto.verify(
        'sha256',
        body,
        crypto.createPublicKey(small),
        Buffer.from(value.replace('alg=RS256; digest=', ''), 'hex'),
      ),
    );
  });
});

describe('stellar', () => {
  const keypair = Keypair.random();
  const verify = (headers: Record<string, string>, host: string) => {
    const [, t, s] = /^t=(\d+), s=(.+)$/.exec(headers.Signature!) ?? [];
    return keypair.verify(Buffer.concat([Buffer.from(`${t}.${host}.`), body]), Buffer.from(s!, 'base64'));
  };
  it('signs t.host:port.body with the anchor seed, verifiable by stellar-base', () => {
    const headers = createSigner({ scheme: 'stellar', secrets: [keypair.secret()] })(input);
    assert.ok(verify(headers, 'wallet.example.com:8443'));
    assert.equal(headers['X-Stellar-Signature'], undefined);
  });
  it('leaves the port out when the URL names none, and sends the legacy header on request', () => {
    const headers = createSigner({ scheme: 'stellar', secrets: [keypair.secret()], legacyHeader: true })({
      ...input,
      url: new URL('https://wallet.example.com/cb'),
    });
    assert.ok(verify(headers, 'wallet.example.com'));
    assert.equal(headers['X-Stellar-Signature'], headers.Signature);
  });
});

describe('none and bad keys', () => {
  it('adds nothing for none', () =>
    assert.deepEqual(createSigner({ scheme: 'none', secrets: [] })(input), {}));
  it('refuses a missing or malformed key with a reason', () => {
    assert.throws(() => createSigner({ scheme: 'hmac-sha256', secrets: [] }), /needs a secret/);
    assert.throws(() => createSigner({ scheme: 'rsa-sha256', secrets: ['nope'] }), /not a PEM private key/);
    assert.throws(
      () => createSigner({ scheme: 'standard-webhooks', secrets: ['whsec_AA=='] }),
      /at least 16 bytes/,
    );
  });
});
