import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { RawObject } from '../../../core/kube/objects.ts';
import { webhookTopology } from '../../../core/rabbit/topology.ts';
import type { ReconcileContext } from '../../runtime/controller.ts';
import type { SourceBroker } from '../broker.ts';
import type { OperatorContext } from '../context.ts';
import { handleAnnotations, type ActedReplays } from './annotations.ts';

function fakes() {
  const moves: string[] = [];
  const events: string[] = [];
  const ctx = {
    brokers: {
      admin: () =>
        Promise.resolve({
          moveMessages: (from: string, to: string) => {
            moves.push(`${from} -> ${to}`);
            return Promise.resolve(2);
          },
        }),
    },
    recorder: {
      normal: (_: RawObject, reason: string) => Promise.resolve(events.push(reason)),
      warning: (_: RawObject, reason: string) => Promise.resolve(events.push(reason)),
    },
  } as unknown as OperatorContext;
  const rc = { logger: pino({ level: 'silent' }) } as unknown as ReconcileContext;
  const topology = webhookTopology({
    namespace: 'team',
    webhook: 'hook',
    phase: 'After',
    sourceExchange: 'orders',
    exchangeType: 'topic',
    events: ['order.*'],
    ordering: 'Unordered',
    queueType: 'quorum',
  });
  const broker = { uri: 'amqp://127.0.0.1' } as SourceBroker;
  return { ctx, rc, topology, broker, moves, events };
}

const webhook = (token: string, uid = 'u-1'): RawObject => ({
  apiVersion: 'hookline.dev/v1alpha1',
  kind: 'Webhook',
  metadata: { name: 'hook', namespace: 'team', uid, annotations: { 'hookline.dev/replay': token } },
  status: { handledAnnotations: {} },
});

test('a replay token is acted on once, even when the next reconcile reads a stale status', async () => {
  const { ctx, rc, topology, broker, moves, events } = fakes();
  const acted: ActedReplays = new Map();
  await handleAnnotations(ctx, webhook('1'), topology, broker, rc, acted);
  // The cache has not seen the status write that records token 1 yet.
  await handleAnnotations(ctx, webhook('1'), topology, broker, rc, acted);
  assert.deepEqual(moves, [`${topology.deadLetterQueue} -> ${topology.queue}`]);
  assert.deepEqual(events, ['Replayed']);

  await handleAnnotations(ctx, webhook('2'), topology, broker, rc, acted);
  assert.equal(moves.length, 2, 'a new token replays again');
  await handleAnnotations(ctx, webhook('2', 'u-2'), topology, broker, rc, acted);
  assert.equal(moves.length, 3, 'a Webhook made again under the same name is another Webhook');
});

test('a replay that failed is tried again on the next reconcile', async () => {
  const { ctx, rc, topology, broker, moves } = fakes();
  const acted: ActedReplays = new Map();
  let fail = true;
  const admin = await ctx.brokers.admin('');
  (ctx.brokers as { admin: unknown }).admin = () =>
    Promise.resolve({
      moveMessages: (from: string, to: string) =>
        fail ? Promise.reject(new Error('broker gone')) : admin.moveMessages(from, to),
    });
  await assert.rejects(handleAnnotations(ctx, webhook('1'), topology, broker, rc, acted), /broker gone/);
  fail = false;
  await handleAnnotations(ctx, webhook('1'), topology, broker, rc, acted);
  assert.equal(moves.length, 1);
});
