// kafkajs 2.2.4, its last release, schedules its request queue's next check in
// `throttledUntil - Date.now()` ms, and throttledUntil starts at -1: while the broker never
// throttled, every response schedules a negative delay, which Node (23 and later) reports
// with a TimeoutNegativeWarning in every process that talks to Kafka. Node runs such a timer
// after 1 ms; this runs it after 0 ms, the delay kafkajs means, without the warning. Every
// module that loads kafkajs imports this one first, for its effect.
import { createRequire } from 'node:module';

/** kafkajs's own interval between checks while requests wait and nothing throttles. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

interface RequestQueueInternals {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: RequestQueueInternals;
};

RequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueueInternals) {
  if (this.throttleCheckTimeoutId) return;
  let scheduleAt = Math.max(0, this.throttledUntil - Date.now());
  if (this.pending.length > 0 && scheduleAt === 0) scheduleAt = CHECK_PENDING_REQUESTS_INTERVAL_MS;
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, scheduleAt);
};
