// Follows the Webhooks of this dispatcher's EventSource live through the API and keeps one
// worker per deliverable Webhook: started when one appears, restarted when its Webhook,
// policy or Secrets change, stopped when it is deleted, suspended or disabled.
import type { Logger } from 'pino';
import type { EventSourceSpec } from '../core/api/v1alpha1/eventsource.ts';
import type { RawObject } from '../core/kube/objects.ts';
import { errorMessage } from '../core/errors.ts';
import { Retry, type Clock, type RetrySchedule } from '../core/retry.ts';
import type { EventRecorder } from '../core/kube/events.ts';
import { Informer } from '../core/kube/informer.ts';
import type { KubeClient } from '../core/kube/client.ts';
import type { ObservedWebhook } from './backlog.ts';
import type { BrokerSession } from './broker/session.ts';
import type { AddressPolicy } from './deliver/address-policy.ts';
import { HookWorker } from './deliver/worker.ts';
import type { GateHooks } from './gate.ts';
import type { HookConfig, Resolved } from './hooks.ts';
import type { DispatcherMetrics } from './metrics.ts';
import type { SecretReader } from './secrets.ts';
import { SendTests } from './send-test.ts';
import type { StatusWriter, StoredWebhook } from './status/writer.ts';
import {
  deliverable,
  observedWebhooks,
  inputsOf,
  resolveWebhook,
  sourceTarget,
  SyncedParts,
  type ResolveTarget,
} from './supervisor/resolve.ts';
import { BeforeHooks } from './supervisor/before.ts';
import { HttpClients } from './supervisor/clients.ts';
import { workerEvents } from './supervisor/events.ts';
import type { Tracing } from './tracing.ts';

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
  clock?: Clock;
  /** Spans of the workers' attempts; off when not given. */
  tracing?: Tracing;
}

