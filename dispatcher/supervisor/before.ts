// The Before hooks of a source, kept for the gate instead of given a worker: resolved like
// the others, and one that cannot be called denies the events it concerns.
import type { Logger } from 'pino';
import type { RawObject } from '../../core/kube/objects.ts';
import { unavailableHook, type BeforeHook, type GateHooks, type UnavailableHook } from '../gate.ts';
import type { Resolved } from '../hooks.ts';
import type { HttpClients } from './clients.ts';
import type { ResolveTarget } from './resolve.ts';

export interface BeforeHooksDeps {
  logger: Logger;
  clients: HttpClients;
  resolve: (raw: RawObject, target: ResolveTarget) => Promise<Resolved>;
  /** What a hook was resolved from; an unchanged key needs no new resolve. */
  inputsOf: (raw: RawObject, sourceVersion: string) => string;
}

export class BeforeHooks {
  readonly #d: BeforeHooksDeps;
  readonly #hooks = new Map<
    string,
    { hook: BeforeHook; inputs: string } | { unavailable: UnavailableHook; inputs?: undefined }
  >();

  constructor(deps: BeforeHooksDeps) {
    this.#d = deps;
  }

  /** The hooks as last resolved. */
  current(): GateHooks {
    const entries = [...this.#hooks.values()];
    return {
      callable: entries.flatMap((entry) => ('hook' in entry ? [entry.hook] : [])),
      unavailable: entries.flatMap((entry) => ('unavailable' in entry ? [entry.unavailable] : [])),
    };
  }

  /** Keeps the hooks in `wanted`, resolving those whose inputs changed. */
  async sync(wanted: Map<string, RawObject>, target: ResolveTarget): Promise<void> {
    const { logger } = this.#d;
    for (const name of this.#hooks.keys()) if (!wanted.has(name)) this.#hooks.delete(name);
    for (const [name, raw] of wanted) {
      const inputs = this.#d.inputsOf(raw, target.sourceVersion);
      if (this.#hooks.get(name)?.inputs === inputs) continue;
      const resolved = await this.#d.resolve(raw, target);
      if (!resolved.ok) {
        // Resolved again on every sync, like a hook that was never resolved.
        this.#hooks.set(name, { unavailable: unavailableHook(name, raw.spec, resolved.reason) });
        logger.warn(
          { webhook: name, reason: resolved.reason },
          'Cannot call Before hook; the gate denies its events',
        );
        continue;
      }
      const { config } = resolved;
      this.#hooks.set(name, { hook: { config, http: this.#d.clients.for(config.connectTimeoutMs) }, inputs });
      logger.info({ webhook: name, events: config.spec.events }, 'Calling Before hook at the gate');
    }
  }
}
