import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Acks } from './acks.ts';

/** A channel that records each ack as [tag, multiple]. */
function recording() {
  const sent: [number, boolean][] = [];
  let closed = false;
  return {
    sent,
    close: () => (closed = true),
    channel: {
      ack(message: { fields: { deliveryTag: number } }, allUpTo?: boolean) {
        if (closed) throw new Error('Channel closed');
        sent.push([message.fields.deliveryTag, allUpTo ?? false]);
      },
    },
  };
}

function received(acks: Acks, ...tags: number[]): void {
  for (const tag of tags) acks.received(tag);
}

describe('Acks', () => {
  it('sends the acks of one turn, oldest first, as one multiple ack', async () => {
    const { sent, channel } = recording();
    const acks = new Acks(channel);
    received(acks, 1, 2, 3, 4);
    acks.ack(2);
    acks.ack(1);
    acks.ack(3);
    assert.deepEqual(sent, [], 'nothing before the turn ends');
    await nextTurn();
    assert.deepEqual(sent, [[3, true]]);
    acks.ack(4);
    await nextTurn();
    assert.deepEqual(sent, [
      [3, true],
      [4, true],
    ]);
  });

  it('acks out of order one by one while an older delivery is in hand, and never a tag twice', async () => {
    const { sent, channel } = recording();
    const acks = new Acks(channel);
    received(acks, 1, 2, 3, 4);
    acks.ack(3);
    acks.ack(2);
    await nextTurn();
    assert.deepEqual(sent, [
      [2, false],
      [3, false],
    ]);
    acks.ack(1);
    await nextTurn();
    assert.deepEqual(sent.at(-1), [1, true], 'the multiple ack stops at the last tag not yet sent');
    acks.ack(4);
    await nextTurn();
    assert.deepEqual(sent.at(-1), [4, true]);
    assert.equal(sent.length, 4);
  });

  it('lets a rejected delivery end the run of settled ones without an ack of its own', async () => {
    const { sent, channel } = recording();
    const acks = new Acks(channel);
    received(acks, 1, 2, 3);
    acks.ack(1);
    acks.settled(2);
    acks.ack(3);
    await nextTurn();
    assert.deepEqual(sent, [[3, true]]);
  });

  it('ignores a second ack and an unknown tag', async () => {
    const { sent, channel } = recording();
    const acks = new Acks(channel);
    received(acks, 7);
    acks.ack(7);
    acks.ack(7);
    acks.ack(99);
    await nextTurn();
    assert.deepEqual(sent, [[7, true]]);
  });

  it('flushes at once when asked (before its channel closes)', () => {
    const { sent, channel } = recording();
    const acks = new Acks(channel);
    received(acks, 1, 2);
    acks.ack(1);
    acks.flush();
    assert.deepEqual(sent, [[1, true]]);
  });

  it('sends nothing and throws nothing once the channel is closed', async () => {
    const { sent, channel, close } = recording();
    const acks = new Acks(channel);
    received(acks, 1);
    acks.ack(1);
    close();
    await nextTurn();
    assert.deepEqual(sent, []);
  });

  it('holds no ack back behind a delivery in hand for long, and settles the rest with one ack once it ends', async () => {
    const { sent, channel } = recording();
    const acks = new Acks(channel);
    received(acks, 1, 2, 3);
    for (let tag = 4; tag <= 40; tag++) {
      acks.ack(tag - 2);
      received(acks, tag);
      if (tag % 5 === 0) await nextTurn();
    }
    acks.ack(39);
    acks.ack(40);
    await nextTurn();
    const single = sent.filter(([, multiple]) => !multiple).map(([tag]) => tag);
    assert.deepEqual(
      single,
      Array.from({ length: 39 }, (_, i) => i + 2),
      'tags 2-40 each once, in order',
    );
    assert.ok(
      sent.every(([, multiple]) => !multiple),
      'no multiple ack while tag 1 is in hand',
    );
    acks.ack(1);
    await nextTurn();
    assert.deepEqual(sent.at(-1), [1, true], 'the multiple ack stops at the last tag not yet sent');
    received(acks, 41);
    acks.ack(41);
    await nextTurn();
    assert.deepEqual(sent.at(-1), [41, true]);
    assert.equal(sent.length, 41);
  });

  it('takes a tag that skips ahead without settling the tags between', async () => {
    const { sent, channel } = recording();
    const acks = new Acks(channel);
    received(acks, 1, 5);
    acks.ack(5);
    await nextTurn();
    assert.deepEqual(sent, [[5, false]], 'tag 1 is still in hand');
    acks.ack(1);
    await nextTurn();
    assert.deepEqual(sent.at(-1), [1, true]);
  });
});
