// The RabbitMQ topology of Hookline's Webhooks, derived from names, sources and orderings.
// Pure: names and plans only; broker.ts and delay.ts carry them out.
//
// Per Webhook (P = hookline.<namespace>.<webhook>), at most three queues:
//   source exchange --(one binding per events pattern)--> P     the Webhook's queue
//   P.dlq   dead letters, with their reason
//   P.head  Strict ordering only: the event being retried, ahead of those waiting in P
// P.dlq and P.head are bound by their own names on the namespace's direct exchange
// (hookline.<namespace>.~direct), which is how a dispatcher reaches them: never through
// the default exchange, where a write right would reach every queue of the vhost.
// Before hooks are called synchronously and get no queue at all.
//
// Per namespace, whatever its number of Webhooks, one delay infrastructure (D =
// hookline.<namespace>.~delay): DELAY_LEVELS topic exchanges D.<n> and queues D.<n>, where
// queue D.<n> holds a message for 2^n ms (a queue-level TTL: every queue is FIFO in expiry
// order, so no delay waits behind a longer one) and then dead-letters it to exchange
// D.<n-1>; D.0 dead-letters to D.deliver. The routing key carries the delay in binary,
// one word per level from the highest, then the destination: exchange D.<n> routes a key
// whose word for n is 1 to its queue, 0 straight on to D.<n-1>. D.deliver binds each
// Webhook's queue by its destination; what it cannot route goes to D.unrouted (its
// alternate exchange) and waits there rather than vanish.
import crypto from 'node:crypto';

export type QueueType = 'quorum' | 'classic';
export type Ordering = 'Unordered' | 'Strict';

/** Levels of the delay infrastructure: delays of 1 ms up to 2^28 − 1 ms (about 74.5 h). */
export const DELAY_LEVELS = 28;
export const MAX_DELAY_MS = 2 ** DELAY_LEVELS - 1;
/** How often RabbitMQ may redeliver a message of a quorum queue before it is dead-lettered. */
export const DELIVERY_LIMIT = 50;
/** How long an event whose Webhook vanished while it waited stays in the unrouted queue. */
export const UNROUTED_TTL_MS = 14 * 24 * 3600 * 1000;

export function queuePrefix(namespace: string, webhook: string): string {
  return `hookline.${namespace}.${webhook}`;
}

/**
 * The lock of a Strict Webhook: an exclusive queue (no messages, gone with the connection that
 * declared it) that one dispatcher replica at a time holds while it delivers the Webhook.
 * Apart from the `hookline.` names so that a dispatcher's right to declare and delete it
 * reaches nothing else.
 */
export function strictLockName(namespace: string, webhook: string): string {
  return `hookline-lock.${namespace}.${webhook}`;
}

/** The first version's per-level retry queues, found and drained on upgrade. */
export function legacyRetryQueueName(namespace: string, webhook: string, level: number): string {
  return `${queuePrefix(namespace, webhook)}.retry.${level}`;
}

export function legacyReturnExchangeName(namespace: string, webhook: string): string {
  return `${queuePrefix(namespace, webhook)}.return`;
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

/**
 * The exchange an input that is not an event is published to: a fanout exchange of the
 * dead-letter queue's own name, bound to it alone.
 */
export function ingestDeadLetterExchangeName(namespace: string, source: string): string {
  return ingestDeadLetterQueueName(namespace, source);
}

/**
 * The namespace's direct exchange: each Webhook's dead-letter and head queue is bound on it
 * by its own name. A dispatcher publishes there, not to the default exchange, so that its
 * broker user needs write rights on its own namespace's exchanges only.
 */
export function directExchangeName(namespace: string): string {
  return `hookline.${namespace}.~direct`;
}

/** `~` cannot appear in a Kubernetes name: no Webhook or source name collides with these. */
export function delayName(namespace: string, part: number | 'deliver' | 'unrouted'): string {
  return `hookline.${namespace}.~delay.${part}`;
}

/** Exchange a delayed message is published to: the highest level. */
export function delayEntryExchange(namespace: string): string {
  return delayName(namespace, DELAY_LEVELS - 1);
}

/** The routing-key suffix naming a Webhook in the delay infrastructure (keys stay under 255 bytes). */
export function delayDestination(webhook: string): string {
  if (webhook.length <= 160) return webhook;
  const digest = crypto.createHash('sha256').update(webhook).digest('hex').slice(0, 32);
  return `${webhook.slice(0, 120)}~${digest}`;
}

/** The routing key that holds a message for `delayMs` (clamped to MAX_DELAY_MS), then delivers it. */
export function delayRoutingKey(delayMs: number, destination: string): string {
  const ms = Math.min(MAX_DELAY_MS, Math.max(0, Math.round(delayMs)));
  const words: string[] = [];
  for (let level = DELAY_LEVELS - 1; level >= 0; level--)
    words.push(Math.floor(ms / 2 ** level) % 2 ? '1' : '0');
  return `${words.join('.')}.${destination}`;
}

/** The delay a routing key of delayRoutingKey still carries, and its destination. */
export function parseDelayRoutingKey(key: string): { delayMs: number; destination: string } | undefined {
  const words = key.split('.');
  if (words.length <= DELAY_LEVELS) return undefined;
  let delayMs = 0;
  for (let i = 0; i < DELAY_LEVELS; i++) {
    const word = words[i];
    if (word !== '0' && word !== '1') return undefined;
    delayMs = delayMs * 2 + Number(word);
  }
  return { delayMs, destination: words.slice(DELAY_LEVELS).join('.') };
}

const anyWords = (count: number) => Array.from({ length: count }, () => '*');

export interface DelayLevel {
  exchange: string;
  queue: string;
  ttlMs: number;
  /** Where the queue's expired messages go, and where keys with a 0 at this level go. */
  next: string;
  /** Binding of the level's own queue (word 1) and of the next exchange (word 0). */
  holdPattern: string;
  passPattern: string;
}

export interface DelayTopology {
  queueType: QueueType;
  levels: DelayLevel[];
  deliverExchange: string;
  unroutedExchange: string;
  unroutedQueue: string;
  directExchange: string;
}

export function delayTopology(namespace: string, queueType: QueueType): DelayTopology {
  const deliverExchange = delayName(namespace, 'deliver');
  const levels: DelayLevel[] = [];
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) {
    const above = anyWords(DELAY_LEVELS - 1 - level);
    levels.push({
      exchange: delayName(namespace, level),
      queue: delayName(namespace, level),
      ttlMs: 2 ** level,
      next: level === 0 ? deliverExchange : delayName(namespace, level - 1),
      holdPattern: [...above, '1', '#'].join('.'),
      passPattern: [...above, '0', '#'].join('.'),
    });
  }
  return {
    queueType,
    levels,
    deliverExchange,
    unroutedExchange: delayName(namespace, 'unrouted'),
    unroutedQueue: delayName(namespace, 'unrouted'),
    directExchange: directExchangeName(namespace),
  };
}

