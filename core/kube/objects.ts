// The shapes of objects as both halves read them from the cluster, before validation.
import type { KubeObject } from './informer.ts';

/** An object as read from the cluster, before validation. */
export interface RawObject extends KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObject['metadata'] & {
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: Record<string, unknown>;
}

export interface Secret extends KubeObject {
  data?: Record<string, string>;
  type?: string;
}
