// bench/ingest: how fast Kafka records become confirmed RabbitMQ messages through the
// dispatcher's Kafka ingest (event type from the record header, validation, confirms
// before each commit) on each Kafka client it can use, next to a minimal baseline on each
// of those clients (bench/baseline-ingest.ts: consume → amqplib publish with confirms →
// commit), all measured in the same run, in rounds whose order rotates. Each round
// pre-produces the records to a fresh topic per pipeline, starts the pipeline from the
// earliest offset, and times the arrival of the measured records in a queue bound to the
// pipeline's exchange: those after the first --warmup ones, which a freshly started process
// handles while its code is still being compiled. Hookline is compared with the fastest
// baseline.
//
//   npm run bench:ingest [-- --records 100000 --warmup 20000 --rounds 9]   (BENCH_PROFILE=1: CPU profiles of the dispatcher in /tmp/prof)
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { KAFKA_CLIENTS, type KafkaClientName } from '../dispatcher/ingest/kafka-clients.ts';
import { envConfig } from '../test/env/config.ts';
import { up } from '../test/env/env.ts';
import { freshNamespace, kafka, testEnv } from '../test/env/handles.ts';
import { apply, waitForSourceInPlace } from '../test/fixtures/cluster.ts';
import { installCrds } from '../test/fixtures/crds.ts';
import { startDispatcher } from '../test/fixtures/dispatcher.ts';
import { startOperator } from '../test/fixtures/operator.ts';
import { startProcess, type RunningProcess } from '../test/fixtures/process.ts';
import { anchorEvent } from './events.ts';
import { writeResults } from './results-file.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    warmup: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '9' },
    partitions: { type: 'string', default: '3' },
  },
});
const RECORDS = Number(values.records);
const WARMUP = Number(values.warmup);
/** Every record a round produces: the warm-up ones, then the measured ones. */
const PRODUCED = WARMUP + RECORDS;
const ROUNDS = Number(values.rounds);
const PARTITIONS = Number(values.partitions);
const run = Date.now().toString(36);

await up(envConfig());
await installCrds();
const amqpUrl = testEnv().rabbitmq.amqpUrl;
const brokers = testEnv().kafka.brokers;
const namespace = await freshNamespace('bench-ingest');
const operator = startOperator({ namespace, env: { HOOKLINE_LOG_LEVEL: 'warn' } });
const connection = await amqp.connect(amqpUrl);
const channel = await connection.createChannel();

