// HTTP ingest for an `http` EventSource, served by the dispatcher behind the source's
// Service:
//   POST /v1/events         an event for the After hooks: 202 with its id once the broker
//                           confirmed it; an Idempotency-Key makes a retry safe.
//   POST /v1/events/before  the Before gate: 200 {"allowed": true} or 409 with the denials;
//                           503 while the dispatcher is still resolving its hooks.
// Both need a bearer token from the source's Secret and a JSON body no larger than
// maxEventBytes; every refusal is a JSON body naming the problem.
import type http from 'node:http';
import type { Logger } from 'pino';
import type { EventSourceSpec } from '../../core/api/v1alpha1/eventsource.ts';
import { errorMessage } from '../../core/errors.ts';
import type { BrokerSession } from '../broker/session.ts';
import type { BeforeGate, GateEvent } from '../gate.ts';
import type { SecretReader } from '../secrets.ts';
import { noTracing, traceContextOf, type TraceContext, type Tracing } from '../tracing.ts';
import { IdempotencyCache, type Accepted } from './idempotency.ts';
import { idFromKey, intake, newEventId } from './intake.ts';
import { publishEvent, type IngestTarget } from './publish.ts';
import { bearerToken, TokenCheck } from './tokens.ts';
import { Deadlines } from './deadlines.ts';

export const EVENTS_PATH = '/v1/events';
export const BEFORE_PATH = '/v1/events/before';

export interface HttpIngestCounters {
  request(route: 'events' | 'before', status: number): void;
}

export interface HttpIngestOptions {
  namespace: string;
  source: string;
  /** The source's spec as last seen; undefined until it is known. */
  spec: () => EventSourceSpec | undefined;
  session: BrokerSession;
  target: IngestTarget;
  secrets: SecretReader;
  gate: BeforeGate;
  counters: HttpIngestCounters;
  logger: Logger;
  idempotency?: IdempotencyCache;
  /** How long a request waits for the broker's confirm before answering 503. */
  publishTimeoutMs?: number;
  /** Off when not given. */
  tracing?: Tracing;
}

class Refused extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

type Route = 'events' | 'before';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="hookline"' };

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Why a Content-Type is not JSON in UTF-8 (RFC 8259 allows no other charset); undefined when it is. */
function unsupportedMediaType(contentType: string | undefined): string | undefined {
  if (contentType === 'application/json') return undefined;
  const [type = '', ...parameters] = (contentType ?? '').split(';');
  const essence = type.trim().toLowerCase();
  if (essence !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(essence))
    return `Content-Type must be application/json (or application/*+json), not "${contentType ?? ''}"`;
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    const charset = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8')
      return `Content-Type: charset must be utf-8, not "${charset}"`;
  }
  return undefined;
}

/** Headers a request may carry once: of a repeat, Node would keep the first or join them with ", ". */
const ONCE = ['Authorization', 'Content-Type', 'Content-Encoding', 'Idempotency-Key', 'Hookline-Event-Type'];
const ONCE_LOWER = ONCE.map((name) => name.toLowerCase());
/** Bit n is set when a name of ONCE has n characters: other names are passed over without lowering their case. */
const ONCE_LENGTHS = ONCE.reduce((mask, name) => mask | (1 << name.length), 0);

/** The first header of ONCE (or `extra`, the header that names the event type) sent twice. */
function repeatedHeader(raw: readonly string[], extra: string | undefined): string | undefined {
  let seen = 0;
  let extraSeen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const sent = raw[i]!;
    if ((sent.length > 31 || !((ONCE_LENGTHS >>> sent.length) & 1)) && sent.length !== extra?.length)
      continue;
    const name = sent.toLowerCase();
    const index = ONCE_LOWER.indexOf(name);
    if (index >= 0) {
      if (seen & (1 << index)) return ONCE[index];
      seen |= 1 << index;
    } else if (name === extra) {
      if (extraSeen) return sent;
      extraSeen = true;
    }
  }
  return undefined;
}

