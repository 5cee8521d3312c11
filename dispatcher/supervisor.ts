// Follows the Webhooks of this dispatcher's EventSource live through the API and keeps one
// worker per deliverable Webhook: started when one appears, restarted when its Webhook,
// policy or Secrets change, stopped when it is deleted, suspended or disabled.
import type { Logger } from 'pino';
import { EventSource, type EventSourceSpec } from '../core/api/v1alpha1/eventsource.ts';
import { validate } from '../core/api/validate.ts';
import type { RawObject } from '../core/kube/objects.ts';
import { policyOf, sourceOf } from '../core/references.ts';
import { ingestExchangeName } from '../core/rabbit/topology.ts';
import { errorMessage } from '../core/errors.ts';
import type { EventRecorder } from '../core/kube/events.ts';
import { Informer } from '../core/kube/informer.ts';
import type { KubeClient } from '../core/kube/client.ts';
import type { BrokerSession } from './broker/session.ts';
import type { AddressPolicy } from './deliver/address-policy.ts';
import { HttpClient } from './deliver/http.ts';
import { HookWorker } from './deliver/worker.ts';
import { unavailableHook, type BeforeHook, type GateHooks, type UnavailableHook } from './gate.ts';
import { resolveHook, type Resolved } from './hooks.ts';
import type { DispatcherMetrics } from './metrics.ts';
import type { SecretReader } from './secrets.ts';
import type { StatusWriter, StoredWebhook } from './status/writer.ts';

export interface SupervisorOptions {
  client: KubeClient;
  namespace: string;
  source: string;
  session: BrokerSession;
  status: StatusWriter;
  secrets: SecretReader;
  addresses: AddressPolicy;
  allowHttpUrls: boolean;
  metrics: DispatcherMetrics;
  recorder: EventRecorder;
  logger: Logger;
  secretRefreshMs?: number;
  /** Called when the EventSource's spec changed (and once it is first known). */
  onSourceChange?: (spec: EventSourceSpec | undefined) => void;
}

/** What every Webhook of this source is resolved against. */
interface ResolveTarget {
  sourceVersion: string;
  exchange: string;
  maxEventBytes: number;
}

interface Running {
  worker: HookWorker;
  /** What the worker was resolved from; an unchanged key needs no new resolve. */
  inputs: string;
}

export class Supervisor {
  readonly #o: SupervisorOptions;
  readonly #webhooks: Informer<RawObject>;
  readonly #policies: Informer<RawObject>;
  readonly #sources: Informer<RawObject>;
  readonly #running = new Map<string, Running>();
  /** Before hooks, called by the gate rather than fed from a queue; one that cannot be called denies. */
  readonly #before = new Map<
    string,
    { hook: BeforeHook; inputs: string } | { unavailable: UnavailableHook; inputs?: undefined }
  >();
  /** Set once every Webhook was resolved (or found unresolvable) for the first time. */
  #resolved = false;
  #sourceSpec: EventSourceSpec | undefined;
  #sourceJson = '';
  /** One pooled HTTP client per connect timeout, shared by the workers that use it. */
  readonly #clients = new Map<number, HttpClient>();
  /** Bumped when a re-read Secret changed, so that every worker is resolved again. */
  #secretsEpoch = 0;
  #syncing: Promise<void> = Promise.resolve();
  #pending = false;
  /** Webhooks this replica disabled, until the API shows them disabled (the status write takes up to a second). */
  readonly #disabledHere = new Map<string, number | undefined>();
  #refresh: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Changes seen during the first lists wait for the caches to be complete. */
  #started = false;

  constructor(options: SupervisorOptions) {
    this.#o = options;
    const informer = (plural: string, kind: string) =>
      new Informer<RawObject>({
        client: options.client,
        path: `/apis/hookline.dev/v1alpha1/namespaces/${options.namespace}/${plural}`,
        apiVersion: 'hookline.dev/v1alpha1',
        kind,
        logger: options.logger,
        onChange: () => this.schedule(),
      });
    this.#webhooks = informer('webhooks', 'Webhook');
    this.#policies = informer('callbackpolicies', 'CallbackPolicy');
    this.#sources = informer('eventsources', 'EventSource');
  }

  get synced(): boolean {
    return this.#webhooks.synced && this.#policies.synced && this.#sources.synced;
  }

  /** The Webhook as last seen, for status writes that need not read it first. */
  cachedWebhook(name: string): StoredWebhook | undefined {
    const raw = this.#webhooks.get(`${this.#o.namespace}/${name}`);
    const resourceVersion = raw?.metadata.resourceVersion;
    if (!raw || !resourceVersion) return undefined;
    return {
      metadata: { resourceVersion, uid: raw.metadata.uid },
      status: raw.status as StoredWebhook['status'],
    };
  }

