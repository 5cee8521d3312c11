// The chaos soak: Hookline on a 3-node RabbitMQ cluster and a 3-broker Kafka cluster, with two
// operator replicas (leader election) and two dispatcher replicas per EventSource, delivering
// events from Kafka, RabbitMQ and HTTP to 100 Webhooks (every fourth Strict) at a receiver
// that fails one request in ten, while faults are dealt in turn: kill -9 of a RabbitMQ node
// (started again), of a Kafka broker (started again), of a dispatcher replica (replaced) and
// of the leading operator (replaced). Each Webhook takes one event type of one source, and
// each type's events are produced one after another, numbered, so that the receiver can
// tell, per Webhook, which events arrived and in which order.
//
// Every event the producers had acknowledged (a Kafka send with acks=all, a confirmed
// RabbitMQ publish, a 202) must reach its Webhook at least once; a Strict Webhook must first
// receive its events in the order they were produced; and once the faults are over and the
// events stop, each Webhook's status.deliveries.succeeded must settle, within 30 s (of the
// last accepted delivery, when that comes later), between the number of distinct events its
// receiver accepted and the number of requests it accepted. The one allowance: a dispatcher
// replica killed with kill -9 takes along the counts it had not yet written (status is
// written in batches), so below the distinct count a Webhook may miss at most what its
// receiver accepted in the UNWRITTEN_MS before a replica of its source was
// killed. The shortfall found is printed.
//
// Short form (`npm run soak`): at least 5,000 events and each fault once, some 6 minutes
// after the clusters are up. The faults are spread over the time the producers take. Long form, by hand:
//   HOOKLINE_SOAK_EVENTS=100000 HOOKLINE_SOAK_FAULTS=20 npm run soak
// HOOKLINE_CLUSTER_PORT_BASE and HOOKLINE_CLUSTER_DIR put its clusters apart from others'.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import '../../dispatcher/ingest/kafkajs-queue.ts';
import type amqp from 'amqplib';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { connectBroker } from '../../core/rabbit/connection.ts';
import {
  downKafkaCluster,
  killKafkaBroker,
  startKafkaBroker,
  upKafkaCluster,
  type KafkaCluster,
} from '../env/cluster/kafka.ts';
import {
  downRabbitCluster,
  killRabbitNode,
  startRabbitNode,
  upRabbitCluster,
  type RabbitCluster,
} from '../env/cluster/rabbitmq.ts';
import { freshNamespace, kubectl } from '../env/handles.ts';
import { authorization } from '../env/rabbitmq.ts';
import { apply, waitForSourceInPlace } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { aCallbackPolicy, aWebhook, anEventSource, without, type Manifest } from '../fixtures/manifests.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver } from '../fixtures/receiver.ts';
import { eventually } from '../fixtures/wait.ts';

const EVENTS = Number(process.env.HOOKLINE_SOAK_EVENTS ?? 5000);
const FAULTS = Number(process.env.HOOKLINE_SOAK_FAULTS ?? 4);
const SOURCES = ['kafka', 'rabbit', 'http'] as const;
type SourceName = (typeof SOURCES)[number];
const WEBHOOKS = 100;
const STRICT_EVERY = 4;
const FAIL_ONE_IN = 10;
/** Between two events of one type: 100 types, so some 100 events a second at most in all. */
const PACE_MS = 1000;
/**
 * Between two faults: the producers' time at full pace split evenly, so that faults fall all
 * along the stream (in the long form, 100,000 events take some 1,000 s), and 5 s at least.
 */
const FAULT_GAP_MS = Math.max(5000, (Math.ceil(EVENTS / WEBHOOKS) * PACE_MS) / (FAULTS + 1));
const TOKEN = 'soak-ingest-token-77c1d2';
const TOPIC = 'soak-events';
/**
 * The longest a dispatcher holds a delivery's count before it is written to the Webhook: a
 * replica writes ten Webhooks a second at most, four at a time, so with its 30-odd busy
 * Webhooks and an API server slowed by the faults (and by this machine's load) a count can
 * wait 15 s and more for its Webhook's turn.
 */
