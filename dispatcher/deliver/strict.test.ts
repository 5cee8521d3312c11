import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { systemClock } from '../../core/retry.ts';
import type { BrokerSession, Consumer, Delivery } from '../broker/session.ts';
import {
  fakeDelivery as delivery,
  fakeQueues,
  instantClock,
  until,
} from '../../test/fixtures/fake-queues.ts';
import type { HookConfig } from '../hooks.ts';
import { HEADER } from './event.ts';
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

describe('StrictLane', () => {
  it('goes on with the main queue when the broker refuses a retry and the event is given back', async () => {
    const stop = new AbortController();
    const delivered: string[] = [];
    let attempts = 0;
    const lane: StrictLane = new StrictLane({
      config: { name: 'hook', topology } as unknown as HookConfig,
      session: fakeQueues({ [topology.queue]: ['1', '2', '3'].map((n) => delivery(n)) }, { refusals: 1 })
        .session,
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      stopped: stop.signal,
      disabled: () => false,
      // As the worker does: the first attempt fails and is retried; when the broker refuses
      // the retry, the event is given back to its queue.
      handle: async (d) => {
        if (attempts++ === 0) {
          try {
            await lane.retry(d, { headers: {} }, 10);
            d.ack();
            return 'retry';
          } catch {
            d.nack(true);
            return 'skipped';
          }
        }
        delivered.push(d.body.toString());
        d.ack();
        return 'delivered';
      },
    });
    const running = lane.run();
    await until(() => delivered.length === 3);
    stop.abort();
    await running;
    assert.deepEqual(delivered, ['1', '2', '3']);
  });

  it('delivers nothing more once its lock is lost, though an event in hand was given back', async () => {
    const stop = new AbortController();
    const delivered: string[] = [];
    // Granted once: after losing it, another replica holds the lock.
    const broker = fakeQueues(
      { [topology.queue]: ['1', '2'].map((n) => delivery(n)) },
      { refusals: 1, locks: 1 },
    );
    let attempts = 0;
    const lane: StrictLane = new StrictLane({
      config: { name: 'hook', topology } as unknown as HookConfig,
      session: broker.session,
      logger: pino({ level: 'silent' }),
      clock: instantClock(),
      stopped: stop.signal,
      disabled: () => false,
      handle: async (d) => {
        if (attempts++ === 0) {
          // The first attempt fails; the node holding the lock is lost while the broker refuses the retry.
          await lane.retry(d, { headers: {} }, 10).catch(() => undefined);
          broker.loseLock();
          await new Promise((resolve) => setTimeout(resolve, 20));
          d.nack(true);
          return 'skipped';
        }
        delivered.push(d.body.toString());
        d.ack();
        return 'delivered';
      },
    });
    const running = lane.run();
    await until(() => delivered.length > 0, 500);
    stop.abort();
    await running;
    assert.deepEqual(delivered, []);
    const lost = broker.calls.indexOf('lock lost');
    assert.deepEqual(
      broker.calls.slice(lost).filter((call) => call.startsWith('consume')),
      [],
      'consumed while another replica held the lock',
    );
    assert.equal(broker.waiting(topology.queue), 2, 'both events wait in the queue for the lock’s holder');
  });

  it('consumes the main queue again when the broker closes its consumer', async () => {
    const stop = new AbortController();
    const delivered: string[] = [];
    const broker = fakeQueues({ [topology.queue]: ['1', '2'].map((n) => delivery(n)) });
    let first = true;
    const lane = new StrictLane({
      config: { name: 'hook', topology } as unknown as HookConfig,
      session: broker.session,
      logger: pino({ level: 'silent' }),
      clock: instantClock(),
      stopped: stop.signal,
      disabled: () => false,
      handle: (d) => {
        if (first) {
          // A channel error while the event is in hand: it goes back to the queue.
          first = false;
          broker.drop('hookline.shop.hook');
          return Promise.resolve('skipped');
        }
        delivered.push(d.body.toString());
        d.ack();
        return Promise.resolve('delivered');
      },
    });
    const running = lane.run();
    await until(() => delivered.length === 2);
    stop.abort();
    await running;
    assert.deepEqual(delivered, ['1', '2']);
  });

  it('keeps a head event due after the consumer timeout when the broker refuses to take it back', async () => {
    const stop = new AbortController();
    const delivered: string[] = [];
    const clock = instantClock();
    const dueIn20Minutes = delivery('21', { [HEADER.dueAt]: clock.now() + 20 * 60_000 });
    const lane = new StrictLane({
      config: { name: 'hook', topology } as unknown as HookConfig,
      // The renewal after 15 minutes is refused once.
      session: fakeQueues(
        { [topology.queue]: [delivery('22')], [topology.headQueue]: [dueIn20Minutes] },
        { refusals: 1 },
      ).session,
      logger: pino({ level: 'silent' }),
      clock,
      stopped: stop.signal,
      disabled: () => false,
      handle: (d) => {
        delivered.push(d.body.toString());
        d.ack();
        return Promise.resolve('delivered');
      },
    });
    const running = lane.run();
    await until(() => delivered.length === 2);
    stop.abort();
    await running;
    assert.deepEqual(delivered, ['21', '22']);
  });

  it('delivers an event left in the head queue before the main queue’s, though the count read 0', async () => {
    const stop = new AbortController();
    const delivered: string[] = [];
    const lane = new StrictLane({
      config: {
        topology: {
          queue: 'hookline.shop.hook',
          headQueue: 'hookline.shop.hook.head',
          lockQueue: 'hookline-lock.shop.hook',
        },
      } as unknown as HookConfig,
      session: brokerAfterTakeover(Date.now() + 100),
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      stopped: stop.signal,
      disabled: () => false,
      handle: (d) => {
        delivered.push(d.body.toString());
        if (delivered.length === 2) stop.abort();
        return Promise.resolve('delivered');
      },
    });
    const running = lane.run();
    const deadline = Date.now() + 5000;
    while (delivered.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await running;
    assert.deepEqual(delivered, ['21', '22']);
  });
});
