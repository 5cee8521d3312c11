// Delivery over HTTP on undici: pooled keep-alive connections per origin, a connect and a
// request timeout, no redirects (undici's `request` follows none unless a redirect
// interceptor is composed, and none is; the request goes through the agent's handler
// interface), response bodies read only up to a small cap, and
// the address policy applied to the addresses DNS returns — the connection is made to the
// address that was checked, never resolved again.
import dns from 'node:dns';
import net from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import type { AddressPolicy } from './address-policy.ts';

export interface HttpRequest {
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
  requestTimeoutMs: number;
  /** Keep a success's body too (a test event shows what the receiver answered). */
  keepBody?: boolean;
}

export type HttpResult =
  | {
      kind: 'response';
      status: number;
      retryAfterMs?: number;
      /** The first 4 KiB of a failed response's body; '' after a success unless `keepBody`. */
      body: string;
      /** The response headers an attempt record keeps. */
      headers?: ResponseHeaders;
      durationMs: number;
    }
  | { kind: 'error'; error: 'timeout' | 'network' | 'refused-address'; message: string; durationMs: number };

export interface ResponseHeaders {
  retryAfter?: string;
  contentType?: string;
}

const MAX_RESPONSE_BYTES = 4096;
const MAX_KEPT_HOSTS = 10_000;

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The response headers an attempt record keeps; none when the response had neither. */
function keptHeaders(headers: Record<string, string | string[] | undefined>): ResponseHeaders | undefined {
  const retryAfter = firstValue(headers['retry-after']);
  const contentType = firstValue(headers['content-type']);
  if (retryAfter === undefined && contentType === undefined) return undefined;
  return {
    ...(retryAfter !== undefined ? { retryAfter } : {}),
    ...(contentType !== undefined ? { contentType } : {}),
  };
}

class AddressRefused extends Error {
  readonly code = 'EHOOKLINEREFUSED';
}

/** Every address of a name, as dns.lookup with `all` answers. */
export type Resolve = (
  hostname: string,
  options: { family?: number | string; hints?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

const systemResolve: Resolve = (hostname, options, callback) =>
  dns.lookup(
    hostname,
    { all: true, family: options.family as number | undefined, hints: options.hints },
    callback,
  );

/**
 * The lookup of every new connection: the name resolved again, its addresses checked, and
 * the connection made to a checked one; a name that now resolves only to refused addresses
 * (DNS rebinding) gets no connection.
 */
function guardedLookup(policy: AddressPolicy, resolve: Resolve): net.LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { family: options.family, hints: options.hints }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const permitted = addresses.filter((a) => policy.refusal(a.address) === undefined);
      if (permitted.length === 0) {
        const refusal = policy.refusal(addresses[0]?.address ?? hostname) ?? 'no address';
        return callback(new AddressRefused(`${hostname} resolves to ${refusal}`), '', 0);
      }
      if (options.all)
        return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, permitted);
      callback(null, permitted[0]!.address, permitted[0]!.family);
    });
  };
}

/** Seconds or an HTTP date, as milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A success's body is read and dropped up to this much; the connection is closed beyond it. */
const MAX_DROPPED_BYTES = 128 * 1024;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One POST through the agent's own handler interface, which is leaner than `request`: no
 * response stream, no promise per chunk. A failure's body (a success's too with `keepBody`)
 * is kept up to 4 KiB; past what is kept or dropped, the request is aborted, which closes
 * the connection rather than reading a receiver's endless answer.
 */
function post(agent: Agent, req: HttpRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: Answer['headers'] = {};
    let keep = false;
    let chunks: Buffer[] | undefined;
    let size = 0;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      const body = chunks ? Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8') : '';
      resolve({ status, headers, body });
    };
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: () => undefined,
      onResponseStart(_controller, statusCode, responseHeaders) {
        status = statusCode;
        headers = responseHeaders;
        keep = statusCode >= 300 || req.keepBody === true;
      },
      onResponseData(controller, chunk) {
        size += chunk.length;
        if (keep) (chunks ??= []).push(chunk);
        if (size >= (keep ? MAX_RESPONSE_BYTES : MAX_DROPPED_BYTES)) {
          finish();
          controller.abort(new Error('response body read as far as it is kept'));
        }
      },
      onResponseEnd: finish,
      onResponseError(_controller, error) {
        if (settled) return;
        settled = true;
        reject(error);
      },
    };
    agent.dispatch(
      {
        origin: req.url.origin,
        path: req.url.pathname + req.url.search,
        method: 'POST',
        headers: req.headers,
        body: req.body,
        headersTimeout: req.requestTimeoutMs,
        bodyTimeout: req.requestTimeoutMs,
      },
      handler,
    );
  });
}

function describeError(error: unknown): {
  error: 'timeout' | 'network' | 'refused-address';
  message: string;
} {
  const code = (error as { code?: string }).code ?? '';
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (error instanceof AddressRefused || cause instanceof AddressRefused) {
    return {
      error: 'refused-address',
      message: (cause instanceof AddressRefused ? cause : (error as Error)).message,
    };
  }
  if (['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'].includes(code)) {
    const phase =
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? 'connect'
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? 'response'
          : 'response body';
    return { error: 'timeout', message: `timed out waiting for the ${phase}` };
  }
  const detail = cause?.code ?? code;
  const message = (error as Error).message || String(error);
  return { error: 'network', message: detail ? `${detail}: ${message}` : message };
}

export interface HttpClientOptions {
  policy: AddressPolicy;
  connectTimeoutMs: number;
  /** How names are resolved; the system resolver (getaddrinfo, /etc/hosts included) by default. */
  resolve?: Resolve;
}

/**
 * A pool of keep-alive connections per origin with one connect timeout; the supervisor shares
 * one client among all the hooks whose policies give the same connect timeout.
 */
export class HttpClient {
  readonly #agent: Agent;
  readonly #policy: AddressPolicy;
  /** Host → why it is refused ('' when it is not). */
  readonly #refusals = new Map<string, string>();

  constructor(options: HttpClientOptions) {
    this.#policy = options.policy;
    this.#agent = new Agent({
      connect: {
        timeout: options.connectTimeoutMs,
        lookup: guardedLookup(options.policy, options.resolve ?? systemResolve),
      },
      keepAliveTimeout: 30_000,
      connections: 64,
    });
  }

  async send(req: HttpRequest): Promise<HttpResult> {
    const began = performance.now();
    const elapsed = () => Math.round(performance.now() - began);
    const refusal = this.#literalRefusal(req.url.hostname);
    if (refusal) return { kind: 'error', error: 'refused-address', message: refusal, durationMs: 0 };
    try {
      const answer = await post(this.#agent, req);
      return {
        kind: 'response',
        status: answer.status,
        retryAfterMs: parseRetryAfter(answer.headers['retry-after']),
        body: answer.body,
        headers: keptHeaders(answer.headers),
        durationMs: elapsed(),
      };
    } catch (error) {
      return { kind: 'error', ...describeError(error), durationMs: elapsed() };
    }
  }

  /** Why a URL's literal IP address is refused, if it is; the answer per host is kept. */
  #literalRefusal(hostname: string): string | undefined {
    let known = this.#refusals.get(hostname);
    if (known === undefined) {
      const host = hostname.replace(/^\[|\]$/g, '');
      known = (net.isIP(host) ? this.#policy.refusal(host) : undefined) ?? '';
      // Hosts are those of the Webhooks' URLs; the bound only guards against a flood of them.
      if (this.#refusals.size >= MAX_KEPT_HOSTS) this.#refusals.clear();
      this.#refusals.set(hostname, known);
    }
    return known || undefined;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
