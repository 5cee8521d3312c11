// The supervisor's resolve step, apart from its scheduling: what the Webhooks of the source
// are resolved against, which of them are deliverable now, what a running worker depends
// on, and a Webhook's configuration or why it cannot be called. No I/O but the Secrets.
import { EventSource, type EventSourceSpec } from '../../core/api/v1alpha1/eventsource.ts';
import type { ObservedWebhook } from '../backlog.ts';
import { validate } from '../../core/api/validate.ts';
import type { RawObject } from '../../core/kube/objects.ts';
import { ingestExchangeName } from '../../core/rabbit/topology.ts';
import { policyOf, sourceOf } from '../../core/references.ts';
import { resolveHook, type Resolved } from '../hooks.ts';
import type { SecretReader } from '../secrets.ts';

/** What every Webhook of this source is resolved against. */
export interface ResolveTarget {
  sourceVersion: string;
  exchange: string;
  maxEventBytes: number;
}

/** Objects by `namespace/name`, as an informer's cache holds them. */
export interface ObjectCache {
  get(key: string): RawObject | undefined;
}

/** The largest event a source takes when its spec does not say. */
const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

/** The source's spec (once it is valid) and what its Webhooks are resolved against. */
export function sourceTarget(
  namespace: string,
  source: string,
  raw: RawObject | undefined,
): { spec: EventSourceSpec | undefined; target: ResolveTarget } {
  const parsed = raw ? validate(EventSource, raw) : undefined;
  const spec = parsed?.ok ? parsed.value.spec : undefined;
  return {
    spec,
    target: {
      sourceVersion: raw?.metadata.resourceVersion ?? '-',
      exchange: spec?.rabbitmq?.exchange ?? ingestExchangeName(namespace, source),
      maxEventBytes: spec?.dispatcher.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
    },
  };
}

export interface Deliverable {
  /** After hooks by name: each gets a worker. */
  after: Map<string, RawObject>;
  /** Before hooks by name: the gate calls them. */
  before: Map<string, RawObject>;
  /** Webhooks the API shows disabled: no longer to be remembered as disabled by this replica. */
  shownDisabled: string[];
}

/**
 * The Webhooks of `source` to deliver to: not being deleted, not suspended, and not disabled,
 * neither in the API nor by this replica at their current generation (`disabledHere`, kept
 * until the status write shows it). An After hook also waits until its status records the
 * topology the operator applied: before that its queue does not exist, and a consumer
 * retrying it would open and lose a channel every few seconds (ten thousand Webhooks applied
 * at once kept the broker busy with nothing else).
 */
export function deliverable(
  webhooks: Iterable<RawObject>,
  source: string,
  disabledHere: ReadonlyMap<string, number | undefined>,
): Deliverable {
  const found: Deliverable = { after: new Map(), before: new Map(), shownDisabled: [] };
  for (const webhook of webhooks) {
    const { name, generation, deletionTimestamp } = webhook.metadata;
    const spec = webhook.spec as { phase?: string; suspend?: boolean } | undefined;
    const status = webhook.status as { disabled?: boolean; topology?: unknown } | undefined;
    if (sourceOf(webhook) !== source || deletionTimestamp) continue;
    if (status?.disabled) found.shownDisabled.push(name);
    const disabledByUs = disabledHere.has(name) && disabledHere.get(name) === generation;
    if (spec?.suspend || status?.disabled || disabledByUs) continue;
    if (spec?.phase === 'Before') found.before.set(name, webhook);
    else if (status?.topology) found.after.set(name, webhook);
  }
  return found;
}

/**
 * The After Webhooks of a source whose queues were declared, disabled ones included (not the
 * deleted ones), with their policy's ordering.
 */
export function observedWebhooks(
  webhooks: Iterable<RawObject>,
  source: string,
  { namespace, policies }: { namespace: string; policies: ObjectCache },
): ObservedWebhook[] {
  const found: ObservedWebhook[] = [];
  for (const webhook of webhooks) {
    const spec = webhook.spec as { phase?: string } | undefined;
    const status = webhook.status as { disabled?: boolean; topology?: unknown } | undefined;
    if (sourceOf(webhook) !== source || webhook.metadata.deletionTimestamp || spec?.phase === 'Before')
      continue;
    if (!status?.topology) continue;
    const policy = policies.get(`${namespace}/${policyOf(webhook)}`)?.spec as
      { ordering?: string } | undefined;
    found.push({
      name: webhook.metadata.name,
      disabled: status?.disabled === true,
      strict: policy?.ordering === 'Strict',
    });
  }
  return found;
}

/**
 * What a Webhook's worker depends on, cheaply: its generation, the policy's and the source's
 * versions, and the Secrets epoch. A status write changes none of these.
 */
export function inputsOf(
  raw: RawObject,
  { namespace, policies }: { namespace: string; policies: ObjectCache },
  sourceVersion: string,
  secretsEpoch: number,
): string {
  const policy = policies.get(`${namespace}/${policyOf(raw)}`);
  return [raw.metadata.generation, policy?.metadata.resourceVersion ?? '-', sourceVersion, secretsEpoch].join(
    '|',
  );
}

/**
 * What a sync reads of a Webhook: all of it but its status and bookkeeping, and of the
 * status only whether it is disabled, whether its queues were declared and which send-test it
 * answered. A watch event that
 * changes none of it (the echo of a status write: every second per busy Webhook) needs no sync.
 */
export function syncedPartOf(raw: RawObject): string {
  const {
    resourceVersion: _version,
    managedFields: _fields,
    ...metadata
  } = raw.metadata as RawObject['metadata'] & {
    managedFields?: unknown;
  };
  const status = raw.status as
    { disabled?: boolean; topology?: unknown; lastTest?: { token?: string } } | undefined;
  return JSON.stringify({
    ...raw,
    metadata,
    status: {
      disabled: status?.disabled,
      declared: status?.topology !== undefined,
      answeredTest: status?.lastTest?.token,
    },
  });
}

/** What the syncs could read of each Webhook, by key: status echoes change none of it. */
export class SyncedParts {
  readonly #parts = new Map<string, string>();

  /** Whether the watch event changed what a sync reads (a deletion always does). */
  changed(key: string, raw: RawObject | undefined): boolean {
    if (!raw) return this.#parts.delete(key) || true;
    const part = syncedPartOf(raw);
    if (this.#parts.get(key) === part) return false;
    this.#parts.set(key, part);
    return true;
  }
}

export interface ResolveDeps {
  policies: ObjectCache;
  secrets: SecretReader;
  allowHttpUrls: boolean;
}

/** A Webhook's configuration, or why it cannot be called (plain http included). */
export async function resolveWebhook(
  raw: RawObject,
  target: ResolveTarget,
  deps: ResolveDeps,
): Promise<Resolved> {
  const resolved = await resolveHook({
    raw,
    policies: deps.policies,
    secrets: deps.secrets,
    sourceExchange: target.exchange,
    maxEventBytes: target.maxEventBytes,
  });
  if (resolved.ok && resolved.config.url.protocol === 'http:' && !deps.allowHttpUrls)
    return { ok: false, reason: 'plain http is not allowed' };
  return resolved;
}
