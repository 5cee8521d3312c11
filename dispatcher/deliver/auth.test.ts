import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { createAuthenticator } from './auth.ts';

/** HS256 verification written out with node:crypto, independent of jose. */
function verifyHs256(token: string, secret: string): Record<string, number> {
  const [header, payload, signature] = token.split('.');
  const expected = crypto.createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  assert.equal(signature, expected, 'signature');
  assert.deepEqual(JSON.parse(Buffer.from(header!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  return JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, number>;
}

describe('createAuthenticator', () => {
  it('signs a fresh HS256 JWT with iat and exp', async () => {
    const now = new Date('2026-11-23T12:00:00Z');
    const headers = await createAuthenticator({
      kind: 'jwt',
      secret: 'callback-secret',
      expirationMs: 30_000,
      header: 'Authorization',
    })(now);
    const token = headers.Authorization!.replace(/^Bearer /, '');
    const claims = verifyHs256(token, 'callback-secret');
    assert.equal(claims.iat, now.getTime() / 1000);
    assert.equal(claims.exp, now.getTime() / 1000 + 30);
  });

  it('puts an API key in its header', async () => {
    assert.deepEqual(
      await createAuthenticator({ kind: 'apiKey', key: 'k-1', header: 'X-Api-Key' })(new Date()),
      { 'X-Api-Key': 'k-1' },
    );
  });

  it('sends HTTP Basic and bearer credentials', async () => {
    assert.deepEqual(
      await createAuthenticator({ kind: 'basic', username: 'u', password: 'p:w' })(new Date()),
      {
        Authorization: `Basic ${Buffer.from('u:p:w').toString('base64')}`,
      },
    );
    assert.deepEqual(await createAuthenticator({ kind: 'bearer', token: 't' })(new Date()), {
      Authorization: 'Bearer t',
    });
  });

  it('adds nothing without auth', async () =>
    assert.deepEqual(await createAuthenticator(undefined)(new Date()), {}));
});
