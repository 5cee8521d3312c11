import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { webhookQueues } from '../core/rabbit/topology.ts';
import type { Clock } from '../core/retry.ts';
import { BacklogSampler, rateMoved, refreshMs, type ObservedWebhook } from './backlog.ts';
import type { BrokerSession } from './broker/session.ts';
import { dispatcherMetrics } from './metrics.ts';
import type { BacklogStatus } from './status/delta.ts';
import type { StatusWriter } from './status/writer.ts';

function sampler(
  counts: Map<string, number>,
  hook: ObservedWebhook = { name: 'hook', disabled: false, strict: false },
) {
  const asked: string[] = [];
  const metrics = dispatcherMetrics();
  const written: BacklogStatus[] = [];
  let now = 1_000_000;
  const session = {
    messageCount: (queue: string) => {
      asked.push(queue);
      return Promise.resolve(counts.get(queue));
    },
  } as unknown as BrokerSession;
  const status = { backlog: (_: string, s: BacklogStatus) => written.push(s) } as unknown as StatusWriter;
  const s = new BacklogSampler({
    namespace: 'team',
    source: 'orders',
    session,
    metrics,
    status,
    webhooks: () => [hook],
    intervalMs: 15_000,
    logger: pino({ level: 'silent' }),
    clock: { now: () => now, sleep: async () => {} },
  });
  const deliver = (n: number) =>
    metrics.deliveries.inc({ namespace: 'team', webhook: 'hook', outcome: 'succeeded' }, n);
  const tick = async (ms: number) => {
    now += ms;
    await s.sample();
  };
  return { written, deliver, tick, asked, hook };
}

const names = webhookQueues('team', 'hook');

test('a rate that changes while the queue stays empty is written, not left stale', async (t) => {
  const queues = new Map([
    [names.queue, 0],
    [names.deadLetterQueue, 0],
  ]);
  const { written, deliver, tick } = sampler(queues);
  await tick(0);
  assert.equal(written.length, 1, 'the first sample is written');
  assert.equal(written[0]!.deliveredPerMinute, 0);

  deliver(150); // 150 in 15 s: 600 per minute, queue still empty
  await tick(15_000);
  assert.equal(written.length, 2, 'a new rate is written at once');
  assert.equal(written[1]!.deliveredPerMinute, 600);

  deliver(151); // about the same rate: not worth a status write
  await tick(15_000);
  assert.equal(written.length, 2);

  await tick(15_000); // traffic stopped: the rate fell to 0
  assert.equal(written.length, 3);
  assert.equal(written[2]!.deliveredPerMinute, 0);
  assert.equal(written[2]!.waiting, 0);
  t.diagnostic(`writes: ${written.map((w) => w.deliveredPerMinute).join(', ')}`);
});

test('an unchanged backlog is written again once a minute, and counts changes at once', async () => {
  const queues = new Map([
    [names.queue, 3],
    [names.deadLetterQueue, 1],
  ]);
  const { written, tick } = sampler(queues);
  await tick(0);
  await tick(15_000);
  await tick(15_000);
  assert.equal(written.length, 1);
  queues.set(names.queue, 4);
  await tick(15_000);
  assert.equal(written.length, 2);
  assert.equal(written[1]!.waiting, 4);
  assert.equal(written[1]!.deadLettered, 1);
  await tick(60_000);
  assert.equal(written.length, 3, 'refreshed after a minute');
});

test('a Webhook whose queue is not declared yet gets no status', async () => {
  const { written, tick } = sampler(new Map());
  await tick(0);
  assert.equal(written.length, 0);
});

test('rateMoved: zero crossings always, otherwise more than a tenth', () => {
  assert.equal(rateMoved(0, 0), false);
  assert.equal(rateMoved(0, 1), true);
  assert.equal(rateMoved(5, 0), true);
  assert.equal(rateMoved(600, 604), false);
  assert.equal(rateMoved(600, 660), false);
  assert.equal(rateMoved(600, 661), true);
  assert.equal(rateMoved(600, 539), true);
});

