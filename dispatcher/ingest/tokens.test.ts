import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerToken, parseTokens, tokenAccepted, tokenCache } from './tokens.ts';

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

describe('tokenCache', () => {
  it('parses a text once and again when it changes', () => {
    const tokens = tokenCache();
    const first = tokens('a\nb');
    assert.equal(tokens('a\nb'), first);
    assert.equal(tokens('c').length, 1);
    assert.equal(tokenAccepted('c', tokens('c')), true);
  });
});
