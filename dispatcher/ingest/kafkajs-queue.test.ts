import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import './kafkajs-queue.ts';

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: object) => {
  throttledUntil: number;
  pending: unknown[];
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  scheduleCheckPendingRequests(): void;
  checkPendingRequests(): void;
};

const aQueue = () =>
  new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 1000,
    enforceRequestTimeout: true,
    clientId: 'test',
    broker: '127.0.0.1:1',
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });

describe("kafkajs's request queue", () => {
  it('schedules its check without a negative delay while the broker never throttled', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const queue = aQueue();
      let checks = 0;
      queue.checkPendingRequests = () => void checks++;
      queue.scheduleCheckPendingRequests();
      await sleep(20);
      assert.equal(checks, 1, 'the check ran');
      assert.deepEqual(
        warnings.filter((w) => w.name === 'TimeoutNegativeWarning').map((w) => w.message),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('still waits out a throttle the broker asked for', async () => {
    const queue = aQueue();
    let checks = 0;
    queue.checkPendingRequests = () => void checks++;
    queue.throttledUntil = Date.now() + 60;
    queue.scheduleCheckPendingRequests();
    await sleep(20);
    assert.equal(checks, 0);
    await sleep(80);
    assert.equal(checks, 1);
  });
});
