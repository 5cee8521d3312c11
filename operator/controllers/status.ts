// Writing the part of a status the operator owns, by server-side apply on the /status
// subresource with the operator's field manager — and only when it differs from what is
// stored, so that a quiet cluster sees no writes.
import { jsonEqual } from '../runtime/conditions.ts';
import type { KubeClient, ResourceRef } from '../../core/kube/client.ts';
import { resourcePath } from '../../core/kube/client.ts';
import type { RawObject } from '../../core/kube/objects.ts';

export function hookRef(object: RawObject, plural: string): ResourceRef {
  return {
    group: 'hookline.dev',
    version: 'v1alpha1',
    plural,
    namespace: object.metadata.namespace,
    name: object.metadata.name,
  };
}

/** True when the object's stored status already has these values. */
export function statusHas(object: RawObject, owned: Record<string, unknown>): boolean {
  const current = object.status ?? {};
  return Object.entries(owned).every(([key, value]) => jsonEqual(current[key], value));
}

/** Applies the owned part of the status unless it is stored already; answers the written object. */
export async function applyOwnedStatus(
  client: KubeClient,
  object: RawObject,
  plural: string,
  owned: Record<string, unknown>,
): Promise<RawObject | undefined> {
  if (statusHas(object, owned)) return undefined;
  return client.apply<RawObject>(resourcePath({ ...hookRef(object, plural), subresource: 'status' }), {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
    status: owned,
  });
}