const UNWRITTEN_MS = 30_000;

interface Stream {
  source: SourceName;
  type: string;
  hook: string;
  strict: boolean;
  /** The numbers of the events the producer had acknowledged, in order. */
  acknowledged: number[];
}

const streams: Stream[] = Array.from({ length: WEBHOOKS }, (_, i) => ({
  source: SOURCES[i % SOURCES.length]!,
  type: `soak.t${i}`,
  hook: `hook-${i}`,
  strict: i % STRICT_EVERY === 0,
  acknowledged: [],
}));

const body = (stream: Stream, n: number) =>
  JSON.stringify({ type: stream.type, hook: stream.hook, n, pad: 'x'.repeat(200) });

/** Which receiver answers were 2xx: the receiver fails every tenth request it gets. */
const accepted = (index: number) => index % FAIL_ONE_IN !== FAIL_ONE_IN - 1;

function note(message: string): void {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

describe('chaos soak', () => {
  let rabbit: RabbitCluster;
  let kafka: KafkaCluster;
  let namespace: string;
  let receiver: Receiver;
  let producer: Producer;
  const operators: OperatorProcess[] = [];
  const dispatchers: Record<SourceName, RunningProcess[]> = { kafka: [], rabbit: [], http: [] };
  /** Every dispatcher replica started, killed ones too: their logs explain a loss. */
  const everyDispatcher: Record<SourceName, RunningProcess[]> = { kafka: [], rabbit: [], http: [] };
  let running = true;

  before(async () => {
    [rabbit, kafka] = await Promise.all([upRabbitCluster(), upKafkaCluster()]);
    await installCrds();
    namespace = await freshNamespace('soak');
    const admin = new Kafka({
      brokers: kafka.brokers,
      clientId: 'soak-admin',
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: TOPIC, numPartitions: 3, replicationFactor: 3 }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    for (const identity of ['soak-operator-a', 'soak-operator-b'])
      operators.push(startOperatorReplica(identity));
    receiver = await startReceiver((_request, index) =>
      accepted(index) ? answer.status(200) : answer.status(503, 'flaky'),
    );
    const manifests: (Manifest | Record<string, unknown>)[] = [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'broker' }, stringData: { uri: rabbit.amqpUri } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ingest-token' }, stringData: { tokens: TOKEN } },
      without(
        anEventSource(
          {
            kafka: { brokers: kafka.brokers, topic: TOPIC, startFrom: 'earliest' },
            eventType: { template: '{/type}' },
          },
          'kafka',
        ),
        'rabbitmq',
      ),
      anEventSource(
        {
          rabbitmq: { connectionSecretRef: { name: 'broker' }, exchange: `soak.${namespace}`, declare: true },
        },
        'rabbit',
      ),
      {
        apiVersion: 'hookline.dev/v1alpha1',
        kind: 'EventSource',
        metadata: { name: 'http' },
        spec: {
          http: { authSecretRef: { name: 'ingest-token', key: 'tokens' } },
          eventType: { template: '{/type}' },
        },
      },
      aCallbackPolicy({ retry: { backoff: { delay: '50ms', max: '1s', attempts: 100 } } }, 'flaky'),
      aCallbackPolicy(
        { retry: { backoff: { delay: '50ms', max: '1s', attempts: 100 } }, ordering: 'Strict' },
        'strict',
      ),
      ...streams.map((stream) =>
        aWebhook(
          {
            sourceRef: { name: stream.source },
            policyRef: { name: stream.strict ? 'strict' : 'flaky' },
            url: `http://127.0.0.1:${receiver.port}/${stream.hook}`,
            events: [stream.type],
          },
          stream.hook,
        ),
      ),
    ];
    await apply(namespace, manifests.map((m) => JSON.stringify(m)).join('\n---\n'));
    await eventually(
      `all ${WEBHOOKS} Webhooks Ready`,
      async () => {
        const list = JSON.parse(
          (await kubectl(['-n', namespace, 'get', 'webhooks', '-o', 'json'])).stdout,
        ) as {
          items: { status?: { conditions?: { type: string; status: string }[] } }[];
        };
        const ready = list.items.filter((w) =>
          w.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ).length;
        return ready === WEBHOOKS || undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000 },
    );
    for (const source of SOURCES) await waitForSourceInPlace(namespace, source, 120_000);
    for (const source of SOURCES) for (let i = 0; i < 2; i++) await addDispatcher(source);
    producer = new Kafka({
      brokers: kafka.brokers,
      clientId: 'soak-producer',
      logLevel: logLevel.NOTHING,
    }).producer({
      allowAutoTopicCreation: false,
    });
    await producer.connect();
  });

  after(async () => {
    running = false;
    await producer?.disconnect().catch(() => undefined);
    await rabbitConnection?.close().catch(() => undefined);
    for (const list of Object.values(dispatchers)) for (const d of list) await d.stop();
    for (const operator of operators) await operator.stop();
    await receiver?.close();
    // Clusters this test started are stopped (unless HOOKLINE_KEEP_ENV=1); running ones are left.
    if (process.env.HOOKLINE_KEEP_ENV !== '1')
      await Promise.all([rabbit?.started && downRabbitCluster(), kafka?.started && downKafkaCluster()]);
  });

  function startOperatorReplica(identity: string): OperatorProcess {
    return startOperator({
      namespace,
      identity,
      env: {
        HOOKLINE_DEFAULT_BROKER_URI: rabbit.amqpUri,
        HOOKLINE_DEFAULT_BROKER_MANAGEMENT_URI: rabbit.managementUri,
        HOOKLINE_LOG_LEVEL: 'info',
      },
    });
  }

  const portOf = (d: RunningProcess) => Number(d.logs.find((l) => l.msg === 'Dispatcher listening')?.port);

  // Producers: one loop per stream, each event until it is acknowledged, then the next.
  let rabbitChannel: Promise<amqp.ConfirmChannel> | undefined;
  let rabbitConnection: amqp.ChannelModel | undefined;
  function rabbitPublisher(): Promise<amqp.ConfirmChannel> {
    rabbitChannel ??= (async () => {
      const connection = await connectBroker(rabbit.amqpUri, { name: 'soak-producer', timeoutMs: 5000 });
      rabbitConnection = connection;
      const channel = await connection.createConfirmChannel();
      const forget = () => (rabbitChannel = undefined);
      connection.once('close', forget);
      channel.once('close', forget);
      channel.on('error', () => undefined);
      return channel;
    })().catch((error: unknown) => {
      rabbitChannel = undefined;
      throw error;
    });
    return rabbitChannel;
  }

  async function produce(stream: Stream, n: number): Promise<boolean> {
    const text = body(stream, n);
    try {
      switch (stream.source) {
        case 'kafka':
          await producer.send({
            topic: TOPIC,
            acks: -1,
            timeout: 5000,
            messages: [{ key: stream.type, value: text }],
          });
          return true;
        case 'rabbit': {
          const channel = await rabbitPublisher();
          await new Promise<void>((resolve, reject) =>
            channel.publish(
              `soak.${namespace}`,
              stream.type,
              Buffer.from(text),
              { persistent: true, messageId: `${stream.hook}-${n}` },
              (error) => (error ? reject(error as Error) : resolve()),
            ),
          );
          return true;
        }
        case 'http': {
          const replicas = dispatchers.http.filter(
            (d) => d.child.exitCode === null && d.child.signalCode === null,
          );
          const target = replicas[n % replicas.length];
          if (!target) return false;
          const response = await fetch(`http://127.0.0.1:${portOf(target)}/v1/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: text,
            signal: AbortSignal.timeout(10_000),
          });
          await response.body?.cancel();
          return response.status === 202;
        }
      }
    } catch {
      return false;
    }
  }

  async function runStream(stream: Stream, quota: number, faultsDone: () => boolean): Promise<void> {
    for (let n = 0; running && (n < quota || !faultsDone());) {
      if (await produce(stream, n)) {
        stream.acknowledged.push(n);
        n++;
        await sleep(PACE_MS);
      } else await sleep(250);
    }
  }

  async function killLeadingOperator(): Promise<string> {
    const holder = (
      await kubectl([
        '-n',
        namespace,
        'get',
        'lease',
        'hookline-operator',
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ])
    ).stdout.trim();
    const leader = operators.find((o) => o.identity === holder);
    assert.ok(leader, `the lease is held by "${holder}", not by one of the test's operators`);
    await leader.kill();
    operators.splice(operators.indexOf(leader), 1);
    operators.push(startOperatorReplica(`soak-operator-${Date.now().toString(36)}`));
    return holder;
  }

  async function killDispatcherReplica(round: number): Promise<string> {
    const source = SOURCES[round % SOURCES.length]!;
    const victim = dispatchers[source].shift()!;
    await victim.kill();
    await addDispatcher(source);
    return source;
  }

  async function addDispatcher(source: SourceName): Promise<void> {
    const replica = await startDispatcher(namespace, source, {}, 120_000);
    dispatchers[source].push(replica);
    everyDispatcher[source].push(replica);
  }

  /**
   * What the broker and the dispatchers say of Webhooks that lost events or received them out
   * of order: each one's queues (messages ready, unacknowledged, consumers), the requests its
   * receiver got around `around` (event number, time, answer), and its source's replicas' last
   * log lines that name it. A failure in CI is otherwise a list of event ids and nothing to go on.
   */
  async function explain(problems: Map<string, { summary: string; around?: number }>): Promise<void> {
    const queues = await fetch(
      `${rabbit.nodes.find((n) => n.pid)?.managementUrl ?? rabbit.nodes[0]!.managementUrl}/api/queues/%2F?columns=name,messages_ready,messages_unacknowledged,consumers,type,state`,
      { headers: { authorization: authorization() }, signal: AbortSignal.timeout(10_000) },
    )
      .then((r) => r.json() as Promise<Record<string, unknown>[]>)
      .catch((error: unknown) => [{ error: String(error) }]);
    const time = (t: number) => new Date(t).toISOString().slice(11, 23);
    for (const [hook, { summary, around }] of problems) {
      const names = (text: string) => new RegExp(`${hook}(?!\\d)`).test(text);
      const stream = streams.find((s) => s.hook === hook)!;
      note(`${hook} (${stream.source}, ${stream.strict ? 'Strict' : 'Unordered'}): ${summary}`);
      for (const queue of queues.filter((q) => names(String(q.name)) || q.error))
        note(`  queue ${JSON.stringify(queue)}`);
      if (around !== undefined) {
        const requests = receiver.requests.flatMap((request, index) =>
          request.path === `/${hook}`
            ? [
                `#${(JSON.parse(request.body.toString()) as { n: number }).n} ${time(request.receivedAt)} ${accepted(index) ? 200 : 503}`,
              ]
            : [],
        );
        const at = requests.findIndex((r) => r.startsWith(`#${around} `));
        note(`  requests: ${requests.slice(Math.max(at - 8, 0), at + 8).join(', ')}`);
      }
      for (const replica of everyDispatcher[stream.source]) {
        const lines = replica.logs.filter((l) => names(JSON.stringify(l))).slice(-15);
        const gone = replica.child.exitCode !== null || replica.child.signalCode !== null;
        note(`  ${replica.name}${gone ? ' (gone)' : ''}: ${lines.length} lines naming it`);
        for (const line of lines) note(`    ${JSON.stringify(line).slice(0, 400)}`);
      }
    }
  }

  /** Deals the faults in turn, each kind after the other, until `FAULTS` were dealt. */
  async function dealFaults(): Promise<{ kind: string; what: string; at: number }[]> {
    const dealt: { kind: string; what: string; at: number }[] = [];
    for (let i = 0; i < FAULTS; i++) {
      await sleep(FAULT_GAP_MS);
      const at = Date.now();
      const round = Math.floor(i / 4);
      switch (i % 4) {
        case 0: {
          const node = rabbit.nodes[round % rabbit.nodes.length]!.name;
          await killRabbitNode(node);
          await sleep(5000);
          await startRabbitNode(node);
          dealt.push({ kind: 'rabbitmq node', what: node, at });
          break;
        }
        case 1: {
          const broker = kafka.members[round % kafka.members.length]!.nodeId;
          await killKafkaBroker(broker);
          await sleep(5000);
          await startKafkaBroker(broker);
          dealt.push({ kind: 'kafka broker', what: String(broker), at });
          break;
        }
        case 2:
          dealt.push({ kind: 'dispatcher replica', what: await killDispatcherReplica(round), at });
          break;
        case 3:
          dealt.push({ kind: 'leading operator', what: await killLeadingOperator(), at });
          break;
      }
      note(`fault ${i + 1}/${FAULTS}: kill -9 ${dealt.at(-1)!.kind} ${dealt.at(-1)!.what}`);
    }
    return dealt;
  }

  it('delivers every acknowledged event, Strict Webhooks in order, with status that converges', async () => {
    const began = Date.now();
    let faultsDone = false;
    const quota = Math.ceil(EVENTS / WEBHOOKS);
    const producing = Promise.all(streams.map((stream) => runStream(stream, quota, () => faultsDone)));
    const faults = await dealFaults();
    faultsDone = true;
    const lastFault = Date.now();
    await producing;
    // Status settles once the events stop: in the long form they go on long after the faults.
    const quiet = Date.now();
    const produced = streams.reduce((sum, s) => sum + s.acknowledged.length, 0);
    note(
      `${produced} events acknowledged by the producers in ${((Date.now() - began) / 1000).toFixed(0)} s; ${faults.length} faults`,
    );
    assert.ok(produced >= EVENTS, `only ${produced} events were produced`);
    assert.equal(faults.length, FAULTS);

    // Per Webhook: the events accepted (2xx) by the receiver, and every request in arrival order.
    const byHook = () => {
      const hooks = new Map<
        string,
        { accepted: Set<number>; acceptedRequests: number; acceptedAt: number[]; order: number[] }
      >();
      receiver.requests.forEach((request, index) => {
        const hook = request.path.slice(1);
        let entry = hooks.get(hook);
        if (!entry)
          hooks.set(hook, (entry = { accepted: new Set(), acceptedRequests: 0, acceptedAt: [], order: [] }));
        const n = (JSON.parse(request.body.toString()) as { n: number }).n;
        entry.order.push(n);
        if (accepted(index)) {
          entry.accepted.add(n);
          entry.acceptedRequests++;
          entry.acceptedAt.push(request.receivedAt);
        }
      });
      return hooks;
    };
    const missing = () =>
      streams.flatMap((stream) => {
        const got = byHook().get(stream.hook)?.accepted ?? new Set<number>();
        return stream.acknowledged.filter((n) => !got.has(n)).map((n) => `${stream.hook}#${n}`);
      });
    await eventually('every acknowledged event delivered', () => missing().length === 0 || undefined, {
      timeoutMs: 180_000,
      intervalMs: 1000,
    }).catch(async (error: unknown) => {
      const lost = missing();
      const byHook = new Map<string, number[]>();
      for (const id of lost) {
        const [hook, n] = id.split('#') as [string, string];
        byHook.set(hook, [...(byHook.get(hook) ?? []), Number(n)]);
      }
      await explain(
        new Map(
          [...byHook].map(([hook, numbers]) => [
            hook,
            {
              summary: `${numbers.length} of ${streams.find((s) => s.hook === hook)!.acknowledged.length} missing, #${numbers[0]}..#${numbers.at(-1)}`,
              around: numbers[0]! - 1,
            },
          ]),
        ),
      );
      throw new Error(`${lost.length} acknowledged events never delivered: ${lost.slice(0, 20).join(', ')}`, {
        cause: error,
      });
    });
    const hooks = byHook();
    const requests = receiver.requests.length;
    const duplicates = [...hooks.values()].reduce((sum, h) => sum + h.acceptedRequests - h.accepted.size, 0);
    note(
      `all ${produced} delivered: ${requests} requests, ${duplicates} duplicate deliveries (2xx) beyond the first`,
    );

    const violations = streams
      .filter((stream) => stream.strict)
      .flatMap((stream) => {
        const seen = new Set<number>();
        const firsts = (hooks.get(stream.hook)?.order ?? []).filter((n) => !seen.has(n) && seen.add(n));
        return firsts.flatMap((n, i) =>
          i > 0 && n < firsts[i - 1]! ? [{ hook: stream.hook, before: firsts[i - 1]!, after: n }] : [],
        );
      });
    note(`Strict order violations: ${violations.length}`);
    if (violations.length > 0) {
      note(
        `faults: ${faults.map((f) => `${f.kind} ${f.what} at ${new Date(f.at).toISOString().slice(11, 23)}`).join('; ')}`,
      );
      await explain(
        new Map(violations.map((v) => [v.hook, { summary: `${v.before} then ${v.after}`, around: v.after }])),
      );
    }
    assert.deepEqual(
      violations.map((v) => `${v.hook}: ${v.before} then ${v.after}`),
      [],
      'Strict Webhooks received events out of order',
    );

    // What a killed replica may have taken along: the accepted deliveries of its source's
    // Webhooks in the UNWRITTEN_MS before it was killed.
    const replicaKills = faults.filter((f) => f.kind === 'dispatcher replica');
    const unwritten = (stream: Stream, acceptedAt: number[]) =>
      replicaKills
        .filter((kill) => kill.what === stream.source)
        .reduce(
          (sum, kill) =>
            sum + acceptedAt.filter((t) => t >= kill.at - UNWRITTEN_MS && t <= kill.at + 1000).length,
          0,
        );
    // Status cannot count a delivery before the receiver has it: when the last deliveries come
    // after the producers stop (a killed Kafka member's partitions wait out its session), the
    // 30 s run from the last accepted delivery.
    const lastAccepted = [...hooks.values()].reduce((last, h) => Math.max(last, h.acceptedAt.at(-1) ?? 0), 0);
    const settleFrom = Math.max(quiet, lastAccepted);
    note(
      `last accepted delivery ${((lastAccepted - quiet) / 1000).toFixed(1)} s after the last event was produced`,
    );
    const deadline = settleFrom + 30_000;
    let shortfall = 0;
    const settled = await eventually(
      'each Webhook’s status.deliveries.succeeded between its distinct (less what a killed replica held) and its total accepted deliveries',
      async () => {
        const list = JSON.parse(
          (await kubectl(['-n', namespace, 'get', 'webhooks', '-o', 'json'])).stdout,
        ) as {
          items: { metadata: { name: string }; status?: { deliveries?: { succeeded?: number } } }[];
        };
        const current = byHook();
        shortfall = 0;
        const off = list.items.flatMap((w) => {
          const stream = streams.find((s) => s.hook === w.metadata.name);
          const h = current.get(w.metadata.name);
          if (!stream || !h) return [];
          const succeeded = w.status?.deliveries?.succeeded ?? 0;
          const floor = h.accepted.size - unwritten(stream, h.acceptedAt);
          shortfall += Math.max(h.accepted.size - succeeded, 0);
          return succeeded < floor || succeeded > h.acceptedRequests
            ? [
                `${w.metadata.name}: ${succeeded} not in [${floor}, ${h.acceptedRequests}] (${h.accepted.size} distinct)`,
              ]
            : [];
        });
        if (off.length > 0) throw new Error(`${off.length} Webhooks: ${off.slice(0, 10).join('; ')}`);
        return Date.now();
      },
      { timeoutMs: Math.max(deadline - Date.now(), 1000), intervalMs: 1000 },
    );
    note(
      `status settled ${((settled - lastFault) / 1000).toFixed(1)} s after the last fault and ` +
        `${((settled - quiet) / 1000).toFixed(1)} s after the last event was produced, ` +
        `${((settled - lastAccepted) / 1000).toFixed(1)} s after the last accepted delivery; ` +
        `${shortfall} counts short of the distinct deliveries in all (taken along by killed replicas)`,
    );
    assert.ok(
      settled <= deadline + 1000,
      `status settled ${settled - settleFrom} ms after the last event was produced and delivered`,
    );
  });
});
