import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallbackPolicySpec } from '../../core/api/v1alpha1/callbackpolicy.ts';
import type { HttpResult } from './http.ts';
import { decide, retryDelay } from './policy.ts';

const policy = (spec: Record<string, unknown> = {}) => CallbackPolicySpec.parse(spec);
const status = (code: number, retryAfterMs?: number): HttpResult => ({
  kind: 'response',
  status: code,
  body: '',
  durationMs: 1,
  retryAfterMs,
});
const error = (kind: 'timeout' | 'network' | 'refused-address'): HttpResult => ({
  kind: 'error',
  error: kind,
  message: kind,
  durationMs: 1,
});
const mid = () => 0.5;

describe('retryDelay', () => {
  const payments = policy({ retry: { schedule: ['30s', '5m', '15m', '1h'] } });
  const cases: [string, ReturnType<typeof policy>, number, number | undefined][] = [
    ['schedule, first retry', payments, 1, 30_000],
    ['schedule, last retry', payments, 4, 3_600_000],
    ['schedule, exhausted', payments, 5, undefined],
    ['built-in exponential, first', policy(), 1, 5_000],
    ['built-in exponential, fourth', policy(), 4, 40_000],
    ['built-in exponential, capped at 1h', policy(), 8, 640_000],
    ['built-in exponential, exhausted after 8', policy(), 9, undefined],
    ['linear', policy({ retry: { backoff: { policy: 'linear', delay: '10s', attempts: 3 } } }), 3, 30_000],
    ['cap', policy({ retry: { backoff: { delay: '1m', max: '90s', attempts: 5 } } }), 3, 90_000],
    ['milliseconds for scaled-down tests', policy({ retry: { schedule: ['300ms', '3s'] } }), 1, 300],
  ];
  for (const [name, p, retry, expected] of cases)
    it(name, () => assert.equal(retryDelay(p, retry, mid), expected));

  it('spreads delays by the jitter', () => {
    const p = policy({ retry: { backoff: { delay: '10s', jitter: 0.2 } } });
    assert.equal(
      retryDelay(p, 1, () => 0),
      8_000,
    );
    assert.equal(
      retryDelay(p, 1, () => 1),
      12_000,
    );
  });
});

describe('decide', () => {
  const cases: [string, HttpResult, ReturnType<typeof policy>, number, string][] = [
    ['2xx delivers', status(204), policy(), 1, 'delivered'],
    ['a listed exact code delivers', status(410), policy({ successCodes: ['2xx', '410'] }), 1, 'delivered'],
    ['3xx fails, never followed', status(302), policy(), 1, 'failed'],
    ['400 fails at once', status(400), policy(), 1, 'failed'],
    ['503 retries', status(503), policy(), 1, 'retry'],
    ['429 retries', status(429), policy(), 1, 'retry'],
    ['409 retries', status(409), policy(), 1, 'retry'],
    ['a timeout retries', error('timeout'), policy(), 1, 'retry'],
    ['a reset retries', error('network'), policy(), 1, 'retry'],
    ['a refused address never retries', error('refused-address'), policy(), 1, 'failed'],
    ['network errors not listed fail', error('network'), policy({ retryOn: ['5xx'] }), 1, 'failed'],
    ['retries run out', status(500), policy({ retry: { schedule: ['1s'] } }), 2, 'failed'],
  ];
  for (const [name, result, p, attempt, expected] of cases) {
    it(name, () => assert.equal(decide(p, result, attempt, mid).kind, expected));
  }

  it('says whether a failure exhausted the retries', () => {
    assert.deepEqual(decide(policy({ retry: { schedule: ['1s'] } }), status(500), 2, mid), {
      kind: 'failed',
      reason: 'HTTP 500',
      exhausted: true,
    });
    assert.deepEqual(decide(policy(), status(400), 1, mid), {
      kind: 'failed',
      reason: 'HTTP 400',
      exhausted: false,
    });
  });

  it('honours Retry-After on 429 and 503, capped at retryAfterMax', () => {
    const p = policy({ retry: { schedule: ['1s', '1s'] }, retryAfterMax: '30s' });
    assert.deepEqual(decide(p, status(503, 10_000), 1, mid), {
      kind: 'retry',
      delayMs: 10_000,
      reason: 'HTTP 503',
    });
    assert.deepEqual(decide(p, status(429, 600_000), 1, mid), {
      kind: 'retry',
      delayMs: 30_000,
      reason: 'HTTP 429',
    });
    assert.deepEqual(
      decide(policy({ retry: { schedule: ['1s'] }, retryAfterMax: '0s' }), status(429, 600_000), 1, mid),
      {
        kind: 'retry',
        delayMs: 1000,
        reason: 'HTTP 429',
      },
    );
  });
});
