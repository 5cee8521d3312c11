import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeStrkey, encodeStrkey, VERSION_PUBLIC_KEY, VERSION_SEED } from './strkey.ts';

describe('strkey', () => {
  // A public key from Stellar's documentation.
  const publicKey = 'GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ';
  it('decodes and re-encodes a known public key', () => {
    const payload = decodeStrkey(VERSION_PUBLIC_KEY, publicKey);
    assert.equal(payload.length, 32);
    assert.equal(encodeStrkey(VERSION_PUBLIC_KEY, payload), publicKey);
  });

  it('round-trips a seed', () => {
    const payload = Uint8Array.from({ length: 32 }, (_, i) => i);
    const seed = encodeStrkey(VERSION_SEED, payload);
    assert.match(seed, /^S[A-Z2-7]{55}$/);
    assert.deepEqual(decodeStrkey(VERSION_SEED, seed), payload);
  });

  it('refuses a bad checksum and the wrong kind of key', () => {
    assert.throws(() => decodeStrkey(VERSION_PUBLIC_KEY, publicKey.slice(0, 55) + 'A'), /checksum/);
    assert.throws(() => decodeStrkey(VERSION_SEED, publicKey), /secret seed/);
  });
});
