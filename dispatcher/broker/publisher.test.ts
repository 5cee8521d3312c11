import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type amqp from 'amqplib';
import { confirmPublisher } from './publisher.ts';

/** A confirm channel that confirms or nacks each message as `answer` says, at once or when released. */
class FakeChannel extends EventEmitter {
  readonly published: string[] = [];
  closed = false;
  readonly #held: (() => void)[] = [];
  readonly id: number;
  readonly answer: (body: string) => 'ack' | 'nack' | 'hold';

  constructor(id: number, answer: (body: string) => 'ack' | 'nack' | 'hold') {
    super();
    this.id = id;
    this.answer = answer;
  }

  publish(
    _exchange: string,
    _key: string,
    body: Buffer,
    _options: unknown,
    callback: (error: unknown) => void,
  ) {
    const text = body.toString();
    this.published.push(text);
    const settle = () => callback(this.answer(text) === 'nack' ? new Error('message nacked') : null);
    if (this.answer(text) === 'hold') this.#held.push(() => callback(null));
    else setImmediate(settle);
    return true;
  }

  release(): void {
    for (const settle of this.#held.splice(0)) settle();
  }

  async waitForConfirms(): Promise<void> {
    while (this.#held.length > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  close(): Promise<void> {
    this.closed = true;
    this.emit('close');
    return Promise.resolve();
  }
}

function fixture(answer: (channel: number, body: string) => 'ack' | 'nack' | 'hold') {
  const channels: FakeChannel[] = [];
  const connection = {
    createConfirmChannel: (): Promise<FakeChannel> => {
      const id = channels.length;
      const channel = new FakeChannel(id, (body) => answer(id, body));
      channels.push(channel);
      return Promise.resolve(channel);
    },
  } as unknown as amqp.ChannelModel;
  const publisher = confirmPublisher(() => Promise.resolve(connection));
  const publish = (body: string) => publisher.publish('x', 'k', Buffer.from(body), {}, {});
  return { channels, publish };
}

describe('confirmPublisher', () => {
  it('publishes every message on one channel while the broker confirms', async () => {
    const { channels, publish } = fixture(() => 'ack');
    await Promise.all(['a', 'b', 'c'].map(publish));
    await publish('d');
    assert.equal(channels.length, 1, 'concurrent first publishes share one channel');
    assert.deepEqual(channels[0]!.published, ['a', 'b', 'c', 'd']);
  });

  it('moves to a fresh channel after a nack, closing the old one once its confirms are in', async () => {
    // The first channel nacks "bad" and holds "slow" unconfirmed; later channels confirm all.
    const { channels, publish } = fixture((channel, body) =>
      channel > 0 ? 'ack' : body === 'bad' ? 'nack' : body === 'slow' ? 'hold' : 'ack',
    );
    await publish('first');
    const slow = publish('slow');
    await assert.rejects(publish('bad'), /nacked/);
    await publish('after');
    assert.equal(channels.length, 2);
    assert.deepEqual(channels[1]!.published, ['after']);
    assert.equal(channels[0]!.closed, false, 'the retired channel waits for its outstanding confirm');
    channels[0]!.release();
    await slow;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(channels[0]!.closed, true);
  });
});
