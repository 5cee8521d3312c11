// Kubernetes Events for user-visible transitions ("Disabled Webhook after 4 failed
// retries"). Repeats of the same event for the same object within a minute are dropped.
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { KubeClient } from './client.ts';
import { resourcePath } from './client.ts';
import { kubeTime } from '../time.ts';
import { namespaceOf } from '../names.ts';

export interface EventTarget {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface EventRecorder {
  normal(object: EventTarget, reason: string, message: string): Promise<void>;
  warning(object: EventTarget, reason: string, message: string): Promise<void>;
}

export function eventRecorder(
  client: KubeClient,
  component: string,
  logger: Logger,
  now: () => Date = () => new Date(),
): EventRecorder {
  const recent = new Map<string, number>();
  async function record(object: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string) {
    const namespace = namespaceOf(object);
    const dedupeKey = `${object.metadata.uid ?? object.metadata.name}|${reason}|${message}`;
    const at = now();
    const last = recent.get(dedupeKey);
    if (last !== undefined && at.getTime() - last < 60_000) return;
    recent.set(dedupeKey, at.getTime());
    if (recent.size > 5000) recent.clear();
    const timestamp = kubeTime(at);
    try {
      await client.create(resourcePath({ group: '', version: 'v1', plural: 'events', namespace }), {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${object.metadata.name}.${crypto.randomBytes(8).toString('hex')}`, namespace },
        involvedObject: {
          apiVersion: object.apiVersion,
          kind: object.kind,
          name: object.metadata.name,
          namespace,
          uid: object.metadata.uid,
          resourceVersion: object.metadata.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component },
        reportingComponent: component,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
      });
    } catch (error) {
      // An Event is a courtesy: failing to record one must not fail the reconcile, but it is said.
      logger.warn({ reason, err: errorMessage(error) }, 'Could not record Event');
    }
  }
  return {
    normal: (object, reason, message) => record(object, 'Normal', reason, message),
    warning: (object, reason, message) => record(object, 'Warning', reason, message),
  };
}
