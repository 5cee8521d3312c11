// `hookline sign` and `hookline verify`: the signing of one body, printed as the headers a
// delivery would carry, and the check a receiver makes, so that users can debug receivers.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { SIGNING_SCHEMES, type SigningScheme } from '../core/api/v1alpha1/webhook.ts';
import { createSigner } from './deliver/sign.ts';
import { verifyRequest } from './verify.ts';

async function readAll(input: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function scheme(value: string | undefined): SigningScheme {
  if (!value || !(SIGNING_SCHEMES as readonly string[]).includes(value)) {
    throw new Error(`--scheme must be one of ${SIGNING_SCHEMES.join(', ')}`);
  }
  return value as SigningScheme;
}

function readSecrets(file: string | undefined, chosen: SigningScheme): string[] {
  if (chosen === 'none') return [];
  if (!file) throw new Error(`--secret-file is needed for the ${chosen} scheme`);
  const text = fs.readFileSync(file, 'utf8').trim();
  // Several Standard Webhooks secrets (a rotation) may be given one per line.
  return chosen === 'standard-webhooks' ? text.split(/\s+/) : [text];
}

export async function runSignCommand(
  argv: string[],
  stdin: NodeJS.ReadableStream,
  stdout: NodeJS.WritableStream,
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scheme: { type: 'string' },
      'secret-file': { type: 'string' },
      id: { type: 'string' },
      timestamp: { type: 'string' },
      url: { type: 'string', default: 'https://receiver.example.com/' },
      header: { type: 'string' },
      encoding: { type: 'string' },
      format: { type: 'string' },
      'legacy-header': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const chosen = scheme(values.scheme);
  const body = await readAll(stdin);
  const signer = createSigner({
    scheme: chosen,
    secrets: readSecrets(values['secret-file'], chosen),
    header: values.header,
    encoding: values.encoding as 'base64url' | 'base64' | 'hex' | undefined,
    format: values.format as 'content-signature' | 'plain' | undefined,
    legacyHeader: values['legacy-header'],
  });
  const id = values.id ?? `msg_${Date.now().toString(36)}`;
  const headers = signer({
    id,
    timestamp: values.timestamp ? Number(values.timestamp) : Math.floor(Date.now() / 1000),
    body,
    url: new URL(values.url),
  });
  const idHeader = chosen === 'standard-webhooks' || chosen === 'ed25519' ? {} : { 'Hookline-Event-Id': id };
  stdout.write(`${JSON.stringify({ ...idHeader, ...headers }, null, 2)}\n`);
  return 0;
}

export async function runVerifyCommand(
  argv: string[],
  stdin: NodeJS.ReadableStream,
  stdout: NodeJS.WritableStream,
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scheme: { type: 'string' },
      'secret-file': { type: 'string' },
      'headers-file': { type: 'string' },
      url: { type: 'string' },
      header: { type: 'string' },
      tolerance: { type: 'string', default: '300' },
      now: { type: 'string' },
    },
    strict: true,
  });
  const chosen = scheme(values.scheme);
  if (!values['headers-file'])
    throw new Error('--headers-file (a JSON object of the captured headers) is needed');
  const headers = JSON.parse(fs.readFileSync(values['headers-file'], 'utf8')) as Record<string, string>;
  const key = chosen === 'none' ? '' : readSecrets(values['secret-file'], chosen).join(' ');
  const verdict = verifyRequest(
    chosen,
    key,
    { headers, body: await readAll(stdin), url: values.url ? new URL(values.url) : undefined },
    {
      toleranceSeconds: Number(values.tolerance),
      now: values.now ? Number(values.now) : undefined,
      header: values.header,
    },
  );
  stdout.write(`${JSON.stringify(verdict)}\n`);
  return verdict.valid ? 0 : 1;
}
