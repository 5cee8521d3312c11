// Webhook controller: the Webhook's queues and bindings on its source's broker, its
// signing secret, the reenable and replay annotations, and a status that says what is
// wrong when something is. The decisions are in plan.ts; this file runs them in order.
import { Webhook, type WebhookStatus } from '../../../core/api/v1alpha1/webhook.ts';
import { validate } from '../../../core/api/validate.ts';
import { HooklineError, errorMessage, reportedCondition } from '../../../core/errors.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import { namespaceOf, signingSecretName } from '../../../core/names.ts';
import { resolvePolicy } from '../../../core/policy.ts';
import { webhookTopology } from '../../../core/rabbit/topology.ts';
import { awaitChange, type Action, type ReconcileContext } from '../../runtime/controller.ts';
import type { OperatorContext } from '../context.ts';
import { FinalizedController } from '../finalized.ts';
import { WEBHOOK_FINALIZER } from '../names.ts';
import { applyOwnedStatus } from '../status.ts';
import { handleAnnotations, type ActedReplays } from './annotations.ts';
import { desiredStatus, exchangeProblem, sourceProblem, type Ensured, type NotReady } from './plan.ts';
import { checkAuthSecrets, deleteGeneratedSecret, ensureSigningSecret } from './secrets.ts';
import { WebhookTopologies } from './topology.ts';

const PLURAL = 'webhooks';

export class WebhookController extends FinalizedController {
  readonly kind = 'Webhook';
  readonly #topologies: WebhookTopologies;
  readonly #replays: ActedReplays = new Map();

  constructor(ctx: OperatorContext) {
    super(ctx, PLURAL, WEBHOOK_FINALIZER);
    this.#topologies = new WebhookTopologies(ctx);
  }

  protected async apply(raw: RawObject, rc: ReconcileContext): Promise<Action> {
    const parsed = validate(Webhook, raw);
    if (!parsed.ok) {
      await this.#writeStatus(raw, { reason: 'InvalidSpec', message: parsed.message, retry: false }, {}, rc);
      return awaitChange();
    }
    let ensured: Ensured = {};
    let problem: NotReady | undefined;
    try {
      const result = await this.#ensure(parsed.value, raw, rc);
      if ('reason' in result) problem = result;
      else ensured = result;
    } catch (error) {
      if (!(error instanceof HooklineError && error.code.startsWith('Broker'))) throw error;
      problem = { reason: error.reason, message: error.message, retry: true };
    }
    await this.#writeStatus(raw, problem, ensured, rc);
    if (problem?.retry) throw reportedCondition(problem.reason, problem.message);
    return awaitChange();
  }

  async #ensure(webhook: Webhook, raw: RawObject, rc: ReconcileContext): Promise<Ensured | NotReady> {
    const { caches, settings } = this.ctx;
    const namespace = namespaceOf(webhook);
    const { spec } = webhook;
    const checked = sourceProblem(
      webhook,
      caches.sources.get(`${namespace}/${spec.sourceRef.name}`),
      settings,
    );
    if ('reason' in checked) return checked;
    const policy = resolvePolicy(caches.policies, namespace, spec.policyRef);
    if (!policy.ok) return { ...policy, retry: true };
    const signing = await ensureSigningSecret(this.ctx, webhook, raw);
    if (!signing.ok) return { ...signing, retry: true };
    const auth = checkAuthSecrets(this.ctx, webhook);
    if (!auth.ok) return { ...auth, retry: true };
    const broker = this.ctx.brokerOf.ofSource(checked.source);
    if (!broker.ok) return { ...broker, retry: true };
    const { exchangeType } = broker.value;
    const wrongExchange = exchangeProblem(spec.events, exchangeType);
    if (wrongExchange) return wrongExchange;
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
    const status = (raw.status ?? {}) as WebhookStatus;
    const applied = await this.#topologies.ensure(webhook, topology, broker.value, status.topology, rc);
    await handleAnnotations(this.ctx, raw, topology, broker.value, rc, this.#replays);
    const queue = topology.phase === 'After' ? topology.queue : undefined;
    return { topology: applied, ...(queue ? { queue } : {}), publicKey: signing.value };
  }

  async #writeStatus(
    raw: RawObject,
    problem: NotReady | undefined,
    ensured: Ensured,
    rc: ReconcileContext,
  ): Promise<void> {
    const owned = desiredStatus(raw, problem, ensured, this.ctx.now());
    const written = await applyOwnedStatus(this.ctx.client, raw, PLURAL, owned);
    if (written) rc.wrote(written);
  }

  protected async cleanup(raw: RawObject, rc: ReconcileContext): Promise<void> {
    const applied = (raw.status as WebhookStatus | undefined)?.topology;
    if (applied) {
      try {
        await this.#topologies.delete(raw, applied, rc);
      } catch (error) {
        const deletedAt = Date.parse(raw.metadata.deletionTimestamp ?? '');
        const waited = this.ctx.now().getTime() - deletedAt;
        if (!(waited >= this.ctx.settings.finalizerTimeout)) throw error;
        const message = `Gave up deleting the RabbitMQ queues of this Webhook after ${Math.round(waited / 1000)} s: ${errorMessage(error)}. Delete queues hookline.${namespaceOf(raw)}.${raw.metadata.name}* by hand.`;
        rc.logger.warn(message);
        await this.ctx.recorder.warning(raw, 'TopologyLeftBehind', message);
      }
    }
    await deleteGeneratedSecret(this.ctx, raw, signingSecretName(raw.metadata.name));
    if (raw.metadata.uid) this.#replays.delete(raw.metadata.uid);
  }
}
