import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ATTEMPT_ERROR_MAX_LENGTH,
  DISABLED_REASON_MAX_LENGTH,
  RESPONSE_BODY_MAX_LENGTH,
  RESPONSE_HEADER_MAX_LENGTH,
  WebhookStatus,
} from '../../core/api/v1alpha1/webhook.ts';
import { truncate } from '../../core/status/text.ts';
import {
  applyDelta,
  combine,
  emptyDelta,
  recordAttempt,
  RECENT_ATTEMPTS,
  responseSnippet,
  STATUS_MAX_BYTES,
  type AttemptRecord,
  type Outcome,
} from './delta.ts';

const attempt = (outcome: Outcome, n: number, extra: Partial<AttemptRecord> = {}): AttemptRecord => ({
  time: `2026-11-23T12:00:${String(n).padStart(2, '0')}Z`,
  eventId: `evt_${n}`,
  eventType: 'invoice.created',
  attempt: 1,
  outcome,
  ...extra,
});

function deltaOf(...records: AttemptRecord[]) {
  const delta = emptyDelta();
  for (const record of records) recordAttempt(delta, record);
  return delta;
}

describe('applyDelta', () => {
  it('adds counters to what is stored and puts the newest attempt first', () => {
    const stored = {
      deliveries: { succeeded: 10, failed: 1, retried: 2, deadLettered: 1, filtered: 3 },
      attempts: 13,
      consecutiveFailures: 0,
      recentAttempts: [attempt('Succeeded', 0)],
    };
    const next = applyDelta(
      stored,
      deltaOf(attempt('Succeeded', 1), attempt('Retrying', 2, { statusCode: 503 })),
    );
    assert.deepEqual(next.deliveries, { succeeded: 11, failed: 1, retried: 3, deadLettered: 1, filtered: 3 });
    assert.equal(next.attempts, 15);
    assert.equal(next.consecutiveFailures, 1);
    assert.equal(next.lastAttempt?.eventId, 'evt_2');
    assert.deepEqual(
      next.recentAttempts?.map((a) => a.eventId),
      ['evt_2', 'evt_1', 'evt_0'],
    );
    assert.equal(next.lastSuccessTime, '2026-11-23T12:00:01Z');
  });

  it('keeps counting consecutive failures across writes until a success', () => {
    const first = applyDelta(undefined, deltaOf(attempt('Retrying', 1), attempt('Retrying', 2)));
    assert.equal(first.consecutiveFailures, 2);
    const second = applyDelta(
      { ...first, consecutiveFailures: 2 },
      deltaOf(attempt('Failed', 3, { deadLettered: true })),
    );
    assert.equal(second.consecutiveFailures, 3);
    assert.equal(second.deliveries?.deadLettered, 1);
    assert.equal(
      applyDelta({ consecutiveFailures: 3 }, deltaOf(attempt('Succeeded', 4))).consecutiveFailures,
      0,
    );
  });

  it('bounds the activation history', () => {
    const many = deltaOf(...Array.from({ length: 50 }, (_, i) => attempt('Succeeded', i % 60)));
    const next = applyDelta(
      { recentAttempts: Array.from({ length: 20 }, (_, i) => attempt('Failed', i)) },
      many,
    );
    assert.equal(next.recentAttempts?.length, RECENT_ATTEMPTS);
    assert.deepEqual(
      next.recentAttempts?.map((a) => a.eventId),
      Array.from({ length: RECENT_ATTEMPTS }, (_, i) => `evt_${49 - i}`),
      'the newest attempts, newest first',
    );
    assert.equal(next.attempts, 50);
  });

  it('disables once, keeping the first reason', () => {
    const delta = emptyDelta();
    delta.disable = { reason: 'Disabled after 4 failed retries', at: 'T' };
    assert.deepEqual(
      [applyDelta(undefined, delta).disabled, applyDelta(undefined, delta).disabledReason],
      [true, 'Disabled after 4 failed retries'],
    );
    assert.equal(applyDelta({ disabled: true, disabledReason: 'earlier' }, delta).disabledReason, undefined);
  });
});

describe('combine', () => {
  it('is the same as recording both in order', () => {
    const a = deltaOf(attempt('Retrying', 1), attempt('Succeeded', 2), attempt('Retrying', 3));
    const b = deltaOf(attempt('Retrying', 4));
    const both = deltaOf(
      attempt('Retrying', 1),
      attempt('Succeeded', 2),
      attempt('Retrying', 3),
      attempt('Retrying', 4),
    );
    assert.deepEqual(combine(a, b), both);
    assert.equal(combine(a, b).failuresSinceSuccess, 2);
  });
});

