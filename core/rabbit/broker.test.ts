import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type amqp from 'amqplib';
import { moveOnChannel, type MoveChannel } from './broker.ts';

interface Stored {
  id: string;
  headers: Record<string, unknown>;
}

/**
 * A broker of named queues behind one channel: get takes a message in hand, ack removes it,
 * close gives back what is still in hand. `failSendOf` makes the publish of one id fail.
 */
function fakeBroker(queues: Record<string, Stored[]>, options: { failSendOf?: string } = {}) {
  const inHand = new Map<amqp.GetMessage, { queue: string; stored: Stored }>();
  let gets = 0;
  const channel: MoveChannel = {
    get(queue) {
      gets++;
      const stored = queues[queue]?.shift();
      if (!stored) return Promise.resolve(false);
      const message = {
        content: Buffer.from(stored.id),
        properties: { headers: stored.headers, messageId: stored.id, expiration: '1000' },
        fields: {},
      } as unknown as amqp.GetMessage;
      inHand.set(message, { queue, stored });
      return Promise.resolve(message);
    },
    sendToQueue(queue, content, publish, callback) {
      const id = content.toString();
      assert.equal(publish.mandatory, true);
      assert.equal(publish.expiration, undefined, 'the expiration does not carry over');
      setImmediate(() => {
        if (id === options.failSendOf) return callback(new Error('channel closed'));
        queues[queue]!.push({ id, headers: publish.headers as Record<string, unknown> });
        callback(null);
      });
      return true;
    },
    ack(message) {
      assert.ok(inHand.delete(message), 'acked once, while in hand');
    },
    on: () => undefined,
  };
  const close = () => {
    for (const { queue, stored } of inHand.values()) queues[queue]!.unshift(stored);
    inHand.clear();
  };
  return { channel, close, gets: () => gets };
}

const ids = (queue: Stored[] | undefined) => (queue ?? []).map((m) => m.id);
const at = (time: string) => ({ 'x-hookline-dead-lettered-at': time, 'x-hookline-attempt': 3 });

describe('moveOnChannel', () => {
  it('moves every message without a selector, dropping the reset and death headers', async () => {
    const queues: Record<string, Stored[]> = {
      dlq: [
        { id: 'a', headers: { ...at('2030-01-01T00:00:00Z'), 'x-death': [{}] } },
        { id: 'b', headers: {} },
      ],
      main: [],
    };
    const { channel } = fakeBroker(queues);
    const moved = await moveOnChannel(channel, 'dlq', 'main', { resetHeaders: ['x-hookline-attempt'] });
    assert.equal(moved, 2);
    assert.deepEqual(ids(queues.dlq), []);
    assert.deepEqual(ids(queues.main), ['a', 'b']);
    assert.deepEqual(queues.main![0]!.headers, { 'x-hookline-dead-lettered-at': '2030-01-01T00:00:00Z' });
  });

  it('moves the selected ones and puts the others back in order, reading each once', async () => {
    const queues: Record<string, Stored[]> = {
      dlq: ['a1', 'b1', 'a2', 'b2', 'a3'].map((id) => ({ id, headers: { kind: id[0] } })),
      main: [],
    };
    const { channel, gets } = fakeBroker(queues);
    const moved = await moveOnChannel(channel, 'dlq', 'main', {
      select: (headers) => headers.kind === 'b',
      limit: 5,
    });
    assert.equal(moved, 2);
    assert.deepEqual(ids(queues.main), ['b1', 'b2']);
    assert.deepEqual(ids(queues.dlq), ['a1', 'a2', 'a3'], 'kept in their order, with their headers');
    assert.deepEqual(queues.dlq![0]!.headers, { kind: 'a' });
    assert.equal(gets(), 5, 'the put-back messages are not read again');
  });

  it('loses nothing when a publish fails midway: the message in hand goes back when the channel closes', async () => {
    const queues: Record<string, Stored[]> = {
      dlq: ['k1', 'm1', 'k2', 'm2'].map((id) => ({ id, headers: { keep: id.startsWith('k') } })),
      main: [],
    };
    const { channel, close } = fakeBroker(queues, { failSendOf: 'k2' });
    await assert.rejects(
      moveOnChannel(channel, 'dlq', 'main', { select: (h) => h.keep !== true, limit: 4 }),
      /channel closed/,
    );
    close();
    assert.deepEqual(ids(queues.main), ['m1']);
    assert.deepEqual(ids(queues.dlq).sort(), ['k1', 'k2', 'm2'], 'every other message is still there');
  });
});