/** After a sync failed, the next one is tried this much later. */
const SYNC_RETRY: RetrySchedule = { kind: 'fixed', ms: 2000 };

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
  readonly #before: BeforeHooks;
  /** Set once every Webhook was resolved (or found unresolvable) for the first time. */
  #resolved = false;
  #sourceSpec: EventSourceSpec | undefined;
  #sourceJson = '';
  /** One pooled HTTP client per connect timeout, shared by the workers that use it. */
  readonly #clients: HttpClients;
  /** Answers hookline.dev/send-test tokens with one synthetic event each. */
  readonly #tests: SendTests;
  /** Bumped when a re-read Secret changed, so that every worker is resolved again. */
  #secretsEpoch = 0;
  #syncing: Promise<void> = Promise.resolve();
  #pending = false;
  /** Webhooks this replica disabled, until the API shows them disabled (the status write takes up to a second). */
  readonly #disabledHere = new Map<string, number | undefined>();
  readonly #syncedParts = new SyncedParts();
  #refresh: NodeJS.Timeout | undefined;
  readonly #syncRetry: Retry;
  /** Aborted by stop(). */
  readonly #stop = new AbortController();
  /** Changes seen during the first lists wait for the caches to be complete. */
  #started = false;

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#syncRetry = new Retry(SYNC_RETRY, { clock: options.clock });
    this.#clients = new HttpClients(options.addresses);
    this.#tests = new SendTests({ ...options, http: (ms) => this.#clients.for(ms) });
    this.#before = new BeforeHooks({
      logger: options.logger,
      clients: this.#clients,
      resolve: (raw, target) => this.#resolve(raw, target),
      inputsOf: (raw, sourceVersion) => this.#inputsOf(raw, sourceVersion),
    });
    const informer = (plural: string, kind: string, changed = (_key: string, _raw?: RawObject) => true) =>
      new Informer<RawObject>({
        client: options.client,
        path: `/apis/hookline.dev/v1alpha1/namespaces/${options.namespace}/${plural}`,
        apiVersion: 'hookline.dev/v1alpha1',
        kind,
        logger: options.logger,
        onChange: (key, raw) => changed(key, raw) && this.schedule(),
      });
    this.#webhooks = informer('webhooks', 'Webhook', (key, raw) => this.#syncedParts.changed(key, raw));
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

  /** The After Webhooks of this source, disabled ones included, for the backlog sampler. */
  observedWebhooks(): ObservedWebhook[] {
    const { namespace, source } = this.#o;
    const observed = observedWebhooks(this.#webhooks.list(), source, { namespace, policies: this.#policies });
    for (const webhook of observed)
      webhook.drainsQueue = () => this.#running.get(webhook.name)?.worker.drainsQueue === true;
    return observed;
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
    return this.#resolved ? this.#before.current() : undefined;
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
    if (this.#pending || this.#stop.signal.aborted || !this.#started) return;
    this.#pending = true;
    this.#syncing = this.#syncing.then(async () => {
      this.#pending = false;
      try {
        await this.#sync();
        this.#resolved = true;
        this.#syncRetry.succeeded();
      } catch (error) {
        this.#o.logger.error({ err: errorMessage(error) }, 'Could not follow the Webhooks; retrying');
        void this.#syncRetry.wait(this.#stop.signal).then(() => this.schedule());
      }
    });
  }

  async #sync(): Promise<void> {
    const { namespace, source, logger } = this.#o;
    const { spec: sourceSpec, target } = sourceTarget(
      namespace,
      source,
      this.#sources.get(`${namespace}/${source}`),
    );
    this.#tests.sync(this.#webhooks.list(), (raw) => this.#resolve(raw, target));
    const sourceJson = JSON.stringify(sourceSpec ?? null);
    if (sourceJson !== this.#sourceJson) {
      this.#sourceJson = sourceJson;
      this.#sourceSpec = sourceSpec;
      this.#o.onSourceChange?.(sourceSpec);
    }
    const {
      after: wanted,
      before,
      shownDisabled,
    } = deliverable(this.#webhooks.list(), source, this.#disabledHere);
    for (const name of shownDisabled) this.#disabledHere.delete(name);
    await this.#before.sync(before, target);
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
      this.#startWorker(raw, config, inputs);
    }
    this.#o.metrics.workers.set({ namespace }, this.#running.size);
  }

  #startWorker(raw: RawObject, config: HookConfig, inputs: string): void {
    const { name } = raw.metadata;
    const worker = new HookWorker(config, {
      session: this.#o.session,
      status: this.#o.status,
      http: this.#clients.for(config.connectTimeoutMs),
      metrics: this.#o.metrics,
      logger: this.#o.logger.child({ webhook: name }),
      clock: this.#o.clock,
      tracing: this.#o.tracing,
      onDisabled: (message) => void this.#onDisabled(raw, message),
      ...workerEvents(this.#o.recorder, raw),
    });
    worker.start();
    this.#running.set(name, { worker, inputs });
    this.#o.logger.info(
      { webhook: name, queue: config.topology.queue, ordering: config.policy.ordering },
      'Delivering to Webhook',
    );
  }

  #resolve(raw: RawObject, target: ResolveTarget): Promise<Resolved> {
    const { secrets, allowHttpUrls } = this.#o;
    return resolveWebhook(raw, target, { policies: this.#policies, secrets, allowHttpUrls });
  }

  #inputsOf(raw: RawObject, sourceVersion: string): string {
    const { namespace } = this.#o;
    return inputsOf(raw, { namespace, policies: this.#policies }, sourceVersion, this.#secretsEpoch);
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
    this.#stop.abort();
    clearInterval(this.#refresh);
    await this.#syncing;
    await Promise.all(
      [...this.#running].map(([name, running]) => this.#stopWorker(name, running, 'shutting down')),
    );
    await Promise.all([this.#webhooks, this.#policies, this.#sources].map((i) => i.stop()));
    await this.#tests.stop();
    await this.#clients.close();
  }
}
