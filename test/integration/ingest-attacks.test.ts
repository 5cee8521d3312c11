// The HTTP ingest under attack, end to end: a dispatcher started from the Deployment the
// operator wrote for an http source, the real RabbitMQ behind it, and a queue of the test's
// own bound to the source's exchange with `#`, so that every event published is seen.
// Requests no producer should send (over raw sockets), then random requests thrown at it
// for a bounded time (fast-check): each gets a well-formed answer, the dispatcher stays
// up, and exactly the events answered 202 reach the queue.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type amqp from 'amqplib';
import fc from 'fast-check';
import { after, before, describe, it } from 'node:test';
import { amqpConnect, freshNamespace } from '../env/handles.ts';
import { apply, waitForSourceInPlace } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import {
  producerHeaders as headersWithToken,
  rawRequest,
  requestHead,
  type HeaderLines,
  type RawExchange,
} from '../fixtures/raw-http.ts';

const SOURCE = 'attacked';
const TOKEN = 'attack-ingest-token-93c0e1';
const OLD_TOKEN = 'attack-ingest-old-token-52b7';
const MAX_EVENT_BYTES = 4096;
/** How long, and at most how many requests, the fuzz test throws at the dispatcher. */
const FUZZ_MS = Number(process.env.HOOKLINE_FUZZ_MS ?? 25_000);
const FUZZ_RUNS = Number(process.env.HOOKLINE_FUZZ_RUNS ?? 15_000);
/** Fewer requests than this in FUZZ_MS would make the fuzz test say little. */
const FUZZ_MIN_RUNS = 200;

type Headers = HeaderLines;
const producerHeaders = (body: string | Buffer, replace: Record<string, string | undefined> = {}) =>
  headersWithToken(body, TOKEN, replace);

const event = (n: number | string) => `{"type":"attack.event","n":${JSON.stringify(n)}}`;

const chunked = (body: string | Buffer, size = 1000): Buffer => {
  const bytes = Buffer.from(body);
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
};

/** The JSON error of a refusal; fails when the answer is not a well-formed one with a JSON body. */
function refusal(exchange: RawExchange): { status: number; error: string } {
  const { response } = exchange;
  assert.ok(response, `a well-formed response, got ${JSON.stringify(exchange.raw.toString('latin1'))}`);
  assert.match(response.headers['content-type'] ?? '', /^application\/json/, response.body);
  const body = JSON.parse(response.body) as { error?: unknown };
  assert.equal(typeof body.error, 'string', response.body);
  return { status: response.status, error: String(body.error) };
}

