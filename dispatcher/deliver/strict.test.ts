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

describe('StrictLane', () => {
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
