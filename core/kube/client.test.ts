import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { kubeClient, type WatchEvent } from './client.ts';

/** An API server that answers every watch with `chunks`, written one at a time. */
async function serveWatch(chunks: Buffer[]): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    const next = (index: number): void => {
      const chunk = chunks[index];
      if (!chunk) return void res.end();
      // A pause between writes keeps the chunks apart on the wire.
      res.write(chunk, () => setTimeout(() => next(index + 1), 20));
    };
    next(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function configFor(server: string): k8s.KubeConfig {
  const config = new k8s.KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server, skipTLSVerify: true }],
    users: [{ name: 'test' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return config;
}

describe('kubeClient watch', () => {
  const name = 'café-€-🚀';
  const line = Buffer.from(
    `${JSON.stringify({ type: 'ADDED', object: { metadata: { name, resourceVersion: '3' } } })}\n`,
  );
  // Split inside the two bytes of "é".
  const split = line.indexOf(Buffer.from('é')) + 1;
  let api: Awaited<ReturnType<typeof serveWatch>>;
  before(async () => {
    api = await serveWatch([line.subarray(0, split), line.subarray(split)]);
  });
  after(() => api.close());

  it('keeps a character whose bytes arrive in two chunks', async () => {
    const client = kubeClient(configFor(api.url), { fieldManager: 'test' });
    type Named = { metadata: { name: string } };
    const events: WatchEvent<Named>[] = [];
    await client.watch<Named>(
      '/api/v1/secrets',
      {},
      (event) => events.push(event),
      new AbortController().signal,
    );
    assert.deepEqual(
      events.map((event) => event.object.metadata.name),
      [name],
    );
  });
});
