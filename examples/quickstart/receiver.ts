// The quickstart's receiver: an HTTP server that checks the signature of every delivery
// with the key of the Webhook it is addressed to (by path), prints one line per delivery,
// and answers 200 when the signature verifies, 401 when it does not.
//
//   node examples/quickstart/receiver.ts --port 24080 \
//     --key /hooks/orders=standard-webhooks:whsec_... --key /hooks/audit=hmac-sha256:<secret>
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { SigningScheme } from '../../core/api/v1alpha1/webhook.ts';
import { verifyRequest } from '../../dispatcher/verify.ts';

export interface ReceiverKey {
  scheme: SigningScheme;
  key: string;
}

export interface Delivery {
  path: string;
  type: string;
  id: string;
  verified: boolean;
  reason?: string;
}

export interface VerifyingReceiver {
  readonly port: number;
  readonly deliveries: readonly Delivery[];
  /** Sets or replaces the key of a path (a generated key is known only once the operator made it). */
  setKey(path: string, key: ReceiverKey): void;
  close(): Promise<void>;
}

function headersOf(req: http.IncomingMessage): Record<string, string> {
  return Object.fromEntries(
    Object.entries(req.headers).map(([name, value]) => [
      name,
      Array.isArray(value) ? value.join(', ') : (value ?? ''),
    ]),
  );
}

export async function startVerifyingReceiver(options: {
  port: number;
  host?: string;
  keys?: Record<string, ReceiverKey>;
  print?: (line: string) => void;
}): Promise<VerifyingReceiver> {
  const keys = new Map(Object.entries(options.keys ?? {}));
  const deliveries: Delivery[] = [];
  const print = options.print ?? ((line: string) => console.log(line));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const headers = headersOf(req);
      const body = Buffer.concat(chunks);
      const key = keys.get(path);
      const verdict = key
        ? verifyRequest(key.scheme, key.key, {
            headers,
            body,
            url: new URL(`http://${req.headers.host}${req.url}`),
          })
        : ({ valid: false, reason: `no key configured for ${path}` } as const);
      const delivery: Delivery = {
        path,
        type: headers['hookline-event-type'] ?? '?',
        id: headers['webhook-id'] ?? headers['hookline-event-id'] ?? '?',
        verified: verdict.valid,
        ...(verdict.valid ? {} : { reason: verdict.reason }),
      };
      deliveries.push(delivery);
      print(
        `  receiver ${verdict.valid ? '✔' : '✘'} ${path} ${delivery.type} ${delivery.id} ` +
          (verdict.valid ? `signature verified (${key!.scheme})` : `REFUSED: ${verdict.reason}`),
      );
      res.writeHead(verdict.valid ? 200 : 401).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    deliveries,
    setKey: (path, key) => keys.set(path, key),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '24080' },
      key: { type: 'string', multiple: true, default: [] },
    },
  });
  const keys: Record<string, ReceiverKey> = {};
  for (const entry of values.key) {
    const match = /^(\/[^=]*)=([a-z0-9-]+):(.+)$/.exec(entry);
    if (!match) throw new Error(`--key ${entry}: expected <path>=<scheme>:<key>`);
    keys[match[1]!] = { scheme: match[2] as SigningScheme, key: match[3]! };
  }
  const receiver = await startVerifyingReceiver({ port: Number(values.port), keys });
  console.log(`Verifying receiver on http://127.0.0.1:${receiver.port}`);
}
