// Declares and removes a namespace's delay infrastructure and its direct exchange (see
// topology.ts) on a broker.
// The operator declares it, never a dispatcher; a dispatcher only publishes into it.
import type { BrokerAdmin } from '../../core/rabbit/broker.ts';
import {
  delayTopology,
  queueArguments,
  UNROUTED_TTL_MS,
  type QueueType,
} from '../../core/rabbit/topology.ts';

export async function declareDelayInfrastructure(
  admin: BrokerAdmin,
  namespace: string,
  queueType: QueueType,
): Promise<void> {
  const delay = delayTopology(namespace, queueType);
  await admin.assertExchange(delay.directExchange, 'direct');
  // From the end of the chain to its entry, so that every hop exists before it is reached.
  await admin.assertExchange(delay.unroutedExchange, 'fanout');
  await admin.assertQueue(delay.unroutedQueue, {
    ...queueArguments(queueType),
    'x-message-ttl': UNROUTED_TTL_MS,
  });
  await admin.bindQueue(delay.unroutedQueue, delay.unroutedExchange, '');
  await admin.assertExchange(delay.deliverExchange, 'topic', {
    'alternate-exchange': delay.unroutedExchange,
  });
  for (const level of [...delay.levels].reverse()) {
    await admin.assertExchange(level.exchange, 'topic');
    await admin.assertQueue(level.queue, {
      ...queueArguments(queueType),
      'x-message-ttl': level.ttlMs,
      'x-dead-letter-exchange': level.next,
      ...(queueType === 'quorum'
        ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
        : {}),
    });
    await admin.bindQueue(level.queue, level.exchange, level.holdPattern);
    await admin.bindExchange(level.next, level.exchange, level.passPattern);
  }
}

export async function deleteDelayInfrastructure(admin: BrokerAdmin, namespace: string): Promise<void> {
  const delay = delayTopology(namespace, 'classic');
  for (const level of delay.levels) {
    await admin.deleteExchange(level.exchange);
    await admin.deleteQueue(level.queue);
  }
  await admin.deleteExchange(delay.deliverExchange);
  await admin.deleteExchange(delay.unroutedExchange);
  await admin.deleteQueue(delay.unroutedQueue);
  await admin.deleteExchange(delay.directExchange);
}

/**
 * Remembers which namespaces' delay infrastructure is in place on which broker, so that a
 * reconcile declares it once per resync period rather than once per Webhook, and which it
 * removed, so that the cleanups of a namespace's Webhooks deleted all at once (each of them
 * finds no other Webhook left) remove it once rather than each of them 60 broker operations.
 */
export class DelayInfrastructure {
  readonly #declared = new Map<string, number>();
  readonly #removed = new Set<string>();
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(options: { maxAgeMs: number; now?: () => number }) {
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now ?? Date.now;
  }

  async ensure(
    admin: BrokerAdmin,
    brokerKey: string,
    namespace: string,
    queueType: QueueType,
  ): Promise<void> {
    const key = `${brokerKey}\n${namespace}`;
    const at = this.#declared.get(key);
    if (at !== undefined && this.#now() - at < this.#maxAgeMs) return;
    this.#removed.delete(key);
    await declareDelayInfrastructure(admin, namespace, queueType);
    this.#declared.set(key, this.#now());
  }

  async remove(admin: BrokerAdmin, brokerKey: string, namespace: string): Promise<void> {
    const key = `${brokerKey}\n${namespace}`;
    if (this.#removed.has(key)) return;
    this.#declared.delete(key);
    await deleteDelayInfrastructure(admin, namespace);
    this.#removed.add(key);
  }
}
