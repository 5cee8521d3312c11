// The Before gate: an event about to happen is shown to every matching `phase: Before`
// Webhook at once, each within its policy's request timeout, never retried. The action may
// go ahead only if each answered its expected status. Every call is recorded in that
// Webhook's status like any attempt.
import type { Logger } from 'pino';
import { describeResult } from './deliver/policy.ts';
import { topicMatches, type EventMeta } from './deliver/event.ts';
import type { HttpClient } from './deliver/http.ts';
import { attemptRequest } from './deliver/request.ts';
import type { HookConfig } from './hooks.ts';
import type { StatusWriter } from './status/writer.ts';

export interface BeforeHook {
  config: HookConfig;
  http: HttpClient;
}

export interface GateEvent {
  id: string;
  type: string;
  body: Buffer;
  json: unknown;
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
  allowed: boolean;
  verdicts: HookVerdict[];
}

export interface GateOptions {
  hooks: () => Iterable<BeforeHook>;
  status: StatusWriter;
  logger: Logger;
  onVerdict?: (verdict: HookVerdict) => void;
  now?: () => Date;
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** The Before hooks an event concerns: its type matches one of their patterns and their `match`. */
export function matchingHooks(hooks: Iterable<BeforeHook>, event: GateEvent): BeforeHook[] {
  return [...hooks].filter(
    ({ config }) =>
      config.spec.events.some((pattern) => topicMatches(pattern, event.type)) && config.match(event.json),
  );
}

export class BeforeGate {
  readonly #o: GateOptions;

  constructor(options: GateOptions) {
    this.#o = options;
  }

  async decide(event: GateEvent): Promise<GateDecision> {
    const hooks = matchingHooks(this.#o.hooks(), event);
    const verdicts = await Promise.all(hooks.map((hook) => this.#ask(hook, event)));
    return { allowed: verdicts.every((v) => v.allowed), verdicts };
  }

  async #ask({ config, http }: BeforeHook, event: GateEvent): Promise<HookVerdict> {
    const now = this.#o.now ?? (() => new Date());
    const started = now();
    const meta: EventMeta = { id: event.id, type: event.type, attempt: 1, firstSeen: started.getTime() };
    const expected = config.spec.expectedStatus ?? 200;
    let verdict: HookVerdict;
    try {
      const request = await attemptRequest(config, meta, event, started);
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
    } catch (error) {
      verdict = {
        webhook: config.name,
        allowed: false,
        durationMs: now().getTime() - started.getTime(),
        reason: `could not call the hook: ${(error as Error).message}`,
      };
    }
    this.#o.status.record(config.name, {
      time: timestamp(started),
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
        { webhook: config.name, eventId: event.id, reason: verdict.reason },
        'Before hook denied the event',
      );
    return verdict;
  }
}
