import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { systemClock, type Clock } from '../../core/retry.ts';
import type { BrokerSession, Consumer, Delivery } from '../broker/session.ts';
import {
  fakeDelivery as delivery,
  fakeQueues,
  instantClock,
  until,
} from '../../test/fixtures/fake-queues.ts';
import type { HookConfig } from '../hooks.ts';
import { HEADER } from './event.ts';
import type { Handled } from './outcomes.ts';
import { StrictLane } from './strict.ts';

/**
 * A broker with one event left in the head queue by a replica that died, and the next one in
 * the main queue. The head event is on its way to the new lock holder when the head
 * queue's count is read, so the count says 0: as the broker answers when the message was
 * handed to the consumer a moment before.
 */
function brokerAfterTakeover(due: number) {
  const queues: Record<string, Delivery[]> = {
    'hookline.shop.hook.head': [delivery('21', { [HEADER.dueAt]: due })],
    'hookline.shop.hook': [delivery('22')],
  };
  const session = {
    connected: true,
    ready: () => Promise.resolve(),
    drain: () => undefined,
    consume: (queue: string, _options: unknown, onMessage: (d: Delivery) => void) => {
      const waiting = queues[queue] ?? [];
      setImmediate(() => waiting.splice(0).forEach(onMessage));
      let close!: () => void;
      const closed = new Promise<void>((resolve) => (close = resolve));
      const consumer: Consumer = { closed, cancel: () => Promise.resolve(), close: () => (close(), closed) };
      return Promise.resolve(consumer);
    },
    lock: () => Promise.resolve({ lost: new Promise(() => undefined), release: () => Promise.resolve() }),
    messageCount: () => Promise.resolve(0),
  } as unknown as BrokerSession;
  return session;
}

const topology = {
  directExchange: 'hookline.direct',
  queue: 'hookline.shop.hook',
  headQueue: 'hookline.shop.hook.head',
  lockQueue: 'hookline-lock.shop.hook',
};

/** A lane of the Webhook `hook` over `session`, running until `stop()`. */
function runLane(
  session: BrokerSession,
  handle: (d: Delivery, released: AbortSignal) => Promise<Handled>,
  clock: Clock = instantClock(),
) {
  const stopped = new AbortController();
  const lane = new StrictLane({
    config: { name: 'hook', topology } as unknown as HookConfig,
    session,
    logger: pino({ level: 'silent' }),
    clock,
    stopped: stopped.signal,
    disabled: () => false,
    handle,
  });
  const running = lane.run();
  return {
    lane,
    async stop() {
      stopped.abort();
      await running;
    },
  };
}

/** A receiver that takes every event: acknowledged, its body recorded in `delivered`. */
function takesAll(delivered: string[]) {
  return (d: Delivery): Promise<Handled> => {
    delivered.push(d.body.toString());
    d.ack();
    return Promise.resolve('delivered');
  };
}