describe('Before gate verdicts', () => {
  it('counts an allowed call as delivered and a denied one as failed', () => {
    const delta = emptyDelta();
    const base = { time: '2026-01-01T00:00:00Z', eventId: 'e', eventType: 'app.created', attempt: 1 };
    recordAttempt(delta, { ...base, outcome: 'Allowed', statusCode: 200 });
    recordAttempt(delta, {
      ...base,
      outcome: 'Denied',
      statusCode: 403,
      error: 'HTTP 403 (expected HTTP 200)',
    });
    assert.equal(delta.succeeded, 1);
    assert.equal(delta.failed, 1);
    assert.equal(delta.retried, 0);
    assert.equal(delta.failuresSinceSuccess, 1);
    const status = applyDelta(undefined, delta);
    assert.equal(status.recentAttempts?.[0]?.outcome, 'Denied');
    assert.equal(status.lastAttempt?.statusCode, 403);
  });
});

describe('free text that would not fit the CRD', () => {
  const long = (n: number, unit = 'x') => unit.repeat(n);
  const cases: { name: string; error: string; kept: string }[] = [
    { name: 'a short error', error: 'HTTP 503: maintenance', kept: 'HTTP 503: maintenance' },
    {
      name: 'an error of exactly the cap',
      error: long(ATTEMPT_ERROR_MAX_LENGTH),
      kept: long(ATTEMPT_ERROR_MAX_LENGTH),
    },
    {
      name: 'one character over the cap',
      error: long(ATTEMPT_ERROR_MAX_LENGTH + 1),
      kept: `${long(ATTEMPT_ERROR_MAX_LENGTH - 1)}…`,
    },
    {
      name: 'a 5,000-character error',
      error: `network: ${long(4991)}`,
      kept: `network: ${long(ATTEMPT_ERROR_MAX_LENGTH - 10)}…`,
    },
    // Two UTF-16 units each: the cut falls between two characters, never inside one.
    {
      name: 'characters outside the BMP',
      error: long(3000, '🔥'),
      kept: `${long(ATTEMPT_ERROR_MAX_LENGTH / 2 - 1, '🔥')}…`,
    },
    {
      name: 'a character outside the BMP across the cut',
      error: `x${long(3000, '🔥')}`,
      kept: `x${long(ATTEMPT_ERROR_MAX_LENGTH / 2 - 1, '🔥')}…`,
    },
  ];
  for (const c of cases) {
    it(`keeps ${c.name} within the cap of lastAttempt.error and recentAttempts[].error`, () => {
      const next = applyDelta(
        { recentAttempts: [attempt('Retrying', 0, { error: 'earlier' })] },
        deltaOf(attempt('Retrying', 1, { statusCode: 503, error: c.error })),
      );
      assert.equal(next.lastAttempt?.error, c.kept);
      assert.equal(next.recentAttempts?.[0]?.error, c.kept);
      assert.equal(next.recentAttempts?.[1]?.error, 'earlier');
      assert.ok(next.lastAttempt?.error?.isWellFormed(), 'no character is cut in half');
      assert.deepEqual(WebhookStatus.safeParse(next).error?.issues, undefined);
    });
  }

  it('keeps a long disabledReason within its cap', () => {
    const delta = deltaOf(attempt('Failed', 1, { error: long(5000) }));
    delta.disable = {
      reason: `Disabled after 4 failed retries (last: ${long(5000)})`,
      at: '2026-11-23T12:00:00Z',
    };
    const next = applyDelta(undefined, delta);
    assert.equal(next.disabledReason?.length, DISABLED_REASON_MAX_LENGTH);
    assert.match(next.disabledReason ?? '', /^Disabled after 4 failed retries \(last: x+…$/);
    assert.deepEqual(WebhookStatus.safeParse(next).error?.issues, undefined);
  });

  const truncations: [string, number, string][] = [
    ['', 5, ''],
    ['abc', 3, 'abc'],
    ['abcd', 3, 'ab…'],
    ['a🔥🔥🔥', 4, 'a🔥…'],
    ['ab🔥🔥', 4, 'ab…'],
  ];
  for (const [text, max, expected] of truncations) {
    it(`cuts ${JSON.stringify(text)} to ${max} units as ${JSON.stringify(expected)}`, () =>
      assert.equal(truncate(text, max), expected));
  }
});

describe('attempt records with the response', () => {
  it('keeps the first 1 KiB of a body, shows control characters as U+FFFD, and nothing for an empty one', () => {
    assert.equal(responseSnippet(''), undefined);
    assert.equal(responseSnippet('{"error":"down"}\n'), '{"error":"down"}\n');
    assert.equal(responseSnippet('a\u0000b\u001bc\td\r\n'), 'a\ufffdb\ufffdc\td\r\n');
    const long = responseSnippet('€'.repeat(1000))!;
    assert.ok(
      Buffer.byteLength(long) <= RESPONSE_BODY_MAX_LENGTH + 2,
      'at most 1 KiB, a cut character aside',
    );
    assert.ok(long.length <= RESPONSE_BODY_MAX_LENGTH);
    assert.ok(long.startsWith('€€€'));
  });

  it('carries status, headers and body into the status, each within its cap', () => {
    const status = applyDelta(
      undefined,
      deltaOf(
        attempt('Retrying', 1, {
          statusCode: 503,
          durationMs: 12,
          error: 'HTTP 503',
          responseHeaders: { retryAfter: '120', contentType: 'x'.repeat(1000) },
          responseBody: 'busy',
        }),
      ),
    );
    const last = status.lastAttempt!;
    assert.equal(last.statusCode, 503);
    assert.equal(last.responseHeaders?.retryAfter, '120');
    assert.equal(last.responseHeaders?.contentType?.length, RESPONSE_HEADER_MAX_LENGTH);
    assert.equal(last.responseBody, 'busy');
    WebhookStatus.parse(status);
  });

  it('keeps the whole status within 64 KiB when every attempt carries the longest error and body', () => {
    // The worst case the caps allow: three-byte characters everywhere, twenty attempts.
    const worst = (n: number) =>
      attempt('Retrying', n, {
        statusCode: 500,
        error: '€'.repeat(ATTEMPT_ERROR_MAX_LENGTH),
        responseHeaders: { retryAfter: '€'.repeat(300), contentType: '€'.repeat(300) },
        responseBody: '€'.repeat(RESPONSE_BODY_MAX_LENGTH),
      });
    let stored: WebhookStatus | undefined;
    for (let round = 0; round < 3; round++) {
      const records = Array.from({ length: RECENT_ATTEMPTS }, (_, i) => worst(i));
      stored = { ...stored, ...applyDelta(stored, deltaOf(...records)) };
      assert.ok(
        Buffer.byteLength(JSON.stringify(stored)) <= STATUS_MAX_BYTES,
        `round ${round}: ${Buffer.byteLength(JSON.stringify(stored))} bytes`,
      );
      WebhookStatus.parse(stored);
    }
    // The newest attempts are kept, with their bodies; older ones gave way.
    const kept = stored!.recentAttempts!;
    assert.ok(kept[0]!.responseBody);
    assert.ok(kept.length < RECENT_ATTEMPTS, `${kept.length} attempts kept`);
  });

  it('leaves a status that fits untouched', () => {
    const records = Array.from({ length: RECENT_ATTEMPTS }, (_, i) =>
      attempt('Retrying', i, { error: 'HTTP 500', responseBody: 'oops' }),
    );
    const status = applyDelta(undefined, deltaOf(...records));
    assert.equal(status.recentAttempts?.length, RECENT_ATTEMPTS);
    assert.ok(status.recentAttempts?.every((a) => a.responseBody === 'oops'));
  });

  it('writes the circuit and the backlog, the latest of each', () => {
    const earlier = emptyDelta();
    earlier.circuit = { state: 'Open', openedAt: '2026-12-03T00:00:00Z' };
    earlier.backlog = { waiting: 5, deadLettered: 1, observedAt: '2026-12-03T00:00:00Z' };
    const later = emptyDelta();
    later.circuit = { state: 'Closed' };
    const both = combine(earlier, later);
    const status = applyDelta(undefined, both);
    assert.deepEqual(status.circuit, { state: 'Closed' });
    assert.equal(status.backlog?.waiting, 5);
  });

  it('counts a held attempt as a failure in a row, not as a retry', () => {
    const status = applyDelta(undefined, deltaOf(attempt('Held', 1, { error: 'HTTP 503' })));
    assert.equal(status.deliveries?.retried, 0);
    assert.equal(status.consecutiveFailures, 1);
    assert.equal(status.attempts, 1);
  });
});