describe('HTTP ingest under attack', () => {
  let namespace: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  let port: number;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  let queue: string;

  /** Takes every message from the test's queue: their message ids. */
  async function drain(): Promise<string[]> {
    const ids: string[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) return ids;
      ids.push(String(message.properties.messageId));
    }
  }

  /** Asserts that the queue holds exactly one message for each of `ids`, and nothing else. */
  async function assertPublishedExactly(ids: ReadonlySet<string>): Promise<void> {
    // The broker confirmed each event before its 202: it is in the queue by now.
    const published = await drain();
    assert.equal(published.length, new Set(published).size, 'no event published twice');
    assert.deepEqual(new Set(published), ids, 'exactly the events answered 202');
  }

  async function alive(): Promise<void> {
    assert.equal(dispatcher.child.exitCode, null, 'the dispatcher is running');
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const errors = dispatcher.logs.filter((line) => line.level >= 50);
    assert.deepEqual(errors, [], 'no error logged');
  }

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('ingest-attacks');
    operator = startOperator({ namespace });
    await apply(
      namespace,
      `apiVersion: v1
kind: Secret
metadata: {name: ingest-tokens}
stringData: {tokens: "# producers\\n${OLD_TOKEN}\\n${TOKEN}\\n"}
---
apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: ${SOURCE}}
spec:
  http: {authSecretRef: {name: ingest-tokens, key: tokens}}
  eventType: {template: '{/type}'}
  dispatcher: {maxEventBytes: ${MAX_EVENT_BYTES}}
`,
    );
    await waitForSourceInPlace(namespace, SOURCE, 60_000);
    dispatcher = await startDispatcher(namespace, SOURCE);
    port = Number(dispatcher.logs.find((line) => line.msg === 'Dispatcher listening')?.port);
    // The dispatcher has read its source; the operator would only compete for the CPU.
    await operator.stop();
    connection = await amqpConnect();
    channel = await connection.createChannel();
    queue = `attacks.${namespace}`;
    await channel.assertQueue(queue, { exclusive: true, durable: false });
    await channel.bindQueue(queue, `hookline.${namespace}.${SOURCE}`, '#');
  });

  after(async () => {
    await connection?.close();
    await dispatcher?.stop();
    await operator?.stop();
  });

  it('answers each attack with a 4xx naming it, publishes none of them, and serves the next request', async () => {
    const head = (headers: Headers, method = 'POST') => requestHead(method, '/v1/events', headers);
    const latin1 = (text: string) => Buffer.from(text, 'latin1');
    const oversize = `{"type":"attack.event","pad":"${'x'.repeat(2 * MAX_EVENT_BYTES)}"}`;
    const attacks: [string, (string | Buffer)[], number, RegExp][] = [
      ['no token', [head(producerHeaders(event(1), { authorization: undefined })), event(1)], 401, /Bearer/],
      [
        'a wrong token',
        [head(producerHeaders(event(1), { authorization: 'Bearer nope' })), event(1)],
        401,
        /not accepted/,
      ],
      [
        'a token differing in its last character',
        [head(producerHeaders(event(1), { authorization: `Bearer ${TOKEN.slice(0, -1)}x` })), event(1)],
        401,
        /not accepted/,
      ],
      [
        'a body that is not UTF-8',
        [head(producerHeaders(latin1(event('caf\xe9')))), latin1(event('caf\xe9'))],
        400,
        /not valid UTF-8/,
      ],
      [
        'an encoded surrogate',
        [head(producerHeaders(latin1(event('\xed\xa0\x80')))), latin1(event('\xed\xa0\x80'))],
        400,
        /not valid UTF-8/,
      ],
      [
        'JSON nested 1,000 deep',
        (() => {
          const deep = `{"type":"attack.event","d":${'['.repeat(1000)}${']'.repeat(1000)}}`;
          return [head(producerHeaders(deep)), deep];
        })(),
        400,
        /nests deeper than 128 levels/,
      ],
      ['not JSON', [head(producerHeaders('{"type":')), '{"type":'], 400, /not valid JSON/],
      [
        'text/plain',
        [head(producerHeaders(event(1), { 'content-type': 'text/plain' })), event(1)],
        415,
        /Content-Type must be application\/json/,
      ],
      [
        'no Content-Type',
        [head(producerHeaders(event(1), { 'content-type': undefined })), event(1)],
        415,
        /Content-Type must be application\/json/,
      ],
      [
        'a Latin-1 charset',
        [head(producerHeaders(event(1), { 'content-type': 'application/json; charset=latin1' })), event(1)],
        415,
        /charset must be utf-8/,
      ],
      [
        'a gzip Content-Encoding',
        [head(producerHeaders(event(1), { 'content-encoding': 'gzip' })), event(1)],
        415,
        /Content-Encoding "gzip" is not supported/,
      ],
      [
        'two Content-Type headers',
        [head([...producerHeaders(event(1)), ['Content-Type', 'text/plain']]), event(1)],
        400,
        /more than one Content-Type header/,
      ],
      [
        'two Authorization headers',
        [head([...producerHeaders(event(1)), ['Authorization', 'Bearer nope']]), event(1)],
        400,
        /more than one Authorization header/,
      ],
      [
        'two Idempotency-Key headers',
        [
          head([
            ...producerHeaders(event(1), { 'idempotency-key': 'attack-a' }),
            ['Idempotency-Key', 'attack-b'],
          ]),
          event(1),
        ],
        400,
        /more than one Idempotency-Key header/,
      ],
      [
        'two equal Content-Length headers',
        [head([...producerHeaders(event(1)), ['Content-Length', String(event(1).length)]]), event(1)],
        400,
        /malformed HTTP request: Duplicate Content-Length/,
      ],
      [
        'two conflicting Content-Length headers',
        [head([...producerHeaders(event(1)), ['Content-Length', '2']]), event(1)],
        400,
        /malformed HTTP request: Duplicate Content-Length/,
      ],
      [
        'Content-Length with Transfer-Encoding: chunked',
        [head([...producerHeaders(event(1)), ['Transfer-Encoding', 'chunked']]), chunked(event(1))],
        400,
        /malformed HTTP request: Transfer-Encoding can't be present with Content-Length/,
      ],
      [
        'Transfer-Encoding: gzip',
        [
          head(producerHeaders(event(1), { 'content-length': undefined, 'transfer-encoding': 'gzip' })),
          event(1),
        ],
        400,
        // Answered from the request's head, before Node's parser refuses the body.
        /Transfer-Encoding "gzip" is not supported; send the body as is or chunked/,
      ],
      [
        'an unknown Transfer-Encoding before chunked',
        [
          head(
            producerHeaders(event(1), {
              'content-length': undefined,
              'transfer-encoding': 'x-custom, chunked',
            }),
          ),
          chunked(event(1)),
        ],
        400,
        /Transfer-Encoding "x-custom, chunked" is not supported/,
      ],
      [
        'a body over maxEventBytes with its Content-Length',
        [head(producerHeaders(oversize)), oversize],
        413,
        /larger than maxEventBytes \(4096\)/,
      ],
      [
        'a chunked body over maxEventBytes',
        [
          head(producerHeaders('', { 'content-length': undefined, 'transfer-encoding': 'chunked' })),
          chunked(oversize),
        ],
        413,
        /larger than maxEventBytes \(4096\)/,
      ],
      ['PUT', [head(producerHeaders(event(1)), 'PUT'), event(1)], 405, /PUT is not allowed/],
    ];
    const accepted = new Set<string>();
    for (const [name, parts, status, error] of attacks) {
      const answer = refusal(await rawRequest(port, parts));
      assert.equal(answer.status, status, `${name}: ${answer.error}`);
      assert.match(answer.error, error, name);
      // The next request on a new connection is served.
      const next = await rawRequest(port, [head(producerHeaders(event(name))), event(name)]);
      assert.equal(next.response?.status, 202, `after ${name}: ${next.response?.body}`);
      accepted.add(String((JSON.parse(next.response.body) as { id: string }).id));
    }
    await alive();
    await assertPublishedExactly(accepted);
  });

  it('stops a body over maxEventBytes sent slowly: 413 long before it ends, and publishes nothing', async () => {
    await channel.purgeQueue(queue);
    const piece = `${(1024).toString(16)}\r\n${'a'.repeat(1024)}\r\n`;
    const exchange = await rawRequest(
      port,
      [
        requestHead(
          'POST',
          '/v1/events',
          producerHeaders('', { 'content-length': undefined, 'transfer-encoding': 'chunked' }),
        ),
        chunked('{"type":"attack.event","pad":"').subarray(0, -5),
        ...Array.from({ length: 1024 }, () => piece),
        '0\r\n\r\n',
      ],
      { pauseMs: 10, stopWhenAnswered: true, untilAnswered: true },
    );
    const answer = refusal(exchange);
    assert.equal(answer.status, 413);
    assert.ok(exchange.written < 16 * 1024, `answered after ${exchange.written} bytes of 1 MiB`);
    await alive();
    await assertPublishedExactly(new Set());
  });

  it('survives random requests for a bounded time, and publishes exactly those it answered 202', async (t) => {
    await channel.purgeQueue(queue);
    const accepted = new Set<string>();
    /** The body each Idempotency-Key was accepted with. */
    const keyBodies = new Map<string, string>();
    const statuses = new Map<number, number>();
    const prefix = crypto.randomBytes(4).toString('hex');
    let runs = 0;

    const property = fc.asyncProperty(fuzzRequest(prefix), async (request) => {
      runs++;
      const exchange = await rawRequest(port, request.parts, { timeoutMs: 15_000, untilAnswered: true });
      const { response } = exchange;
      assert.ok(
        response,
        `a well-formed response to ${request.describe}, got ${JSON.stringify(exchange.raw.toString('latin1').slice(0, 300))}`,
      );
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      assert.ok(response.status >= 200 && response.status <= 599, `status ${response.status}`);
      assert.ok(response.status < 500 || response.status === 503, `${response.status}: ${response.body}`);
      if (
        response.status >= 400 &&
        request.method !== 'HEAD' &&
        (request.ingest || response.status !== 404)
      ) {
        const body = JSON.parse(response.body) as { error?: unknown };
        assert.equal(typeof body.error, 'string', `${response.status}: ${response.body}`);
      }

      const key = request.idempotencyKey;
      const expected = predict(request, key === undefined ? undefined : keyBodies.get(key));
      if (response.status === 202) {
        const answer = JSON.parse(response.body) as { id: string; type: string };
        assert.match(answer.id, /^evt_/);
        accepted.add(answer.id);
        if (key !== undefined) keyBodies.set(key, request.bodyHash);
        assert.notEqual(expected, 'refused', `202 to ${request.describe}`);
      } else {
        assert.notEqual(expected, 'accepted', `${response.status} ${response.body} to ${request.describe}`);
      }
    });
    const seed = process.env.HOOKLINE_FUZZ_SEED ? Number(process.env.HOOKLINE_FUZZ_SEED) : undefined;
    const began = performance.now();
    await fc.assert(property, {
      numRuns: FUZZ_RUNS,
      plugins: [fc.interruptAfterTimeLimit(FUZZ_MS)],
      ...(seed !== undefined ? { seed } : {}),
    });
    const seconds = (performance.now() - began) / 1000;
    t.diagnostic(
      `${runs} requests in ${seconds.toFixed(1)} s; answers ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ${accepted.size} events published`,
    );
    assert.ok(runs >= FUZZ_MIN_RUNS, `only ${runs} requests in ${FUZZ_MS} ms`);
    await alive();
    await assertPublishedExactly(accepted);
  });
});

