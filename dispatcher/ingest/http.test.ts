// The HTTP ingest facing requests a producer should not send, over raw sockets to the
// dispatcher's server with a fake broker: each is answered with a 4xx and a JSON body that
// names the problem, nothing of it is published, and the next request is served.
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { EventSourceSpec } from '../../core/api/v1alpha1/eventsource.ts';
import {
  producerHeaders,
  rawRequest,
  requestHead,
  type HeaderLines,
  type RawExchange,
} from '../../test/fixtures/raw-http.ts';
import type { BrokerSession } from '../broker/session.ts';
import type { BeforeGate } from '../gate.ts';
import type { SecretReader } from '../secrets.ts';
import { DEFAULT_SERVER_LIMITS, limitedServer } from '../server.ts';
import { EVENTS_PATH, HttpIngest } from './http.ts';

const TOKEN = 'unit-ingest-token-4b7e1a';
const MAX_EVENT_BYTES = 1024;
const EVENT = '{"type":"invoice.created","shop_id":55}';

interface Published {
  exchange: string;
  routingKey: string;
  body: Buffer;
}

type Headers = HeaderLines;
const headersFor = (body: string | Buffer, replace: Record<string, string | undefined> = {}) =>
  producerHeaders(body, TOKEN, replace);

describe('HTTP ingest facing hostile requests', () => {
  let server: http.Server;
  const templated = EventSourceSpec.parse({
    http: { authSecretRef: { name: 'ingest', key: 'tokens' } },
    eventType: { template: '{/type}' },
    dispatcher: { maxEventBytes: MAX_EVENT_BYTES },
  });
  let spec = templated;
  let port: number;
  const published: Published[] = [];
  const answered: number[] = [];

  before(async () => {
    const session = {
      publish: (exchange: string, routingKey: string, body: Buffer) => {
        published.push({ exchange, routingKey, body });
        return Promise.resolve();
      },
    } as unknown as BrokerSession;
    const ingest = new HttpIngest({
      namespace: 'shop',
      source: 'payments',
      spec: () => spec,
      session,
      target: { exchange: 'hookline.shop.payments', deadLetterExchange: 'hookline-ingest.shop.payments.dlq' },
      secrets: { cachedEntry: () => TOKEN, entry: () => Promise.resolve(TOKEN) } as unknown as SecretReader,
      gate: {
        decide: () => Promise.resolve({ resolved: true, allowed: true, verdicts: [] }),
      } as unknown as BeforeGate,
      counters: { request: (_route, status) => answered.push(status) },
      logger: pino({ level: 'silent' }),
    });
    server = limitedServer(DEFAULT_SERVER_LIMITS, (req, res) => {
      if (!ingest.handle(req, res)) res.writeHead(req.url === '/healthz' ? 200 : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => {
    published.length = 0;
  });

  const send = (headers: Headers, body: string | Buffer = '') =>
    rawRequest(port, [requestHead('POST', EVENTS_PATH, headers), body]);

  /** Asserts a JSON refusal with `status` whose error matches `error`, and nothing published. */
  function assertRefused(exchange: RawExchange, status: number, error: RegExp): void {
    const { response } = exchange;
    assert.ok(response, `a well-formed response, got ${JSON.stringify(exchange.raw.toString('latin1'))}`);
    assert.equal(response.status, status, response.body);
    assert.match(response.headers['content-type'] ?? '', /^application\/json/);
    const body = JSON.parse(response.body) as { error?: unknown };
    assert.equal(typeof body.error, 'string');
    assert.match(String(body.error), error);
    assert.deepEqual(published, [], 'nothing published');
  }

  async function assertStillServing(): Promise<void> {
    const before = published.length;
    const { response } = await send(headersFor(EVENT), EVENT);
    assert.equal(response?.status, 202, response?.body);
    assert.equal(published.length, before + 1);
  }

  it('publishes a well-formed event and answers 202', async () => {
    const { response } = await send(headersFor(EVENT), EVENT);
    assert.equal(response?.status, 202);
    assert.equal(published.length, 1);
    assert.equal(published[0]!.routingKey, 'invoice.created');
    assert.equal(published[0]!.body.toString(), EVENT);
  });

  describe('Content-Type', () => {
    const accepted = [
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset="UTF-8"',
      'Application/JSON',
      'application/cloudevents+json',
      'application/cloudevents+json; charset=utf-8',
    ];
    for (const type of accepted)
      it(`accepts ${type}`, async () => {
        const { response } = await send(headersFor(EVENT, { 'content-type': type }), EVENT);
        assert.equal(response?.status, 202, response?.body);
        assert.equal(published.length, 1);
      });

    const refused: [string, string | undefined][] = [
      ['text/plain', 'text/plain'],
      ['no Content-Type', undefined],
      ['an empty Content-Type', ''],
      ['a form', 'application/x-www-form-urlencoded'],
      ['multipart', 'multipart/form-data; boundary=x'],
      ['a near miss', 'application/jsonp'],
      ['JSON text sequences', 'application/json-seq'],
    ];
    for (const [name, type] of refused)
      it(`answers 415 to ${name}`, async () => {
        const exchange = await send(headersFor(EVENT, { 'content-type': type }), EVENT);
        assertRefused(exchange, 415, /Content-Type must be application\/json/);
      });

    it('answers 415 to a charset other than UTF-8', async () => {
      const body = Buffer.from('{"type":"invoice.created","name":"caf\xe9"}', 'latin1');
      const exchange = await send(
        headersFor(body, { 'content-type': 'application/json; charset=iso-8859-1' }),
        body,
      );
      assertRefused(exchange, 415, /charset must be utf-8, not "iso-8859-1"/);
    });

    it('answers 415 to a compressed body (Content-Encoding), which is not decoded', async () => {
      const exchange = await send(headersFor(EVENT, { 'content-encoding': 'gzip' }), EVENT);
      assertRefused(exchange, 415, /Content-Encoding "gzip" is not supported/);
      const identity = await send(headersFor(EVENT, { 'content-encoding': 'identity' }), EVENT);
      assert.equal(identity.response?.status, 202);
    });
  });

  describe('headers a request may carry once', () => {
    const twice: [string, Headers][] = [
      [
        'Content-Type',
        [...headersFor(EVENT, { 'content-type': 'text/plain' }), ['content-type', 'application/json']],
      ],
      [
        'Content-Type',
        [...headersFor(EVENT, { 'content-type': 'application/json' }), ['Content-Type', 'text/plain']],
      ],
      ['Authorization', [...headersFor(EVENT), ['Authorization', 'Bearer someone-else']]],
      ['Idempotency-Key', [...headersFor(EVENT, { 'idempotency-key': 'a' }), ['idempotency-key', 'b']]],
      [
        'Hookline-Event-Type',
        [...headersFor(EVENT, { 'hookline-event-type': 'a' }), ['hookline-event-type', 'b']],
      ],
    ];
    it('answers 400 to two headers naming the event type, when the source takes it from a header', async (t) => {
      spec = EventSourceSpec.parse({ ...templated, eventType: { header: 'X-Event-Type' } });
      t.after(() => (spec = templated));
      const exchange = await send(
        [...headersFor(EVENT), ['x-event-type', 'a'], ['X-Event-Type', 'b']],
        EVENT,
      );
      assertRefused(exchange, 400, /more than one X-Event-Type header/);
      const one = await send([...headersFor(EVENT), ['x-event-type', 'a']], EVENT);
      assert.equal(one.response?.status, 202);
      assert.equal(published[0]?.routingKey, 'a');
    });

    for (const [name, headers] of twice)
      it(`answers 400 to two ${name} headers`, async () => {
        const exchange = await send(headers, EVENT);
        assertRefused(exchange, 400, new RegExp(`more than one ${name} header`, 'i'));
        await assertStillServing();
      });
  });

  describe('bodies that are not UTF-8', () => {
    const bodies: [string, Buffer][] = [
      [
        'a byte that never occurs in UTF-8',
        Buffer.from('{"type":"invoice.created","name":"\xff"}', 'latin1'),
      ],
      ['Latin-1 text', Buffer.from('{"type":"invoice.created","name":"caf\xe9"}', 'latin1')],
      ['an overlong encoding of "/"', Buffer.from('{"type":"invoice.created","p":"\xc0\xaf"}', 'latin1')],
      ['an encoded UTF-16 surrogate', Buffer.from('{"type":"invoice.created","s":"\xed\xa0\x80"}', 'latin1')],
      ['a cut sequence', Buffer.from('{"type":"invoice.created","s":"\xe2\x82"}', 'latin1')],
      ['a bad byte in the event type', Buffer.from('{"type":"invoice.\xfe"}', 'latin1')],
    ];
    for (const [name, body] of bodies)
      it(`answers 400 to ${name}`, async () => {
        const exchange = await send(headersFor(body), body);
        assertRefused(exchange, 400, /not valid UTF-8/);
      });

    it('accepts UTF-8 beyond ASCII, byte for byte', async () => {
      const body = Buffer.from('{"type":"invoice.created","name":"café ✓ 𝄞"}');
      const { response } = await send(headersFor(body), body);
      assert.equal(response?.status, 202);
      assert.deepEqual(published[0]?.body, body);
    });
  });

  describe('framing', () => {
    it('answers 400 to a transfer coding other than chunked, which is not decoded', async () => {
      const exchange = await send(
        headersFor(EVENT, { 'content-length': undefined, 'transfer-encoding': 'gzip, chunked' }),
        `${Buffer.byteLength(EVENT).toString(16)}\r\n${EVENT}\r\n0\r\n\r\n`,
      );
      assertRefused(exchange, 400, /Transfer-Encoding "gzip, chunked" is not supported/);
      await assertStillServing();
    });

    it('answers 400 to a body cut off by a malformed chunk, and counts no internal error', async () => {
      const errors = answered.length;
      const exchange = await rawRequest(
        port,
        [
          requestHead(
            'POST',
            EVENTS_PATH,
            headersFor('', { 'content-length': undefined, 'transfer-encoding': 'chunked' }),
          ),
          '4\r\n{"ty\r\n',
          'zz\r\n',
        ],
        { pauseMs: 50 },
      );
      assertRefused(exchange, 400, /malformed HTTP request: Invalid character in chunk size/);
      await assertStillServing();
      assert.deepEqual(answered.slice(errors, -1), [400]);
    });

    it('accepts a chunked body', async () => {
      const { response } = await send(
        headersFor(EVENT, { 'content-length': undefined, 'transfer-encoding': 'chunked' }),
        `${Buffer.byteLength(EVENT).toString(16)}\r\n${EVENT}\r\n0\r\n\r\n`,
      );
      assert.equal(response?.status, 202);
      assert.equal(published.length, 1);
    });
  });

  describe('bodies over maxEventBytes', () => {
    it('answers 413 at once to a declared Content-Length over the limit, before the body is sent', async () => {
      const exchange = await rawRequest(
        port,
        [requestHead('POST', EVENTS_PATH, headersFor(Buffer.alloc(64 * 1024))), Buffer.alloc(64 * 1024, 'a')],
        { pauseMs: 1000, stopWhenAnswered: true, untilAnswered: true },
      );
      assertRefused(exchange, 413, /65536 bytes is larger than maxEventBytes \(1024\)/);
      assert.ok(
        exchange.written < 64 * 1024,
        `answered before the body was sent (${exchange.written} bytes)`,
      );
      await assertStillServing();
    });

    it('answers 413 to a chunked body once it passes the limit, long before it ends', async () => {
      const chunk = `${(512).toString(16)}\r\n${'a'.repeat(512)}\r\n`;
      const parts = [
        requestHead(
          'POST',
          EVENTS_PATH,
          headersFor('', { 'content-length': undefined, 'transfer-encoding': 'chunked' }),
        ),
        ...Array.from({ length: 64 }, () => chunk),
        '0\r\n\r\n',
      ];
      const exchange = await rawRequest(port, parts, {
        pauseMs: 20,
        stopWhenAnswered: true,
        untilAnswered: true,
      });
      assertRefused(exchange, 413, /larger than maxEventBytes \(1024\)/);
      assert.ok(exchange.written < 8 * 1024, `answered after ${exchange.written} of 32 KiB`);
      await assertStillServing();
    });
  });
});