/** Anchor Platform-shaped records of about 600 bytes, keyed by event id, typed by header. */
async function produce(topic: string): Promise<void> {
  const admin = kafka('bench-admin').admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka('bench-producer').producer();
  await producer.connect();
  for (let start = 0; start < PRODUCED; start += 2000) {
    const messages = Array.from({ length: Math.min(2000, PRODUCED - start) }, (_, j) => {
      const i = start + j;
      const { type, json } = anchorEvent(`${run}-${i}`, i, 200);
      return { key: `${run}-${i}`, value: json, headers: { type } };
    });
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
}

/**
 * Records per second arriving in `queue` from the end of the warm-up to the last record:
 * the messages counted after the first look past the warm-up, over the time since it.
 */
async function timeArrivals(queue: string, pipeline: RunningProcess): Promise<number> {
  let first: { at: number; count: number } | undefined;
  const deadline = performance.now() + 600_000;
  for (;;) {
    const { messageCount } = await channel.checkQueue(queue);
    const now = performance.now();
    if (messageCount >= Math.max(WARMUP, 1)) first ??= { at: now, count: messageCount };
    if (messageCount >= PRODUCED && first && now > first.at)
      return (messageCount - first.count) / ((now - first.at) / 1000);
    if (now > deadline) throw new Error(`${pipeline.name}: ${messageCount} of ${PRODUCED} after 10 min`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function countingQueue(name: string, exchange: string): Promise<void> {
  await channel.assertQueue(name, { durable: false, autoDelete: false });
  await channel.bindQueue(name, exchange, '#');
}

/** Records per second through the dispatcher's Kafka ingest on `client`. */
async function hooklineRound(round: number, client: KafkaClientName): Promise<number> {
  const topic = `bench-ingest-${run}-h${round}-${client}`;
  await produce(topic);
  const source = `kafka-${round}-${client}`;
  await apply(
    namespace,
    `apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: ${source}}
spec:
  kafka: {brokers: [${brokers.join(', ')}], topic: ${topic}, startFrom: earliest}
  eventType: {header: type}
`,
  );
  await waitForSourceInPlace(namespace, source, 60_000);
  const queue = `bench.${namespace}.${source}`;
  await countingQueue(queue, `hookline.${namespace}.${source}`);
  const dispatcher = await startDispatcher(namespace, source, {
    HOOKLINE_KAFKA_CLIENT: client,
    ...(process.env.BENCH_PROFILE ? { NODE_OPTIONS: '--cpu-prof --cpu-prof-dir=/tmp/prof' } : {}),
  });
  try {
    return await timeArrivals(queue, dispatcher);
  } finally {
    await dispatcher.stop();
    await channel.deleteQueue(queue);
  }
}

/** Records per second through the baseline on `client`. */
async function baselineRound(round: number, client: KafkaClientName): Promise<number> {
  const topic = `bench-ingest-${run}-b${round}-${client}`;
  await produce(topic);
  const exchange = `baseline.${namespace}.${round}.${client}`;
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const queue = `baseline.${namespace}.${round}.${client}`;
  await countingQueue(queue, exchange);
  const baseline = startProcess(
    'baseline-ingest',
    [
      path.join(import.meta.dirname, 'baseline-ingest.ts'),
      client,
      brokers.join(','),
      topic,
      `baseline-${run}-${round}-${client}`,
      amqpUrl,
      exchange,
    ],
    process.env,
  );
  await baseline.waitForLog('start', (l) => l.msg === 'Baseline started', 30_000);
  try {
    return await timeArrivals(queue, baseline);
  } finally {
    await baseline.stop();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
  }
}

const clients = Object.keys(KAFKA_CLIENTS) as KafkaClientName[];
const pipelines = clients.flatMap((client) => [`hookline-${client}`, `baseline-${client}`]);
const rates: Record<string, number[]> = Object.fromEntries(pipelines.map((name) => [name, []]));
for (let round = 1; round <= ROUNDS; round++) {
  // Each round starts one pipeline later, so that none always runs first or last.
  const shift = (round - 1) % pipelines.length;
  for (const name of [...pipelines.slice(shift), ...pipelines.slice(0, shift)]) {
    const [which, client] = name.split('-') as ['hookline' | 'baseline', KafkaClientName];
    const rate = Math.round(
      which === 'hookline' ? await hooklineRound(round, client) : await baselineRound(round, client),
    );
    rates[name]!.push(rate);
    console.log(`round ${round} ${name}: ${rate} records/s after ${WARMUP} warm-up records`);
  }
}
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const medians = Object.fromEntries(pipelines.map((name) => [name, median(rates[name]!)]));
const fastest = clients
  .map((client) => `baseline-${client}`)
  .reduce((best, name) => (medians[name]! > medians[best]! ? name : best));
const ratios = Object.fromEntries(
  clients.map((client) => [
    `hookline-${client}`,
    Number((medians[`hookline-${client}`]! / medians[fastest]!).toFixed(2)),
  ]),
);
console.log(`
bench/ingest: medians of ${ROUNDS} rounds, ${RECORDS} records of ~600 bytes on ${PARTITIONS} partitions after ${WARMUP} warm-up records
${pipelines.map((name) => `  ${name.padEnd(22)} ${medians[name]} records/s`).join('\n')}
  fastest baseline       ${fastest}
${clients.map((client) => `  ratio hookline-${client.padEnd(13)} ${ratios[`hookline-${client}`]!.toFixed(2)}× of ${fastest}`).join('\n')}`);
await writeResults('ingest.json', {
  records: RECORDS,
  warmup: WARMUP,
  partitions: PARTITIONS,
  rounds: rates,
  medians,
  fastestBaseline: fastest,
  ratios,
  date: new Date().toISOString(),
});
await connection.close();
await operator.stop();
process.exit(0);
