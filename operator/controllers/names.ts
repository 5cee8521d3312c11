// Names and labels of the objects the operator creates.
import crypto from 'node:crypto';
import { childName } from '../../core/names.ts';

export const MANAGED_BY = 'hookline-operator';
export const FIELD_MANAGER = 'hookline-operator';
export const SOURCE_FINALIZER = 'hookline.dev/dispatcher';
export const WEBHOOK_FINALIZER = 'hookline.dev/topology';
export const CONFIG_HASH_ANNOTATION = 'hookline.dev/config-hash';
export {
  REENABLE_ANNOTATION,
  REPLAY_ANNOTATION,
  REPLAY_SINCE_ANNOTATION,
  REPLAY_UNTIL_ANNOTATION,
} from '../../core/annotations.ts';

export const dispatcherName = (source: string) => childName('hookline-dispatcher', source);
export const ingestServiceName = (source: string) => childName('hookline-ingest', source);
export const brokerSecretName = (source: string) => childName('hookline-broker', source);

export function dispatcherLabels(source: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'hookline-dispatcher',
    'app.kubernetes.io/instance': source.slice(0, 63),
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'hookline.dev/eventsource': source.slice(0, 63),
  };
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
}

export function ownerReference(owner: {
  apiVersion: string;
  kind: string;
  metadata: { name: string; uid?: string };
}): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function hashOf(value: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
