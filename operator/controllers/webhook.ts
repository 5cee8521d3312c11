// Webhook controller: the Webhook's queues and bindings on its source's broker, its
// signing secret, the reenable and replay annotations, and a status that says what is
// wrong when something is.
import { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import { Webhook, type WebhookStatus } from '../../core/api/v1alpha1/webhook.ts';
import { validate } from '../../core/api/validate.ts';
import type { BrokerAdmin } from '../../core/rabbit/broker.ts';
import { REPLAY_RESETS } from '../../core/rabbit/headers.ts';
import {
  appliedRecord,
  planTopology,
  webhookObjects,
  webhookTopology,
  wildcardPatterns,
  type AppliedTopology,
  type QueueType,
  type WebhookTopology,
} from '../../core/rabbit/topology.ts';
import { removeCondition, setCondition } from '../runtime/conditions.ts';
import {
  awaitChange,
  defaultErrorPolicy,
  type Action,
  type Controller,
  type ErrorContext,
  type ReconcileContext,
} from '../runtime/controller.ts';
import { HooklineError, errorMessage, reportedCondition, transient } from '../../core/errors.ts';
import { setFinalizer } from '../runtime/finalizer.ts';
import { resourcePath } from '../../core/kube/client.ts';
import { sourceBroker, type SourceBroker } from './broker-of-source.ts';
import type { RawObject } from '../../core/kube/objects.ts';
import type { OperatorContext } from './context.ts';
import {
  hashOf,
  ownerReference,
  REENABLE_ANNOTATION,
  REPLAY_ANNOTATION,
  WEBHOOK_FINALIZER,
} from './names.ts';
import { signingSecretName } from '../../core/names.ts';
import { resolvePolicy } from '../../core/policy.ts';
import type { Lookup } from '../../core/lookup.ts';
import { secretEntry } from './secrets.ts';
import {
  defaultSecretKey,
  generateSecret,
  publicKeyOfKey,
  SigningKeyError,
  signingKeys,
} from '../../core/signing/keys.ts';
import { applyOwnedStatus, hookRef } from './status.ts';

const PLURAL = 'webhooks';

/** The Ready reason a broker failure is reported with. */
function brokerReason(code: string): string {
  switch (code) {
    case 'BrokerExchangeMissing':
      return 'ExchangeNotFound';
    case 'BrokerExchangeMismatch':
      return 'ExchangeMismatch';
    case 'BrokerRefused':
    case 'BrokerUnroutable':
      return 'BrokerRefused';
    default:
      return 'BrokerUnreachable';
  }
}

interface NotReady {
  reason: string;
  message: string;
  retry: boolean;
}

interface Ensured {
  topology?: AppliedTopology;
  queue?: string;
  publicKey?: string;
}

function handledTokens(annotations: Record<string, string>, status: WebhookStatus): Record<string, string> {
  const handled: Record<string, string> = {};
  const reenable = annotations[REENABLE_ANNOTATION] ?? status.handledAnnotations?.reenable;
  const replay = annotations[REPLAY_ANNOTATION] ?? status.handledAnnotations?.replay;
  if (reenable !== undefined) handled.reenable = reenable;
  if (replay !== undefined) handled.replay = replay;
  return handled;
}

export class WebhookController implements Controller<RawObject> {
  readonly kind = 'Webhook';
  readonly #ctx: OperatorContext;
  /** Topology inputs last applied per Webhook uid, and when: a status-only change does not touch the broker. */
  readonly #applied = new Map<string, { hash: string; at: number }>();
  /**
   * The broker URIs this operator last resolved, by namespace and label. `kubectl delete -f`
   * deletes a source's connection Secret before the Webhooks listed after it, and their
   * finalizers still need the broker to delete their queues.
   */
  readonly #brokersSeen = new Map<string, string>();

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  errorPolicy(_object: RawObject, error: unknown, ctx: ErrorContext): Action {
    return defaultErrorPolicy(error, ctx);
  }

  async reconcile(raw: RawObject, rc: ReconcileContext): Promise<Action> {
    const path = resourcePath(hookRef(raw, PLURAL));
    if (raw.metadata.deletionTimestamp) return this.#finalize(raw, path, rc);
    if (await setFinalizer(this.#ctx.client, path, raw, WEBHOOK_FINALIZER, true)) return awaitChange();

    const status = (raw.status ?? {}) as WebhookStatus;
    const parsed = validate(Webhook, raw);
    if (!parsed.ok) {
      await this.#writeStatus(raw, { reason: 'InvalidSpec', message: parsed.message, retry: false }, {});
      return awaitChange();
    }
    const webhook = parsed.value;
    let ensured: Ensured = {};
    let problem: NotReady | undefined;
    try {
      const result = await this.#ensure(webhook, raw, status, rc);
      if ('reason' in result) problem = result;
      else ensured = result;
    } catch (error) {
      if (!(error instanceof HooklineError && error.code.startsWith('Broker'))) throw error;
      problem = { reason: brokerReason(error.code), message: error.message, retry: true };
    }
    await this.#writeStatus(raw, problem, ensured);
    if (problem?.retry) throw reportedCondition(problem.reason, problem.message);
    return awaitChange();
  }

  async #ensure(
    webhook: Webhook,
    raw: RawObject,
    status: WebhookStatus,
    rc: ReconcileContext,
  ): Promise<Ensured | NotReady> {
    const { caches, settings } = this.#ctx;
    const namespace = webhook.metadata.namespace ?? 'default';
    const { spec } = webhook;

    if (spec.url.startsWith('http://') && !settings.allowHttpUrls) {
      return {
        reason: 'InvalidSpec',
        message:
          'spec.url: plain http:// URLs are not allowed by this installation (allowHttpUrls is off); use https://',
        retry: false,
      };
    }
    const rawSource = caches.sources.get(`${namespace}/${spec.sourceRef.name}`);
    if (!rawSource) {
      return {
        reason: 'SourceNotFound',
        message: `spec.sourceRef: EventSource ${namespace}/${spec.sourceRef.name} does not exist`,
        retry: true,
      };
    }
    const sourceParsed = validate(EventSource, rawSource);
    if (!sourceParsed.ok) {
      return {
        reason: 'SourceNotReady',
        message: `EventSource ${spec.sourceRef.name} is invalid: ${sourceParsed.message}`,
        retry: false,
      };
    }
    const source = sourceParsed.value;
    if (spec.phase === 'Before' && !source.spec.http) {
      return {
        reason: 'InvalidSpec',
        message: 'spec.phase: Before hooks need an http EventSource',
        retry: false,
      };
    }
    const policy = resolvePolicy(caches.policies, namespace, spec.policyRef);
    if (!policy.ok) return { ...policy, retry: true };

    const signing = await this.#ensureSigningSecret(webhook, raw);
    if (!signing.ok) return { ...signing, retry: true };
    const authProblem = this.#checkAuthSecrets(webhook);
    if (authProblem) return authProblem;

    const broker = sourceBroker(caches, settings, source);
    if (!broker.ok) return { ...broker, retry: true };
    this.#brokersSeen.set(`${namespace}/${broker.value.label}`, broker.value.uri);
    const { exchangeType } = broker.value;
    const wildcards = exchangeType === 'direct' ? wildcardPatterns(spec.events) : [];
    if (wildcards.length > 0) {
      return {
        reason: 'InvalidSpec',
        message: `spec.events: the source's exchange is of type direct, which routes exact keys only; ${wildcards.map((p) => `"${p}"`).join(', ')} cannot match`,
        retry: false,
      };
    }
    const topology = webhookTopology({
      namespace,
      webhook: webhook.metadata.name,
      phase: spec.phase,
      sourceExchange: broker.value.exchange,
      exchangeType,
      events: spec.events,
      ordering: policy.value.spec.ordering,
      queueType: broker.value.queueType,
    });
    const applied = await this.#ensureTopology(webhook, topology, broker.value, status.topology, rc);
    await this.#handleAnnotations(webhook, raw, status, topology, broker.value, rc);
    const queue = topology.phase === 'After' ? topology.queue : undefined;
    return { topology: applied, ...(queue ? { queue } : {}), publicKey: signing.value };
  }

  /** Checks the signing Secret, creating it when the operator generates it; answers the public key. */
  async #ensureSigningSecret(webhook: Webhook, raw: RawObject): Promise<Lookup<string | undefined>> {
    const { caches, client } = this.#ctx;
    const namespace = webhook.metadata.namespace ?? 'default';
    const { scheme, secretRef, keySize } = webhook.spec.signing;
    if (scheme === 'none') return { ok: true, value: undefined };
    if (secretRef) {
      const keys = secretRef.keys ?? [secretRef.key ?? defaultSecretKey(scheme)];
      const values: string[] = [];
      for (const key of keys) {
        const entry = secretEntry(caches, namespace, { name: secretRef.name, key }, 'spec.signing.secretRef');
        if (!entry.ok) return entry;
        values.push(entry.value);
      }
      return this.#publicKey(
        scheme,
        values,
        `spec.signing.secretRef: Secret ${namespace}/${secretRef.name}`,
        keys,
      );
    }
    const name = signingSecretName(webhook.metadata.name);
    const key = defaultSecretKey(scheme);
    const path = resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace, name });
    const existing =
      caches.secrets.get(`${namespace}/${name}`) ??
      (await client.find<{ data?: Record<string, string> }>(path));
    if (!existing) {
      await client.create(resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace }), {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace,
          labels: {
            'app.kubernetes.io/managed-by': 'hookline-operator',
            'hookline.dev/webhook': webhook.metadata.name.slice(0, 63),
          },
          ownerReferences: [ownerReference(raw)],
        },
        type: 'Opaque',
        stringData: { [key]: generateSecret(scheme, keySize) },
      });
      await this.#ctx.recorder.normal(
        raw,
        'GeneratedSecret',
        `Generated ${scheme} signing secret in Secret ${name}`,
      );
    } else if (existing.data?.[key] === undefined) {
      await client.mergePatch(path, { stringData: { [key]: generateSecret(scheme, keySize) } });
    }
    // The cache answers once the Secret is there; a Secret just written is read back once.
    const stored =
      existing?.data?.[key] ?? (await client.find<{ data?: Record<string, string> }>(path))?.data?.[key];
    if (stored === undefined)
      return {
        ok: false,
        reason: 'SecretNotFound',
        message: `Secret ${namespace}/${name} lost key "${key}"`,
      };
    return this.#publicKey(
      scheme,
      [Buffer.from(stored, 'base64').toString('utf8')],
      `spec.signing: generated Secret ${namespace}/${name}`,
      [key],
    );
  }

  /**
   * Reads the secrets with the dispatcher's own rules (signingKeys), so that a Webhook the
   * dispatcher cannot sign for is Ready=False, SecretInvalid; answers the public key.
   * `where` and `keys` name the Secret and its entries in the message; no value ever is.
   */
  #publicKey(
    scheme: Webhook['spec']['signing']['scheme'],
    values: readonly string[],
    where: string,
    keys: readonly string[],
  ): Lookup<string | undefined> {
    try {
      const [first] = signingKeys(scheme, values);
      return { ok: true, value: first && publicKeyOfKey(scheme, first) };
    } catch (error) {
      if (!(error instanceof SigningKeyError)) throw error;
      const named = error.index === undefined ? keys : [keys[error.index]];
      const entries = `${named.length === 1 ? 'key' : 'keys'} ${named.map((k) => `"${k}"`).join(', ')}`;
      return {
        ok: false,
        reason: 'SecretInvalid',
        message: `${where} ${entries} cannot sign ${scheme} requests: ${error.message}`,
      };
    }
  }

  #checkAuthSecrets(webhook: Webhook): NotReady | undefined {
    const { auth } = webhook.spec;
    if (!auth) return undefined;
    const namespace = webhook.metadata.namespace ?? 'default';
    const refs: [string, { name: string; key: string }][] = [];
    if (auth.jwt) refs.push(['spec.auth.jwt.secretRef', auth.jwt.secretRef]);
    if (auth.apiKey) refs.push(['spec.auth.apiKey.secretRef', auth.apiKey.secretRef]);
    if (auth.bearer) refs.push(['spec.auth.bearer.secretRef', auth.bearer.secretRef]);
    if (auth.basic) {
      const { name, usernameKey, passwordKey } = auth.basic.secretRef;
      refs.push(
        ['spec.auth.basic.secretRef', { name, key: usernameKey }],
        ['spec.auth.basic.secretRef', { name, key: passwordKey }],
      );
    }
    for (const [field, ref] of refs) {
      const entry = secretEntry(this.#ctx.caches, namespace, ref, field);
      if (!entry.ok) return { reason: entry.reason, message: entry.message, retry: true };
    }
    return undefined;
  }

  async #ensureTopology(
    webhook: Webhook,
    topology: WebhookTopology,
    broker: SourceBroker,
    applied: AppliedTopology | undefined,
    rc: ReconcileContext,
  ): Promise<AppliedTopology> {
    const namespace = webhook.metadata.namespace ?? 'default';
    // The queue type of queues that exist does not change; a new queue gets the broker's.
    const queueType: QueueType = applied
      ? (applied.queueType ?? (applied.version === undefined ? 'classic' : topology.queueType))
      : topology.queueType;
    const record = appliedRecord(topology, broker.label, queueType);
    const uid = webhook.metadata.uid ?? webhook.metadata.name;
    const hash = hashOf({ record, uri: hashOf(broker.uri) });
    const last = this.#applied.get(uid);
    const now = this.#ctx.now().getTime();
    if (
      last &&
      last.hash === hash &&
      now - last.at < this.#ctx.settings.resyncPeriod &&
      applied?.version === 2
    )
      return record;

    const admin = await this.#ctx.brokers.admin(broker.uri);
    if (topology.phase === 'After') {
      await this.#ctx.delays.ensure(admin, broker.label, namespace, topology.queueType);
      for (const queue of topology.queues) await admin.assertQueue(queue.name, queue.args);
      if (!(await admin.exchangeExists(topology.sourceExchange))) {
        throw new HooklineError(
          'BrokerExchangeMissing',
          `the source's exchange "${topology.sourceExchange}" does not exist yet`,
          { transient: true },
        );
      }
    }
    const plan = planTopology(topology, applied, { namespace, webhook: webhook.metadata.name });
    for (const { exchange, pattern } of plan.bind) await admin.bindQueue(topology.queue, exchange, pattern);
    for (const { exchange, pattern } of plan.unbind)
      await admin.unbindQueue(topology.queue, exchange, pattern);
    for (const { from, to } of plan.drain) {
      // What waited in a queue this topology no longer has goes on, not away.
      const moved = await admin.moveMessages(from, to);
      if (moved > 0) rc.logger.info({ from, to, moved }, 'Moved waiting events');
    }
    for (const queue of plan.deleteQueues) await admin.deleteQueue(queue);
    for (const exchange of plan.deleteExchanges) await admin.deleteExchange(exchange);
    this.#applied.set(uid, { hash, at: now });
    rc.logger.debug({ queue: topology.queue, bindings: topology.bindings }, 'Applied topology');
    return record;
  }

  async #handleAnnotations(
    webhook: Webhook,
    raw: RawObject,
    status: WebhookStatus,
    topology: WebhookTopology,
    broker: SourceBroker,
    rc: ReconcileContext,
  ): Promise<void> {
    const annotations = webhook.metadata.annotations ?? {};
    const handled = status.handledAnnotations ?? {};
    const reenable = annotations[REENABLE_ANNOTATION];
    const specChanged =
      raw.metadata.generation !== undefined &&
      status.observedGeneration !== undefined &&
      raw.metadata.generation !== status.observedGeneration;
    const reenableRequested = reenable !== undefined && reenable !== handled.reenable;
    if (status.disabled && (reenableRequested || specChanged)) {
      await this.#ctx.client.mergePatch(resourcePath({ ...hookRef(raw, PLURAL), subresource: 'status' }), {
        status: { disabled: false, disabledReason: null, disabledAt: null, consecutiveFailures: 0 },
      });
      const why = reenableRequested ? `annotation ${REENABLE_ANNOTATION}=${reenable}` : 'a spec change';
      rc.logger.info({ why }, 'Re-enabled Webhook');
      await this.#ctx.recorder.normal(raw, 'Reenabled', `Re-enabled Webhook after ${why}`);
    }
    const replay = annotations[REPLAY_ANNOTATION];
    if (replay !== undefined && replay !== handled.replay) {
      const admin: BrokerAdmin = await this.#ctx.brokers.admin(broker.uri);
      // A replayed event keeps its id and gets its full retries again.
      const moved = await admin.moveMessages(topology.deadLetterQueue, topology.queue, {
        resetHeaders: REPLAY_RESETS,
      });
      rc.logger.info({ moved }, 'Replayed dead-lettered events');
      await this.#ctx.recorder.normal(
        raw,
        'Replayed',
        `Moved ${moved} dead-lettered events back to queue ${topology.queue}`,
      );
    }
  }

  async #writeStatus(raw: RawObject, problem: NotReady | undefined, ensured: Ensured): Promise<void> {
    const status = (raw.status ?? {}) as WebhookStatus;
    const annotations = raw.metadata.annotations ?? {};
    const generation = raw.metadata.generation;
    const now = this.#ctx.now();
    const specChanged =
      generation !== undefined &&
      status.observedGeneration !== undefined &&
      generation !== status.observedGeneration;
    const reenabled =
      annotations[REENABLE_ANNOTATION] !== undefined &&
      annotations[REENABLE_ANNOTATION] !== status.handledAnnotations?.reenable;
    // A reenable token or a spec change clears a disabled state once the reconcile got through.
    const cleared = !problem && (reenabled || specChanged);
    const disabled = status.disabled === true && !cleared;
    let conditions = setCondition(
      status.conditions,
      problem
        ? { type: 'Ready', status: 'False', reason: problem.reason, message: problem.message }
        : disabled
          ? {
              type: 'Ready',
              status: 'False',
              reason: 'RetriesExhausted',
              message: status.disabledReason ?? 'Disabled after its retries ran out',
            }
          : {
              type: 'Ready',
              status: 'True',
              reason: 'Ready',
              message: 'The queue and its bindings are in place',
            },
      generation,
      now,
    );
    conditions = disabled
      ? setCondition(
          conditions,
          {
            type: 'Stalled',
            status: 'True',
            reason: 'RetriesExhausted',
            message: status.disabledReason ?? 'Disabled after its retries ran out',
          },
          generation,
          now,
        )
      : removeCondition(conditions, 'Stalled');
    const owned: Record<string, unknown> = {
      observedGeneration: generation,
      conditions,
      handledAnnotations: problem ? (status.handledAnnotations ?? {}) : handledTokens(annotations, status),
    };
    const queue = ensured.topology ? ensured.queue : status.queue;
    if (queue) owned.queue = queue;
    const topology = ensured.topology ?? status.topology;
    if (topology) owned.topology = topology;
    const publicKey = ensured.publicKey ?? (problem ? status.signing?.publicKey : undefined);
    if (publicKey) owned.signing = { publicKey };
    await applyOwnedStatus(this.#ctx.client, raw, PLURAL, owned);
  }

  async #finalize(raw: RawObject, path: string, rc: ReconcileContext): Promise<Action> {
    const status = (raw.status ?? {}) as WebhookStatus;
    const namespace = raw.metadata.namespace ?? 'default';
    const applied = status.topology;
    if (applied) {
      try {
        const uri = this.#brokerUriOf(namespace, applied.broker);
        if (uri === undefined)
          throw transient('BrokerUnknown', `the broker ${applied.broker} can no longer be resolved`);
        const admin = await this.#ctx.brokers.admin(uri);
        const objects = webhookObjects(namespace, raw.metadata.name, applied);
        for (const queue of objects.queues) await admin.deleteQueue(queue);
        for (const exchange of objects.exchanges) await admin.deleteExchange(exchange);
        const others = this.#ctx.caches.webhooks
          .list()
          .filter(
            (w) =>
              w.metadata.namespace === namespace &&
              w.metadata.uid !== raw.metadata.uid &&
              !w.metadata.deletionTimestamp,
          );
        if (others.length === 0) {
          // The namespace's last Webhook: its delay infrastructure goes too.
          await this.#ctx.delays.remove(admin, applied.broker, namespace);
          rc.logger.info('Deleted the delay infrastructure of the namespace');
        }
        rc.logger.info({ queue: objects.queues[0] }, 'Deleted topology');
      } catch (error) {
        const deletedAt = Date.parse(raw.metadata.deletionTimestamp ?? '');
        const waited = this.#ctx.now().getTime() - deletedAt;
        if (!(waited >= this.#ctx.settings.finalizerTimeout)) throw error;
        const message = `Gave up deleting the RabbitMQ queues of this Webhook after ${Math.round(waited / 1000)} s: ${errorMessage(error)}. Delete queues hookline.${namespace}.${raw.metadata.name}* by hand.`;
        rc.logger.warn(message);
        await this.#ctx.recorder.warning(raw, 'TopologyLeftBehind', message);
      }
    }
    const generated = resourcePath({
      group: '',
      version: 'v1',
      plural: 'secrets',
      namespace,
      name: signingSecretName(raw.metadata.name),
    });
    const secret = await this.#ctx.client.find<{ metadata: { ownerReferences?: { uid: string }[] } }>(
      generated,
    );
    if (secret?.metadata.ownerReferences?.some((o) => o.uid === raw.metadata.uid))
      await this.#ctx.client.delete(generated);
    this.#applied.delete(raw.metadata.uid ?? raw.metadata.name);
    await setFinalizer(this.#ctx.client, path, raw, WEBHOOK_FINALIZER, false);
    return awaitChange();
  }

  #brokerUriOf(namespace: string, label: string): string | undefined {
    if (label === 'default') return this.#ctx.settings.defaultBrokerUri;
    const match = /^secret:([^/]+)\/(.+)$/.exec(label);
    if (!match) return undefined;
    const entry = secretEntry(this.#ctx.caches, namespace, { name: match[1]!, key: match[2]! }, 'broker');
    return entry.ok ? entry.value : this.#brokersSeen.get(`${namespace}/${label}`);
  }
}