describe('StrictLane', () => {
  it('goes on with the main queue when the broker refuses a retry and the event is given back', async () => {
    const delivered: string[] = [];
    const broker = fakeQueues({ [topology.queue]: ['1', '2', '3'].map((n) => delivery(n)) }, { refusals: 1 });
    let attempts = 0;
    // As the worker does: the first attempt fails and is retried; when the broker refuses
    // the retry, the event is given back to its queue.
    const running = runLane(
      broker.session,
      async (d) => {
        if (attempts++ > 0) return takesAll(delivered)(d);
        try {
          await running.lane.retry(d, { headers: {} }, 10);
          d.ack();
          return 'retry';
        } catch {
          d.nack(true);
          return 'skipped';
        }
      },
      systemClock,
    );
    await until(() => delivered.length === 3);
    await running.stop();
    assert.deepEqual(delivered, ['1', '2', '3']);
  });

  it('delivers nothing more once its lock is lost, though an event in hand was given back', async () => {
    const delivered: string[] = [];
    // Granted once: after losing it, another replica holds the lock.
    const broker = fakeQueues(
      { [topology.queue]: ['1', '2'].map((n) => delivery(n)) },
      { refusals: 1, locks: 1 },
    );
    let attempts = 0;
    const running = runLane(broker.session, async (d) => {
      if (attempts++ > 0) return takesAll(delivered)(d);
      // The first attempt fails; the node holding the lock is lost while the broker refuses the retry.
      await running.lane.retry(d, { headers: {} }, 10).catch(() => undefined);
      broker.loseLock();
      await new Promise((resolve) => setTimeout(resolve, 20));
      d.nack(true);
      return 'skipped';
    });
    await until(() => delivered.length > 0, 500);
    await running.stop();
    assert.deepEqual(delivered, []);
    const lost = broker.calls.indexOf('lock lost');
    assert.deepEqual(
      broker.calls.slice(lost).filter((call) => call.startsWith('consume')),
      [],
      'consumed while another replica held the lock',
    );
    assert.equal(broker.waiting(topology.queue), 2, 'both events wait in the queue for the lock’s holder');
  });

  it('tells an event still waiting to be delivered that the lock is lost', async () => {
    // As the worker does with an open circuit: the next event waits for the probe, until
    // the lane lets go of its lock; then it goes back to the queue, undelivered.
    const broker = fakeQueues({ [topology.queue]: [delivery('1')] }, { locks: 1 });
    let handed = 0;
    let released: AbortSignal | undefined;
    const running = runLane(broker.session, async (d, signal) => {
      handed++;
      released = signal;
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      d.nack(true);
      return 'skipped';
    });
    await until(() => handed === 1);
    broker.loseLock();
    await until(() => released?.aborted === true, 500);
    await running.stop();
    assert.equal(released?.aborted, true, 'the wait was not told the lock was lost');
    assert.equal(broker.waiting(topology.queue), 1, 'the event waits in the queue for the lock’s holder');
    assert.equal(handed, 1);
  });

  it('consumes the main queue again when the broker closes its consumer', async () => {
    const delivered: string[] = [];
    const broker = fakeQueues({ [topology.queue]: ['1', '2'].map((n) => delivery(n)) });
    let first = true;
    const running = runLane(broker.session, (d) => {
      if (!first) return takesAll(delivered)(d);
      // A channel error while the event is in hand: it goes back to the queue.
      first = false;
      broker.drop(topology.queue);
      return Promise.resolve('skipped');
    });
    await until(() => delivered.length === 2);
    await running.stop();
    assert.deepEqual(delivered, ['1', '2']);
  });

  it('starts over when the main queue cannot be consumed', async () => {
    const delivered: string[] = [];
    const broker = fakeQueues(
      { [topology.queue]: ['1', '2'].map((n) => delivery(n)) },
      { consumeRefusals: { [topology.queue]: 1 } },
    );
    const running = runLane(broker.session, takesAll(delivered));
    await until(() => delivered.length === 2);
    await running.stop();
    assert.deepEqual(delivered, ['1', '2']);
  });

  it('keeps a head event due after the consumer timeout when the broker refuses to take it back', async () => {
    const delivered: string[] = [];
    const clock = instantClock();
    const dueIn20Minutes = delivery('21', { [HEADER.dueAt]: clock.now() + 20 * 60_000 });
    // The renewal after 15 minutes is refused once.
    const broker = fakeQueues(
      { [topology.queue]: [delivery('22')], [topology.headQueue]: [dueIn20Minutes] },
      { refusals: 1 },
    );
    const running = runLane(broker.session, takesAll(delivered), clock);
    await until(() => delivered.length === 2);
    await running.stop();
    assert.deepEqual(delivered, ['21', '22']);
  });

  it('delivers an event left in the head queue before the main queue’s, though the count read 0', async () => {
    const delivered: string[] = [];
    const running = runLane(brokerAfterTakeover(Date.now() + 100), takesAll(delivered), systemClock);
    await until(() => delivered.length === 2);
    await running.stop();
    assert.deepEqual(delivered, ['21', '22']);
  });
});
