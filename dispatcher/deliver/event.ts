// What the dispatcher knows about an event from its RabbitMQ message: a stable id (the
// same on every retry), its type, which attempt comes next; and the `match` filter.
import crypto from 'node:crypto';
import { HEADER } from '../../core/rabbit/headers.ts';
import type { Delivery } from '../broker/session.ts';
import { traceContextOf, type TraceContext } from '../tracing/context.ts';

export { HEADER };

export interface EventMeta {
  id: string;
  type: string;
  /** 1 for the first delivery attempt. */
  attempt: number;
  firstSeen: number;
  /**
   * The event's W3C trace context: the one its message carries (from ingest, from the
   * producer, or set by its first attempt), else none yet. Every attempt is its child.
   */
  trace?: TraceContext;
}

function headerString(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name];
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

/**
 * The event's metadata. A message straight from the source carries no Hookline headers:
 * its id is its messageId or, failing that, derived from its content, so that a
 * redelivery after a crash keeps the same id.
 */
export function eventMeta(delivery: Delivery, now: number): EventMeta {
  const headers = delivery.properties.headers ?? {};
  const id =
    headerString(headers, HEADER.eventId) ??
    delivery.properties.messageId ??
    `evt_${crypto
      .createHash('sha256')
      .update(delivery.routingKey)
      .update('\n')
      .update(String(delivery.properties.timestamp ?? ''))
      .update('\n')
      .update(delivery.body)
      .digest('base64url')
      .slice(0, 24)}`;
  const type = headerString(headers, HEADER.eventType) ?? delivery.properties.type ?? delivery.routingKey;
  const attempt = Number(headers[HEADER.attempt] ?? 1);
  const firstSeen = Number(headers[HEADER.firstSeen] ?? now);
  const meta: EventMeta = {
    id,
    type,
    attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : 1,
    firstSeen,
  };
  const trace = traceContextOf(headers);
  if (trace !== undefined) meta.trace = trace;
  return meta;
}

/** Objects and arrays nested deeper than this are refused: JSON.stringify (a CloudEvents envelope) would overflow the stack on them. */
export const MAX_JSON_DEPTH = 128;

export const TOO_DEEP = `event nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`;

const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;

/**
 * Whether a JSON text nests objects and arrays deeper than `max`. Most events have fewer
 * opening brackets than that in all, which two native scans show; only the others are read
 * byte by byte (brackets inside strings not counted).
 */
export function jsonTooDeep(body: Buffer, max = MAX_JSON_DEPTH): boolean {
  let openings = 0;
  for (const bracket of [OPEN_OBJECT, OPEN_ARRAY]) {
    for (let at = body.indexOf(bracket); at !== -1 && openings <= max; at = body.indexOf(bracket, at + 1))
      openings++;
  }
  if (openings <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      if (byte === 0x5c)
        i++; // a backslash: the next byte is escaped
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (byte === 0x7d || byte === 0x5d) depth--;
  }
  return false;
}

/** Why an event cannot be delivered at all, or its JSON. */
export function parseEvent(body: Buffer, maxEventBytes: number): { json: unknown } | { unusable: string } {
  if (body.length > maxEventBytes)
    return { unusable: `event of ${body.length} bytes is larger than maxEventBytes (${maxEventBytes})` };
  if (jsonTooDeep(body)) return { unusable: TOO_DEEP };
  try {
    return { json: JSON.parse(body.toString('utf8')) };
  } catch (error) {
    return { unusable: `event is not valid JSON: ${(error as Error).message}` };
  }
}

/** RFC 6901 JSON pointer lookup; undefined when the path does not exist. */
export function pointer(document: unknown, path: string): unknown {
  return compilePointer(path)(document);
}

/** The lookup of one JSON pointer, its path split and unescaped once. */
export function compilePointer(path: string): (document: unknown) => unknown {
  if (path === '') return (document) => document;
  const keys = path
    .slice(1)
    .split('/')
    .map((raw) => raw.replaceAll('~1', '/').replaceAll('~0', '~'));
  const indexes = keys.map((key) => (/^\d+$/.test(key) ? Number(key) : undefined));
  return (document) => {
    let current: unknown = document;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const index = indexes[i];
      if (index !== undefined && Array.isArray(current)) current = current[index];
      else if (typeof current === 'object' && current !== null && Object.hasOwn(current, key))
        current = (current as Record<string, unknown>)[key];
      else return undefined;
    }
    return current;
  };
}

export type Matcher = (document: unknown) => boolean;

/** Every pointer must hold the value or one of the listed values. */
export function compileMatch(match: Record<string, unknown> | undefined): Matcher {
  const entries = Object.entries(match ?? {});
  if (entries.length === 0) return () => true;
  const lookups = entries.map(([path, expected]) => [compilePointer(path), expected] as const);
  return (document) =>
    lookups.every(([lookup, expected]) => {
      const actual = lookup(document);
      const allowed = Array.isArray(expected) ? expected : [expected];
      return allowed.some((value) => value === actual);
    });
}

/**
 * Whether a routing key matches a Webhook's `events` pattern, as a RabbitMQ topic binding
 * would: words separated by dots, `*` one word, `#` zero or more words.
 */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const want = pattern.split('.');
  const have = routingKey.split('.');
  const match = (p: number, k: number): boolean => {
    if (p === want.length) return k === have.length;
    const word = want[p]!;
    if (word === '#') {
      for (let skip = k; skip <= have.length; skip++) if (match(p + 1, skip)) return true;
      return false;
    }
    if (k === have.length) return false;
    return (word === '*' || word === have[k]) && match(p + 1, k + 1);
  };
  return match(0, 0);
}
