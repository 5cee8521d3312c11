import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Informer, KubeObject } from '../../core/kube/informer.ts';
import { awaitChange, ControllerRunner, type Controller, type ReconcileContext } from './controller.ts';

type Obj = KubeObject & { status?: { written?: number } };
const version = (resourceVersion: string, written?: number, uid = 'u1'): Obj => ({
  apiVersion: 'hookline.dev/v1alpha1',
  kind: 'Webhook',
  metadata: { name: 'orders', namespace: 'a', resourceVersion, uid },
  ...(written === undefined ? {} : { status: { written } }),
});

/** An informer whose cache the test sets; the runner only reads it. */
function fakeInformer(initial: Obj) {
  let cached: Obj | undefined = initial;
  const informer = {
    get: () => cached,
    keys: () => (cached ? ['a/orders'] : []),
    start: () => undefined,
    waitForSync: () => Promise.resolve(),
  } as unknown as Informer<Obj>;
  return { informer, set: (o: Obj | undefined) => void (cached = o) };
}

/** Reconciles by writing status.written = 1 when it is not there, as a status apply would. */
function writingController(seen: Obj[], nextVersion: () => string): Controller<Obj> {
  return {
    kind: 'Webhook',
    reconcile(object: Obj, rc: ReconcileContext) {
      seen.push(object);
      if (object.status?.written === undefined) {
        const answered = version(nextVersion(), 1);
        rc.wrote({
          ...answered,
          metadata: { ...answered.metadata, managedFields: [{ manager: 'hookline' }] },
        });
      }
      return Promise.resolve(awaitChange());
    },
    errorPolicy: () => awaitChange(),
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Starts a runner over an informer holding `initial`, reconciles it, enqueues it once more
 * (as a Secret event would) and answers every object the two reconciles were given.
 */
async function reconcileTwice(initial: Obj, write: (object: Obj) => KubeObject | undefined): Promise<Obj[]> {
  const seen: Obj[] = [];
  const { informer } = fakeInformer(initial);
  const runner = new ControllerRunner<Obj>({
    controller: {
      kind: 'Webhook',
      reconcile(object: Obj, rc: ReconcileContext) {
        seen.push(object);
        const written = write(object);
        if (written) rc.wrote(written);
        return Promise.resolve(awaitChange());
      },
      errorPolicy: () => awaitChange(),
    },
    informer,
    logger: pino({ level: 'silent' }),
  });
  await runner.start();
  await settle();
  runner.enqueue('a/orders');
  await settle();
  await runner.stop();
  return seen;
}

describe('ControllerRunner', () => {
  it('starts a reconcile from its own last write while the informer still has the older version', async () => {
    const seen: Obj[] = [];
    const { informer, set } = fakeInformer(version('1'));
    let next = 1;
    const runner = new ControllerRunner<Obj>({
      controller: writingController(seen, () => String(++next)),
      informer,
      logger: pino({ level: 'silent' }),
    });
    await runner.start();
    await settle();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.status?.written, undefined);

    // A Secret event brings a reconcile before the watch delivered the write: it sees the write.
    runner.enqueue('a/orders');
    await settle();
    assert.equal(seen[1]!.status?.written, 1, 'the reconcile saw its own write');
    assert.equal(seen[1]!.metadata.resourceVersion, '2');
    assert.equal('managedFields' in seen[1]!.metadata, false);

    // Someone else changed the object: their version wins from now on.
    set(version('7'));
    runner.enqueue('a/orders');
    await settle();
    assert.equal(seen[2]!.metadata.resourceVersion, '7');
    await runner.stop();
  });

  it('ignores a write answered for another object of the same name (deleted and created again)', async () => {
    const seen = await reconcileTwice(version('1'), () => version('5', 1, 'another-uid'));
    assert.deepEqual(
      seen.map((o) => o.metadata.resourceVersion),
      ['1', '1'],
    );
  });
});

describe('ControllerRunner, a deleted object', () => {
  it('does not clean up again after the patch that released its finalizer answered the same version', async () => {
    const deleting: Obj = {
      ...version('9'),
      metadata: { ...version('9').metadata, deletionTimestamp: '2026-12-04T00:00:00Z', finalizers: ['f'] },
    };
    // The API server answers the release with the version it started from (it deleted the
    // object); the Secret its cleanup deleted brings a reconcile before the deletion arrives.
    const seen = await reconcileTwice(deleting, (object) =>
      (object.metadata.finalizers as string[]).length
        ? { ...object, metadata: { ...object.metadata, finalizers: [] } }
        : undefined,
    );
    assert.deepEqual(
      seen.map((o) => (o.metadata.finalizers as string[]).length),
      [1, 0],
      'the second reconcile saw the finalizer released',
    );
  });
});