/** Why the request's framing or coding is refused before its body is read; undefined when it is not. */
function refusedCoding(headers: http.IncomingHttpHeaders): Refused | undefined {
  // Node's parser refuses a Transfer-Encoding that does not end in chunked; a coding before
  // it (gzip, chunked) would reach the body undecoded.
  const transfer = headers['transfer-encoding'];
  if (transfer !== undefined && transfer.trim().toLowerCase() !== 'chunked')
    return new Refused(
      400,
      `Transfer-Encoding "${transfer}" is not supported; send the body as is or chunked`,
    );
  const content = headers['content-encoding']?.trim();
  if (content && content.toLowerCase() !== 'identity')
    return new Refused(415, `Content-Encoding "${content}" is not supported; send the event uncompressed`);
  const mediaType = unsupportedMediaType(headers['content-type']);
  if (mediaType !== undefined) return new Refused(415, mediaType);
  return undefined;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Answers with a JSON text. With its Content-Length given, Node writes the head and the body
 * at once; without, it frames the body in chunks and writes five pieces.
 */
function sendText(
  res: http.ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> | undefined,
): void {
  if (res.headersSent) return;
  const head: http.OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  if (headers) Object.assign(head, headers);
  res.writeHead(status, head).end(text);
}

/** `{"id":…,"type":…}`: an id is base64url after `evt_`, so only the type needs escaping. */
const acceptedText = (accepted: Accepted) =>
  `{"id":"${accepted.id}","type":${JSON.stringify(accepted.type)}}`;

/**
 * Reads the body up to `limit` bytes and calls `done` once: with the body, or with the
 * refusal (413 for a longer body, without reading the rest; 400 for one cut off).
 */
function readBody(
  req: http.IncomingMessage,
  limit: number,
  done: (error: Refused | undefined, body: Buffer) => void,
): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    done(new Refused(413, `body of ${declared} bytes is larger than maxEventBytes (${limit})`), EMPTY);
    return;
  }
  let chunks: Buffer[] | undefined = [];
  let size = 0;
  const fail = (refusal: Refused) => {
    if (chunks === undefined) return;
    chunks = undefined;
    done(refusal, EMPTY);
  };
  req.on('data', (chunk: Buffer) => {
    if (chunks === undefined) return;
    size += chunk.length;
    if (size > limit) {
      // The rest is read and dropped, so that the producer can read the answer.
      req.removeAllListeners('data');
      req.resume();
      fail(new Refused(413, `body is larger than maxEventBytes (${limit})`));
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (chunks === undefined) return;
    // An event of a few hundred bytes arrives in one chunk: it is the body as it is, not a copy.
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    chunks = undefined;
    done(undefined, body);
  });
  // Node's parser refused the rest, the request timed out, or the producer went away: the
  // answer, if one can still be given, is the server's (400 or 408), and nothing is published.
  const cut = () => fail(new Refused(400, 'the request was cut off before its body ended'));
  req.on('error', cut);
  req.on('close', () => {
    if (!req.complete) cut();
  });
}

const EMPTY = Buffer.alloc(0);

const unconfirmed = () =>
  new Refused(
    503,
    'the broker did not confirm the event in time; retry (with the same Idempotency-Key to avoid a duplicate)',
    { 'retry-after': '1' },
  );

export class HttpIngest {
  readonly #o: HttpIngestOptions;
  readonly #idempotency: IdempotencyCache;
  readonly #tokens = new TokenCheck();
  readonly #tracing: Tracing;
  readonly #deadlines: Deadlines;

  constructor(options: HttpIngestOptions) {
    this.#o = options;
    this.#tracing = options.tracing ?? noTracing;
    this.#idempotency = options.idempotency ?? new IdempotencyCache();
    this.#deadlines = new Deadlines(options.publishTimeoutMs ?? 10_000);
  }

