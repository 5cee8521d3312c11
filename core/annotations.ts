// The annotations an SRE sets on a Webhook to ask for something once (SPEC.md §2): each
// holds a token, and a new token asks again. They never change `spec`. The operator acts on
// reenable and replay, the dispatcher on send-test; `kubectl hookline` sets them.

/** Clears a disabled state; handled when status.handledAnnotations.reenable equals it. */
export const REENABLE_ANNOTATION = 'hookline.dev/reenable';
/** Moves dead-lettered events back to the queue; handled when status.handledAnnotations.replay equals it. */
export const REPLAY_ANNOTATION = 'hookline.dev/replay';
/** With a replay: only events dead-lettered at or after this time (RFC 3339). */
export const REPLAY_SINCE_ANNOTATION = 'hookline.dev/replay-since';
/** With a replay: only events dead-lettered before this time (RFC 3339). */
export const REPLAY_UNTIL_ANNOTATION = 'hookline.dev/replay-until';
/** Sends one synthetic event through the delivery path; answered in status.lastTest with the same token. */
export const SEND_TEST_ANNOTATION = 'hookline.dev/send-test';

/** The event type of a synthetic test event. */
export const TEST_EVENT_TYPE = 'hookline.test';

/** The id of the synthetic test event that answers a send-test token. */
export const testEventId = (token: string) => `test-${token}`;

/** The body of the synthetic test event. */
export function testEventBody(webhook: string, token: string): Buffer {
  return Buffer.from(JSON.stringify({ type: TEST_EVENT_TYPE, webhook, token }));
}

/** The marker the operator ends its replay Events with, so that the replay of a token can be found. */
export const replayMarker = (token: string) => `[replay ${token}]`;
