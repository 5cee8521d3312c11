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
    writer.record('hook', success('evt_2'));
    await writer.flush();
    assert.equal(patches.length, 2);
    const second = patches[1] as { status: { attempts: number; lastAttempt: { eventId: string } } };
    assert.equal(second.status.lastAttempt.eventId, 'evt_2');
    assert.equal(second.status.attempts, 1, 'only what the refused write did not carry');
    assert.equal(writer.writes, 1);
  });
});

/** An API server's one Webhook: status writes must name its current resourceVersion. */
function versionedServer() {
  let stored: StoredWebhook = { metadata: { resourceVersion: '100', uid: 'uid-1' }, status: {} };
  const calls = { gets: 0, conflicts: 0, writes: 0 };
  const client = {
    fieldManager: 'test',
    get: () => {
      calls.gets++;
      return Promise.resolve(stored);
    },
    mergePatch: (
      _path: string,
      patch: { metadata: { resourceVersion: string }; status: StoredWebhook['status'] },
    ) => {
      if (patch.metadata.resourceVersion !== stored.metadata.resourceVersion) {
        calls.conflicts++;
        return Promise.reject(new KubeApiError(409, 'Conflict', 'the object has been modified'));
      }
      calls.writes++;
      stored = {
        metadata: {
          ...stored.metadata,
          resourceVersion: String(Number(stored.metadata.resourceVersion) + 1),
        },
        status: patch.status,
      };
      return Promise.resolve(stored);
    },
  } as unknown as KubeClient;
  return {
    client,
    calls,
    current: () => stored,
    /** Another writer (a replica, the operator) changes the Webhook. */
    touch: () => {
      stored = {
        ...stored,
        metadata: {
          ...stored.metadata,
          resourceVersion: String(Number(stored.metadata.resourceVersion) + 1),
        },
      };
    },
  };
}

/** A writer on that server, whose informer holds what `informer` answers. */
function writerOn(server: ReturnType<typeof versionedServer>, informer: () => StoredWebhook) {
  return new StatusWriter({
    client: server.client,
    namespace: 'shop',
    logger: pino({ level: 'silent' }),
    cached: informer,
  });
}

/** A writer on `client` with the given budget per interval and writes in flight. */
function budgetedWriter(client: KubeClient, maxWritesPerInterval: number, maxInFlight: number) {
  return new StatusWriter({
    client,
    namespace: 'shop',
    logger: pino({ level: 'silent' }),
    maxWritesPerInterval,
    maxInFlight,
  });
}

/** A delivery that succeeded. */
const success = (eventId: string) => ({
  ...record,
  eventId,
  outcome: 'Succeeded' as const,
  error: undefined,
});

describe('StatusWriter and a lagging informer', () => {
  it('writes on top of its own last write while the informer has not seen it, without a conflict', async () => {
    // The informer still holds the version from before the writer's first write, as it
    // does while the API server's watch lags behind its writes.
    const server = versionedServer();
    const informer = server.current();
    const writer = writerOn(server, () => informer);
    for (let i = 0; i < 5; i++) {
      writer.record('hook', success(`evt_${i}`));
      await writer.flush();
    }
    assert.deepEqual(server.calls, { gets: 0, conflicts: 0, writes: 5 });
    assert.equal(server.current().status?.deliveries?.succeeded, 5);
  });

  it('takes the informer’s copy once it is newer than its own write', async () => {
    const server = versionedServer();
    let informer = server.current();
    const writer = writerOn(server, () => informer);
    writer.record('hook', success('evt_1'));
    await writer.flush();
    server.touch(); // another replica wrote; the informer saw it
    informer = server.current();
    writer.record('hook', success('evt_2'));
    await writer.flush();
    assert.deepEqual(server.calls, { gets: 0, conflicts: 0, writes: 2 });
  });

  it('reads afresh after a conflict, and counts every delivery once', async () => {
    const server = versionedServer();
    const informer = server.current();
    const writer = writerOn(server, () => informer);
    writer.record('hook', success('evt_1'));
    await writer.flush();
    server.touch(); // another replica wrote; the informer has not seen it yet
    writer.record('hook', success('evt_2'));
    await writer.flush();
    assert.deepEqual(server.calls, { gets: 1, conflicts: 1, writes: 2 });
    assert.equal(server.current().status?.deliveries?.succeeded, 2);
  });
});

describe('StatusWriter and a slow API server', () => {
  it('keeps at most maxInFlight writes waiting on the API server, however many Webhooks are due', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    let inFlight = 0;
    let most = 0;
    const answers: (() => void)[] = [];
    const client = {
      fieldManager: 'test',
      get: () => Promise.resolve({ metadata: { resourceVersion: '1' }, status: {} }),
      mergePatch: () => {
        inFlight++;
        most = Math.max(most, inFlight);
        // The API server answers only when told: a write takes several intervals.
        return new Promise((resolve) =>
          answers.push(() => {
            inFlight--;
            resolve({ metadata: { resourceVersion: '2' }, status: {} });
          }),
        );
      },
    } as unknown as KubeClient;
    const writer = budgetedWriter(client, 10, 3);
    for (let i = 0; i < 30; i++) writer.record(`hook-${i}`, record);
    writer.start();
    for (let tick = 0; tick < 5; tick++) {
      t.mock.timers.tick(1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(most, 3, 'writes waiting on the API server at once');
    // As the answers come, the next Webhooks are written.
    while (answers.length > 0) {
      answers.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
      t.mock.timers.tick(1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(writer.writes, 30);
    assert.equal(most, 3);
    await writer.stop();
  });
});

describe('StatusWriter with thousands of Webhooks', () => {
  it('writes nothing when a starting replica reports a circuit the status shows closed already', async () => {
    const server = versionedServer();
    const writer = writerOn(server, () => server.current());
    writer.circuit('hook', { state: 'Closed' });
    await writer.flush();
    assert.deepEqual(server.calls, { gets: 0, conflicts: 0, writes: 0 }, 'no circuit in the status: closed');
    writer.circuit('hook', { state: 'Open', openedAt: '2026-12-07T09:00:00Z' });
    await writer.flush();
    writer.circuit('hook', { state: 'Closed' });
    await writer.flush();
    assert.equal(server.calls.writes, 2, 'opened, then closed again');
    assert.deepEqual(server.current().status?.circuit, { state: 'Closed' });
    writer.circuit('hook', { state: 'Closed' });
    await writer.flush();
    assert.equal(server.calls.writes, 2, 'closed already');
  });

  it('writes deliveries before backlog samples that were waiting longer', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const written: string[] = [];
    const client = {
      fieldManager: 'test',
      get: () => Promise.resolve({ metadata: { resourceVersion: '1' }, status: {} }),
      mergePatch: (path: string) => {
        written.push(path.split('/')[path.split('/').length - 2]!);
        return Promise.resolve({ metadata: { resourceVersion: '2' }, status: {} });
      },
    } as unknown as KubeClient;
    const writer = budgetedWriter(client, 5, 5);
    const sample = { waiting: 0, deadLettered: 0, deliveredPerMinute: 0, observedAt: '2026-12-07T09:00:00Z' };
    for (let i = 0; i < 30; i++) writer.backlog(`cold-${i}`, sample);
    writer.record('busy', success('evt_1'));
    writer.start();
    t.mock.timers.tick(1000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(written, ['busy', 'cold-0', 'cold-1', 'cold-2', 'cold-3']);
    await writer.stop();
  });
});
