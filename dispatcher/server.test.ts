import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
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
          res.writeHead(200, { connection: 'close' }).end('ok');
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
    assert.match(await answer, /^HTTP\/1\.1 408/);
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
});
