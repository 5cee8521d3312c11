// Hookline on a 3-node RabbitMQ cluster with quorum queues: the operator and the dispatcher
// are given the three nodes' URIs; a producer posts events one after another to the HTTP
// source while two Webhooks (one Unordered, one Strict) deliver them; mid-stream a node is
// killed with SIGKILL and brought back, twice: first the node leading the Strict Webhook's
// queue, then the node the dispatcher is connected to. Every event answered 202 must reach
// both receivers, the Strict one in the order it was accepted, and deliveries must resume
// within 15 s of each kill.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { authorization } from '../env/rabbitmq.ts';
import {
  downRabbitCluster,
  killRabbitNode,
  startRabbitNode,
  upRabbitCluster,
  type RabbitCluster,
} from '../env/cluster/rabbitmq.ts';
import { freshNamespace } from '../env/handles.ts';
import { apply, httpSourceManifests, waitForReady, waitForSourceInPlace } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

const TOKEN = 'cluster-ingest-token-4b1e07';
const RESUME_LIMIT_MS = 15_000;

/** The sequence number an event carries in its body. */
function sequenceOf(request: Receiver['requests'][number]): number {
  return (JSON.parse(request.body.toString()) as { data: { n: number } }).data.n;
}

/** The management API of a live node, read with the admin credential. */
async function managementGet<T>(cluster: RabbitCluster, path: string): Promise<T> {
  for (const node of cluster.nodes) {
    try {
      const response = await fetch(`${node.managementUrl}/api${path}`, {
        headers: { authorization: authorization() },
        signal: AbortSignal.timeout(3000),
      });
      if (response.ok) return (await response.json()) as T;
    } catch {
      // that node is down: ask the next one
    }
  }
  throw new Error(`no node of the cluster answered GET /api${path}`);
}

/**
 * Posts events one at a time, each until it is answered 202 (a refusal while a node is
 * lost is the producer's to retry, as a client of the ingest does), and records when each
 * was accepted.
 */
class Producer {
  readonly accepted: { n: number; at: number }[] = [];
  refusals = 0;
  #stopped = false;
  #done: Promise<void> | undefined;
  readonly #endpoint: string;

  constructor(endpoint: string) {
    this.#endpoint = endpoint;
  }

