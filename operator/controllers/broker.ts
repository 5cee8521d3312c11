// The one resolver of a source's broker: where its queues live, the Secret entry the
// dispatcher reads the broker's URI from, and the label status records instead of the URI.
import type { EventSource } from '../../core/api/v1alpha1/eventsource.ts';
import type { Lookup } from '../../core/lookup.ts';
import { ingestExchangeName, type QueueType } from '../../core/rabbit/topology.ts';
import type { Settings } from '../settings.ts';
import type { Caches } from './context.ts';
import { brokerSecretName } from './names.ts';
import { secretEntry } from './secrets.ts';
import { namespaceOf } from '../../core/names.ts';

/** Where a broker's URI is: a Secret entry the source names, or the operator's default broker. */
export type BrokerRef = { kind: 'default' } | { kind: 'secret'; name: string; key: string };

/** The label status records for a broker; it holds no secret. */
export function brokerLabel(ref: BrokerRef): string {
  return ref.kind === 'default' ? 'default' : `secret:${ref.name}/${ref.key}`;
}

/** The reference a label stands for; undefined for a label no version of Hookline wrote. */
export function parseBrokerLabel(label: string): BrokerRef | undefined {
  if (label === 'default') return { kind: 'default' };
  const slash = label.indexOf('/');
  if (!label.startsWith('secret:') || slash <= 'secret:'.length || slash === label.length - 1)
    return undefined;
  return { kind: 'secret', name: label.slice('secret:'.length, slash), key: label.slice(slash + 1) };
}

export interface SourceBroker {
  uri: string;
  ref: BrokerRef;
  /** `brokerLabel(ref)`. */
  label: string;
  /** The Secret entry the dispatcher reads the URI from (for the default broker, one the operator writes). */
  dispatcherSecret: { name: string; key: string };
  exchange: string;
  /** The exchange's type: a rabbitmq source's own, topic for the exchange Hookline declares. */
  exchangeType: string;
  queueType: QueueType;
}

export class BrokerResolver {
  readonly #caches: Caches;
  readonly #settings: Settings;
  /**
   * The URIs last resolved, by namespace and label. `kubectl delete -f` deletes a source's
   * connection Secret before the Webhooks listed after it, and their finalizers still need
   * the broker to delete their queues.
   */
  readonly #seen = new Map<string, string>();

  constructor(caches: Caches, settings: Settings) {
    this.#caches = caches;
    this.#settings = settings;
  }

  /** The broker of a valid source. */
  ofSource(source: EventSource): Lookup<SourceBroker> {
    const namespace = namespaceOf(source);
    const { rabbitmq, broker } = source.spec;
    const secret = rabbitmq?.connectionSecretRef ?? broker?.connectionSecretRef;
    const ref: BrokerRef = secret ? { kind: 'secret', ...secret } : { kind: 'default' };
    const field = rabbitmq ? 'spec.rabbitmq.connectionSecretRef' : 'spec.broker.connectionSecretRef';
    const uri = this.#uri(namespace, ref, `EventSource ${source.metadata.name} ${field}`);
    if (!uri.ok) return uri;
    const label = brokerLabel(ref);
    this.#seen.set(`${namespace}/${label}`, uri.value);
    return {
      ok: true,
      value: {
        uri: uri.value,
        ref,
        label,
        dispatcherSecret: secret ?? { name: brokerSecretName(source.metadata.name), key: 'uri' },
        exchange: rabbitmq?.exchange ?? ingestExchangeName(namespace, source.metadata.name),
        exchangeType: rabbitmq?.exchangeType ?? 'topic',
        queueType: rabbitmq?.queueType ?? broker?.queueType ?? this.#settings.defaultQueueType,
      },
    };
  }

  /** The URI of a broker status recorded by label, or the last one seen for it. */
  ofLabel(namespace: string, label: string): string | undefined {
    const ref = parseBrokerLabel(label);
    if (!ref) return undefined;
    const uri = this.#uri(namespace, ref, 'broker');
    return uri.ok ? uri.value : this.#seen.get(`${namespace}/${label}`);
  }

  /** The URI of a broker reference read from a spec that may not be valid (a source being deleted). */
  ofRef(namespace: string, ref: BrokerRef, field: string): Lookup<string> {
    return this.#uri(namespace, ref, field);
  }

  #uri(namespace: string, ref: BrokerRef, field: string): Lookup<string> {
    if (ref.kind === 'secret') return secretEntry(this.#caches, namespace, ref, field);
    if (this.#settings.defaultBrokerUri) return { ok: true, value: this.#settings.defaultBrokerUri };
    return {
      ok: false,
      reason: 'BrokerNotConfigured',
      message: 'spec.broker is not set and the operator has no default broker (--default-broker-uri)',
    };
  }
}
