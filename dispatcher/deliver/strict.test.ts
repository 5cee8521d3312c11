import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { systemClock } from '../../core/retry.ts';
import type { BrokerSession, Consumer, Delivery } from '../broker/session.ts';
import type { HookConfig } from '../hooks.ts';
import { HEADER } from './event.ts';
import { StrictLane } from './strict.ts';

function delivery(body: string, headers: Record<string, unknown> = {}): Delivery {
  return {
    body: Buffer.from(body),
    exchange: 'hookline.shop',
    routingKey: 'hook',
    redelivered: false,
    properties: { headers },
    ack: () => undefined,
    nack: () => undefined,
  };
}

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

/**
 * Queues that hand out one unacknowledged message per consumer (prefetch 1), put a nacked
 * message back at the front, stop handing out on cancel and take the message in hand back on
 * close; `refusals` publishes are refused (nacked, as a quorum queue does while its leader's
 * node is lost) before the next is taken.
 */
function brokerRefusing(main: string[], refusals: number, head: Delivery[] = []) {
  const queues: Record<string, Delivery[]> = {
    'hookline.shop.hook': main.map((body) => delivery(body)),
    'hookline.shop.hook.head': head,
  };
  interface FakeConsumer {
    queue: string;
    active: boolean;
    inHand: Delivery | undefined;
    onMessage: (d: Delivery) => void;
    close: () => Promise<void>;
  }
  const consumers = new Set<FakeConsumer>();
  const pump = () =>
    setImmediate(() => {
      for (const c of consumers) {
        if (!c.active || c.inHand) continue;
        const next = queues[c.queue]?.shift();
        if (!next) continue;
        c.inHand = next;
        c.onMessage(next);
      }
    });
  const session = {
    connected: true,
    ready: () => Promise.resolve(),
    drain: () => undefined,
    consume: (queue: string, _options: unknown, onMessage: (d: Delivery) => void) => {
      let close!: () => void;
      const closed = new Promise<void>((resolve) => (close = resolve));
      const entry: FakeConsumer = {
        queue,
        active: true,
        inHand: undefined,
        onMessage: (d: Delivery) =>
          onMessage({
            ...d,
            ack: () => ((entry.inHand = undefined), pump()),
            nack: () => ((entry.inHand = undefined), (queues[queue] ??= []).unshift(d), pump()),
          }),
        close: () => {
          if (!consumers.delete(entry)) return closed;
          if (entry.inHand) (queues[queue] ??= []).unshift(entry.inHand);
          entry.inHand = undefined;
          pump();
          close();
          return closed;
        },
      };
      consumers.add(entry);
      pump();
      const consumer: Consumer = {
        closed,
        cancel: () => ((entry.active = false), Promise.resolve()),
        close: entry.close,
      };
      return Promise.resolve(consumer);
    },
    publish: (_exchange: string, queue: string, body: Buffer, properties: Delivery['properties']) => {
      if (refusals-- > 0) return Promise.reject(new Error('the broker did not confirm the message'));
      (queues[queue] ??= []).push({ ...delivery(body.toString()), properties });
      pump();
      return Promise.resolve();
    },
    lock: () => Promise.resolve({ lost: new Promise(() => undefined), release: () => Promise.resolve() }),
    messageCount: (queue: string) => Promise.resolve(queues[queue]?.length ?? 0),
  } as unknown as BrokerSession;
  /** Closes the consumers of `queue` from the broker's side, as a channel error does. */
  const drop = (queue: string) => {
    for (const c of consumers) if (c.queue === queue) void c.close();
  };
  return Object.assign(session, { drop });
}

/** A clock whose sleeps pass at once and move its time on. */
function instantClock() {
  let now = Date.now();
  return {
    now: () => now,
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (!signal?.aborted) now += ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

async function until(done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
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
      session: brokerRefusing(['1', '2', '3'], 1),
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

  it('consumes the main queue again when the broker closes its consumer', async () => {
    const stop = new AbortController();
    const delivered: string[] = [];
    const broker = brokerRefusing(['1', '2'], 0);
    let first = true;
    const lane = new StrictLane({
      config: { name: 'hook', topology } as unknown as HookConfig,
      session: broker,
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
      session: brokerRefusing(['22'], 1, [dueIn20Minutes]),
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
