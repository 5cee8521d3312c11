import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { KubeClient } from '../core/kube/client.ts';
import { SecretReader } from './secrets.ts';

/** An API server with `count` Secrets, counting reads and how many wait on it at once. */
function secretsServer(count: number) {
  const calls = { reads: 0, inFlight: 0, most: 0, fromCache: 0 };
  let version = 1;
  const client = {
    find: async (path: string, query?: Record<string, string>) => {
      calls.reads++;
      if (query?.resourceVersion === '0') calls.fromCache++;
      calls.inFlight++;
      calls.most = Math.max(calls.most, calls.inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      calls.inFlight--;
      const name = path.split('/').pop()!;
      if (Number(name.split('-')[1]) >= count) return undefined;
      return {
        metadata: { resourceVersion: String(version) },
        data: { key: Buffer.from(`${name}@${version}`).toString('base64') },
      };
    },
  } as unknown as KubeClient;
  return { client, calls, rotate: () => version++ };
}

describe('SecretReader', () => {
  it('re-reads every Secret one at a time, and a refresh asked for meanwhile is the one under way', async () => {
    const server = secretsServer(20);
    const reader = new SecretReader(server.client, 'shop', pino({ level: 'silent' }), {
      rereadsPerSecond: 10_000,
    });
    for (let i = 0; i < 20; i++) assert.equal(await reader.entry(`s-${i}`, 'key', 'f'), `s-${i}@1`);
    assert.equal(server.calls.fromCache, 0, 'a first read goes to etcd');
    server.calls.reads = 0;
    server.rotate();
    const passes = [reader.refresh(), reader.refresh(), reader.refresh()];
    assert.deepEqual(await Promise.all(passes), [true, true, true]);
    assert.equal(server.calls.reads, 20, 'one pass, not three');
    assert.equal(server.calls.fromCache, 20, 'a re-read asks for the watch cache’s version');
    assert.equal(server.calls.most, 1);
    assert.equal(reader.cachedEntry('s-7', 'key'), 's-7@2');
    assert.equal(await reader.refresh(), false, 'a later pass: nothing changed');
    assert.equal(server.calls.reads, 40);
  });

  it('waits between re-reads to keep to its pace', async () => {
    const server = secretsServer(10);
    const waits: number[] = [];
    const reader = new SecretReader(server.client, 'shop', pino({ level: 'silent' }), {
      rereadsPerSecond: 1,
      sleep: (ms) => Promise.resolve(waits.push(ms)),
    });
    for (let i = 0; i < 10; i++) await reader.read(`s-${i}`);
    await reader.refresh();
    assert.equal(waits.length, 10, 'a wait after each re-read');
    assert.ok(
      waits.every((ms) => ms > 0 && ms <= 1000),
      `each fills what is left of its second: ${waits.join(', ')}`,
    );
  });
});