/**
 * The test's own model of a body: refused (not UTF-8, not JSON, over the limit), JSON whose
 * `/type` makes an event type (`typed`), or JSON that needs a Hookline-Event-Type header.
 */
type BodyKind = 'typed' | 'untyped' | 'refused';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function bodyKind(bytes: Buffer): BodyKind {
  if (bytes.length > MAX_EVENT_BYTES) return 'refused';
  let json: unknown;
  try {
    json = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    return 'refused';
  }
  const type =
    json !== null && typeof json === 'object' && !Array.isArray(json)
      ? (json as { type?: unknown }).type
      : undefined;
  if (typeof type === 'number' || typeof type === 'boolean') return 'typed';
  return typeof type === 'string' && type.length > 0 && Buffer.byteLength(type) <= 255 ? 'typed' : 'untyped';
}

/** One random request, as bytes, with what the test needs to judge its answer. */
interface FuzzRequest {
  parts: Buffer[];
  method: string;
  /** The path is the ingest's. */
  ingest: boolean;
  idempotencyKey: string | undefined;
  bodyHash: string;
  /** Every input is one the ingest accepts (but for an Idempotency-Key used with another body). */
  valid: boolean;
  /** A header the request adds at random may change the answer. */
  unpredictable: boolean;
  describe: string;
}