test('a head queue is asked for only where one is: Strict, or found at the last sample', async () => {
  const queues = new Map([
    [names.queue, 2],
    [names.deadLetterQueue, 0],
  ]);
  const { written, tick, asked, hook } = sampler(queues);
  await tick(0);
  assert.deepEqual(asked.sort(), [names.queue, names.deadLetterQueue].sort(), 'Unordered: no head queue');

  hook.strict = true;
  queues.set(names.headQueue, 1);
  asked.length = 0;
  await tick(15_000);
  assert.ok(asked.includes(names.headQueue));
  assert.equal(written.at(-1)!.waiting, 3, 'the event in the head queue waits too');

  hook.strict = false; // moved to Unordered: the head queue is asked for until it is gone
  asked.length = 0;
  await tick(15_000);
  assert.ok(asked.includes(names.headQueue));
  queues.delete(names.headQueue);
  await tick(15_000);
  asked.length = 0;
  await tick(15_000);
  assert.ok(!asked.includes(names.headQueue));
  assert.equal(written.at(-1)!.waiting, 2);
});

test('refreshMs: once a minute, or as slowly as four writes a second allow for all the Webhooks', () => {
  assert.equal(refreshMs(1), 60_000);
  assert.equal(refreshMs(240), 60_000);
  assert.equal(refreshMs(241), 60_250);
  assert.equal(refreshMs(10_000), 2_500_000);
});

/** A sampler of `count` Unordered Webhooks whose queues each take `answerMs` to be counted. */
function slowSampler(count: number, answerMs: number, intervalMs: number, clock?: Clock) {
  let probes = 0;
  let passes = 0;
  const session = {
    messageCount: async () => {
      probes++;
      await new Promise((resolve) => setTimeout(resolve, answerMs));
      return 0;
    },
  } as unknown as BrokerSession;
  const s = new BacklogSampler({
    namespace: 'team',
    source: 'orders',
    session,
    metrics: dispatcherMetrics(),
    status: { backlog: () => undefined } as unknown as StatusWriter,
    webhooks: () => {
      passes++;
      return Array.from({ length: count }, (_, i) => ({ name: `hook-${i}`, disabled: false, strict: false }));
    },
    intervalMs,
    logger: pino({ level: 'silent' }),
    ...(clock ? { clock } : {}),
  });
  return { s, probes: () => probes, passes: () => passes };
}

test('a pass that outlasts the interval has no others queue up behind it', async () => {
  // Each pass takes some 100 ms (ten Webhooks, 10 ms a count); a tick comes every 10 ms.
  const { s, passes } = slowSampler(10, 10, 10, { now: () => Date.now(), sleep: async () => {} });
  s.start();
  await new Promise((resolve) => setTimeout(resolve, 350));
  await s.stop();
  const started = passes();
  assert.ok(started >= 1 && started <= 5, `${started} passes in 350 ms, and after stop()`);
});

test('a pass asks the broker about at most probesPerSecond queues a second', async () => {
  let slept = 0;
  const clock: Clock = {
    now: () => 0,
    sleep: (ms) => {
      slept += ms;
      return Promise.resolve();
    },
  };
  const { s, probes } = slowSampler(50, 0, 15_000, clock);
  await s.sample();
  // 100 passive declares at 200 a second: the pass spends at least half a second.
  assert.equal(probes(), 100);
  assert.ok(slept >= 500, `waited ${slept} ms`);
});

/** The Webhook `hook`, Strict or not, whose queue this replica drains while `drains()` says so. */
const drained = (strict: boolean, drains: () => boolean): ObservedWebhook => ({
  name: 'hook',
  disabled: false,
  strict,
  drainsQueue: drains,
});

test('asks nothing about a queue this replica consumes with room to spare, until it has none', async () => {
  const queues = new Map([
    [names.queue, 7],
    [names.deadLetterQueue, 2],
  ]);
  let drains = true;
  const { written, tick, asked } = sampler(
    queues,
    drained(false, () => drains),
  );
  await tick(0);
  assert.deepEqual(asked, [names.deadLetterQueue], 'only the dead-letter queue is asked about');
  assert.equal(written[0]!.waiting, 0, 'a queue consumed with room to spare has nothing ready');
  assert.equal(written[0]!.deadLettered, 2);

  drains = false; // its consumer is full, stopped or gone: the queue is asked about again
  await tick(15_000);
  assert.deepEqual(asked.slice(1), [names.queue, names.deadLetterQueue]);
  assert.equal(written.at(-1)!.waiting, 7);
});

test('asks about the main queue of a Webhook with a head queue, however it is consumed', async () => {
  const queues = new Map([
    [names.queue, 3],
    [names.deadLetterQueue, 0],
    [names.headQueue, 1],
  ]);
  const { written, tick, asked } = sampler(
    queues,
    drained(true, () => true),
  );
  await tick(0);
  assert.deepEqual(asked, [names.queue, names.deadLetterQueue, names.headQueue]);
  assert.equal(written[0]!.waiting, 4);
});
