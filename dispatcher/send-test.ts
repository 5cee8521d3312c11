// The answer to hookline.dev/send-test: when a Webhook of this source carries a token its
// status has not answered yet, one synthetic event (type hookline.test, id test-<token>)
// goes to it through the same request building, signing, authentication and HTTP client as
// a real delivery, but not through a queue: it is never retried, counted or recorded as an
// attempt, and neither `match`, `suspend` nor a disabled state holds it back. Its result
// goes to status.lastTest with the token. The replicas of a dispatcher take a token by
// creating an Event of a name derived from it, so that only one of them sends.
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { SEND_TEST_ANNOTATION, TEST_EVENT_TYPE, testEventBody, testEventId } from '../core/annotations.ts';
import {
  ATTEMPT_ERROR_MAX_LENGTH,
  RESPONSE_BODY_MAX_LENGTH,
  type WebhookStatus,
} from '../core/api/v1alpha1/webhook.ts';
import { errorMessage } from '../core/errors.ts';
import { isConflict, isNotFound, resourcePath, type KubeClient } from '../core/kube/client.ts';
import type { RawObject } from '../core/kube/objects.ts';
import { sourceOf } from '../core/references.ts';
import { Retry, systemClock, type Clock } from '../core/retry.ts';
import { truncate } from '../core/status/text.ts';
import { kubeTime } from '../core/time.ts';
import type { HttpClient, HttpResult } from './deliver/http.ts';
import { decide, describeResult } from './deliver/policy.ts';
import { attemptRequest } from './deliver/request.ts';
import type { HookConfig, Resolved } from './hooks.ts';

export type LastTest = NonNullable<WebhookStatus['lastTest']>;

export interface SendTestDeps {
  client: KubeClient;
  namespace: string;
  source: string;
  /** The shared HTTP client of hooks with this connect timeout. */
  http: (connectTimeoutMs: number) => HttpClient;
  logger: Logger;
  clock?: Clock;
}

/** A Webhook of `source` whose send-test token is neither answered in its status nor taken here. */
export function pendingTests(
  webhooks: Iterable<RawObject>,
  source: string,
  taken: ReadonlyMap<string, string>,
): { raw: RawObject; token: string }[] {
  const pending: { raw: RawObject; token: string }[] = [];
  for (const raw of webhooks) {
    const token = raw.metadata.annotations?.[SEND_TEST_ANNOTATION];
    if (token === undefined || token === '' || sourceOf(raw) !== source || raw.metadata.deletionTimestamp)
      continue;
    const answered = (raw.status as WebhookStatus | undefined)?.lastTest?.token;
    if (answered === token || taken.get(raw.metadata.name) === token) continue;
    pending.push({ raw, token });
  }
  return pending;
}

/** What a test's result says: After hooks pass on their policy's successCodes, Before hooks on expectedStatus. */
export function testResult(
  config: HookConfig,
  result: HttpResult,
): Pick<LastTest, 'statusCode' | 'durationMs' | 'outcome' | 'error' | 'responseBody'> {
  const expected = config.spec.expectedStatus ?? 200;
  const passed =
    config.spec.phase === 'Before'
      ? result.kind === 'response' && result.status === expected
      : decide(config.policy, result, 1).kind === 'delivered';
  const error =
    config.spec.phase === 'Before'
      ? `${describeResult(result)} (expected HTTP ${expected})`
      : describeResult(result);
  const body = result.kind === 'response' ? result.body : '';
  return {
    ...(result.kind === 'response' ? { statusCode: result.status } : {}),
    durationMs: Math.max(0, Math.round(result.durationMs)),
    outcome: passed ? 'Succeeded' : 'Failed',
    ...(passed ? {} : { error: truncate(error, ATTEMPT_ERROR_MAX_LENGTH) }),
    ...(body ? { responseBody: truncate(body, RESPONSE_BODY_MAX_LENGTH) } : {}),
  };
}

/** Status writes of a test's answer are tried this often before it is given up (and logged). */
const WRITE_TRIES = 5;