/** The binding on D.deliver that leads a Webhook's delayed messages back to its queue. */
export function deliverPattern(webhook: string): string {
  return [...anyWords(DELAY_LEVELS), delayDestination(webhook)].join('.');
}

/** Queue arguments: quorum queues dead-letter at least once to the Webhook's DLQ. */
export function queueArguments(queueType: QueueType, deadLetterQueue?: string): Record<string, unknown> {
  if (queueType === 'classic') return {};
  const args: Record<string, unknown> = { 'x-queue-type': 'quorum' };
  if (deadLetterQueue) {
    Object.assign(args, {
      'x-delivery-limit': DELIVERY_LIMIT,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': deadLetterQueue,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
  }
  return args;
}

/** What a dispatcher needs to know of a Webhook's topology: names only. */
export interface WebhookQueues {
  queue: string;
  deadLetterQueue: string;
  headQueue: string;
  /** Strict ordering: the exclusive queue whose holder delivers the Webhook (see strictLockName). */
  lockQueue: string;
  /** Where a delayed retry is published, with which destination in its routing key. */
  delayExchange: string;
  delayDestination: string;
  /** Where the dead-letter and head queues are published to, each under its own name. */
  directExchange: string;
}

export function webhookQueues(namespace: string, webhook: string): WebhookQueues {
  const prefix = queuePrefix(namespace, webhook);
  return {
    queue: prefix,
    deadLetterQueue: `${prefix}.dlq`,
    headQueue: `${prefix}.head`,
    lockQueue: strictLockName(namespace, webhook),
    delayExchange: delayEntryExchange(namespace),
    delayDestination: delayDestination(webhook),
    directExchange: directExchangeName(namespace),
  };
}

export interface DesiredQueue {
  name: string;
  args: Record<string, unknown>;
}

export interface WebhookTopology extends WebhookQueues {
  phase: 'After' | 'Before';
  ordering: Ordering;
  queueType: QueueType;
  sourceExchange: string;
  /** Patterns bound on the source exchange (empty for a fanout exchange: one binding ''). */
  bindings: string[];
  /** Queues to declare, in order (none for a Before hook). */
  queues: DesiredQueue[];
  deliverExchange: string;
  deliverPattern: string;
}

export function webhookTopology(input: {
  namespace: string;
  webhook: string;
  phase: 'After' | 'Before';
  sourceExchange: string;
  exchangeType: string;
  events: readonly string[];
  ordering: Ordering;
  queueType: QueueType;
}): WebhookTopology {
  const names = webhookQueues(input.namespace, input.webhook);
  const after = input.phase === 'After';
  const queues: DesiredQueue[] = after
    ? [
        { name: names.queue, args: queueArguments(input.queueType, names.deadLetterQueue) },
        { name: names.deadLetterQueue, args: queueArguments(input.queueType) },
        ...(input.ordering === 'Strict'
          ? [{ name: names.headQueue, args: queueArguments(input.queueType) }]
          : []),
      ]
    : [];
  const bindings = !after ? [] : input.exchangeType === 'fanout' ? [''] : [...new Set(input.events)].sort();
  return {
    ...names,
    phase: input.phase,
    ordering: input.ordering,
    queueType: input.queueType,
    sourceExchange: input.sourceExchange,
    bindings,
    queues,
    deliverExchange: delayName(input.namespace, 'deliver'),
    deliverPattern: deliverPattern(input.webhook),
  };
}

/** Patterns a direct exchange cannot route: those with `*` or `#` words. */
export function wildcardPatterns(events: readonly string[]): string[] {
  return events.filter((pattern) => pattern.split('.').some((word) => word === '*' || word === '#'));
}

/**
 * The version of this topology, recorded in the Webhook's status: 3 binds the dead-letter
 * and head queues on the namespace's direct exchange, which 2 did not.
 */
export const TOPOLOGY_VERSION = 3;

/** What the broker last got, as recorded in the Webhook's status. */
export interface AppliedTopology {
  broker: string;
  exchange: string;
  bindings: string[];
  /** TOPOLOGY_VERSION for this topology; absent when the first version applied it. */
  version?: number;
  queueType?: QueueType;
  /** Whether a head queue exists (Strict). */
  head?: boolean;
  /** The first version's per-level retry queues still to drain. */
  retryQueues?: number;
  returnTo?: string;
}

export function appliedRecord(
  desired: WebhookTopology,
  broker: string,
  queueType: QueueType,
): AppliedTopology {
  return {
    broker,
    exchange: desired.sourceExchange,
    bindings: desired.bindings,
    version: TOPOLOGY_VERSION,
    queueType,
    head: desired.queues.some((q) => q.name === desired.headQueue),
  };
}

export interface TopologyPlan {
  /** Bindings to put in place; `queue` is the Webhook's queue where unset. */
  bind: { exchange: string; pattern: string; queue?: string }[];
  unbind: { exchange: string; pattern: string }[];
  /** Messages to move before their queue is deleted: nothing waiting is lost. */
  drain: { from: string; to: string }[];
  deleteQueues: string[];
  deleteExchanges: string[];
}

/**
 * From what the broker got last (possibly from the first version of Hookline) to what is
 * desired now. Queues are declared by the caller; the plan says what changes around them.
 */
export function planTopology(
  desired: WebhookTopology,
  applied: AppliedTopology | undefined,
  names: { namespace: string; webhook: string },
): TopologyPlan {
  const after = desired.phase === 'After';
  const bind: TopologyPlan['bind'] = desired.bindings.map((pattern) => ({
    exchange: desired.sourceExchange,
    pattern,
  }));
  if (after) bind.push({ exchange: desired.deliverExchange, pattern: desired.deliverPattern });
  // The queues a dispatcher publishes to by name, each bound by its name on the direct exchange.
  for (const queue of desired.queues)
    if (queue.name !== desired.queue)
      bind.push({ exchange: desired.directExchange, pattern: queue.name, queue: queue.name });
  const unbind = after
    ? (applied?.bindings ?? [])
        .filter(
          (pattern) => applied?.exchange !== desired.sourceExchange || !desired.bindings.includes(pattern),
        )
        .map((pattern) => ({ exchange: applied!.exchange, pattern }))
    : [];
  const strict = desired.queues.some((q) => q.name === desired.headQueue);
  const waitingQueue = strict ? desired.headQueue : desired.queue;
  const drain: TopologyPlan['drain'] = [];
  const deleteQueues: string[] = [];
  const deleteExchanges: string[] = [];
  const legacy = applied !== undefined && applied.version === undefined;
  const legacyRetries = applied?.retryQueues ?? 0;
  for (let level = 1; level <= legacyRetries; level++) {
    const queue = legacyRetryQueueName(names.namespace, names.webhook, level);
    if (after) drain.push({ from: queue, to: waitingQueue });
    deleteQueues.push(queue);
  }
  if (legacy) deleteExchanges.push(legacyReturnExchangeName(names.namespace, names.webhook));
  // The first version made a head queue for every Webhook; this one only for Strict.
  const hadHead = legacy || applied?.head === true;
  if (hadHead && !strict) {
    if (after) drain.push({ from: desired.headQueue, to: desired.queue });
    deleteQueues.push(desired.headQueue);
  }
  if (!after && applied) deleteQueues.push(desired.queue, desired.deadLetterQueue);
  return { bind, unbind, drain, deleteQueues, deleteExchanges };
}

/** Everything a Webhook's finalizer removes, whichever version made it. */
export function webhookObjects(
  namespace: string,
  webhook: string,
  applied: AppliedTopology | undefined,
): { queues: string[]; exchanges: string[] } {
  const names = webhookQueues(namespace, webhook);
  const queues = [names.queue, names.headQueue, names.deadLetterQueue];
  for (let level = 1; level <= (applied?.retryQueues ?? 0); level++)
    queues.push(legacyRetryQueueName(namespace, webhook, level));
  const exchanges = applied?.version === undefined ? [legacyReturnExchangeName(namespace, webhook)] : [];
  return { queues, exchanges };
}
