// The RabbitMQ topology of a Webhook, derived from its name, its source and its policy.
// Pure: names and plans only; broker.ts carries them out.
//
//   source exchange --(one binding per events pattern)--> P          the Webhook's queue
//   P.retry.<n>  (n = 1..retries) failed deliveries wait out their delay here (per-message
//                TTL), then dead-letter through the exchange P.return
//   P.return     fanout exchange, bound to P (Unordered) or to P.head (Strict, so that a
//                retried event comes back ahead of the events that waited behind it)
//   P.head       the event being retried under Strict ordering
//   P.dlq        dead letters, with their reason
// where P = hookline.<namespace>.<webhook>.

export interface WebhookTopology {
  queue: string;
  headQueue: string;
  returnExchange: string;
  deadLetterQueue: string;
  retryQueues: string[];
  sourceExchange: string;
  bindings: string[];
  /** Where P.return leads: the main queue, or the head queue under Strict ordering. */
  returnTo: string;
}

export function queuePrefix(namespace: string, webhook: string): string {
  return `hookline.${namespace}.${webhook}`;
}

export function retryQueueName(namespace: string, webhook: string, level: number): string {
  return `${queuePrefix(namespace, webhook)}.retry.${level}`;
}

/** The exchange Hookline declares for a kafka or http source, on its broker. */
export function ingestExchangeName(namespace: string, source: string): string {
  return `hookline.${namespace}.${source}`;
}

/**
 * Where a kafka or http source's ingest puts the records it cannot turn into events (not
 * JSON, too large, no event type), with their reason. A prefix of its own, so that no
 * Webhook's queue name can collide with it.
 */
export function ingestDeadLetterQueueName(namespace: string, source: string): string {
  return `hookline-ingest.${namespace}.${source}.dlq`;
}

export function webhookTopology(input: {
  namespace: string;
  webhook: string;
  sourceExchange: string;
  events: readonly string[];
  retries: number;
  ordering: 'Unordered' | 'Strict';
}): WebhookTopology {
  const prefix = queuePrefix(input.namespace, input.webhook);
  const levels = Math.max(1, input.retries);
  return {
    queue: prefix,
    headQueue: `${prefix}.head`,
    returnExchange: `${prefix}.return`,
    deadLetterQueue: `${prefix}.dlq`,
    retryQueues: Array.from({ length: levels }, (_, i) =>
      retryQueueName(input.namespace, input.webhook, i + 1),
    ),
    sourceExchange: input.sourceExchange,
    bindings: [...new Set(input.events)].sort(),
    returnTo: input.ordering === 'Strict' ? `${prefix}.head` : prefix,
  };
}

/** What the broker last got, as recorded in the Webhook's status. */
export interface AppliedTopology {
  exchange: string;
  bindings: string[];
  retryQueues: number;
  returnTo?: string;
}

export interface BindingPlan {
  bind: { exchange: string; pattern: string }[];
  unbind: { exchange: string; pattern: string }[];
  /** Retry queues beyond the policy's retries, to delete. */
  deleteRetryQueues: string[];
  unbindReturn: string[];
}

export function planTopology(
  desired: WebhookTopology,
  applied: AppliedTopology | undefined,
  names: { namespace: string; webhook: string },
): BindingPlan {
  const bind = desired.bindings.map((pattern) => ({ exchange: desired.sourceExchange, pattern }));
  const unbind = (applied?.bindings ?? [])
    .filter((pattern) => applied?.exchange !== desired.sourceExchange || !desired.bindings.includes(pattern))
    .map((pattern) => ({ exchange: applied!.exchange, pattern }));
  const deleteRetryQueues: string[] = [];
  for (let level = desired.retryQueues.length + 1; level <= (applied?.retryQueues ?? 0); level++) {
    deleteRetryQueues.push(retryQueueName(names.namespace, names.webhook, level));
  }
  const unbindReturn = applied?.returnTo && applied.returnTo !== desired.returnTo ? [applied.returnTo] : [];
  return { bind, unbind, deleteRetryQueues, unbindReturn };
}
