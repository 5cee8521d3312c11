// The pure part of reconciling a Webhook: what stands in the way of delivering to it, read
// from its spec and its source, and the status the operator owns, from what the reconcile
// found. No I/O here; the table tests in plan.test.ts go through each case.
import { EventSource } from '../../../core/api/v1alpha1/eventsource.ts';
import type { Webhook, WebhookStatus } from '../../../core/api/v1alpha1/webhook.ts';
import { validate } from '../../../core/api/validate.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import { namespaceOf } from '../../../core/names.ts';
import { wildcardPatterns, type AppliedTopology } from '../../../core/rabbit/topology.ts';
import { removeCondition, setCondition, type ConditionInput } from '../../runtime/conditions.ts';
import { REENABLE_ANNOTATION, REPLAY_ANNOTATION } from '../names.ts';

/** Why the Webhook is not Ready; `retry` when a later reconcile may get through unchanged. */
export interface NotReady {
  reason: string;
  message: string;
  retry: boolean;
}

/** What the reconcile put in place. */
export interface Ensured {
  topology?: AppliedTopology;
  queue?: string;
  publicKey?: string;
}

/**
 * The Webhook's own problems and its source's, before any Secret or broker is read: the
 * source (valid) when there are none.
 */
export function sourceProblem(
  webhook: Webhook,
  rawSource: RawObject | undefined,
  options: { allowHttpUrls: boolean },
): NotReady | { source: EventSource } {
  const namespace = namespaceOf(webhook);
  const { spec } = webhook;
  if (spec.url.startsWith('http://') && !options.allowHttpUrls) {
    return {
      reason: 'InvalidSpec',
      message:
        'spec.url: plain http:// URLs are not allowed by this installation (allowHttpUrls is off); use https://',
      retry: false,
    };
  }
  if (!rawSource) {
    return {
      reason: 'SourceNotFound',
      message: `spec.sourceRef: EventSource ${namespace}/${spec.sourceRef.name} does not exist`,
      retry: true,
    };
  }
  const parsed = validate(EventSource, rawSource);
  if (!parsed.ok) {
    return {
      reason: 'SourceNotReady',
      message: `EventSource ${spec.sourceRef.name} is invalid: ${parsed.message}`,
      retry: false,
    };
  }
  if (spec.phase === 'Before' && !parsed.value.spec.http) {
    return {
      reason: 'InvalidSpec',
      message: 'spec.phase: Before hooks need an http EventSource',
      retry: false,
    };
  }
  return { source: parsed.value };
}

/** A direct exchange routes exact keys only: wildcard patterns could never match. */
export function exchangeProblem(events: readonly string[], exchangeType: string): NotReady | undefined {
  const wildcards = exchangeType === 'direct' ? wildcardPatterns(events) : [];
  if (wildcards.length === 0) return undefined;
  return {
    reason: 'InvalidSpec',
    message: `spec.events: the source's exchange is of type direct, which routes exact keys only; ${wildcards.map((p) => `"${p}"`).join(', ')} cannot match`,
    retry: false,
  };
}

/** What asks for a disabled Webhook to deliver again: a new reenable token, or a spec change. */
export function reenableRequest(raw: RawObject): { token?: string; specChanged: boolean } | undefined {
  const status = (raw.status ?? {}) as WebhookStatus;
  const token = raw.metadata.annotations?.[REENABLE_ANNOTATION];
  const generation = raw.metadata.generation;
  const specChanged =
    generation !== undefined &&
    status.observedGeneration !== undefined &&
    generation !== status.observedGeneration;
  const tokenNew = token !== undefined && token !== status.handledAnnotations?.reenable;
  if (!tokenNew && !specChanged) return undefined;
  return { ...(tokenNew ? { token } : {}), specChanged };
}

/** A replay token not handled yet. */
export function replayRequest(raw: RawObject): string | undefined {
  const status = (raw.status ?? {}) as WebhookStatus;
  const token = raw.metadata.annotations?.[REPLAY_ANNOTATION];
  return token !== undefined && token !== status.handledAnnotations?.replay ? token : undefined;
}

/** The annotation tokens handled once a reconcile got through. */
export function handledTokens(raw: RawObject): Record<string, string> {
  const status = (raw.status ?? {}) as WebhookStatus;
  const annotations = raw.metadata.annotations ?? {};
  const handled: Record<string, string> = {};
  const reenable = annotations[REENABLE_ANNOTATION] ?? status.handledAnnotations?.reenable;
  const replay = annotations[REPLAY_ANNOTATION] ?? status.handledAnnotations?.replay;
  if (reenable !== undefined) handled.reenable = reenable;
  if (replay !== undefined) handled.replay = replay;
  return handled;
}

/** The part of the status the operator owns, after a reconcile that found `problem` or put `ensured` in place. */
export function desiredStatus(
  raw: RawObject,
  problem: NotReady | undefined,
  ensured: Ensured,
  now: Date,
): Record<string, unknown> {
  const status = (raw.status ?? {}) as WebhookStatus;
  const generation = raw.metadata.generation;
  // A reenable token or a spec change clears a disabled state once the reconcile got through.
  const cleared = !problem && reenableRequest(raw) !== undefined;
  const disabled = status.disabled === true && !cleared;
  const exhausted = status.disabledReason ?? 'Disabled after its retries ran out';
  const ready: ConditionInput = problem
    ? { type: 'Ready', status: 'False', reason: problem.reason, message: problem.message }
    : disabled
      ? { type: 'Ready', status: 'False', reason: 'RetriesExhausted', message: exhausted }
      : {
          type: 'Ready',
          status: 'True',
          reason: 'Ready',
          message: 'The queue and its bindings are in place',
        };
  let conditions = setCondition(status.conditions, ready, generation, now);
  conditions = disabled
    ? setCondition(
        conditions,
        { type: 'Stalled', status: 'True', reason: 'RetriesExhausted', message: exhausted },
        generation,
        now,
      )
    : removeCondition(conditions, 'Stalled');
  const owned: Record<string, unknown> = {
    observedGeneration: generation,
    conditions,
    handledAnnotations: problem ? (status.handledAnnotations ?? {}) : handledTokens(raw),
  };
  const queue = ensured.topology ? ensured.queue : status.queue;
  if (queue) owned.queue = queue;
  const topology = ensured.topology ?? status.topology;
  if (topology) owned.topology = topology;
  const publicKey = ensured.publicKey ?? (problem ? status.signing?.publicKey : undefined);
  if (publicKey) owned.signing = { publicKey };
  return owned;
}