  get workers(): string[] {
    return [...this.#running.keys()];
  }

  /** The EventSource's spec as last seen, once it is valid. */
  get sourceSpec(): EventSourceSpec | undefined {
    return this.#sourceSpec;
  }

  /** Whether the Webhooks were resolved at least once; until then the gate allows nothing. */
  get resolved(): boolean {
    return this.#resolved;
  }

  /** The Before hooks of this source, for the gate; undefined until they were resolved once. */
  beforeHooks(): GateHooks | undefined {
    if (!this.#resolved) return undefined;
    const entries = [...this.#before.values()];
    return {
      callable: entries.flatMap((entry) => ('hook' in entry ? [entry.hook] : [])),
      unavailable: entries.flatMap((entry) => ('unavailable' in entry ? [entry.unavailable] : [])),
    };
  }

  async start(): Promise<void> {
    for (const informer of [this.#webhooks, this.#policies, this.#sources]) informer.start();
    await Promise.all([this.#webhooks, this.#policies, this.#sources].map((i) => i.waitForSync()));
    this.#started = true;
    this.schedule();
    this.#refresh = setInterval(() => {
      void this.#o.secrets.refresh().then((changed) => {
        if (!changed) return;
        this.#secretsEpoch++;
        this.schedule();
      });
    }, this.#o.secretRefreshMs ?? 30_000);
    this.#refresh.unref();
  }

  /** Coalesces changes into one sync at a time. */
  schedule(): void {
    if (this.#pending || this.#stopped || !this.#started) return;
    this.#pending = true;
    this.#syncing = this.#syncing.then(async () => {
      this.#pending = false;
      try {
        await this.#sync();
        this.#resolved = true;
      } catch (error) {
        this.#o.logger.error({ err: errorMessage(error) }, 'Could not follow the Webhooks; retrying');
        setTimeout(() => this.schedule(), 2000).unref();
      }
    });
  }

  async #sync(): Promise<void> {
    const { namespace, source, logger } = this.#o;
    const rawSource = this.#sources.get(`${namespace}/${source}`);
    const parsedSource = rawSource ? validate(EventSource, rawSource) : undefined;
    const sourceSpec = parsedSource?.ok ? parsedSource.value.spec : undefined;
    const sourceJson = JSON.stringify(sourceSpec ?? null);
    if (sourceJson !== this.#sourceJson) {
      this.#sourceJson = sourceJson;
      this.#sourceSpec = sourceSpec;
      this.#o.onSourceChange?.(sourceSpec);
    }
    const exchange = sourceSpec?.rabbitmq?.exchange ?? ingestExchangeName(namespace, source);
    const maxEventBytes = sourceSpec?.dispatcher.maxEventBytes ?? 1024 * 1024;

    const wanted = new Map<string, RawObject>();
    const before = new Map<string, RawObject>();
    for (const webhook of this.#webhooks.list()) {
      const spec = webhook.spec as { phase?: string; suspend?: boolean } | undefined;
      const status = webhook.status as { disabled?: boolean } | undefined;
      if (sourceOf(webhook) !== source || webhook.metadata.deletionTimestamp) continue;
      if (status?.disabled) this.#disabledHere.delete(webhook.metadata.name);
      const disabledHere =
        this.#disabledHere.has(webhook.metadata.name) &&
        this.#disabledHere.get(webhook.metadata.name) === webhook.metadata.generation;
      if (spec?.suspend || status?.disabled || disabledHere) continue;
      if (spec?.phase === 'Before') before.set(webhook.metadata.name, webhook);
      else wanted.set(webhook.metadata.name, webhook);
    }
    const target = { sourceVersion: rawSource?.metadata.resourceVersion ?? '-', exchange, maxEventBytes };
    await this.#syncBefore(before, target);
    for (const [name, running] of this.#running) {
      if (!wanted.has(name))
        await this.#stopWorker(
          name,
          running,
          'no longer deliverable (deleted, suspended, disabled or moved)',
        );
    }
    for (const [name, raw] of wanted) {
      const inputs = this.#inputsOf(raw, target.sourceVersion);
      if (this.#running.get(name)?.inputs === inputs) continue;
      const resolved = await this.#resolve(raw, target);
      const running = this.#running.get(name);
      if (!resolved.ok) {
        if (running) await this.#stopWorker(name, running, resolved.reason);
        logger.warn({ webhook: name, reason: resolved.reason }, 'Not delivering to Webhook');
        continue;
      }
      const { config } = resolved;
      if (running?.worker.fingerprint === config.fingerprint) {
        running.inputs = inputs;
        continue;
      }
      if (running) await this.#stopWorker(name, running, 'its configuration changed');
      const http = this.#httpClient(config.connectTimeoutMs);
      const worker = new HookWorker(config, {
        session: this.#o.session,
        status: this.#o.status,
        http,
        metrics: this.#o.metrics,
        logger: logger.child({ webhook: name }),
        onDisabled: (message) => void this.#onDisabled(raw, message),
        onUnroutable: (message) =>
          void this.#o.recorder
            .warning(
              raw,
              'Unroutable',
              `Kept an event whose retry or dead letter the broker could not route: ${message}`,
            )
            .catch(() => undefined),
      });
      worker.start();
      this.#running.set(name, { worker, inputs });
      logger.info(
        { webhook: name, queue: config.topology.queue, ordering: config.policy.ordering },
        'Delivering to Webhook',
      );
    }
    this.#o.metrics.workers.set({ namespace }, this.#running.size);
  }

  /** Before hooks are resolved like the others, but kept for the gate instead of given a worker. */
  async #syncBefore(wanted: Map<string, RawObject>, target: ResolveTarget): Promise<void> {
    for (const name of this.#before.keys()) if (!wanted.has(name)) this.#before.delete(name);
    for (const [name, raw] of wanted) {
      const inputs = this.#inputsOf(raw, target.sourceVersion);
      if (this.#before.get(name)?.inputs === inputs) continue;
      const resolved = await this.#resolve(raw, target);
      if (!resolved.ok) {
        // Resolved again on every sync, like a hook that was never resolved.
        this.#before.set(name, { unavailable: unavailableHook(name, raw.spec, resolved.reason) });
        this.#o.logger.warn(
          { webhook: name, reason: resolved.reason },
          'Cannot call Before hook; the gate denies its events',
        );
        continue;
      }
      const { config } = resolved;
      this.#before.set(name, { hook: { config, http: this.#httpClient(config.connectTimeoutMs) }, inputs });
      this.#o.logger.info({ webhook: name, events: config.spec.events }, 'Calling Before hook at the gate');
    }
  }

  /** A Webhook's configuration, or why it cannot be called (plain http included). */
  async #resolve(raw: RawObject, target: ResolveTarget): Promise<Resolved> {
    const resolved = await resolveHook({
      raw,
      policies: this.#policies,
      secrets: this.#o.secrets,
      sourceExchange: target.exchange,
      maxEventBytes: target.maxEventBytes,
    });
    if (resolved.ok && resolved.config.url.protocol === 'http:' && !this.#o.allowHttpUrls)
      return { ok: false, reason: 'plain http is not allowed' };
    return resolved;
  }

  #httpClient(connectTimeoutMs: number): HttpClient {
    let client = this.#clients.get(connectTimeoutMs);
    if (!client) {
      client = new HttpClient({ policy: this.#o.addresses, connectTimeoutMs });
      this.#clients.set(connectTimeoutMs, client);
    }
    return client;
  }

  /**
   * What a Webhook's worker depends on, cheaply: its generation, the policy's and the source's
   * versions, and the Secrets epoch. A status write changes none of these.
   */
  #inputsOf(raw: RawObject, sourceVersion: string): string {
    const policy = this.#policies.get(`${this.#o.namespace}/${policyOf(raw)}`);
    return [
      raw.metadata.generation,
      policy?.metadata.resourceVersion ?? '-',
      sourceVersion,
      this.#secretsEpoch,
    ].join('|');
  }

  async #onDisabled(raw: RawObject, message: string): Promise<void> {
    this.#disabledHere.set(raw.metadata.name, raw.metadata.generation);
    await this.#o.status.flush();
    await this.#o.recorder.warning(raw, 'Disabled', `Disabled Webhook: ${message}`);
    const running = this.#running.get(raw.metadata.name);
    if (running) await this.#stopWorker(raw.metadata.name, running, 'disabled');
    this.schedule();
  }

  async #stopWorker(name: string, running: Running, why: string): Promise<void> {
    this.#running.delete(name);
    await running.worker.stop();
    this.#o.logger.info({ webhook: name, why }, 'Stopped delivering to Webhook');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#refresh);
    await this.#syncing;
    await Promise.all(
      [...this.#running].map(([name, running]) => this.#stopWorker(name, running, 'shutting down')),
    );
    await Promise.all([this.#webhooks, this.#policies, this.#sources].map((i) => i.stop()));
    await Promise.all([...this.#clients.values()].map((client) => client.close()));
  }
}