  /**
   * Handles the request when it is for ingest; false when the path is not ingest's. Each step
   * that needs no turn of the event loop runs as soon as it can: a request waits on a promise
   * only for the tokens' first read, the broker's confirm and the Before gate.
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const route = path === EVENTS_PATH ? 'events' : path === BEFORE_PATH ? 'before' : undefined;
    if (!route) return false;
    this.#step(route, res, () => this.#admit(route, req, res));
    return true;
  }

  /** Runs a step of a request: what it throws is the request's answer. */
  #step(route: Route, res: http.ServerResponse, step: () => void): void {
    try {
      step();
    } catch (error) {
      this.#refuse(route, res, error);
    }
  }

  #answer(
    route: Route,
    res: http.ServerResponse,
    status: number,
    text: string,
    headers?: Record<string, string>,
  ): void {
    sendText(res, status, text, headers);
    this.#o.counters.request(route, status);
  }

  /** Answers with a Refused's status and message; anything else is a 500, logged. */
  #refuse(route: Route, res: http.ServerResponse, error: unknown): void {
    if (error instanceof Refused) {
      this.#answer(route, res, error.status, JSON.stringify({ error: error.message }), error.headers);
      return;
    }
    this.#o.logger.error({ err: errorMessage(error), route }, 'Ingest request failed');
    this.#answer(route, res, 500, JSON.stringify({ error: 'internal error' }));
  }

  /** The request's head: method, source, repeated headers and the bearer token. */
  #admit(route: Route, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'POST')
      throw new Refused(405, `${req.method} is not allowed; use POST`, { allow: 'POST' });
    const spec = this.#o.spec();
    if (!spec) throw new Refused(503, 'the dispatcher is starting; retry', { 'retry-after': '1' });
    if (!spec.http) throw new Refused(404, 'this EventSource is not an http source');
    const repeated = repeatedHeader(req.rawHeaders, spec.eventType?.header?.toLowerCase());
    if (repeated !== undefined) throw new Refused(400, `more than one ${repeated} header`);
    const token = bearerToken(single(req.headers.authorization));
    if (!token) throw new Refused(401, 'an Authorization: Bearer <token> header is required', CHALLENGE);
    const ref = spec.http.authSecretRef;
    const cached = this.#o.secrets.cachedEntry(ref.name, ref.key);
    if (cached !== undefined) {
      this.#authorize(route, req, res, spec, token, cached);
      return;
    }
    this.#readTokens(ref).then(
      (tokens) => this.#step(route, res, () => this.#authorize(route, req, res, spec, token, tokens)),
      (error: unknown) => this.#refuse(route, res, error),
    );
  }

  /** Checks the token and the body's coding, then reads the body. */
  #authorize(
    route: Route,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    spec: EventSourceSpec,
    token: string,
    tokens: string,
  ): void {
    if (!this.#tokens.accepts(token, tokens))
      throw new Refused(401, 'the bearer token is not accepted', CHALLENGE);
    const coding = refusedCoding(req.headers);
    if (coding) throw coding;
    readBody(req, spec.dispatcher.maxEventBytes, (error, body) => {
      if (error) this.#refuse(route, res, error);
      else this.#step(route, res, () => this.#take(route, req, res, spec, body));
    });
  }

  /** The body made an event, then published (events) or put to the gate (before). */
  #take(
    route: Route,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    spec: EventSourceSpec,
    body: Buffer,
  ): void {
    const explicitType = single(req.headers['hookline-event-type']);
    const result = intake({
      body,
      maxEventBytes: spec.dispatcher.maxEventBytes,
      rule: spec.eventType,
      header: (name) => single(req.headers[name.toLowerCase()]),
      ...(explicitType !== undefined ? { explicitType } : {}),
    });
    if (!result.ok) throw new Refused(result.kind === 'too-large' ? 413 : 400, result.reason);

    const key = single(req.headers['idempotency-key']);
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key))
      throw new Refused(400, 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    const id =
      key !== undefined ? idFromKey(`${this.#o.namespace}/${this.#o.source}/${route}`, key) : newEventId();
    // The producer's W3C trace context, when it sent one: the event's spans are its children.
    const incoming = traceContextOf(req.headers);
    const event: GateEvent = { id, type: result.type, body, json: result.json };
    if (incoming !== undefined) event.trace = incoming;
    if (route === 'before')
      this.#decide(res, event).then(undefined, (error: unknown) => this.#refuse(route, res, error));
    else this.#accept(res, key, event);
  }

  /** The Before gate's answer: 200 when every hook allowed the action, 409 with the denials. */
  async #decide(res: http.ServerResponse, event: GateEvent): Promise<void> {
    const decision = await this.#o.gate.decide(event);
    if (!decision.resolved)
      throw new Refused(503, 'the dispatcher is still resolving its hooks; retry', { 'retry-after': '1' });
    const { id, type } = event;
    const hooks = decision.verdicts.map(({ webhook, allowed, statusCode, durationMs }) => ({
      webhook,
      allowed,
      durationMs,
      ...(statusCode !== undefined ? { statusCode } : {}),
    }));
    if (decision.allowed) {
      this.#answer('before', res, 200, JSON.stringify({ allowed: true, id, type, hooks }));
      return;
    }
    const denials = decision.verdicts
      .filter((v) => !v.allowed)
      .map(({ webhook, reason, statusCode }) => ({
        webhook,
        reason,
        ...(statusCode !== undefined ? { statusCode } : {}),
      }));
    this.#answer('before', res, 409, JSON.stringify({ allowed: false, id, type, denials, hooks }));
  }

  /** Publishes the event (once per Idempotency-Key) and answers 202 when the broker confirmed it. */
  #accept(res: http.ServerResponse, key: string | undefined, event: GateEvent): void {
    const { id, type, body, trace } = event;
    // Without a key the confirm is awaited as it is; with one, the cache keeps the answer.
    let outcome: Promise<Accepted | void>;
    let replayed = false;
    if (key === undefined) {
      outcome = this.#publish(id, type, body, trace);
    } else {
      const lookup = this.#idempotency.lookup(key, body);
      if (lookup.kind === 'mismatch')
        throw new Refused(422, 'this Idempotency-Key was already used with a different body');
      if (lookup.kind === 'replay') {
        outcome = lookup.outcome;
        replayed = true;
      } else {
        const accepted: Accepted = { id, type };
        const published = this.#publish(id, type, body, trace).then(() => accepted);
        lookup.settle(published);
        outcome = published;
      }
    }
    this.#deadlines.watch(outcome, unconfirmed, (error, answer) =>
      this.#step('events', res, () => this.#confirmed(res, id, type, error, answer, replayed)),
    );
  }

  /** The answer to a published event: 202 once confirmed, 503 when it was not. */
  #confirmed(
    res: http.ServerResponse,
    id: string,
    type: string,
    error: Error | undefined,
    answer: Accepted | void,
    replayed: boolean,
  ): void {
    if (error === undefined) {
      const text = acceptedText(answer ?? { id, type });
      this.#answer('events', res, 202, text, replayed ? { 'idempotent-replayed': 'true' } : undefined);
      return;
    }
    if (error instanceof Refused) throw error;
    this.#o.logger.warn({ err: errorMessage(error), eventId: id }, 'The broker did not confirm an event');
    throw new Refused(503, 'the broker did not confirm the event; retry', { 'retry-after': '1' });
  }

  /** Publishes the event to the source's exchange; settles with the broker's confirm. */
  #publish(id: string, type: string, body: Buffer, incoming: TraceContext | undefined): Promise<void> {
    const span = this.#tracing.ingest(id, type, 'http', incoming);
    const published = publishEvent(this.#o.session, this.#o.target, { id, type, body, trace: span.context });
    return span.until(published);
  }

  async #readTokens(ref: { name: string; key: string }): Promise<string> {
    try {
      return await this.#o.secrets.entry(ref.name, ref.key, 'spec.http.authSecretRef');
    } catch (error) {
      this.#o.logger.error({ err: errorMessage(error) }, 'Cannot read the ingest tokens');
      throw new Refused(503, 'the ingest tokens cannot be read; see the dispatcher log', {
        'retry-after': '5',
      });
    }
  }
}
