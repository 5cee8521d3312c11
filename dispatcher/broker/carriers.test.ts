import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type amqp from 'amqplib';
import { Carriers } from './carriers.ts';
import type { BrokerConnection } from './connection.ts';

/** A connection that is only a name, and a channel that closes when told. */
function fakeConnection(name: string): BrokerConnection {
  const model = { name } as unknown as amqp.ChannelModel;
  return {
    connected: true,
    current: () => Promise.resolve(model),
    drain: () => undefined,
    close: () => Promise.resolve(),
  };
}

function channelOn() {
  let close!: () => void;
  const closed = new Promise<void>((resolve) => (close = resolve));
  return (connection: amqp.ChannelModel) =>
    Promise.resolve({ on: (connection as unknown as { name: string }).name, closed, close });
}

describe('Carriers', () => {
  it('opens another connection once one carries its share, and keeps a key’s channels together', async () => {
    const opened: string[] = [];
    const carriers = new Carriers(
      fakeConnection('c1'),
      (index) => {
        opened.push(`c${index + 1}`);
        return fakeConnection(`c${index + 1}`);
      },
      2,
    );
    const open = (key: string) => carriers.open(key, channelOn(), (c) => c.closed);
    const a1 = await open('a');
    const b1 = await open('b');
    const c1 = await open('c');
    assert.deepEqual([a1.on, b1.on, c1.on], ['c1', 'c1', 'c2']);
    // A Strict Webhook's lock, head and main queue: on its first channel's connection, full or not.
    const a2 = await open('a');
    const a3 = await open('a');
    assert.deepEqual([a2.on, a3.on], ['c1', 'c1']);
    assert.deepEqual(carriers.channels, [4, 1]);
    assert.deepEqual(opened, ['c2']);
    // Closed channels make room; a key with none left goes where there is room.
    for (const channel of [a1, a2, a3, b1]) channel.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(carriers.channels, [0, 1]);
    assert.equal((await open('a')).on, 'c1');
    assert.equal((await open('d')).on, 'c1');
    assert.equal((await open('e')).on, 'c2');
  });

  it('counts nothing for a channel that could not be opened', async () => {
    const carriers = new Carriers(fakeConnection('c1'), (index) => fakeConnection(`c${index + 1}`), 1);
    await assert.rejects(
      carriers.open(
        'a',
        () => Promise.reject(new Error('NOT_FOUND')),
        () => Promise.resolve(),
      ),
      /NOT_FOUND/,
    );
    assert.deepEqual(carriers.channels, [0]);
    assert.equal((await carriers.open('b', channelOn(), (c) => c.closed)).on, 'c1');
  });
});
