// The Before gate: an event about to happen is shown to every matching `phase: Before`
// Webhook at once, each within its policy's request timeout, never retried. The action may
// go ahead only if each answered its expected status. It fails closed: a matching hook that
// cannot be called (its Secret is missing, its policy invalid, ...) denies, and until the
// hooks are resolved nothing is allowed. Every verdict is recorded in that Webhook's status
// like any attempt.
import type { Logger } from 'pino';
import { describeResult } from './deliver/policy.ts';
import { compileMatch, topicMatches, type EventMeta } from './deliver/event.ts';
import type { HttpClient } from './deliver/http.ts';
import { attemptRequest } from './deliver/request.ts';
import type { HookConfig } from './hooks.ts';
import type { StatusWriter } from './status/writer.ts';
import { noTracing, type TraceContext, type Tracing } from './tracing.ts';
import { kubeTime } from '../core/time.ts';

export interface BeforeHook {
  config: HookConfig;
  http: HttpClient;
}

/** A Before hook that could not be resolved: it denies every event it concerns. */
export interface UnavailableHook {
  name: string;
  /** Why it cannot be called, e.g. the Secret that is missing. */
  reason: string;
  concerns: (event: GateEvent) => boolean;
}

/** The Before hooks of the source, as last resolved. */
export interface GateHooks {
  callable: Iterable<BeforeHook>;
  unavailable: Iterable<UnavailableHook>;
}

export interface GateEvent {
  id: string;
  type: string;
  body: Buffer;
  json: unknown;
  /** The W3C trace context the request came with: the gate's span is its child. */
  trace?: TraceContext;
}

export interface HookVerdict {
  webhook: string;
  allowed: boolean;
  statusCode?: number;
  durationMs: number;
  /** Why it denies: the status it answered instead of the expected one, or the error. */
  reason?: string;
}

export interface GateDecision {
  /** False until the hooks were resolved once: then no hook was asked and nothing is allowed. */
  resolved: boolean;
  allowed: boolean;
  verdicts: HookVerdict[];
}

export interface GateOptions {
  /** The hooks to ask; undefined while the dispatcher has not resolved them yet. */
  hooks: () => GateHooks | undefined;
  status: StatusWriter;
  logger: Logger;
  onVerdict?: (verdict: HookVerdict) => void;
  now?: () => Date;
  /** Off when not given. */
  tracing?: Tracing;
}

/** The Before hooks an event concerns: its type matches one of their patterns and their `match`. */
export function matchingHooks(hooks: Iterable<BeforeHook>, event: GateEvent): BeforeHook[] {
  return [...hooks].filter(
    ({ config }) =>
      config.spec.events.some((pattern) => topicMatches(pattern, event.type)) && config.match(event.json),
  );
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A hook that cannot be called, judged by the `events` and `match` of its stored spec. What
 * cannot be read there does not narrow it: such a hook concerns every event.
 */
export function unavailableHook(name: string, spec: unknown, reason: string): UnavailableHook {
  const { events, match } = isMap(spec) ? spec : {};
  const patterns = isStringList(events) ? events : undefined;
  const matcher = isMap(match) ? compileMatch(match) : () => true;
  return {
    name,
    reason,
    concerns: (event) =>
      (patterns?.some((pattern) => topicMatches(pattern, event.type)) ?? true) && matcher(event.json),
  };
}

export class BeforeGate {
  readonly #o: GateOptions;
  readonly #tracing: Tracing;

  constructor(options: GateOptions) {
    this.#o = options;
    this.#tracing = options.tracing ?? noTracing;
  }

  async decide(event: GateEvent): Promise<GateDecision> {
    const hooks = this.#o.hooks();
    if (!hooks) return { resolved: false, allowed: false, verdicts: [] };
    const span = this.#tracing.gate(event.id, event.type, event.trace);
    const unavailable = [...hooks.unavailable].filter((hook) => hook.concerns(event));
    const answers = await Promise.all(
      matchingHooks(hooks.callable, event).map((hook) => this.#ask(hook, event, span.context)),
    );
    const verdicts = [...answers, ...unavailable.map((hook) => this.#refuse(hook, event))];
    const allowed = verdicts.every((v) => v.allowed);
    if (this.#tracing.enabled) {
      span.set('hookline.gate.allowed', allowed);
      span.set('hookline.gate.hooks', verdicts.length);
      if (!allowed)
        span.set(
          'hookline.gate.denied_by',
          verdicts
            .filter((v) => !v.allowed)
            .map((v) => v.webhook)
            .join(','),
        );
    }
    span.end();
    return { resolved: true, allowed, verdicts };
  }

  #now(): Date {
    return (this.#o.now ?? (() => new Date()))();
  }

  async #ask(
    { config, http }: BeforeHook,
    event: GateEvent,
    parent: TraceContext | undefined,
  ): Promise<HookVerdict> {
    const started = this.#now();
    const meta: EventMeta = { id: event.id, type: event.type, attempt: 1, firstSeen: started.getTime() };
    const expected = config.spec.expectedStatus ?? 200;
    // A denial is an answer, not an error: only a hook that could not be reached makes one.
    const span = this.#tracing.call(config, meta, parent);
    let verdict: HookVerdict;
    try {
      const request = await attemptRequest(config, meta, event, started, span.context);
      const result = await http.send({
        url: config.url,
        headers: request.headers,
        body: request.body,
        requestTimeoutMs: config.requestTimeoutMs,
      });
      const allowed = result.kind === 'response' && result.status === expected;
      verdict = {
        webhook: config.name,
        allowed,
        durationMs: result.durationMs,
        ...(result.kind === 'response' ? { statusCode: result.status } : {}),
        ...(allowed ? {} : { reason: `${describeResult(result)} (expected HTTP ${expected})` }),
      };
      span.set('hookline.gate.allowed', allowed);
      span.answered(result, result.kind === 'error' ? verdict.reason : undefined);
    } catch (error) {
      verdict = {
        webhook: config.name,
        allowed: false,
        durationMs: this.#now().getTime() - started.getTime(),
        reason: `could not call the hook: ${(error as Error).message}`,
      };
      span.set('hookline.gate.allowed', false);
      span.end(verdict.reason);
    }
    return this.#settle(verdict, event, started);
  }

  /** A hook that cannot be called is not asked: it denies, and says why. */
  #refuse(hook: UnavailableHook, event: GateEvent): HookVerdict {
    const verdict: HookVerdict = {
      webhook: hook.name,
      allowed: false,
      durationMs: 0,
      reason: `the hook cannot be called: ${hook.reason}`,
    };
    return this.#settle(verdict, event, this.#now());
  }

  #settle(verdict: HookVerdict, event: GateEvent, started: Date): HookVerdict {
    this.#o.status.record(verdict.webhook, {
      time: kubeTime(started),
      eventId: event.id,
      eventType: event.type,
      attempt: 1,
      outcome: verdict.allowed ? 'Allowed' : 'Denied',
      durationMs: verdict.durationMs,
      ...(verdict.statusCode !== undefined ? { statusCode: verdict.statusCode } : {}),
      ...(verdict.reason ? { error: verdict.reason } : {}),
    });
    this.#o.onVerdict?.(verdict);
    if (!verdict.allowed)
      this.#o.logger.info(
        { webhook: verdict.webhook, eventId: event.id, reason: verdict.reason },
        'Before hook denied the event',
      );
    return verdict;
  }
}
