// The broker that holds a source's queues, and the exchange its events arrive on.
import type { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import { ingestExchangeName, type QueueType } from '../../core/rabbit/topology.ts';
import type { Settings } from '../settings.ts';
import type { Caches } from './context.ts';
import type { Lookup } from '../../core/lookup.ts';
import { secretEntry } from './secrets.ts';

export interface SourceBroker {
  uri: string;
  /** A name for the broker that holds no secret, recorded in status. */
  label: string;
  exchange: string;
  /** The exchange's type: a rabbitmq source's own, topic for the exchange Hookline declares. */
  exchangeType: string;
  queueType: QueueType;
}

export function sourceBroker(caches: Caches, settings: Settings, source: EventSource): Lookup<SourceBroker> {
  const namespace = source.metadata.namespace ?? 'default';
  const { rabbitmq, broker } = source.spec;
  const ref = rabbitmq?.connectionSecretRef ?? broker?.connectionSecretRef;
  const exchange = rabbitmq?.exchange ?? ingestExchangeName(namespace, source.metadata.name);
  const exchangeType = rabbitmq?.exchangeType ?? 'topic';
  const queueType = rabbitmq?.queueType ?? broker?.queueType ?? settings.defaultQueueType;
  if (ref) {
    const field = rabbitmq ? 'spec.rabbitmq.connectionSecretRef' : 'spec.broker.connectionSecretRef';
    const entry = secretEntry(caches, namespace, ref, `EventSource ${source.metadata.name} ${field}`);
    if (!entry.ok) return entry;
    return {
      ok: true,
      value: { uri: entry.value, label: `secret:${ref.name}/${ref.key}`, exchange, exchangeType, queueType },
    };
  }
  if (!settings.defaultBrokerUri) {
    return {
      ok: false,
      reason: 'BrokerNotConfigured',
      message: 'the source names no broker and the operator has no default broker',
    };
  }
  return {
    ok: true,
    value: { uri: settings.defaultBrokerUri, label: 'default', exchange, exchangeType, queueType },
  };
}
