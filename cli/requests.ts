// The commands that ask for something through an annotation with a fresh token (reenable,
// replay, send-test): the annotation is set with a merge patch on the Webhook's metadata,
// so RBAC on the Webhook is the permission; then the answer is awaited in the status, for
// at most --wait, and printed.
import crypto from 'node:crypto';
import {
  REENABLE_ANNOTATION,
  REPLAY_ANNOTATION,
  REPLAY_SINCE_ANNOTATION,
  REPLAY_UNTIL_ANNOTATION,
  replayMarker,
  SEND_TEST_ANNOTATION,
} from '../core/annotations.ts';
import type { WebhookStatus } from '../core/api/v1alpha1/webhook.ts';
import type { RawObject } from '../core/kube/objects.ts';
import type { Invocation } from './args.ts';
import { annotate, CliError, getWebhook, webhookEvents, type Cluster, type KubeEvent } from './kube.ts';
import { humanAge } from './table.ts';

export interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

/** How often the Webhook is read again while an answer is awaited. */
const POLL_MS = 500;

/** A token no earlier request used: the time, and a little randomness against two at once. */
export function newToken(now: Date): string {
  return `${Math.floor(now.getTime() / 1000).toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
}

const statusOf = (raw: RawObject) => (raw.status ?? {}) as WebhookStatus;

function readyOf(raw: RawObject): string {
  const ready = statusOf(raw).conditions?.find((c) => c.type === 'Ready');
  if (!ready) return 'Ready unknown';
  return ready.status === 'True' ? 'Ready=True' : `Ready=${ready.status} ${ready.reason}: ${ready.message}`;
}

/** Reads the Webhook until `answered` holds or `waitMs` passed; the last one read, and whether it answered. */
async function awaitAnswer(
  cluster: Cluster,
  name: string,
  answered: (raw: RawObject) => boolean,
  waitMs: number,
  io: Io,
): Promise<{ raw: RawObject; answered: boolean }> {
  const deadline = io.now().getTime() + waitMs;
  for (;;) {
    const raw = await getWebhook(cluster, name);
    if (answered(raw)) return { raw, answered: true };
    if (io.now().getTime() >= deadline) return { raw, answered: false };
    await io.sleep(POLL_MS);
  }
}

function timedOut(waitMs: number, what: string, raw: RawObject): CliError {
  return new CliError(`no answer within ${humanAge(waitMs)}: ${what} (the Webhook is ${readyOf(raw)})`);
}

function print(io: Io, invocation: Invocation, json: unknown, text: string): void {
  io.stdout.write(invocation.output === 'json' ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
}

function requested(
  io: Io,
  invocation: Invocation,
  cluster: Cluster,
  name: string,
  annotation: string,
  token: string,
) {
  print(
    io,
    invocation,
    { namespace: cluster.namespace, webhook: name, annotation, token, answered: false },
    `webhook/${name}: set ${annotation}=${token}; not waiting for the answer`,
  );
  return 0;
}

export async function reenable(cluster: Cluster, invocation: Invocation, io: Io): Promise<number> {
  const name = invocation.args[0]!;
  const wasDisabled = statusOf(await getWebhook(cluster, name)).disabled === true;
  const token = newToken(io.now());
  await annotate(cluster, name, { [REENABLE_ANNOTATION]: token });
  if (invocation.waitMs === 0) return requested(io, invocation, cluster, name, REENABLE_ANNOTATION, token);
  const { raw, answered } = await awaitAnswer(
    cluster,
    name,
    (w) => statusOf(w).handledAnnotations?.reenable === token,
    invocation.waitMs,
    io,
  );
  if (!answered)
    throw timedOut(
      invocation.waitMs,
      `the operator has not acted on ${REENABLE_ANNOTATION}=${token}; it does once the Webhook reconciles without a problem`,
      raw,
    );
  const status = statusOf(raw);
  const disabled = status.disabled === true;
  const text = disabled
    ? `webhook/${name} is still disabled: ${status.disabledReason ?? 'no reason given'}`
    : wasDisabled
      ? `webhook/${name} re-enabled (${readyOf(raw)})`
      : `webhook/${name} was not disabled; nothing to re-enable (${readyOf(raw)})`;
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  print(
    io,
    invocation,
    {
      namespace: cluster.namespace,
      webhook: name,
      token,
      wasDisabled,
      disabled,
      ready: ready?.status ?? 'Unknown',
      reason: ready?.reason ?? null,
    },
    text,
  );
  return disabled ? 1 : 0;
}

/** Creation order of Events: their resourceVersion when it is a number (etcd's revision), else their time. */
function creationOrder(a: KubeEvent, b: KubeEvent): number {
  const [x, y] = [Number(a.metadata.resourceVersion), Number(b.metadata.resourceVersion)];
  if (Number.isFinite(x) && Number.isFinite(y) && x !== y) return x - y;
  return (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
}

/**
 * What the operator's Events with the token's marker say: how many moved and stayed (and the
 * sentence to print), or why none did. A reconcile that ran again before its status write
 * was seen (or after a failure midway) may have moved the events in more than one go: the
 * moves add up, and the last go says what stayed.
 */
export function replayOutcome(
  events: readonly KubeEvent[],
  token: string,
): { moved: number; kept: number; message: string } | { refused: string } | undefined {
  const marker = replayMarker(token);
  const mine = events.filter((e) => e.message?.endsWith(marker));
  const refused = mine.find((e) => e.reason === 'ReplayRefused');
  if (refused) return { refused: refused.message!.slice(0, -marker.length).trim() };
  const replayed = mine.filter((e) => e.reason === 'Replayed').sort(creationOrder);
  const last = replayed.at(-1)?.message;
  if (last === undefined) return undefined;
  const moved = replayed.reduce((sum, e) => sum + Number(/^Moved (\d+) /.exec(e.message ?? '')?.[1] ?? 0), 0);
  const kept = Number(/; (\d+) others stay/.exec(last)?.[1] ?? 0);
  const message = last
    .slice(0, -marker.length)
    .trim()
    .replace(/^Moved \d+ /, `Moved ${moved} `);
  return { moved, kept, message };
}

export async function replay(cluster: Cluster, invocation: Invocation, io: Io): Promise<number> {
  const name = invocation.args[0]!;
  await getWebhook(cluster, name);
  const token = newToken(io.now());
  const since = invocation.since?.toISOString() ?? null;
  const until = invocation.until?.toISOString() ?? null;
  // A window left from an earlier replay must not narrow this one.
  await annotate(cluster, name, {
    [REPLAY_ANNOTATION]: token,
    [REPLAY_SINCE_ANNOTATION]: since,
    [REPLAY_UNTIL_ANNOTATION]: until,
  });
  if (invocation.waitMs === 0) return requested(io, invocation, cluster, name, REPLAY_ANNOTATION, token);
  const { raw, answered } = await awaitAnswer(
    cluster,
    name,
    (w) => statusOf(w).handledAnnotations?.replay === token,
    invocation.waitMs,
    io,
  );
  if (!answered)
    throw timedOut(
      invocation.waitMs,
      `the operator has not acted on ${REPLAY_ANNOTATION}=${token}; it does once the Webhook reconciles without a problem`,
      raw,
    );
  const outcome = replayOutcome(await webhookEvents(cluster, name), token);
  if (outcome && 'refused' in outcome) throw new CliError(`webhook/${name}: ${outcome.refused}`);
  const base = { namespace: cluster.namespace, webhook: name, token, since, until };
  if (!outcome) {
    print(
      io,
      invocation,
      { ...base, moved: null, kept: null },
      `webhook/${name}: replayed (the operator recorded no Event saying how many; see its log)`,
    );
    return 0;
  }
  print(
    io,
    invocation,
    { ...base, moved: outcome.moved, kept: invocation.since || invocation.until ? outcome.kept : 0 },
    `webhook/${name}: ${outcome.message}`,
  );
  return 0;
}

export async function sendTest(cluster: Cluster, invocation: Invocation, io: Io): Promise<number> {
  const name = invocation.args[0]!;
  const before = await getWebhook(cluster, name);
  const source = (before.spec as { sourceRef?: { name?: string } } | undefined)?.sourceRef?.name ?? '?';
  const token = newToken(io.now());
  await annotate(cluster, name, { [SEND_TEST_ANNOTATION]: token });
  if (invocation.waitMs === 0) return requested(io, invocation, cluster, name, SEND_TEST_ANNOTATION, token);
  const { raw, answered } = await awaitAnswer(
    cluster,
    name,
    (w) => statusOf(w).lastTest?.token === token,
    invocation.waitMs,
    io,
  );
  if (!answered)
    throw timedOut(
      invocation.waitMs,
      `no dispatcher answered ${SEND_TEST_ANNOTATION}=${token}; is the dispatcher of EventSource "${source}" running? (kubectl get eventsource ${source} -n ${cluster.namespace})`,
      raw,
    );
  const test = statusOf(raw).lastTest!;
  const answer =
    test.statusCode !== undefined
      ? `HTTP ${test.statusCode} in ${test.durationMs ?? 0}ms`
      : `no response after ${test.durationMs ?? 0}ms`;
  const lines = [`webhook/${name}: test event ${test.eventId} ${test.outcome}: ${answer}`];
  if (test.error) lines.push(`  error: ${test.error}`);
  if (test.responseBody) lines.push(`  body:  ${test.responseBody.replace(/\n/g, '\n         ')}`);
  print(io, invocation, { namespace: cluster.namespace, webhook: name, ...test }, lines.join('\n'));
  return test.outcome === 'Succeeded' ? 0 : 1;
}
