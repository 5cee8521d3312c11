import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPayload } from './payload.ts';

const body = Buffer.from('{"eventType":"invoice.created","shop_id":55}');
const event = {
  id: 'evt_1',
  type: 'invoice.created',
  source: '/namespaces/shop/eventsources/payments',
  time: new Date('2026-11-23T12:00:00Z'),
  body,
  json: JSON.parse(body.toString()) as unknown,
};

describe('buildPayload', () => {
  it('sends the event byte for byte in raw format', () => {
    const payload = buildPayload('raw', event);
    assert.equal(payload.body, body);
    assert.equal(payload.headers['content-type'], 'application/json');
  });

  it('wraps the event in structured CloudEvents 1.0', () => {
    const payload = buildPayload('cloudevents', event);
    assert.equal(payload.headers['content-type'], 'application/cloudevents+json');
    assert.deepEqual(JSON.parse(payload.body.toString()), {
      specversion: '1.0',
      id: 'evt_1',
      source: '/namespaces/shop/eventsources/payments',
      type: 'invoice.created',
      time: '2026-11-23T12:00:00.000Z',
      datacontenttype: 'application/json',
      data: { eventType: 'invoice.created', shop_id: 55 },
    });
  });

  it('sends ce-* headers in binary mode', () => {
    const payload = buildPayload('cloudevents-binary', event);
    assert.equal(payload.body, body);
    assert.equal(payload.headers['ce-id'], 'evt_1');
    assert.equal(payload.headers['ce-type'], 'invoice.created');
    assert.equal(payload.headers['ce-specversion'], '1.0');
  });
});
