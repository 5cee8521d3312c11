// `kubectl hookline` against the real operator, dispatcher, API server and broker, run as a
// subprocess the way a user runs it (and once through kubectl's plugin discovery): status
// and attempts on a delivering and a failing Webhook, reenable of a disabled one, replay
// --since that moves exactly the dead letters of its window, and send-test against a
// receiver that accepts and one that refuses.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { amqpConnect, freshNamespace, kubectl, testEnv } from '../env/handles.ts';
import { parseTable, rowsByName } from '../e2e/table.ts';
import { publishEvents, queueDepth } from '../fixtures/broker.ts';
import {
  apply,
  getObject,
  rabbitSourceManifests,
  waitForReady,
  waitForSourceInPlace,
  type HooklineObject,
} from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { answer, startReceiver, type Receiver, type RecordedRequest } from '../fixtures/receiver.ts';
import { readSecret } from '../fixtures/secrets.ts';
import { verifyStandardWebhooks } from '../fixtures/verifiers.ts';
import { eventually } from '../fixtures/wait.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const bin = path.join(repo, 'cli', 'kubectl-hookline.ts');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 90_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `kubectl hookline <args>`, as `node cli/kubectl-hookline.ts` with the test env's kubeconfig. */
function cli(args: readonly string[]): Promise<CliResult> {
  return run(process.execPath, [bin, ...args], { ...process.env, KUBECONFIG: testEnv().kubeconfig });
}

const eventIdOf = (r: RecordedRequest) => String(r.headers['hookline-event-id'] ?? r.headers['webhook-id']);
const statusOf = (hook: HooklineObject | undefined) =>
  (hook?.status ?? {}) as {
    disabled?: boolean;
    deliveries?: Record<string, number>;
    recentAttempts?: unknown[];
    lastTest?: Record<string, unknown>;
  };

/** The event ids in a queue, left in it (the messages go back when the channel closes). */
async function idsIn(queue: string): Promise<string[]> {
  const connection = await amqpConnect();
  try {
    const channel = await connection.createChannel();
    const ids: string[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: false });
      if (!message) break;
      ids.push(String(message.properties.messageId));
    }
    await channel.close();
    return ids;
  } finally {
    await connection.close();
  }
}

const hook = (name: string, receiver: Receiver, extra: string) => `apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${name}}
spec:
  sourceRef: {name: orders}
  url: http://127.0.0.1:${receiver.port}/${name}
  events: ["${name}.#"]
${extra}`;

