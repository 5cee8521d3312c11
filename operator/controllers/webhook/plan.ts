// The pure part of reconciling a Webhook: what stands in the way of delivering to it, read
// from its spec and its source, and the status the operator owns, from what the reconcile
// found. No I/O here; the table tests in plan.test.ts go through each case.
import { replayMarker } from '../../../core/annotations.ts';
import { EventSource } from '../../../core/api/v1alpha1/eventsource.ts';
import type { Webhook, WebhookStatus } from '../../../core/api/v1alpha1/webhook.ts';
import { validate } from '../../../core/api/validate.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import { namespaceOf } from '../../../core/names.ts';
import { HEADER } from '../../../core/rabbit/headers.ts';
import { wildcardPatterns, type AppliedTopology } from '../../../core/rabbit/topology.ts';
import { removeCondition, setCondition, type ConditionInput } from '../../runtime/conditions.ts';
import {
  REENABLE_ANNOTATION,
  REPLAY_ANNOTATION,
  REPLAY_SINCE_ANNOTATION,
  REPLAY_UNTIL_ANNOTATION,
} from '../names.ts';

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

/** Which dead letters a replay moves: those dead-lettered in [since, until); no bound, every one. */
export interface ReplayWindow {
  since?: Date;
  until?: Date;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function annotatedTime(raw: RawObject, annotation: string): Date | string | undefined {
  const value = raw.metadata.annotations?.[annotation];
  if (value === undefined || value.trim() === '') return undefined;
  const at = RFC3339.test(value.trim()) ? new Date(value.trim()) : undefined;
  if (!at || Number.isNaN(at.getTime()))
    return `annotation ${annotation}: "${value.slice(0, 64)}" is not an RFC 3339 time such as 2026-12-02T10:00:00Z`;
  return at;
}

/** The window of a replay from its since/until annotations, or what is wrong with them. */
export function replayWindow(
  raw: RawObject,
): { ok: true; window: ReplayWindow } | { ok: false; message: string } {
  const since = annotatedTime(raw, REPLAY_SINCE_ANNOTATION);
  const until = annotatedTime(raw, REPLAY_UNTIL_ANNOTATION);
  const problems = [since, until].filter((bound) => typeof bound === 'string');
  if (problems.length > 0) return { ok: false, message: problems.join('; ') };
  const window: ReplayWindow = {
    ...(since instanceof Date ? { since } : {}),
    ...(until instanceof Date ? { until } : {}),
  };
  if (window.since && window.until && window.since >= window.until)
    return {
      ok: false,
      message: `annotation ${REPLAY_SINCE_ANNOTATION} (${window.since.toISOString()}) is not before ${REPLAY_UNTIL_ANNOTATION} (${window.until.toISOString()})`,
    };
  return { ok: true, window };
}

/** An AMQP timestamp as amqplib decodes it: seconds since the epoch, tagged. */
function amqpTimestamp(value: unknown): Date | undefined {
  const seconds = typeof value === 'object' && value !== null && 'value' in value ? value.value : value;
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000) : undefined;
}

/**
 * When a dead letter was dead-lettered: the dispatcher's x-hookline-dead-lettered-at, else
 * the time of the broker's latest x-death (a quorum queue's delivery limit), else unknown.
 */
export function deadLetteredAt(headers: Record<string, unknown> | undefined): Date | undefined {
  const stamped = headers?.[HEADER.deadLetteredAt];
  if (typeof stamped === 'string') {
    const at = new Date(stamped);
    if (!Number.isNaN(at.getTime())) return at;
  }
  const deaths = headers?.['x-death'];
  if (Array.isArray(deaths) && deaths.length > 0)
    return amqpTimestamp((deaths[0] as { time?: unknown } | undefined)?.time);
  return undefined;
}

/**
 * Whether a dead letter with these headers is in the window. With a bound, one whose time is
 * unknown is not: a replay with a window moves only what it can tell is inside.
 */
export function inReplayWindow(window: ReplayWindow, headers: Record<string, unknown> | undefined): boolean {
  if (!window.since && !window.until) return true;
  const at = deadLetteredAt(headers);
  if (!at) return false;
  return (!window.since || at >= window.since) && (!window.until || at < window.until);
}

/** The message of the Event that tells what a replay moved; it ends with the token's marker. */
export function replayedMessage(
  token: string,
  queue: string,
  window: ReplayWindow,
  counts: { moved: number; kept: number },
): string {
  const bounds = [
    ...(window.since ? [`since ${window.since.toISOString()}`] : []),
    ...(window.until ? [`until ${window.until.toISOString()}`] : []),
  ];
  const which = bounds.length > 0 ? `events dead-lettered ${bounds.join(' and ')}` : 'dead-lettered events';
  const kept = bounds.length > 0 ? `; ${counts.kept} others stay in the dead-letter queue` : '';
  return `Moved ${counts.moved} ${which} back to queue ${queue}${kept} ${replayMarker(token)}`;
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
  // The dispatcher owns status.circuit; the condition tells of it where kubectl wait and alerts look.
  conditions =
    status.circuit?.state === 'Open'
      ? setCondition(
          conditions,
          {
            type: 'Degraded',
            status: 'True',
            reason: 'CircuitOpen',
            message: `Deliveries wait in the queue: ${status.circuit.reason ?? 'the receiver keeps failing'}`,
          },
          generation,
          now,
        )
      : removeCondition(conditions, 'Degraded');
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
