// The dispatcher's HTTP server (ingest, health, readiness, metrics) with the limits a
// server facing producers needs: the headers of a request must arrive within
// headersTimeoutMs and the whole request within requestTimeoutMs (Node answers 408 and
// closes the connection; slow-header and slow-body clients hold nothing for long), and at
// most maxConnections connections are open at once: one more is answered 503 with
// Retry-After and closed before its request is read.
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

export function limitedServer(
  limits: ServerLimits,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  onOverCapacity: () => void = () => undefined,
): http.Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node looks for requests past those timeouts (30 s by default).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, limits.headersTimeoutMs / 2)),
    },
    handler,
  );
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
