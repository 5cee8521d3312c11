import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HookConfig } from '../hooks.ts';
import { attemptRequest } from './request.ts';

const config = {
  name: 'orders',
  spec: { payload: { format: 'raw' }, signing: { scheme: 'none' }, headers: { 'X-Team': 'shop' } },
  eventSource: 'hookline://shop/orders',
  url: new URL('https://receiver.example/hook'),
  authenticate: () => Promise.resolve({}),
  signer: () => ({}),
} as unknown as HookConfig;

const meta = { id: 'evt_1', type: 'order.created', attempt: 2, firstSeen: 0 };
const event = { body: Buffer.from('{"a":1}'), json: { a: 1 } };
const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('attemptRequest', () => {
  it("sends the attempt's trace context", async () => {
    const { headers } = await attemptRequest(config, meta, event, new Date(0), {
      traceparent,
      tracestate: 'a=b',
    });
    assert.equal(headers.traceparent, traceparent);
    assert.equal(headers.tracestate, 'a=b');
    assert.equal(headers['X-Team'], 'shop');
    assert.equal(headers['Hookline-Attempt'], '2');
  });

  it('sends a traceparent without a tracestate, and neither without a context', async () => {
    const alone = await attemptRequest(config, meta, event, new Date(0), { traceparent });
    assert.equal(alone.headers.traceparent, traceparent);
    assert.equal('tracestate' in alone.headers, false);
    const none = await attemptRequest(config, meta, event, new Date(0));
    assert.equal('traceparent' in none.headers, false);
    assert.equal('tracestate' in none.headers, false);
  });
});
