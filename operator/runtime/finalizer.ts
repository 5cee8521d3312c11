// Adding and removing a finalizer with JSON Patch `test` operations, so that a concurrent
// change of the finalizer list makes the patch fail (and the reconcile retry) instead of
// silently dropping someone else's finalizer.
import { HooklineError } from '../../core/errors.ts';
import { KubeApiError, type KubeClient } from '../../core/kube/client.ts';
import { awaitChange, type Action } from './controller.ts';

interface WithFinalizers {
  metadata: { finalizers?: string[]; resourceVersion?: string };
}

export function hasFinalizer(object: WithFinalizers, finalizer: string): boolean {
  return object.metadata.finalizers?.includes(finalizer) ?? false;
}

export function finalizerPatch(
  object: WithFinalizers,
  finalizer: string,
  present: boolean,
): unknown[] | undefined {
  const current = object.metadata.finalizers;
  if (hasFinalizer(object, finalizer) === present) return undefined;
  if (current === undefined) {
    if (!present) return undefined;
    return [
      { op: 'test', path: '/metadata/resourceVersion', value: object.metadata.resourceVersion },
      { op: 'add', path: '/metadata/finalizers', value: [finalizer] },
    ];
  }
  const next = present ? [...current, finalizer] : current.filter((f) => f !== finalizer);
  return [
    { op: 'test', path: '/metadata/finalizers', value: current },
    { op: 'replace', path: '/metadata/finalizers', value: next },
  ];
}

/** Ensures the finalizer is (or is not) on the object; returns the patched object, or undefined if nothing changed. */
export async function setFinalizer<T extends WithFinalizers>(
  client: KubeClient,
  path: string,
  object: T,
  finalizer: string,
  present: boolean,
): Promise<T | undefined> {
  const patch = finalizerPatch(object, finalizer, present);
  if (!patch) return undefined;
  try {
    return await client.jsonPatch<T>(path, patch);
  } catch (error) {
    // A failed `test` (422): the object changed since it was read; the next read decides again.
    if (error instanceof KubeApiError && error.status === 422) {
      throw new HooklineError('FinalizerConflict', `the finalizers of ${path} changed meanwhile`, error);
    }
    throw error;
  }
}

export interface FinalizerFlow<T> {
  /** Brings the world to what the object asks for; runs only once the finalizer is on it. */
  apply(object: T): Promise<Action>;
  /** Deletes what `apply` made; runs only while Hookline's finalizer is on a deleted object. */
  cleanup(object: T): Promise<void>;
  /** The object as the finalizer patch answered it. */
  wrote?(object: T): void;
}

/**
 * The apply/cleanup flow of a finalized resource (after kube-rs's `finalizer`): a deleted
 * object is cleaned up and let go; one that is not yet deleted first gets the finalizer and
 * is then applied, as the patch answered it. A deleted object without
 * Hookline's finalizer is none of Hookline's business any more: nothing runs.
 */
export async function finalized<T extends WithFinalizers & { metadata: { deletionTimestamp?: string } }>(
  client: KubeClient,
  path: string,
  object: T,
  finalizer: string,
  flow: FinalizerFlow<T>,
): Promise<Action> {
  if (object.metadata.deletionTimestamp) {
    if (!hasFinalizer(object, finalizer)) return awaitChange();
    await flow.cleanup(object);
    const released = await setFinalizer(client, path, object, finalizer, false);
    if (released) flow.wrote?.(released);
    return awaitChange();
  }
  const added = await setFinalizer(client, path, object, finalizer, true);
  if (!added) return flow.apply(object);
  flow.wrote?.(added);
  return flow.apply(added);
}
