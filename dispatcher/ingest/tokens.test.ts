import assert from 'node:assert/strict';
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