export class SendTests {
  readonly #d: SendTestDeps;
  readonly #clock: Clock;
  /** The token taken per Webhook, so that one is sent once whatever the number of syncs. */
  readonly #taken = new Map<string, string>();
  readonly #running = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor(deps: SendTestDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  /** Starts the test of every Webhook with a new token; never waits for one, never throws. */
  sync(webhooks: readonly RawObject[], resolve: (raw: RawObject) => Promise<Resolved>): void {
    if (this.#stop.signal.aborted) return;
    const names = new Set(webhooks.map((raw) => raw.metadata.name));
    for (const name of this.#taken.keys()) if (!names.has(name)) this.#taken.delete(name);
    for (const { raw, token } of pendingTests(webhooks, this.#d.source, this.#taken)) {
      this.#taken.set(raw.metadata.name, token);
      const running: Promise<void> = this.#test(raw, token, resolve)
        .catch((error: unknown) =>
          this.#d.logger.error(
            { webhook: raw.metadata.name, token, err: errorMessage(error) },
            'Could not answer a test event request',
          ),
        )
        .finally(() => this.#running.delete(running));
      this.#running.add(running);
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all([...this.#running]);
  }

  async #test(raw: RawObject, token: string, resolve: (raw: RawObject) => Promise<Resolved>): Promise<void> {
    const name = raw.metadata.name;
    const eventId = testEventId(token);
    const logger = this.#d.logger.child({ webhook: name, eventId });
    if (!(await this.#claim(raw, token, eventId, logger))) return;
    const started = new Date(this.#clock.now());
    const resolved = await resolve(raw);
    const answer: LastTest = {
      token,
      time: kubeTime(started),
      eventId,
      ...(resolved.ok
        ? await this.#send(resolved.config, eventId, token, started)
        : {
            durationMs: 0,
            outcome: 'Failed' as const,
            error: truncate(`the Webhook cannot be called: ${resolved.reason}`, ATTEMPT_ERROR_MAX_LENGTH),
          }),
    };
    logger.info(
      { outcome: answer.outcome, statusCode: answer.statusCode, durationMs: answer.durationMs },
      'Sent test event',
    );
    await this.#write(name, answer, logger);
  }

  async #send(
    config: HookConfig,
    eventId: string,
    token: string,
    started: Date,
  ): Promise<Omit<LastTest, 'token' | 'time' | 'eventId'>> {
    const body = testEventBody(config.name, token);
    const meta = { id: eventId, type: TEST_EVENT_TYPE, attempt: 1, firstSeen: started.getTime() };
    try {
      const request = await attemptRequest(
        config,
        meta,
        { body, json: JSON.parse(body.toString()) },
        started,
      );
      const result = await this.#d.http(config.connectTimeoutMs).send({
        url: config.url,
        headers: request.headers,
        body: request.body,
        requestTimeoutMs: config.requestTimeoutMs,
        keepBody: true,
      });
      return testResult(config, result);
    } catch (error) {
      return {
        durationMs: Math.max(0, this.#clock.now() - started.getTime()),
        outcome: 'Failed',
        error: truncate(`could not call the hook: ${errorMessage(error)}`, ATTEMPT_ERROR_MAX_LENGTH),
      };
    }
  }

  /**
   * Takes the token for this replica: an Event named after it can be created once, so a
   * replica that finds it exists leaves the test to the one that made it. When Events cannot
   * be created at all, the test is sent anyway.
   */
  async #claim(raw: RawObject, token: string, eventId: string, logger: Logger): Promise<boolean> {
    const { namespace } = this.#d;
    const hash = crypto.createHash('sha256').update(token).digest('hex').slice(0, 16);
    const timestamp = kubeTime(new Date(this.#clock.now()));
    try {
      await this.#d.client.create(resourcePath({ group: '', version: 'v1', plural: 'events', namespace }), {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${raw.metadata.name}.send-test.${hash}`, namespace },
        involvedObject: {
          apiVersion: raw.apiVersion,
          kind: raw.kind,
          name: raw.metadata.name,
          namespace,
          uid: raw.metadata.uid,
          resourceVersion: raw.metadata.resourceVersion,
        },
        type: 'Normal',
        reason: 'SendingTest',
        message: `Sending test event ${eventId} (${SEND_TEST_ANNOTATION}=${token})`.slice(0, 1024),
        source: { component: 'hookline-dispatcher' },
        reportingComponent: 'hookline-dispatcher',
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
      });
      return true;
    } catch (error) {
      if (isConflict(error)) {
        logger.debug('Another replica sends this test event');
        return false;
      }
      logger.warn({ err: errorMessage(error) }, 'Could not record the test event; sending it anyway');
      return true;
    }
  }

  async #write(name: string, lastTest: LastTest, logger: Logger): Promise<void> {
    const { namespace, client } = this.#d;
    const path = resourcePath({
      group: 'hookline.dev',
      version: 'v1alpha1',
      plural: 'webhooks',
      namespace,
      name,
      subresource: 'status',
    });
    const retry = new Retry({ kind: 'exponential', baseMs: 500, maxMs: 5000 }, { clock: this.#clock });
    for (;;) {
      try {
        await client.mergePatch(path, { status: { lastTest } });
        return;
      } catch (error) {
        if (isNotFound(error)) return; // the Webhook is gone
        if (retry.failures + 1 >= WRITE_TRIES || this.#stop.signal.aborted) throw error;
        logger.warn({ err: errorMessage(error) }, 'Could not write the answer to a test event; will retry');
        await retry.wait(this.#stop.signal);
      }
    }
  }
}
