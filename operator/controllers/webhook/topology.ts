// A Webhook's objects on its source's broker: put in place (the namespace's delay
// infrastructure, its queues, its bindings; what an older topology left is drained and
// deleted) and deleted with the Webhook.
import type { Webhook } from '../../../core/api/v1alpha1/webhook.ts';
import { HooklineError } from '../../../core/errors.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import { namespaceOf } from '../../../core/names.ts';
import {
  appliedRecord,
  planTopology,
  TOPOLOGY_VERSION,
  webhookObjects,
  type AppliedTopology,
  type QueueType,
  type WebhookTopology,
} from '../../../core/rabbit/topology.ts';
import type { ReconcileContext } from '../../runtime/controller.ts';
import type { SourceBroker } from '../broker.ts';
import type { OperatorContext } from '../context.ts';
import { hashOf } from '../names.ts';

export class WebhookTopologies {
  readonly #ctx: OperatorContext;
  /** Topology inputs last applied per Webhook uid, and when: a status-only change does not touch the broker. */
  readonly #applied = new Map<string, { hash: string; at: number }>();

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  async ensure(
    webhook: Webhook,
    topology: WebhookTopology,
    broker: SourceBroker,
    applied: AppliedTopology | undefined,
    rc: ReconcileContext,
  ): Promise<AppliedTopology> {
    const namespace = namespaceOf(webhook);
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
      last?.hash === hash &&
      now - last.at < this.#ctx.settings.resyncPeriod &&
      applied?.version === TOPOLOGY_VERSION
    )
      return record;

    const admin = await this.#ctx.brokers.admin(broker.uri);
    // Steps that do not depend on each other go out together: the admin spreads them over
    // its channels, and on a busy broker each round trip is tens of milliseconds.
    if (topology.phase === 'After') {
      const [, exchangeExists] = await Promise.all([
        (async () => {
          await this.#ctx.delays.ensure(admin, broker.label, namespace, topology.queueType);
          await Promise.all(topology.queues.map((queue) => admin.assertQueue(queue.name, queue.args)));
        })(),
        admin.exchangeExists(topology.sourceExchange),
      ]);
      if (!exchangeExists) {
        throw new HooklineError(
          'BrokerExchangeMissing',
          `the source's exchange "${topology.sourceExchange}" does not exist yet`,
        );
      }
    }
    const plan = planTopology(topology, applied, { namespace, webhook: webhook.metadata.name });
    await Promise.all([
      ...plan.bind.map(({ exchange, pattern, queue }) =>
        admin.bindQueue(queue ?? topology.queue, exchange, pattern),
      ),
      ...plan.unbind.map(({ exchange, pattern }) => admin.unbindQueue(topology.queue, exchange, pattern)),
    ]);
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

  /**
   * Deletes the Webhook's queues on the broker status recorded, and the namespace's delay
   * infrastructure with its last Webhook. Throws (BrokerUnknown) when that broker cannot be
   * resolved any more.
   */
  async delete(raw: RawObject, applied: AppliedTopology, rc: ReconcileContext): Promise<void> {
    const namespace = namespaceOf(raw);
    this.#applied.delete(raw.metadata.uid ?? raw.metadata.name);
    const uri = this.#ctx.brokerOf.ofLabel(namespace, applied.broker);
    if (uri === undefined)
      throw new HooklineError('BrokerUnknown', `the broker ${applied.broker} can no longer be resolved`);
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
  }
}
