import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawObject } from '../core/kube/objects.ts';
import { attemptsTable } from './attempts.ts';
import { replayOutcome } from './requests.ts';
import { statusTable, summarize } from './status.ts';

const NOW = new Date('2026-12-02T10:00:00Z');

function aWebhook(name: string, status: Record<string, unknown> = {}): RawObject {
  return {
    apiVersion: 'hookline.dev/v1alpha1',
    kind: 'Webhook',
    metadata: { name, namespace: 'shop' },
    spec: {},
    status,
  };
}

const healthy = aWebhook('orders', {
  conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }],
  deliveries: { succeeded: 120, failed: 0, retried: 0, deadLettered: 0, filtered: 0 },
  backlog: { waiting: 0, deadLettered: 0, deliveredPerMinute: 14, observedAt: '2026-12-02T09:59:55Z' },
  circuit: { state: 'Closed' },
  lastAttempt: {
    time: '2026-12-02T09:59:58Z',
    eventId: 'e1',
    attempt: 1,
    statusCode: 200,
    outcome: 'Succeeded',
  },
});
const failing = aWebhook('payments', {
  conditions: [
    {
      type: 'Ready',
      status: 'False',
      reason: 'RetriesExhausted',
      message: 'Disabled after 4 failed retries',
    },
  ],
  disabled: true,
  disabledReason: 'Disabled after 4 failed retries',
  deliveries: { succeeded: 3, failed: 2, retried: 8, deadLettered: 2, filtered: 0 },
  backlog: { waiting: 41, deadLettered: 2, deliveredPerMinute: 0, observedAt: '2026-12-02T09:59:50Z' },
  lastAttempt: {
    time: '2026-12-02T09:55:00Z',
    eventId: 'e9',
    attempt: 5,
    statusCode: 503,
    outcome: 'DeadLettered',
    error: 'HTTP 503: the receiver is down for maintenance until further notice, sorry',
  },
});
const fresh = aWebhook('new');

describe('summarize', () => {
  it('gives every field, null where nothing is known yet', () => {
    assert.deepEqual(summarize(fresh), {
      namespace: 'shop',
      name: 'new',
      ready: 'Unknown',
      reason: null,
      message: null,
      disabled: false,
      disabledReason: null,
      circuit: null,
      waiting: null,
      deadLettered: null,
      deliveredPerMinute: null,
      backlogObservedAt: null,
      delivered: 0,
      failed: 0,
      lastStatus: null,
      lastError: null,
      lastAttempt: null,
    });
  });
  it('keeps the reason and message only when not Ready', () => {
    assert.equal(summarize(healthy).reason, null);
    assert.equal(summarize(failing).reason, 'RetriesExhausted');
    assert.equal(summarize(failing).disabledReason, 'Disabled after 4 failed retries');
    assert.equal(
      summarize(failing).lastError,
      'HTTP 503: the receiver is down for maintenance until further notice, sorry',
    );
  });
});

describe('statusTable', () => {
  it('prints what an SRE needs, one Webhook a line', () => {
    assert.equal(
      statusTable([healthy, failing, fresh].map(summarize), NOW, false),
      [
        'NAME       READY     REASON             DISABLED   CIRCUIT   WAITING   DEAD   RATE     DELIVERED   FAILED   LAST-STATUS   LAST-ERROR                                         LAST-ATTEMPT',
        'orders     True      -                  false      Closed    0         0      14/min   120         0        200           -                                                  2s',
        'payments   False     RetriesExhausted   true       -         41        2      0/min    3           2        503           HTTP 503: the receiver is down for maintenance …   5m',
        'new        Unknown   -                  false      -         -         -      -        0           0        -             -                                                  -',
        '',
      ].join('\n'),
    );
  });
  it('adds the namespace with -A', () => {
    assert.match(statusTable([summarize(healthy)], NOW, true), /^NAMESPACE   NAME     READY/);
  });
});

describe('attemptsTable', () => {
  it('prints each attempt, the body when there is no error', () => {
    const text = attemptsTable([
      {
        time: '2026-12-02T09:59:58Z',
        eventId: 'e2',
        eventType: 'order.created',
        attempt: 2,
        outcome: 'Retrying',
        statusCode: 429,
        durationMs: 12,
        responseHeaders: { retryAfter: '120' },
        error: 'HTTP 429: slow down',
      },
      {
        time: '2026-12-02T09:59:50Z',
        eventId: 'e1',
        attempt: 1,
        outcome: 'Denied',
        statusCode: 403,
        responseBody: 'no\nway',
      },
    ]);
    assert.equal(
      text,
      [
        'TIME                   EVENT   TYPE            ATTEMPT   OUTCOME    STATUS   DURATION   RETRY-AFTER   ERROR',
        '2026-12-02T09:59:58Z   e2      order.created   2         Retrying   429      12ms       120           HTTP 429: slow down',
        '2026-12-02T09:59:50Z   e1      -               1         Denied     403      -          -             no way',
        '',
      ].join('\n'),
    );
  });
});

describe('replayOutcome', () => {
  const event = (reason: string, message: string, resourceVersion = '10') => ({
    reason,
    message,
    metadata: { name: 'x', creationTimestamp: '2026-12-02T10:00:00Z', resourceVersion },
  });
  it('adds up the moves of the token, the last one saying what stayed', () => {
    const outcome = replayOutcome(
      [
        event('Replayed', 'Moved 9 dead-lettered events back to queue q [replay old]'),
        event(
          'Replayed',
          'Moved 1 events dead-lettered since T back to queue q; 3 others stay in the dead-letter queue [replay tok]',
          '12',
        ),
        event(
          'Replayed',
          'Moved 2 events dead-lettered since T back to queue q; 4 others stay in the dead-letter queue [replay tok]',
        ),
      ],
      'tok',
    );
    assert.ok(outcome && 'moved' in outcome);
    assert.equal(outcome.moved, 3);
    assert.equal(outcome.kept, 3);
    assert.equal(
      outcome.message,
      'Moved 3 events dead-lettered since T back to queue q; 3 others stay in the dead-letter queue',
    );
  });
  it('tells a refused replay', () => {
    assert.deepEqual(
      replayOutcome([event('ReplayRefused', 'annotation x: bad; nothing was replayed [replay tok]')], 'tok'),
      {
        refused: 'annotation x: bad; nothing was replayed',
      },
    );
  });
  it('is undefined when there is no Event of the token', () => {
    assert.equal(
      replayOutcome(
        [event('Replayed', 'Moved 1 dead-lettered events back to queue q [replay other]')],
        'tok',
      ),
      undefined,
    );
  });
});
