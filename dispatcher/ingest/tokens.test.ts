import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { bearerToken, parseTokens, tokenAccepted, TokenCheck } from './tokens.ts';

describe('ingest tokens', () => {
  const tokens = parseTokens('# producers\n  alpha-token  \n\nbeta-token\r\n');

  it('reads one token per line, ignoring blanks and comments', () => assert.equal(tokens.length, 2));
  it('accepts each listed token', () => {
    assert.equal(tokenAccepted('alpha-token', tokens), true);
    assert.equal(tokenAccepted('beta-token', tokens), true);
  });
  it('refuses others, prefixes and comment lines', () => {
    for (const candidate of ['gamma', 'alpha', '# producers', ''])
      assert.equal(tokenAccepted(candidate, tokens), false, candidate);
  });
  it('compares in constant time: fixed-length digests, every listed token, no early exit', (t) => {
    const compare = t.mock.method(crypto, 'timingSafeEqual');
    const listed = parseTokens('first-token\nsecond-token\nthird-token');
    for (const presented of ['first-token', 'third-token', 'f', 'first-token-and-more', 'x'.repeat(4096)]) {
      compare.mock.resetCalls();
      tokenAccepted(presented, listed);
      assert.equal(compare.mock.callCount(), 3, `${presented.slice(0, 20)}: compared with each token`);
      for (const call of compare.mock.calls) {
        const [a, b] = call.arguments as [Buffer, Buffer];
        assert.equal(a.length, 32, 'a SHA-256 digest, whatever the length presented');
        assert.equal(b.length, 32);
      }
    }
  });
  it('reads a Bearer header', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer abc'), 'abc');
    assert.equal(bearerToken('Basic abc'), undefined);
    assert.equal(bearerToken('Bearer'), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});

describe('TokenCheck', () => {
  it('accepts the listed tokens, refuses others, and forgets accepted ones when the list changes', () => {
    const check = new TokenCheck();
    assert.equal(check.accepts('b', 'a\nb'), true);
    assert.equal(check.accepts('b', 'a\nb'), true, 'remembered');
    assert.equal(check.accepts('c', 'a\nb'), false);
    assert.equal(check.accepts('c', 'a\nb'), false, 'a refused token is never remembered');
    // The Secret was rotated: a token accepted before is not accepted any more.
    assert.equal(check.accepts('b', 'c'), false);
    assert.equal(check.accepts('c', 'c'), true);
  });

  it('keeps working past the number of tokens it remembers', () => {
    const list = Array.from({ length: 100 }, (_, i) => `token-${i}`).join('\n');
    const check = new TokenCheck();
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 100; i++) assert.equal(check.accepts(`token-${i}`, list), true);
    assert.equal(check.accepts('token-100', list), false);
  });
});
