// The Events a worker's changes leave on its Webhook: an unroutable retry kept (Warning),
// the circuit opened (Warning) or closed. Recording is best effort: a failed Event is not
// worth stopping a delivery for.
import type { EventRecorder } from '../../core/kube/events.ts';
import type { RawObject } from '../../core/kube/objects.ts';
import type { WorkerDeps } from '../deliver/worker.ts';

export function workerEvents(
  recorder: EventRecorder,
  raw: RawObject,
): Pick<WorkerDeps, 'onCircuit' | 'onUnroutable'> {
  return {
    onCircuit: (transition, message) =>
      void (
        transition === 'opened'
          ? recorder.warning(raw, 'CircuitOpened', message)
          : recorder.normal(raw, 'CircuitClosed', message)
      ).catch(() => undefined),
    onUnroutable: (message) =>
      void recorder
        .warning(
          raw,
          'Unroutable',
          `Kept an event whose retry or dead letter the broker could not route: ${message}`,
        )
        .catch(() => undefined),
  };
}
