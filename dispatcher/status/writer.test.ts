import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { EventRecorder, EventTarget } from '../../core/kube/events.ts';
import { KubeApiError, type KubeClient } from '../../core/kube/client.ts';
import { StatusWriter, type StoredWebhook } from './writer.ts';

/** A client whose status writes fail with the given errors, in turn, and then succeed. */
function fakeClient(failures: Error[]) {
  const patches: unknown[] = [];
  const stored: StoredWebhook = { metadata: { resourceVersion: '7', uid: 'uid-1' }, status: {} };
  const client = {
    fieldManager: 'test',
    get: () => Promise.resolve(stored),
    mergePatch: (_path: string, patch: unknown) => {
      patches.push(patch);
      const failure = failures.shift();
      return failure ? Promise.reject(failure) : Promise.resolve({});
    },
  } as unknown as KubeClient;
  return { client, patches };
}

function fakeRecorder() {
  const warnings: { target: EventTarget; reason: string; message: string }[] = [];
  const recorder: EventRecorder = {
    normal: () => Promise.resolve(),
    warning: (target, reason, message) => {
      warnings.push({ target, reason, message });
      return Promise.resolve();
    },
  };
  return { recorder, warnings };
}

const record = {
  time: '2026-11-23T12:00:00Z',
  eventId: 'evt_1',
  eventType: 'invoice.created',
  attempt: 1,
  outcome: 'Retrying' as const,
  error: 'HTTP 503',
};

describe('StatusWriter', () => {
  const cases: { name: string; error: Error; writes: number; kept: boolean; refused: number }[] = [
    {
      name: 'a write refused as invalid (422) is reported and dropped, never sent again',
      error: new KubeApiError(422, 'Invalid', 'status.lastAttempt.error: Too long'),
      writes: 1,
      kept: false,
      refused: 1,
    },
    {
      name: 'a write that met a server error (500) is kept and sent again',
      error: new KubeApiError(500, 'InternalError', 'etcdserver: request timed out'),
      writes: 2,
      kept: true,
      refused: 0,
    },
    {
      name: 'a write to a Webhook that is gone (404) is dropped without a word',
      error: new KubeApiError(404, 'NotFound', 'webhooks "hook" not found'),
      writes: 1,
      kept: false,
      refused: 0,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { client, patches } = fakeClient([c.error]);
      const { recorder, warnings } = fakeRecorder();
      const refused: string[] = [];
      const writer = new StatusWriter({
        client,
        namespace: 'shop',
        logger: pino({ level: 'silent' }),
        recorder,
        onRefused: (webhook) => refused.push(webhook),
      });
      writer.record('hook', record);
      await writer.flush();
      assert.equal(writer.pendingFor('hook') !== undefined, c.kept, 'kept for the next write');
      await writer.flush();
      assert.equal(patches.length, c.writes);
      assert.deepEqual(refused, Array(c.refused).fill('hook'));
      assert.equal(warnings.length, c.refused);
      if (c.refused) {
        const [warning] = warnings;
        assert.equal(warning?.reason, 'StatusWriteRefused');
        assert.deepEqual(warning?.target.metadata, { name: 'hook', namespace: 'shop', uid: 'uid-1' });
        assert.equal(warning?.target.kind, 'Webhook');
        assert.match(warning?.message ?? '', /1 attempts.*status\.lastAttempt\.error: Too long/);
      }
    });
  }

  it('writes what is recorded after a refused write', async () => {
    const { client, patches } = fakeClient([new KubeApiError(422, 'Invalid', 'too long')]);
    const writer = new StatusWriter({ client, namespace: 'shop', logger: pino({ level: 'silent' }) });
    writer.record('hook', record);
    await writer.flush();
    writer.record('hook', { ...record, eventId: 'evt_2', outcome: 'Succeeded', error: undefined });
    await writer.flush();
    assert.equal(patches.length, 2);
    const second = patches[1] as { status: { attempts: number; lastAttempt: { eventId: string } } };
    assert.equal(second.status.lastAttempt.eventId, 'evt_2');
    assert.equal(second.status.attempts, 1, 'only what the refused write did not carry');
    assert.equal(writer.writes, 1);
  });
});