  start(): void {
    this.#done = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }

  async #run(): Promise<void> {
    for (let n = 0; !this.#stopped;) {
      const response = await fetch(`${this.#endpoint}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'ledger.entry', data: { n } }),
        signal: AbortSignal.timeout(10_000),
      }).catch(() => undefined);
      await response?.body?.cancel();
      if (response?.status === 202) {
        this.accepted.push({ n, at: Date.now() });
        n++;
        await sleep(5);
      } else {
        this.refusals++;
        await sleep(100);
      }
    }
  }
}

describe('a 3-node RabbitMQ cluster loses a node mid-stream', () => {
  let cluster: RabbitCluster;
  let namespace: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  let unordered: Receiver;
  let strict: Receiver;
  let producer: Producer;

  before(async () => {
    cluster = await upRabbitCluster();
    await installCrds();
    namespace = await freshNamespace('rabbit-cluster');
    operator = startOperator({
      namespace,
      env: {
        HOOKLINE_DEFAULT_BROKER_URI: cluster.amqpUri,
        HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI: cluster.managementUri,
      },
    });
    [unordered, strict] = await Promise.all([startReceiver(), startReceiver()]);
    await apply(
      namespace,
      `${httpSourceManifests('ledger', TOKEN)}
---
apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: strict}
spec:
  retry: {backoff: {delay: 50ms, max: 1s, attempts: 50}}
  ordering: Strict
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: audit}
spec:
  sourceRef: {name: ledger}
  url: http://127.0.0.1:${unordered.port}/audit
  events: ["ledger.#"]
---
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: books}
spec:
  sourceRef: {name: ledger}
  policyRef: {name: strict}
  url: http://127.0.0.1:${strict.port}/books
  events: ["ledger.#"]
`,
    );
    await waitForReady(namespace, 'webhooks', 'audit', 'True', undefined, 60_000);
    await waitForReady(namespace, 'webhooks', 'books', 'True', undefined, 60_000);
    await waitForSourceInPlace(namespace, 'ledger', 60_000);
    dispatcher = await startDispatcher(namespace, 'ledger');
    const port = Number(dispatcher.logs.find((l) => l.msg === 'Dispatcher listening')?.port);
    producer = new Producer(`http://127.0.0.1:${port}`);
  });

  after(async () => {
    await producer?.stop();
    await dispatcher?.stop();
    await operator?.stop();
    await unordered?.close();
    await strict?.close();
    if (process.env.HOOKLINE_KEEP_ENV !== '1' && cluster?.started) await downRabbitCluster();
  });

  /** Kills `node` mid-stream, brings it back, and answers how long deliveries stopped. */
  async function loseNode(node: string, why: string): Promise<void> {
    const before = strict.requests.length;
    await eventually('deliveries flowing before the kill', () => strict.requests.length >= before + 50, {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const killedAt = Date.now();
    await killRabbitNode(node);
    // Deliveries resume: an event accepted after the kill reaches both receivers.
    const resumed = await eventually(
      `an event accepted after ${node} was killed to be delivered to both Webhooks`,
      () => {
        const next = producer.accepted.find((event) => event.at > killedAt);
        if (!next) return undefined;
        const arrivals = [unordered, strict].map((r) => r.requests.find((q) => sequenceOf(q) === next.n));
        return arrivals.every(Boolean) ? Math.max(...arrivals.map((q) => q!.receivedAt)) : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    ).catch((error: unknown) => {
      const after = producer.accepted.filter((event) => event.at > killedAt).length;
      const warnings = dispatcher.logs.filter((l) => l.level >= 40).slice(-10);
      throw new Error(
        `after ${node} was killed: ${after} events accepted, ${producer.refusals} refusals, ` +
          `${unordered.requests.filter((q) => q.receivedAt > killedAt).length} + ` +
          `${strict.requests.filter((q) => q.receivedAt > killedAt).length} deliveries; ` +
          `dispatcher's last warnings: ${JSON.stringify(warnings)}`,
        { cause: error },
      );
    });
    process.stderr.write(
      `[rabbitmq cluster] killed ${node} (${why}); deliveries resumed ${resumed - killedAt} ms after the kill\n`,
    );
    assert.ok(
      resumed - killedAt <= RESUME_LIMIT_MS,
      `deliveries resumed ${resumed - killedAt} ms after ${node} was killed (limit ${RESUME_LIMIT_MS} ms)`,
    );
    await sleep(2000);
    await startRabbitNode(node);
  }

  it('delivers every accepted event, the Strict hook in order, and resumes within 15 s of each kill', async () => {
    // Nothing of the namespace lives on one node only: every queue is a quorum queue.
    const queues = await managementGet<{ name: string; type: string }[]>(
      cluster,
      '/queues?columns=name,type',
    );
    const ours = queues.filter((q) => q.name.includes(`.${namespace}.`));
    assert.ok(ours.length > 0);
    assert.deepEqual(
      ours.filter((q) => q.type !== 'quorum').map((q) => `${q.name} (${q.type})`),
      [],
      'queues that would be lost with their node',
    );
    producer.start();
    const queue = await managementGet<{ leader?: string; node?: string; members?: string[] }>(
      cluster,
      `/queues/%2F/${encodeURIComponent(`hookline.${namespace}.books`)}`,
    );
    assert.equal(queue.members?.length, 3, 'the quorum queue has a member on each node');
    const leader = queue.leader ?? queue.node;
    assert.ok(leader, 'the management API names the queue’s leader');
    // The management API lists a connection once its statistics were first emitted (every 5 s).
    const connectedTo = () =>
      eventually(
        'the dispatcher’s connection in the management API',
        async () =>
          (
            await managementGet<{ node: string; client_properties: { connection_name?: string } }[]>(
              cluster,
              '/connections?columns=node,client_properties',
            )
          ).find((c) => c.client_properties.connection_name?.includes('ledger'))?.node,
        { timeoutMs: 20_000, intervalMs: 500 },
      );
    // First a node the dispatcher is not connected to (the queue's leader if it can be), then
    // the dispatcher's own node.
    const spared = await connectedTo();
    const first = leader !== spared ? leader : cluster.nodes.map((n) => n.name).find((n) => n !== spared)!;
    await loseNode(
      first,
      first === leader
        ? 'it led the Strict Webhook’s queue; the dispatcher was connected elsewhere'
        : 'the dispatcher was connected elsewhere',
    );
    const dispatcherNode = await connectedTo();
    await loseNode(
      dispatcherNode,
      dispatcherNode === leader
        ? 'the dispatcher was connected to it and it led the Strict Webhook’s queue'
        : 'the dispatcher was connected to it',
    );

    await sleep(3000);
    await producer.stop();
    const accepted = producer.accepted.map((event) => event.n);
    assert.ok(accepted.length >= 200, `only ${accepted.length} events were accepted`);
    for (const [receiver, name] of [
      [unordered, 'audit'],
      [strict, 'books'],
    ] as const) {
      const missing = await eventually(
        `every accepted event delivered to ${name}`,
        () => {
          const seen = new Set(receiver.requests.map(sequenceOf));
          const lost = accepted.filter((n) => !seen.has(n));
          return lost.length === 0 ? lost : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      ).catch((error: unknown) => {
        const seen = new Set(receiver.requests.map(sequenceOf));
        throw new Error(
          `${name}: ${accepted.filter((n) => !seen.has(n)).length} of ${accepted.length} accepted events never arrived`,
          { cause: error },
        );
      });
      assert.deepEqual(missing, []);
      const duplicates = receiver.requests.length - new Set(receiver.requests.map(sequenceOf)).size;
      process.stderr.write(
        `[rabbitmq cluster] ${name}: ${accepted.length} accepted, all delivered, ${duplicates} duplicates, producer refusals ${producer.refusals}\n`,
      );
    }
    // Strict order: each event's first delivery comes after the first delivery of every event
    // accepted before it (a redelivery of the head event is no violation).
    const firstSeen: number[] = [];
    const seen = new Set<number>();
    for (const request of strict.requests) {
      const n = sequenceOf(request);
      if (!seen.has(n)) firstSeen.push(n);
      seen.add(n);
    }
    const outOfOrder = firstSeen.filter((n, i) => i > 0 && n < firstSeen[i - 1]!);
    assert.deepEqual(outOfOrder, [], 'the Strict Webhook received events out of order');
  });
});
