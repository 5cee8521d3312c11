// The dispatcher's broker session against the real broker: the lock Strict delivery rests on
// (one connection at a time holds a Webhook's lock; a connection that goes away leaves it to
// the next), and more consumers than one connection may have channels.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { amqpSession, type BrokerSession } from '../../dispatcher/broker/session.ts';
import { amqpConnect, testEnv } from '../env/handles.ts';
import { eventually } from '../fixtures/wait.ts';

const logger = pino({ level: 'silent' });
const suffix = Math.random().toString(36).slice(2, 8);

describe('the Strict lock on the broker', () => {
  const sessions: BrokerSession[] = [];
  const session = () => {
    const s = amqpSession(testEnv().rabbitmq.amqpUrl, logger, `strict-lock-${sessions.length}`);
    sessions.push(s);
    return s;
  };
  before(() => testEnv());
  after(async () => {
    for (const s of sessions) await s.close().catch(() => undefined);
  });

  it('is held by one connection at a time and passes on when it is released or its connection closes', async () => {
    const name = `hookline-lock.locktest-${suffix}.ledger`;
    const [a, b, c] = [session(), session(), session()];
    const held = await a.lock(name);
    assert.ok(held, 'the first connection takes the lock');
    assert.equal(await b.lock(name), undefined, 'a second connection is refused while it is held');
    assert.equal(await b.lock(name), undefined, 'and again');
    await held.release();
    await held.lost;
    const next = await b.lock(name);
    assert.ok(next, 'released, it goes to the next connection that asks');
    assert.equal(await c.lock(name), undefined);
    // The holder's connection goes away without releasing it: the broker deletes the queue.
    await b.close();
    await next.lost;
    await eventually(
      'the lock taken by the third connection',
      async () => (await c.lock(name)) ?? undefined,
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );
  });
});

describe('a dispatcher session with more consumers than a connection has channels', () => {
  it('spreads them over connections: 2,100 consumers where RabbitMQ allows 2,047 channels a connection', async () => {
    const count = 2100;
    const prefix = `hookline.channels-${suffix}`;
    const admin = await amqpConnect();
    const session = amqpSession(testEnv().rabbitmq.amqpUrl, logger, 'channels-test');
    try {
      const channel = await admin.createChannel();
      for (let i = 0; i < count; i++)
        await channel.assertQueue(`${prefix}.${i}`, { durable: false, autoDelete: true });
      const got = new Set<number>();
      for (let i = 0; i < count; i++)
        await session.consume(`${prefix}.${i}`, { prefetch: 1, key: `hook-${i}` }, (d) => {
          got.add(i);
          d.ack();
        });
      for (const i of [0, 1046, 2046, 2047, count - 1])
        channel.sendToQueue(`${prefix}.${i}`, Buffer.from('{}'));
      await eventually('one message on each of five queues consumed', () => got.size === 5 || undefined, {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      assert.deepEqual(
        [...got].sort((a, b) => a - b),
        [0, 1046, 2046, 2047, count - 1],
      );
    } finally {
      await session.close();
      await admin.close().catch(() => undefined);
    }
  });
});
