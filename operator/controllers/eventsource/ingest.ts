// The exchange a source's events arrive on: a rabbitmq source's own (checked, declared
// only when it asks), or the ingest exchange and dead-letter queue Hookline declares for
// kafka and http sources and deletes with them (the dead-letter queue is reached through
// a fanout exchange of its own name, never through the default exchange; it is of the
// source's queue type, so that on a cluster it outlives the loss of a node).
import type { EventSource } from '../../../core/api/v1alpha1/eventsource.ts';
import type { BrokerAdmin } from '../../../core/rabbit/broker.ts';
import {
  ingestDeadLetterExchangeName,
  ingestDeadLetterQueueName,
  ingestExchangeName,
  queueArguments,
  type QueueType,
} from '../../../core/rabbit/topology.ts';
import type { NotReady } from './plan.ts';

export async function ensureIngest(
  admin: BrokerAdmin,
  source: EventSource,
  namespace: string,
  queueType: QueueType,
): Promise<NotReady | undefined> {
  const { rabbitmq } = source.spec;
  if (!rabbitmq) {
    const name = source.metadata.name;
    const deadLetterQueue = ingestDeadLetterQueueName(namespace, name);
    const deadLetterExchange = ingestDeadLetterExchangeName(namespace, name);
    await Promise.all([
      admin.assertExchange(ingestExchangeName(namespace, name), 'topic'),
      admin.assertQueue(deadLetterQueue, queueArguments(queueType)),
      admin.assertExchange(deadLetterExchange, 'fanout'),
    ]);
    await admin.bindQueue(deadLetterQueue, deadLetterExchange, '');
    return undefined;
  }
  const { exchange, exchangeType, declare } = rabbitmq;
  const exists = await admin.exchangeExists(exchange);
  if (exists && (await admin.exchangeTypeIs(exchange, exchangeType)) === 'mismatch') {
    return {
      reason: 'ExchangeMismatch',
      message: `spec.rabbitmq.exchangeType: exchange "${exchange}" exists on the broker with another type than ${exchangeType}`,
      retry: true,
    };
  }
  if (!exists && declare) await admin.assertExchange(exchange, exchangeType);
  else if (!exists) {
    return {
      reason: 'ExchangeNotFound',
      message: `spec.rabbitmq.exchange: exchange "${exchange}" does not exist on the broker (set declare: true to have Hookline declare it)`,
      retry: true,
    };
  }
  return undefined;
}

/** Only the ingest exchange is Hookline's own; a RabbitMQ source's exchange is never deleted. */
export async function deleteIngest(admin: BrokerAdmin, namespace: string, source: string): Promise<void> {
  await admin.deleteExchange(ingestExchangeName(namespace, source));
  await admin.deleteExchange(ingestDeadLetterExchangeName(namespace, source));
  await admin.deleteQueue(ingestDeadLetterQueueName(namespace, source));
}
