import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SIGNING_SCHEMES } from '../core/api/v1alpha1/webhook.ts';
import { generateSecret, publicKeyOf } from '../core/signing/keys.ts';
import { createSigner } from './deliver/sign.ts';
import { verifyRequest } from './verify.ts';

const url = new URL('https://wallet.example.com:8443/cb');
const body = Buffer.from('{"type":"transaction_created","id":"1"}');
const now = 1_800_000_000;

describe('verifyRequest', () => {
  for (const scheme of SIGNING_SCHEMES) {
    it(`accepts what ${scheme} signs and refuses a tampered body`, () => {
      const secret = generateSecret(scheme, 1024);
      const headers = createSigner({ scheme, secrets: scheme === 'none' ? [] : [secret] })({
        id: 'msg_1',
        timestamp: now,
        body,
        url,
      });
      const receiverKey = publicKeyOf(scheme, secret) ?? secret;
      assert.deepEqual(verifyRequest(scheme, receiverKey, { headers, body, url }, { now }), { valid: true });
      if (scheme !== 'none') {
        const verdict = verifyRequest(
          scheme,
          receiverKey,
          { headers, body: Buffer.from('{"forged":true}'), url },
          { now },
        );
        assert.equal(verdict.valid, false);
      }
    });
  }

  it('refuses an old timestamp', () => {
    const secret = generateSecret('standard-webhooks');
    const headers = createSigner({ scheme: 'standard-webhooks', secrets: [secret] })({
      id: 'm',
      timestamp: now - 3600,
      body,
      url,
    });
    assert.match(
      JSON.stringify(verifyRequest('standard-webhooks', secret, { headers, body }, { now })),
      /outside the 300 s tolerance/,
    );
  });
});

describe('hookline sign and verify', () => {
  const run = promisify(execFile);
  const cli = path.join(import.meta.dirname, '..', 'hookline.ts');
  function withStdin(args: string[], input: Buffer) {
    const child = run(process.execPath, [cli, ...args]);
    child.child.stdin!.end(input);
    return child;
  }

  it('prints the headers of a delivery and verifies them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-cli-'));
    const seed = generateSecret('stellar');
    fs.writeFileSync(path.join(dir, 'seed'), seed);
    const { stdout } = await withStdin(
      [
        'sign',
        '--scheme',
        'stellar',
        '--secret-file',
        path.join(dir, 'seed'),
        '--url',
        url.href,
        '--timestamp',
        String(now),
        '--id',
        'evt_1',
      ],
      body,
    );
    const headers = JSON.parse(stdout) as Record<string, string>;
    assert.match(headers.Signature!, new RegExp(`^t=${now}, s=`));
    assert.equal(headers['Hookline-Event-Id'], 'evt_1');
    fs.writeFileSync(path.join(dir, 'headers.json'), stdout);
    fs.writeFileSync(path.join(dir, 'public'), publicKeyOf('stellar', seed)!);
    const verified = await withStdin(
      [
        'verify',
        '--scheme',
        'stellar',
        '--secret-file',
        path.join(dir, 'public'),
        '--headers-file',
        path.join(dir, 'headers.json'),
        '--url',
        url.href,
        '--now',
        String(now),
      ],
      body,
    );
    assert.equal(verified.stdout.trim(), '{"valid":true}');
    await assert.rejects(
      withStdin(
        [
          'verify',
          '--scheme',
          'stellar',
          '--secret-file',
          path.join(dir, 'public'),
          '--headers-file',
          path.join(dir, 'headers.json'),
          '--url',
          'https://other.example.com/',
          '--now',
          String(now),
        ],
        body,
      ),
      (error: { code?: number; stdout?: string }) =>
        error.code === 1 && /signature does not match/.test(error.stdout ?? ''),
    );
  });

  it('names the problem with a bad scheme', async () => {
    await assert.rejects(withStdin(['sign', '--scheme', 'md5'], body), (error: { stderr?: string }) =>
      /--scheme must be one of/.test(error.stderr ?? ''),
    );
  });
});
