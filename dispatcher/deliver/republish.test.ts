import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delayRoutingKey, webhookQueues } from '../../core/rabbit/topology.ts';
import {
  PUBLISH_MARK,
  type BrokerSession,
  type Delivery,
  type MessageProperties,
  type PublishOptions,
} from '../broker/session.ts';
import { HEADER, type EventMeta } from './event.ts';
import { carried, deadLetter, nextAttempt, publishDelayed, renewHead, sendToHead } from './republish.ts';

function aDelivery(headers: Record<string, unknown>): Delivery {
  return {
    body: Buffer.from('{"id":1}'),
    exchange: 'x',
    routingKey: 'order.created',
    redelivered: false,
    properties: { messageId: 'm1', type: 'order.created', contentType: 'application/json', headers },
    ack: () => undefined,
    nack: () => undefined,
  };
}

/** A session that records what was sent where. */
function aSession() {
  const sent: { to: string; body: string; properties: MessageProperties; mandatory?: boolean }[] = [];
  const record = (to: string, body: Buffer, properties: MessageProperties, options?: PublishOptions) => {
    sent.push({ to, body: body.toString(), properties, mandatory: options?.mandatory });
    return Promise.resolve();
  };
  const session = {
    publish: (exchange: string, key: string, ...rest: [Buffer, MessageProperties, PublishOptions?]) =>
      record(`${exchange} ${key}`, ...rest),
  } as unknown as BrokerSession;
  return { session, sent };
}

const meta: EventMeta = { id: 'evt_1', type: 'order.created', attempt: 2, firstSeen: 1000 };
const topology = webhookQueues('shop', 'orders');
const fromBroker = {
  'x-death': [{}],
  'x-first-death-queue': 'q',
  [PUBLISH_MARK]: '1.2',
  [HEADER.dueAt]: 5,
  'x-custom': 'kept',
};

describe('republish', () => {
  it("carries the message's identity and own headers, never the broker's or earlier publishes'", () => {
    assert.deepEqual(carried(aDelivery(fromBroker)), {
      messageId: 'm1',
      type: 'order.created',
      contentType: 'application/json',
      headers: { 'x-custom': 'kept' },
    });
  });

  it('numbers the next attempt and keeps when the event was first seen', () => {
    const { headers } = nextAttempt(aDelivery(fromBroker), meta);
    assert.deepEqual(headers, {
      'x-custom': 'kept',
      [HEADER.eventId]: 'evt_1',
      [HEADER.eventType]: 'order.created',
      [HEADER.attempt]: 3,
      [HEADER.firstSeen]: 1000,
    });
  });

  it("keeps the event's trace context through the delay queues, and gives one to an event that had none", () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const kept = nextAttempt(aDelivery({ ...fromBroker, traceparent, tracestate: 'a=b' }), {
      ...meta,
      trace: { traceparent, tracestate: 'a=b' },
    });
    assert.equal(kept.headers.traceparent, traceparent);
    assert.equal(kept.headers.tracestate, 'a=b');
    // An event that came without one carries its first attempt's from then on.
    const first = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const started = nextAttempt(aDelivery(fromBroker), { ...meta, trace: { traceparent: first } });
    assert.equal(started.headers.traceparent, first);
    assert.equal(started.headers.tracestate, undefined);
    // A dead letter keeps it too, for a replay.
    assert.equal(carried(aDelivery({ traceparent })).headers?.traceparent, traceparent);
  });

  it('sends the next attempt through the delay exchange, or to the head queue with its due time', async () => {
    const { session, sent } = aSession();
    const delivery = aDelivery(fromBroker);
    const properties = nextAttempt(delivery, meta);
    await publishDelayed(session, topology, delivery, properties, 3000);
    await sendToHead(session, topology, delivery, properties, 9000);
    assert.equal(
      sent[0]!.to,
      `${topology.delayExchange} ${delayRoutingKey(3000, topology.delayDestination)}`,
    );
    assert.equal(sent[0]!.properties.headers?.[HEADER.dueAt], undefined);
    // Through the namespace's direct exchange, never the default one (a broker user that may
    // write to the default exchange reaches every queue of the vhost).
    assert.equal(sent[1]!.to, `hookline.shop.~direct ${topology.headQueue}`);
    assert.equal(sent[1]!.properties.headers?.[HEADER.dueAt], 9000);
    assert.ok(sent.every((s) => s.mandatory === true && s.body === '{"id":1}'));
  });

  it('dead-letters with the reason (cut to 1000 characters) and the time', async () => {
    const { session, sent } = aSession();
    const at = new Date('2030-01-01T00:00:00Z');
    await deadLetter(session, topology, aDelivery(fromBroker), meta, 'x'.repeat(2000), at);
    const { to, properties } = sent[0]!;
    assert.equal(to, `hookline.shop.~direct ${topology.deadLetterQueue}`);
    assert.equal(properties.messageId, 'evt_1');
    assert.equal((properties.headers?.[HEADER.reason] as string).length, 1000);
    assert.equal(properties.headers?.[HEADER.deadLetteredAt], '2030-01-01T00:00:00.000Z');
    assert.equal(properties.headers?.[HEADER.attempt], 2);
    assert.equal(properties.headers?.['x-death'], undefined);
  });

  it('renews a held head event with all its headers, its due time included', async () => {
    const { session, sent } = aSession();
    await renewHead(session, topology, aDelivery(fromBroker));
    assert.equal(sent[0]!.to, `hookline.shop.~direct ${topology.headQueue}`);
    assert.deepEqual(sent[0]!.properties.headers, fromBroker);
  });
});
