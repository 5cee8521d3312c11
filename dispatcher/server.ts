// The dispatcher's HTTP server (ingest, health, readiness, metrics) with the limits a
// server facing producers needs: the headers of a request must arrive within
// headersTimeoutMs and the whole request within requestTimeoutMs (Node answers 408 and
// closes the connection; slow-header and slow-body clients hold nothing for long), and at
// most maxConnections connections are open at once: one more is answered 503 with
// Retry-After and closed before its request is read. A request Node's parser refuses
// (two Content-Length headers, Content-Length with Transfer-Encoding, a transfer coding
// other than chunked, a malformed chunk or header) is answered 400 with a JSON body that
// names the problem, and its connection closed; the server serves the next one. So are a
// request without Host or with two (400) and an Expect other than 100-continue (417).
import http from 'node:http';
import type { Socket } from 'node:net';

export interface ServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 1024,
};

const OVER_CAPACITY_BODY = JSON.stringify({ error: 'too many connections; retry' });
const OVER_CAPACITY =
  'HTTP/1.1 503 Service Unavailable\r\n' +
  'Content-Type: application/json\r\n' +
  'Retry-After: 1\r\n' +
  'Connection: close\r\n' +
  `Content-Length: ${Buffer.byteLength(OVER_CAPACITY_BODY)}\r\n\r\n` +
  OVER_CAPACITY_BODY;

function answer(status: number, error: string): string {
  const body = JSON.stringify({ error });
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
    'Content-Type: application/json\r\n' +
    'Connection: close\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    body
  );
}

/**
 * What Node's own answer to a refused request would be (408, 431, 413 or 400), with a JSON
 * body naming the problem; undefined for a connection error, which gets no answer.
 */
function clientErrorAnswer(error: Error & { code?: string; reason?: unknown }): string | undefined {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return answer(408, 'the request did not arrive in time');
    case 'HPE_HEADER_OVERFLOW':
      return answer(431, 'the request headers are too large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return answer(413, 'the chunk extensions are too large');
  }
  if (!error.code?.startsWith('HPE_')) return undefined;
  const reason = typeof error.reason === 'string' && error.reason ? error.reason : error.message;
  return answer(400, `malformed HTTP request: ${reason}`);
}

function refuse(res: http.ServerResponse, status: number, error: string): void {
  res
    .writeHead(status, { 'content-type': 'application/json', connection: 'close' })
    .end(JSON.stringify({ error }));
}

/** How many Host headers a request has: an HTTP/1.1 request must have one (RFC 9112, 3.2). */
function hostHeaders(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') count++;
  return count;
}

export function limitedServer(
  limits: ServerLimits,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  onOverCapacity: () => void = () => undefined,
): http.Server {
  // The last request and response of each connection: an error is answered only where no
  // answer has begun, and after the answer of a request still being served.
  const responses = new WeakMap<Socket, { req: http.IncomingMessage; res: http.ServerResponse }>();
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Checked below, so that the answer has a JSON body and two Host headers are refused too.
      requireHostHeader: false,
      // How often Node looks for requests past those timeouts (30 s by default).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, limits.headersTimeoutMs / 2)),
    },
    (req, res) => {
      responses.set(req.socket, { req, res });
      const hosts = hostHeaders(req.rawHeaders);
      if (hosts > 1 || (hosts === 0 && req.httpVersion !== '1.0'))
        refuse(res, 400, 'an HTTP/1.1 request needs exactly one Host header');
      else handler(req, res);
    },
  );
  // Node answers 417 without a body to an Expect header other than 100-continue.
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) =>
    refuse(res, 417, `Expect "${req.headers.expect}" is not supported; only 100-continue is`),
  );
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    const text = clientErrorAnswer(error);
    const answerAndClose = () => {
      if (text === undefined || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end(text);
      socket.destroySoon();
    };
    const last = responses.get(socket);
    if (!last || (last.req.complete && last.res.writableFinished)) answerAndClose();
    // A request that came in pipelined behind one still being answered: that answer first.
    else if (last.req.complete) last.res.once('close', answerAndClose);
    // Cut off (by the request timeout) while its body arrived: answered unless its answer began.
    else if (!last.res.headersSent) answerAndClose();
    else socket.destroy();
  });
  // The server's own connection listener (which reads requests) runs only for connections
  // under the cap; one over it never reaches the HTTP parser.
  const serve = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  let open = 0;
  server.on('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    if (open > limits.maxConnections) {
      onOverCapacity();
      socket.on('error', () => undefined);
      socket.end(OVER_CAPACITY);
      return;
    }
    for (const listener of serve) listener.call(server, socket);
  });
  return server;
}
