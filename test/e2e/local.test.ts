// The README's first command, as a newcomer runs it: `npm run local` brings Hookline up,
// applies examples/quickstart, posts events and shows `kubectl get webhooks` with
// deliveries. Run here with --once (it stops after showing them) in a namespace of its own.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { envConfig } from '../env/config.ts';
import { freshNamespace } from '../env/handles.ts';
import { count, parseTable, rowsByName, WEBHOOK_COLUMNS } from './table.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');

function runLocal(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repo, 'scripts/local.ts'), ...args],
      {
        timeout: 240_000,
        maxBuffer: 16 * 1024 * 1024,
        // On the tests' environment, which runs already, rather than an environment of its own.
        env: {
          ...process.env,
          HOOKLINE_ENV_PORT_BASE: String(envConfig().ports.apiServer - 443),
          HOOKLINE_ENV_DIR: envConfig().stateDir,
        },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

describe('npm run local (the main job)', () => {
  it('ends with kubectl get webhooks showing verified deliveries', async () => {
    const namespace = await freshNamespace('quickstart');
    const { code, output } = await runLocal([
      '--once',
      `--namespace=${namespace}`,
      `--watch-namespace=${namespace}`,
      '--receiver-port=0',
      '--dispatcher-port=24200',
    ]);
    assert.equal(code, 0, output);
    // Every delivery's signature verified by the bundled receiver: 4 order.* events to
    // `orders`, all 5 events to `audit`; none refused.
    assert.equal(
      output.match(/receiver ✔ \/hooks\/orders .* signature verified \(standard-webhooks\)/g)?.length,
      4,
      output,
    );
    assert.equal(
      output.match(/receiver ✔ \/hooks\/audit .* signature verified \(hmac-sha256\)/g)?.length,
      5,
      output,
    );
    assert.doesNotMatch(output, /REFUSED/);
    assert.equal(output.match(/→ 202 \{"id":"evt_/g)?.length, 5);
    const shown = output
      .slice(output.indexOf(`$ kubectl get webhooks -n ${namespace}`))
      .split('\n')
      .slice(1, 4);
    const table = parseTable(shown.join('\n'));
    assert.deepEqual(table.columns, WEBHOOK_COLUMNS);
    const rows = rowsByName(table);
    for (const [name, delivered] of [
      ['orders', 4],
      ['audit', 5],
    ] as const) {
      const row = rows.get(name);
      assert.equal(row?.READY, 'True', name);
      assert.equal(count(row?.DELIVERED), delivered, name);
      assert.equal(count(row?.FAILED), 0, name);
      assert.equal(row?.['LAST-STATUS'], '200', name);
    }
    assert.match(output, /Stopping…/);
    assert.match(output, /Dispatcher .*\/shop stopped/);
  });
});
