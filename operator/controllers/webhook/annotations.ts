// The Webhook's annotations an operator acts on once per token: hookline.dev/reenable (a
// disabled Webhook delivers again; a spec change does the same) and hookline.dev/replay
// (its dead-lettered events go back to its queue with their full retries; with
// hookline.dev/replay-since and -until, only those dead-lettered in that window).
import { replayMarker } from '../../../core/annotations.ts';
import type { WebhookStatus } from '../../../core/api/v1alpha1/webhook.ts';
import { resourcePath } from '../../../core/kube/client.ts';
import type { RawObject } from '../../../core/kube/objects.ts';
import { REPLAY_RESETS } from '../../../core/rabbit/headers.ts';
import type { WebhookTopology } from '../../../core/rabbit/topology.ts';
import { reenabledStatus } from '../../../core/status/disabled.ts';
import type { ReconcileContext } from '../../runtime/controller.ts';
import type { SourceBroker } from '../broker.ts';
import type { OperatorContext } from '../context.ts';
import { REENABLE_ANNOTATION } from '../names.ts';
import { hookRef } from '../status.ts';
import { inReplayWindow, reenableRequest, replayedMessage, replayRequest, replayWindow } from './plan.ts';

/**
 * The replay token acted on per Webhook (by uid) in this process. The status records it too,
 * but a reconcile that starts before the cache has seen that status write would read the
 * old token and move the dead letters a second time.
 */
export type ActedReplays = Map<string, string>;

export async function handleAnnotations(
  ctx: OperatorContext,
  raw: RawObject,
  topology: WebhookTopology,
  broker: SourceBroker,
  rc: ReconcileContext,
  acted: ActedReplays,
): Promise<void> {
  const status = (raw.status ?? {}) as WebhookStatus;
  const reenable = reenableRequest(raw);
  if (status.disabled && reenable) {
    await ctx.client.mergePatch(resourcePath({ ...hookRef(raw, 'webhooks'), subresource: 'status' }), {
      status: reenabledStatus(),
    });
    const why =
      reenable.token !== undefined ? `annotation ${REENABLE_ANNOTATION}=${reenable.token}` : 'a spec change';
    rc.logger.info({ why }, 'Re-enabled Webhook');
    await ctx.recorder.normal(raw, 'Reenabled', `Re-enabled Webhook after ${why}`);
  }
  const token = replayRequest(raw);
  const uid = raw.metadata.uid ?? `${raw.metadata.namespace}/${raw.metadata.name}`;
  if (token === undefined || acted.get(uid) === token) return;
  await replay(ctx, raw, token, topology, broker, rc);
  acted.set(uid, token);
}

/**
 * Moves the dead letters of the replay's window back to the queue. A window that cannot be
 * read moves nothing and says why in a Warning Event; the token counts as handled either way.
 */
async function replay(
  ctx: OperatorContext,
  raw: RawObject,
  token: string,
  topology: WebhookTopology,
  broker: SourceBroker,
  rc: ReconcileContext,
): Promise<void> {
  const parsed = replayWindow(raw);
  if (!parsed.ok) {
    rc.logger.warn({ token, problem: parsed.message }, 'Refused replay');
    await ctx.recorder.warning(
      raw,
      'ReplayRefused',
      `${parsed.message}; nothing was replayed ${replayMarker(token)}`,
    );
    return;
  }
  const { window } = parsed;
  let kept = 0;
  const select = (headers: Record<string, unknown>) => {
    const inside = inReplayWindow(window, headers);
    if (!inside) kept++;
    return inside;
  };
  const windowed = window.since !== undefined || window.until !== undefined;
  const admin = await ctx.brokers.admin(broker.uri);
  // A replayed event keeps its id and gets its full retries again.
  const moved = await admin.moveMessages(topology.deadLetterQueue, topology.queue, {
    resetHeaders: REPLAY_RESETS,
    ...(windowed ? { select } : {}),
  });
  rc.logger.info({ moved, kept, token }, 'Replayed dead-lettered events');
  await ctx.recorder.normal(raw, 'Replayed', replayedMessage(token, topology.queue, window, { moved, kept }));
}