describe('kubectl hookline', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  const receivers: Record<'ok' | 'failing' | 'broken', Receiver> = {} as never;

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('kubectl-hookline');
    exchange = `events.${namespace}`;
    operator = startOperator({ namespace, env: { HOOKLINE_RESYNC_PERIOD: '5s' } });
    await apply(namespace, rabbitSourceManifests('orders', testEnv().rabbitmq.amqpUrl, exchange));
    await waitForSourceInPlace(namespace, 'orders');
    receivers.ok = await startReceiver(answer.status(200, 'accepted'));
    receivers.failing = await startReceiver(answer.status(500, 'boom'));
    receivers.broken = await startReceiver(answer.status(503, 'down'));
    await apply(
      namespace,
      [
        `apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: short}
spec:
  retry: {schedule: [100ms]}
  onExhausted: {deadLetter: true}
---
apiVersion: hookline.dev/v1alpha1
kind: CallbackPolicy
metadata: {name: disabling}
spec:
  retry: {schedule: [100ms]}
  onExhausted: {deadLetter: false, disableWebhook: true}
`,
        hook('ok', receivers.ok, '  signing: {scheme: standard-webhooks}\n'),
        hook('failing', receivers.failing, '  policyRef: {name: short}\n  signing: {scheme: none}\n'),
        hook('broken', receivers.broken, '  policyRef: {name: disabling}\n  signing: {scheme: none}\n'),
      ].join('---\n'),
    );
    for (const name of ['ok', 'failing', 'broken'])
      await waitForReady(namespace, 'webhooks', name, 'True', undefined, 60_000);
    dispatcher = await startDispatcher(namespace, 'orders', { HOOKLINE_SAMPLE_INTERVAL_MS: '300' });
    await eventually(
      'three workers',
      () => dispatcher.logs.filter((l) => l.msg === 'Delivering to Webhook').length >= 3,
    );
  });
  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    for (const receiver of Object.values(receivers)) await receiver?.close();
  });

  it('status: a table an SRE reads, and the same fields in -o json', async () => {
    await publishEvents(exchange, [
      ...[1, 2, 3].map((n) => ({ routingKey: 'ok.created', messageId: `ok-${n}`, body: `{"n":${n}}` })),
      { routingKey: 'failing.created', messageId: 'f-0', body: '{"n":0}' },
    ]);
    await receivers.ok.waitForRequests(3, 20_000);
    await eventually(
      'the dead letter of failing',
      async () => (await queueDepth(`hookline.${namespace}.failing.dlq`)) === 1,
    );
    const summaries = await eventually('the sampled backlog and the counters in status', async () => {
      const { code, stdout } = await cli(['status', '-n', namespace, '-o', 'json']);
      assert.equal(code, 0);
      const parsed = JSON.parse(stdout) as Record<string, unknown>[];
      const byName = new Map(parsed.map((s) => [s.name, s]));
      const ok = byName.get('ok');
      const failing = byName.get('failing');
      return ok?.delivered === 3 && failing?.deadLettered === 1 && failing.failed === 1 && ok.waiting === 0
        ? byName
        : undefined;
    });
    assert.deepEqual([...summaries.keys()], ['broken', 'failing', 'ok'], 'sorted by name');
    assert.deepEqual(
      { ...summaries.get('failing'), lastAttempt: '-', backlogObservedAt: '-', deliveredPerMinute: '-' },
      {
        namespace,
        name: 'failing',
        ready: 'True',
        reason: null,
        message: null,
        disabled: false,
        disabledReason: null,
        circuit: null,
        waiting: 0,
        deadLettered: 1,
        deliveredPerMinute: '-',
        backlogObservedAt: '-',
        delivered: 0,
        failed: 1,
        lastStatus: 500,
        lastError: 'HTTP 500: boom',
        lastAttempt: '-',
      },
    );

    const { code, stdout, stderr } = await cli(['status', '-n', namespace]);
    assert.equal(code, 0, stderr);
    process.stderr.write(`[kubectl hookline status]\n${stdout}`);
    const table = parseTable(stdout);
    assert.deepEqual(table.columns, [
      'NAME',
      'READY',
      'REASON',
      'DISABLED',
      'CIRCUIT',
      'WAITING',
      'DEAD',
      'RATE',
      'DELIVERED',
      'FAILED',
      'LAST-STATUS',
      'LAST-ERROR',
      'LAST-ATTEMPT',
    ]);
    const rows = rowsByName(table);
    assert.deepEqual(
      [
        rows.get('ok')!.READY,
        rows.get('ok')!.DELIVERED,
        rows.get('ok')!.DEAD,
        rows.get('ok')!['LAST-STATUS'],
      ],
      ['True', '3', '0', '200'],
    );
    assert.match(rows.get('ok')!.RATE!, /^\d+\/min$/);
    assert.match(rows.get('ok')!['LAST-ATTEMPT']!, /^\d+s$/);
    const failing = rows.get('failing')!;
    assert.deepEqual(
      [failing.DEAD, failing.FAILED, failing['LAST-STATUS'], failing['LAST-ERROR']],
      ['1', '1', '500', 'HTTP 500: boom'],
    );
    assert.deepEqual([rows.get('broken')!['LAST-STATUS'], rows.get('broken')!['LAST-ATTEMPT']], ['-', '-']);

    // The same through kubectl's plugin discovery: the bin on PATH under its plugin name.
    const pluginDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-plugin-'));
    fs.symlinkSync(bin, path.join(pluginDir, 'kubectl-hookline'));
    const env = testEnv();
    const viaKubectl = await run(env.kubectl, ['hookline', 'status', '-n', namespace], {
      ...process.env,
      PATH: `${pluginDir}${path.delimiter}${process.env.PATH ?? ''}`,
      KUBECONFIG: env.kubeconfig,
    });
    assert.equal(viaKubectl.code, 0, viaKubectl.stderr);
    assert.deepEqual(parseTable(viaKubectl.stdout).columns, table.columns);
    assert.deepEqual([...rowsByName(parseTable(viaKubectl.stdout)).keys()], ['broken', 'failing', 'ok']);
  });

  it('attempts: the activation history as a table and as JSON; a missing Webhook is named', async () => {
    const { code, stdout, stderr } = await cli(['attempts', 'failing', '-n', namespace]);
    assert.equal(code, 0, stderr);
    process.stderr.write(`[kubectl hookline attempts failing]\n${stdout}`);
    const table = parseTable(stdout);
    assert.deepEqual(table.columns, [
      'TIME',
      'EVENT',
      'TYPE',
      'ATTEMPT',
      'OUTCOME',
      'STATUS',
      'DURATION',
      'RETRY-AFTER',
      'ERROR',
    ]);
    assert.deepEqual(
      table.rows.map((r) => [r.EVENT, r.TYPE, r.ATTEMPT, r.OUTCOME, r.STATUS, r.ERROR]),
      [
        ['f-0', 'failing.created', '2', 'DeadLettered', '500', 'HTTP 500: boom'],
        ['f-0', 'failing.created', '1', 'Retrying', '500', 'HTTP 500: boom'],
      ],
    );
    const json = await cli(['attempts', 'failing', '-n', namespace, '-o', 'json']);
    const attempts = JSON.parse(json.stdout) as { eventId: string; attempt: number; responseBody?: string }[];
    assert.deepEqual(
      attempts.map((a) => [a.eventId, a.attempt]),
      [
        ['f-0', 2],
        ['f-0', 1],
      ],
    );

    const missing = await cli(['attempts', 'nope', '-n', namespace]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `error: webhook "nope" not found in namespace "${namespace}"\n`);
    const usage = await cli(['attempts', '-n', namespace]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^error: attempts needs <webhook>\n/);
  });

  it('send-test: one signed synthetic event through the real path, no queue, no counters', async () => {
    const before = receivers.ok.requests.length;
    const { code, stdout, stderr } = await cli(['send-test', 'ok', '-n', namespace]);
    process.stderr.write(`[kubectl hookline send-test ok]\n${stdout}${stderr}`);
    assert.equal(code, 0, stderr);
    const [, token] =
      /test event test-(\S+) Succeeded: HTTP 200 in \d+ms\n {2}body: {2}accepted\n/.exec(stdout) ?? [];
    assert.ok(token, `the receiver's answer is shown on success too: ${stdout}`);
    assert.equal(statusOf(await getObject(namespace, 'webhooks', 'ok')).lastTest?.responseBody, 'accepted');
    assert.equal(receivers.ok.requests.length, before + 1);
    const request = receivers.ok.requests.at(-1)!;
    assert.equal(request.headers['webhook-id'], `test-${token}`);
    assert.equal(request.headers['hookline-event-type'], 'hookline.test');
    assert.deepEqual(JSON.parse(request.body.toString()), { type: 'hookline.test', webhook: 'ok', token });
    const secret = await readSecret(namespace, 'ok-signing', 'secret');
    assert.ok(verifyStandardWebhooks(request, secret), 'signed with the Webhook secret');
    assert.equal(
      statusOf(await getObject(namespace, 'webhooks', 'ok')).deliveries?.succeeded,
      3,
      'not counted',
    );

    const dlqBefore = await queueDepth(`hookline.${namespace}.failing.dlq`);
    const attemptsBefore = statusOf(await getObject(namespace, 'webhooks', 'failing')).recentAttempts?.length;
    const failed = await cli(['send-test', 'failing', '-n', namespace]);
    process.stderr.write(`[kubectl hookline send-test failing]\n${failed.stdout}${failed.stderr}`);
    assert.equal(failed.code, 1, 'exit 1 when the receiver refused it');
    assert.match(
      failed.stdout,
      /test event test-\S+ Failed: HTTP 500 in \d+ms\n {2}error: HTTP 500: boom\n {2}body: {2}boom\n/,
    );
    const json = await cli(['send-test', 'failing', '-n', namespace, '-o', 'json']);
    assert.equal(json.code, 1);
    const answered = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(
      [answered.webhook, answered.outcome, answered.statusCode, answered.responseBody, answered.error],
      ['failing', 'Failed', 500, 'boom', 'HTTP 500: boom'],
    );
    assert.match(String(answered.eventId), /^test-/);
    await sleep(500);
    assert.equal(
      await queueDepth(`hookline.${namespace}.failing.dlq`),
      dlqBefore,
      'no dead letter, no retry',
    );
    assert.equal(receivers.failing.requests.filter((r) => eventIdOf(r).startsWith('test-')).length, 2);
    assert.equal(
      statusOf(await getObject(namespace, 'webhooks', 'failing')).recentAttempts?.length,
      attemptsBefore,
    );
  });

  it('reenable: a disabled Webhook delivers again', async () => {
    await publishEvents(exchange, [{ routingKey: 'broken.created', messageId: 'b-0', body: '{}' }]);
    await waitForReady(namespace, 'webhooks', 'broken', 'False', 'RetriesExhausted');
    const before = await cli(['status', '-n', namespace]);
    process.stderr.write(`[kubectl hookline status, broken disabled]\n${before.stdout}`);
    const row = rowsByName(parseTable(before.stdout)).get('broken')!;
    assert.deepEqual(
      [row.READY, row.REASON, row.DISABLED, row['LAST-STATUS']],
      ['False', 'RetriesExhausted', 'true', '503'],
    );

    receivers.broken.respondWith(answer.status(200));
    const { code, stdout, stderr } = await cli(['reenable', 'broken', '-n', namespace]);
    process.stderr.write(`[kubectl hookline reenable broken]\n${stdout}${stderr}`);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'webhook/broken re-enabled (Ready=True)\n');
    assert.notEqual(statusOf(await getObject(namespace, 'webhooks', 'broken')).disabled, true);
    const seen = receivers.broken.requests.length;
    await publishEvents(exchange, [{ routingKey: 'broken.created', messageId: 'b-1', body: '{}' }]);
    await receivers.broken.waitForRequests(seen + 1, 20_000);
    assert.equal(eventIdOf(receivers.broken.requests.at(-1)!), 'b-1');

    const again = await cli(['reenable', 'broken', '-n', namespace, '-o', 'json']);
    assert.equal(again.code, 0, again.stderr);
    const result = JSON.parse(again.stdout) as Record<string, unknown>;
    assert.deepEqual([result.wasDisabled, result.disabled, result.ready], [false, false, 'True']);
  });

  it('replay --since: exactly the dead letters of the window go back, the others stay', async () => {
    const dlq = `hookline.${namespace}.failing.dlq`;
    await publishEvents(
      exchange,
      ['a-1', 'a-2'].map((id) => ({ routingKey: 'failing.created', messageId: id, body: `{"id":"${id}"}` })),
    );
    await eventually('the early dead letters', async () => (await queueDepth(dlq)) === 3);
    await sleep(200);
    const since = new Date();
    await sleep(200);
    await publishEvents(
      exchange,
      ['b-1', 'b-2', 'b-3'].map((id) => ({
        routingKey: 'failing.created',
        messageId: id,
        body: `{"id":"${id}"}`,
      })),
    );
    await eventually('the later dead letters', async () => (await queueDepth(dlq)) === 6);

    receivers.failing.respondWith(answer.status(200));
    const before = receivers.failing.requests.length;
    const { code, stdout, stderr } = await cli([
      'replay',
      'failing',
      '-n',
      namespace,
      '--since',
      since.toISOString(),
    ]);
    process.stderr.write(
      `[kubectl hookline replay failing --since ${since.toISOString()}]\n${stdout}${stderr}`,
    );
    assert.equal(code, 0, stderr);
    assert.equal(
      stdout,
      `webhook/failing: Moved 3 events dead-lettered since ${since.toISOString()} back to queue hookline.${namespace}.failing; 3 others stay in the dead-letter queue\n`,
    );
    await receivers.failing.waitForRequests(before + 3, 20_000);
    await sleep(1000);
    const replayed = receivers.failing.requests.slice(before).map(eventIdOf);
    assert.deepEqual([...replayed].sort(), ['b-1', 'b-2', 'b-3'], 'only the window, each once');
    assert.deepEqual(
      receivers.failing.requests.slice(before).map((r) => r.headers['hookline-attempt']),
      ['1', '1', '1'],
      'with their full retries',
    );
    assert.equal(await queueDepth(dlq), 3);
    assert.deepEqual((await idsIn(dlq)).sort(), ['a-1', 'a-2', 'f-0'], 'the earlier ones stay in the DLQ');

    // Without a window every one goes, and the window of the last replay is gone.
    const all = await cli(['replay', 'failing', '-n', namespace, '-o', 'json']);
    assert.equal(all.code, 0, all.stderr);
    process.stderr.write(`[kubectl hookline replay failing -o json]\n${all.stdout}`);
    const result = JSON.parse(all.stdout) as Record<string, unknown>;
    assert.deepEqual([result.moved, result.kept, result.since, result.until], [3, 0, null, null]);
    await receivers.failing.waitForRequests(before + 6, 20_000);
    assert.deepEqual(
      receivers.failing.requests
        .slice(before + 3)
        .map(eventIdOf)
        .sort(),
      ['a-1', 'a-2', 'f-0'],
    );
    await eventually('an empty DLQ', async () => (await queueDepth(dlq)) === 0);
    const annotations = (await getObject(namespace, 'webhooks', 'failing'))?.metadata.annotations ?? {};
    assert.equal(annotations['hookline.dev/replay-since'], undefined);

    const bad = await cli(['replay', 'failing', '-n', namespace, '--since', 'last tuesday']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: --since: "last tuesday" is neither an RFC 3339 time/);

    // A window the operator cannot read (set by hand) moves nothing and says why.
    receivers.failing.respondWith(answer.status(500, 'boom'));
    await publishEvents(exchange, [{ routingKey: 'failing.created', messageId: 'c-1', body: '{}' }]);
    await eventually('one more dead letter', async () => (await queueDepth(dlq)) === 1, {
      timeoutMs: 20_000,
    });
    await kubectl([
      'annotate',
      '--overwrite',
      '-n',
      namespace,
      'webhook',
      'failing',
      'hookline.dev/replay=by-hand',
      'hookline.dev/replay-since=yesterday',
    ]);
    await eventually('the token handled', async () => {
      const status = (await getObject(namespace, 'webhooks', 'failing'))?.status as
        { handledAnnotations?: { replay?: string } } | undefined;
      return status?.handledAnnotations?.replay === 'by-hand';
    });
    const { stdout: events } = await kubectl([
      'get',
      'events',
      '-n',
      namespace,
      '--field-selector',
      'involvedObject.name=failing,reason=ReplayRefused',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    assert.equal(
      events,
      'annotation hookline.dev/replay-since: "yesterday" is not an RFC 3339 time such as 2026-12-02T10:00:00Z; nothing was replayed [replay by-hand]',
    );
    assert.equal(await queueDepth(dlq), 1);
  });
});