function predict(request: FuzzRequest, keyBody: string | undefined): 'accepted' | 'refused' | 'unknown' {
  if (request.unpredictable) return 'unknown';
  if (!request.valid) return 'refused';
  return keyBody === undefined || keyBody === request.bodyHash ? 'accepted' : 'refused';
}

function weighted<T>(...choices: [number, fc.Arbitrary<T>][]): fc.Arbitrary<T> {
  return fc.oneof(...choices.map(([weight, arbitrary]) => ({ weight, arbitrary })));
}

/** Each choice: a value (or a generator of one) and whether the ingest accepts it. */
function choice<T>(
  weight: number,
  value: T | fc.Arbitrary<T>,
  ok: boolean,
): [number, fc.Arbitrary<[T, boolean]>] {
  const arbitrary = value instanceof fc.Arbitrary ? value : fc.constant(value);
  return [weight, arbitrary.map((v): [T, boolean] => [v, ok])];
}

const INVALID_UTF8 = [
  [0xff],
  [0x80],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];
const SPECIAL_HEADERS = new Set([
  'host',
  'authorization',
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'idempotency-key',
  'hookline-event-type',
  'connection',
  'expect',
  'upgrade',
  'type',
]);

function fuzzRequest(prefix: string): fc.Arbitrary<FuzzRequest> {
  const method = weighted<[string, boolean]>(
    choice(12, 'POST', true),
    choice(3, fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'), false),
    choice(1, fc.constantFrom('post', 'P@ST', 'POST POST'), false),
  );
  const path = weighted<[string, boolean]>(
    choice(12, '/v1/events', true),
    choice(2, fc.constantFrom('/v1/events?from=fuzz', '/v1/events?'), true),
    choice(
      3,
      fc.constantFrom(
        '/v1/events/before',
        '/v1/events/',
        '/V1/EVENTS',
        '//v1/events',
        '/healthz',
        '/nope',
        '*',
      ),
      false,
    ),
    choice(1, fc.webPath(), false),
    choice(1, fc.constantFrom('/v1/ev ents', '/v1/events\x00', 'v1/events'), false),
  );
  const authorization = weighted<[string[], boolean]>(
    choice(12, [`Bearer ${TOKEN}`], true),
    choice(2, fc.constantFrom([`Bearer ${OLD_TOKEN}`], [`bearer ${TOKEN}`], [`Bearer  ${TOKEN} `]), true),
    choice(
      4,
      fc.constantFrom(
        [],
        [''],
        ['Bearer'],
        ['Bearer # producers'],
        [`Basic ${TOKEN}`],
        [`Bearer ${TOKEN}x`],
        [`Bearer ${TOKEN.slice(1)}`],
        [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`],
        [`Bearer ${TOKEN}`, 'Bearer nope'],
        [`Bearer ${TOKEN} ${TOKEN}`],
      ),
      false,
    ),
    choice(
      1,
      fc.stringMatching(/^[\x20-\x7e]{0,80}$/).map((v) => [`Bearer ${v}`]),
      false,
    ),
  );
  const contentType = weighted<[string[], boolean]>(
    choice(12, ['application/json'], true),
    choice(
      3,
      fc.constantFrom(
        ['application/json; charset=utf-8'],
        ['application/json;charset=UTF-8'],
        ['APPLICATION/JSON'],
        ['application/cloudevents+json'],
        ['application/vnd.api+json; charset="utf-8"'],
      ),
      true,
    ),
    choice(
      4,
      fc.constantFrom(
        [],
        [''],
        ['text/plain'],
        ['application/x-www-form-urlencoded'],
        ['application/json; charset=latin1'],
        ['application/json; charset=utf-16'],
        ['application/jsonx'],
        ['json'],
        ['application/json', 'application/json'],
        ['application/json', 'text/plain'],
      ),
      false,
    ),
  );
  type Framing =
    | 'length'
    | 'chunked'
    | 'none'
    | 'length-twice'
    | 'length-conflict'
    | 'length-chunked'
    | 'gzip'
    | 'gzip-chunked';
  const framing = weighted<[Framing, boolean]>(
    choice(12, 'length', true),
    choice(4, 'chunked', true),
    choice(
      4,
      fc.constantFrom<Framing>(
        'none',
        'length-twice',
        'length-conflict',
        'length-chunked',
        'gzip',
        'gzip-chunked',
      ),
      false,
    ),
  );
  const idempotencyKey = weighted<[string[], boolean]>(
    choice(8, [], true),
    choice(
      4,
      fc.integer({ min: 0, max: 7 }).map((n) => [`${prefix}-key-${n}`]),
      true,
    ),
    choice(
      1,
      fc.constantFrom([''], ['has space'], ['x'.repeat(256)], ['caf\xe9'], [`${prefix}-a`, `${prefix}-b`]),
      false,
    ),
  );
  const eventType = weighted<[string[], boolean]>(
    choice(10, [], true),
    choice(2, fc.constantFrom(['attack.typed'], ['attack.*'], ['attack.#']), true),
    choice(1, fc.constantFrom([''], ['x'.repeat(256)], ['a', 'b']), false),
  );
  const host = weighted<[string[], boolean]>(
    choice(20, ['hookline-ingest'], true),
    choice(1, fc.constantFrom([], ['a', 'b'], ['hookline-ingest', 'hookline-ingest']), false),
  );
  const expect = fc.oneof(
    { weight: 8, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  );
  const junk = fc.array(
    fc.tuple(
      fc.oneof(
        { weight: 6, arbitrary: fc.stringMatching(/^X-[A-Za-z0-9-]{1,16}$/) },
        {
          // Not the framing headers: a request whose framing promises bytes never sent is not
          // answered until the request timeout.
          weight: 1,
          arbitrary: fc.constantFrom(
            ...[...SPECIAL_HEADERS].filter((name) => !/^(content-length|transfer-encoding)$/.test(name)),
            'Authorization',
            'Trailer',
            'TE',
          ),
        },
      ),
      fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,40}$/),
    ),
    { maxLength: 3 },
  );
  // A body is judged by bodyKind(), except those made to be refused whatever their JSON says.
  const refused = (bytes: Buffer): [Buffer, BodyKind] => [bytes, 'refused'];
  const judged = (bytes: Buffer): [Buffer, BodyKind] => [bytes, bodyKind(bytes)];
  const body = fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .record({ n: fc.nat(), text: fc.string({ maxLength: 60, unit: 'grapheme' }) })
        .map(({ n, text }) => judged(Buffer.from(JSON.stringify({ type: `attack.${n % 5}`, n, text })))),
    },
    {
      weight: 2,
      arbitrary: fc
        .integer({ min: 0, max: MAX_EVENT_BYTES - 100 })
        .map((pad) => judged(Buffer.from(JSON.stringify({ type: 'attack.padded', pad: 'p'.repeat(pad) })))),
    },
    {
      weight: 2,
      arbitrary: fc.integer({ min: MAX_EVENT_BYTES + 1, max: 4 * MAX_EVENT_BYTES }).map((size) => {
        const start = '{"type":"attack.large","pad":"';
        return refused(Buffer.from(`${start}${'p'.repeat(size - start.length - 2)}"}`));
      }),
    },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => judged(Buffer.from(bytes))) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...INVALID_UTF8), fc.nat(39)).map(([bad, at]) => {
        const text = Buffer.from(`{"type":"attack.utf8","text":"${'t'.repeat(40)}"}`);
        const cut = 29 + at;
        return refused(Buffer.concat([text.subarray(0, cut), Buffer.from(bad), text.subarray(cut)]));
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 129, max: 1500 })
        .map((depth) =>
          refused(Buffer.from(`{"type":"attack.deep","d":${'['.repeat(depth)}${']'.repeat(depth)}}`)),
        ),
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          '',
          '{',
          'null',
          '[]',
          '"attack"',
          '{"n":1}',
          '{"type":{}}',
          '{"type":""}',
          '{"type":null}',
        )
        .map((text) => judged(Buffer.from(text))),
    },
    {
      weight: 1,
      arbitrary: fc
        .jsonValue({ maxDepth: 4 })
        .map((value) => judged(Buffer.from(JSON.stringify(value) ?? 'null'))),
    },
  );

  return fc
    .record({
      method,
      path,
      host,
      authorization,
      contentType,
      framing,
      idempotencyKey,
      eventType,
      expect,
      junk,
      body,
    })
    .map((r) => {
      const [methodValue, methodOk] = r.method;
      const [pathValue, pathOk] = r.path;
      const [bodyBytes, kind] = r.body;
      const [framingValue, framingOk] = r.framing;
      const [keys, keyOk] = r.idempotencyKey;
      const [types, typeOk] = r.eventType;
      const headers: Headers = r.host[0].map((value): [string, string] => ['Host', value]);
      for (const value of r.authorization[0]) headers.push(['Authorization', value]);
      for (const value of r.contentType[0]) headers.push(['Content-Type', value]);
      for (const value of keys) headers.push(['Idempotency-Key', value]);
      for (const value of types) headers.push(['Hookline-Event-Type', value]);
      if (r.expect) headers.push(['Expect', '100-continue']);
      headers.push(...r.junk);
      const length = String(bodyBytes.length);
      let sent: Buffer = bodyBytes;
      switch (framingValue) {
        case 'length':
          headers.push(['Content-Length', length]);
          break;
        case 'chunked':
          headers.push(['Transfer-Encoding', 'chunked']);
          sent = chunked(bodyBytes, 700);
          break;
        case 'none':
          sent = Buffer.alloc(0);
          break;
        case 'length-twice':
          headers.push(['Content-Length', length], ['Content-Length', length]);
          break;
        case 'length-conflict':
          headers.push(['Content-Length', length], ['Content-Length', String(bodyBytes.length + 1)]);
          break;
        case 'length-chunked':
          headers.push(['Content-Length', length], ['Transfer-Encoding', 'chunked']);
          sent = chunked(bodyBytes, 700);
          break;
        case 'gzip':
          headers.push(['Transfer-Encoding', 'gzip']);
          break;
        case 'gzip-chunked':
          headers.push(['Transfer-Encoding', 'gzip, chunked']);
          sent = chunked(bodyBytes, 700);
          break;
      }
      headers.push(['Connection', 'close']);
      const head = Buffer.from(
        `${methodValue} ${pathValue} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`,
        'latin1',
      );
      // Without framing the server reads no body at all.
      const effective = framingValue === 'none' ? bodyKind(Buffer.alloc(0)) : kind;
      const valid =
        methodOk &&
        pathOk &&
        r.host[1] &&
        r.authorization[1] &&
        r.contentType[1] &&
        framingOk &&
        keyOk &&
        typeOk &&
        (effective === 'typed' || (effective === 'untyped' && types.length === 1));
      return {
        parts: [head, sent],
        method: methodValue,
        ingest: pathValue.split('?')[0] === '/v1/events' || pathValue.split('?')[0] === '/v1/events/before',
        idempotencyKey: keys.length === 1 && keyOk ? keys[0] : undefined,
        bodyHash: crypto.createHash('sha256').update(bodyBytes).digest('hex'),
        valid,
        unpredictable: r.junk.some(
          ([name]) => SPECIAL_HEADERS.has(name.toLowerCase()) || /^(content-length|trailer|te)$/i.test(name),
        ),
        describe: `${methodValue} ${pathValue} [${headers.map(([n, v]) => `${n}: ${v.slice(0, 60)}`).join('; ')}] body ${JSON.stringify(bodyBytes.toString('latin1').slice(0, 80))} (${bodyBytes.length} bytes)`,
      };
    });
}
