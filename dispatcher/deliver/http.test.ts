import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { answer, startReceiver, type Receiver } from '../../test/fixtures/receiver.ts';
import { addressPolicy } from './address-policy.ts';
import { HttpClient, parseRetryAfter } from './http.ts';

describe('HttpClient against a local receiver', () => {
  let receiver: Receiver;
  let client: HttpClient;
  const send = (path = '/hook', requestTimeoutMs = 2000) =>
    client.send({
      url: new URL(receiver.url + path),
      headers: { 'content-type': 'application/json', 'x-test': '1' },
      body: Buffer.from('{"a":1}'),
      requestTimeoutMs,
    });

  before(async () => {
    receiver = await startReceiver();
    client = new HttpClient({ policy: addressPolicy(['127.0.0.0/8']), connectTimeoutMs: 1000 });
  });
  after(async () => {
    await client.close();
    await receiver.close();
  });

  it('posts the body and headers and reports the status', async () => {
    receiver.respondWith(answer.status(204));
    const result = await send();
    assert.equal(result.kind === 'response' && result.status, 204);
    const last = receiver.requests.at(-1)!;
    assert.equal(last.method, 'POST');
    assert.equal(last.headers['x-test'], '1');
    assert.equal(last.body.toString(), '{"a":1}');
  });

  it('does not follow a redirect', async () => {
    const before = receiver.requests.length;
    receiver.respondWith(answer.redirect(`${receiver.url}/elsewhere`, 302));
    const result = await send();
    assert.equal(result.kind === 'response' && result.status, 302);
    assert.equal(receiver.requests.length, before + 1);
  });

  it('reads Retry-After', async () => {
    receiver.respondWith(answer.status(429, 'slow down', { 'retry-after': '7' }));
    const result = await send();
    assert.equal(result.kind === 'response' && result.retryAfterMs, 7000);
  });

  it('gives up on a receiver that hangs, as a timeout', async () => {
    receiver.respondWith(answer.hang());
    const result = await send('/hook', 300);
    assert.equal(result.kind, 'error');
    assert.equal(result.kind === 'error' && result.error, 'timeout');
  });

  it('reports a reset connection as a network error', async () => {
    receiver.respondWith(answer.reset());
    const result = await send();
    assert.equal(result.kind === 'error' && result.error, 'network');
  });

  it('reads at most 4 KiB of a large response', async () => {
    receiver.respondWith(answer.status(500, 'x'.repeat(1_000_000)));
    const result = await send();
    assert.equal(result.kind === 'response' && result.body.length, 4096);
  });

  it("drops a success's body, and keeps it when asked", async () => {
    receiver.respondWith(answer.status(200, 'ok, thanks'));
    const dropped = await send();
    assert.deepEqual(dropped.kind === 'response' && [dropped.status, dropped.body], [200, '']);
    receiver.respondWith(answer.status(200, 'ok, thanks'));
    const kept = await client.send({
      url: new URL(`${receiver.url}/hook`),
      headers: {},
      body: Buffer.from('{}'),
      requestTimeoutMs: 2000,
      keepBody: true,
    });
    assert.equal(kept.kind === 'response' && kept.body, 'ok, thanks');
  });

  it("stops reading a success's endless body and closes that connection", async () => {
    let closed = false;
    const endless = http.createServer((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const more = () => {
        if (!res.destroyed && res.write(chunk)) setImmediate(more);
        else if (!res.destroyed) res.once('drain', more);
      };
      res.socket?.once('close', () => (closed = true));
      more();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    try {
      const result = await client.send({
        url: new URL(`http://127.0.0.1:${(endless.address() as AddressInfo).port}/`),
        headers: {},
        body: Buffer.from('{}'),
        requestTimeoutMs: 60_000,
      });
      assert.deepEqual(result.kind === 'response' && [result.status, result.body], [200, '']);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(closed, 'the connection of the endless answer is closed');
    } finally {
      endless.closeAllConnections();
      endless.close();
    }
  });

  it('sends the query string of the URL', async () => {
    receiver.respondWith(answer.status(204));
    await send('/hook?tenant=a&x=1');
    assert.equal(receiver.requests.at(-1)!.path, '/hook?tenant=a&x=1');
  });
});

describe('HttpClient address policy', () => {
  it('refuses loopback when the install does not allow it, by IP and by name', async () => {
    const receiver = await startReceiver();
    const client = new HttpClient({ policy: addressPolicy([]), connectTimeoutMs: 1000 });
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const result = await client.send({
          url: new URL(`http://${host}:${receiver.port}/`),
          headers: {},
          body: Buffer.alloc(0),
          requestTimeoutMs: 1000,
        });
        assert.equal(
          result.kind === 'error' && result.error,
          'refused-address',
          `${host}: ${JSON.stringify(result)}`,
        );
      }
      assert.equal(receiver.requests.length, 0, 'nothing reached the receiver');
    } finally {
      await client.close();
      await receiver.close();
    }
  });
});

describe('HttpClient and DNS rebinding', () => {
  it('connects only to an address it checked, whatever the name resolves to next', async () => {
    // Two receivers on one port: the allowed 127.0.0.1 and the refused 127.0.0.2. Each
    // answer closes its connection, so that every request resolves the name again.
    const hits = { allowed: 0, internal: 0 };
    const serve = (which: keyof typeof hits) =>
      http.createServer((req, res) => {
        hits[which]++;
        req.resume();
        res.writeHead(200, { connection: 'close' }).end();
      });
    const allowed = serve('allowed');
    const internal = serve('internal');
    await new Promise<void>((resolve) => allowed.listen(0, '127.0.0.1', resolve));
    const port = (allowed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => internal.listen(port, '127.0.0.2', resolve));
    const answers = [['127.0.0.1'], ['127.0.0.2'], ['127.0.0.2', '127.0.0.1']];
    const asked: string[] = [];
    const client = new HttpClient({
      policy: addressPolicy(['127.0.0.1/32']),
      connectTimeoutMs: 1000,
      resolve: (hostname, _options, callback) => {
        asked.push(hostname);
        const addresses = answers.shift() ?? [];
        callback(
          null,
          addresses.map((address) => ({ address, family: 4 })),
        );
      },
    });
    const post = () =>
      client.send({
        url: new URL(`http://rebind.test:${port}/`),
        headers: {},
        body: Buffer.from('{}'),
        requestTimeoutMs: 2000,
      });
    try {
      const first = await post();
      assert.equal(first.kind === 'response' && first.status, 200);
      const rebound = await post();
      assert.equal(rebound.kind === 'error' && rebound.error, 'refused-address', JSON.stringify(rebound));
      assert.match(rebound.kind === 'error' ? rebound.message : '', /rebind\.test resolves to 127\.0\.0\.2/);
      const mixed = await post();
      assert.equal(mixed.kind === 'response' && mixed.status, 200);
      assert.deepEqual(asked, ['rebind.test', 'rebind.test', 'rebind.test']);
      assert.deepEqual(hits, { allowed: 2, internal: 0 });
    } finally {
      await client.close();
      allowed.close();
      internal.close();
    }
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-23T12:00:00Z');
  const cases: [string | undefined, number | undefined][] = [
    ['120', 120_000],
    ['Mon, 23 Nov 2026 12:00:30 GMT', 30_000],
    ['soon', undefined],
    [undefined, undefined],
  ];
  for (const [value, expected] of cases)
    it(`${value} → ${expected}`, () => assert.equal(parseRetryAfter(value, now), expected));
});
