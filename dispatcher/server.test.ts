import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseResponse } from '../test/fixtures/raw-http.ts';
import { limitedServer } from './server.ts';

/** Opens a raw connection, writes `text`, and resolves with all it reads until the server closes. */
function exchange(port: number, text: string): { socket: net.Socket; answer: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  if (text) socket.write(text);
  const answer = new Promise<string>((resolve) => {
    let read = '';
    socket.on('data', (chunk: Buffer) => (read += chunk.toString('latin1')));
    socket.on('close', () => resolve(read));
  });
  return { socket, answer };
}

describe('the dispatcher server limits', () => {
  let server: http.Server;
  let port: number;
  const handled: string[] = [];
  let overCapacity = 0;

  before(async () => {
    server = limitedServer(
      { headersTimeoutMs: 300, requestTimeoutMs: 600, maxConnections: 3 },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          handled.push(Buffer.concat(chunks).toString());
          res.writeHead(200, req.headers['x-keep-alive'] ? {} : { connection: 'close' }).end('ok');
        });
      },
      () => overCapacity++,
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('answers a request that arrives in time', async () => {
    const { answer } = exchange(
      port,
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    assert.match(await answer, /^HTTP\/1\.1 200/);
    assert.deepEqual(handled, ['{}']);
  });

  it('answers 408 and closes when the headers do not arrive in time', async () => {
    const began = performance.now();
    const { answer } = exchange(port, 'POST /v1/events HTTP/1.1\r\nHost: x\r\n');
    const response = parseResponse(Buffer.from(await answer, 'latin1'));
    assert.equal(response?.status, 408);
    assert.deepEqual(JSON.parse(response.body), { error: 'the request did not arrive in time' });
    assert.ok(performance.now() - began < 3000, 'closed within a few checking intervals');
    assert.deepEqual(handled, ['{}'], 'the request never reached the handler');
  });

  it('closes a connection that sends nothing at all within the headers timeout', async () => {
    const began = performance.now();
    const { answer } = exchange(port, '');
    await answer;
    assert.ok(performance.now() - began < 3000, 'an idle connection is not kept');
  });

  it('answers 408 and closes when the body does not arrive in time, and nothing is handled', async () => {
    const { answer } = exchange(
      port,
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"partial":',
    );
    assert.match(await answer, /^HTTP\/1\.1 408/);
    assert.deepEqual(handled, ['{}'], 'the cut request did not end');
  });

  it('answers 503 with Retry-After to a connection over the cap, and serves again once one closed', async () => {
    const idle = [exchange(port, ''), exchange(port, ''), exchange(port, '')];
    await new Promise((resolve) => setTimeout(resolve, 50));
    const over = exchange(port, 'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
    const refused = await over.answer;
    assert.match(refused, /^HTTP\/1\.1 503/);
    assert.match(refused, /Retry-After: 1/);
    assert.match(refused, /too many connections/);
    assert.equal(overCapacity, 1);
    assert.deepEqual(handled, ['{}'], 'the refused request was not handled');
    for (const { socket } of idle) socket.destroy();
    await Promise.all(idle.map(({ answer }) => answer));
    const again = exchange(
      port,
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"ok"',
    );
    assert.match(await again.answer, /^HTTP\/1\.1 200/);
  });

  describe('requests the HTTP parser refuses', () => {
    const head = 'POST /v1/events HTTP/1.1\r\nHost: x\r\n';
    const malformed: [string, string, number, RegExp][] = [
      [
        'two equal Content-Length headers',
        `${head}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`,
        400,
        /Duplicate Content-Length/,
      ],
      [
        'two conflicting Content-Length headers',
        `${head}Content-Length: 2\r\nContent-Length: 12\r\n\r\n{}`,
        400,
        /Duplicate Content-Length/,
      ],
      [
        'a list as Content-Length',
        `${head}Content-Length: 2, 2\r\n\r\n{}`,
        400,
        /Invalid character in Content-Length/,
      ],
      [
        'a negative Content-Length',
        `${head}Content-Length: -1\r\n\r\n{}`,
        400,
        /Invalid character in Content-Length/,
      ],
      [
        'Content-Length with Transfer-Encoding',
        `${head}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
        400,
        /Transfer-Encoding can't be present with Content-Length/,
      ],
      [
        'Transfer-Encoding gzip alone',
        `${head}Transfer-Encoding: gzip\r\n\r\n{}`,
        400,
        /invalid `Transfer-Encoding`/,
      ],
      [
        'an unknown Transfer-Encoding',
        `${head}Transfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
        400,
        /invalid `Transfer-Encoding`/,
      ],
      [
        'chunked before another coding',
        `${head}Transfer-Encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
        400,
        /Invalid `Transfer-Encoding` header value/,
      ],
      [
        'two Transfer-Encoding headers',
        `${head}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
        400,
        /Transfer-Encoding/,
      ],
      [
        'a chunk size that is not hexadecimal',
        `${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        400,
        /Invalid character in chunk size/,
      ],
      [
        'a folded header line',
        `${head}Content-Length: 2\r\nX-A: a\r\n  b\r\n\r\n{}`,
        400,
        /malformed HTTP request/,
      ],
      ['a space before the colon', `${head}Content-Length : 2\r\n\r\n{}`, 400, /Invalid header field char/],
      [
        'a control character in a header',
        `${head}X-A: a\x01b\r\nContent-Length: 2\r\n\r\n{}`,
        400,
        /Invalid header value char/,
      ],
      ['lines ending in LF alone', 'POST /v1/events HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}', 400, /CRLF/],
      ['an invalid method', 'P@ST /v1/events HTTP/1.1\r\nHost: x\r\n\r\n', 400, /Invalid method/],
      ['binary garbage', '\x00\x01\x02garbage\r\n\r\n', 400, /malformed HTTP request/],
      ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400, /malformed HTTP request/],
      [
        'no Host header',
        'POST /v1/events HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}',
        400,
        /exactly one Host header/,
      ],
      [
        'two Host headers',
        'POST /v1/events HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 2\r\n\r\n{}',
        400,
        /exactly one Host header/,
      ],
      [
        'an Expect other than 100-continue',
        `${head}Expect: the-unexpected\r\nContent-Length: 2\r\n\r\n{}`,
        417,
        /Expect "the-unexpected" is not supported/,
      ],
      [
        'headers over 16 KiB',
        `${head}X-A: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`,
        431,
        /headers are too large/,
      ],
    ];
    for (const [name, text, status, reason] of malformed)
      it(`answers ${status} with a JSON body naming the problem to ${name}, and serves the next request`, async () => {
        const handledBefore = handled.length;
        const { answer } = exchange(port, text);
        const response = parseResponse(Buffer.from(await answer, 'latin1'));
        assert.ok(response, 'a well-formed response');
        assert.equal(response.status, status);
        assert.equal(response.headers['content-type'], 'application/json');
        assert.equal(response.headers.connection, 'close');
        const body = JSON.parse(response.body) as { error: string };
        assert.match(body.error, reason);
        assert.equal(handled.length, handledBefore, 'the request never reached the handler');
        const next = exchange(
          port,
          'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
        );
        assert.match(await next.answer, /^HTTP\/1\.1 200/);
      });

    it('serves an HTTP/1.0 request without Host', async () => {
      const { answer } = exchange(port, 'POST /v1/events HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}');
      assert.match(await answer, /^HTTP\/1\.1 200/);
    });

    it('answers a malformed request that follows an answered one on the same connection', async () => {
      const { answer } = exchange(
        port,
        'POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Keep-Alive: 1\r\nContent-Length: 2\r\n\r\n{}' +
          `${head}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
      );
      const read = Buffer.from(await answer, 'latin1');
      assert.equal(parseResponse(read)?.status, 200);
      const second = read.subarray(read.indexOf('HTTP/1.1', 1));
      assert.equal(parseResponse(second)?.status, 400);
    });
  });
});
