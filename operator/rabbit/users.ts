// The default broker's users for dispatchers, through RabbitMQ's management API. Each
// EventSource on the operator's default broker gets a user of its own whose rights reach
// its namespace's Hookline objects only; the operator's own credential never leaves the
// operator. Names and rights are pure (table-tested in users.test.ts); BrokerUsers carries
// them out.
import crypto from 'node:crypto';
import { request } from 'undici';
import { HooklineError, errorMessage } from '../../core/errors.ts';
import { redactUri } from '../../core/rabbit/connection.ts';

export interface Permissions {
  configure: string;
  write: string;
  read: string;
}

/** The broker user of a source's dispatcher. `~` cannot appear in a Kubernetes name. */
export function sourceUserName(namespace: string, source: string): string {
  return `hookline~${namespace}~${source}`;
}

/** A regular expression matching `text` literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * What a namespace's dispatcher may do: read (consume, purge) and write (publish into) the
 * namespace's own objects, which all start with `hookline.<namespace>.` or
 * `hookline-ingest.<namespace>.` (a namespace name has no dot, so no other namespace's
 * names match), and declare or delete nothing. No right on the default exchange: a write
 * there would reach every queue of the vhost.
 */
export function namespacePermissions(namespace: string): Permissions {
  const own = `^(hookline|hookline-ingest)\\.${literal(namespace)}\\.`;
  return { configure: '^$', write: own, read: own };
}

/** A new password: 32 random bytes, URL-safe so that it sits in a URI as it is. */
export function generatePassword(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** The AMQP URI a dispatcher connects with: the default broker's, with the user's credentials. */
export function userUri(brokerUri: string, user: string, password: string): string {
  const url = new URL(brokerUri);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/** The user and password of an AMQP URI, if it has them. */
export function credentialsOf(uri: string): { user: string; password: string } | undefined {
  try {
    const url = new URL(uri);
    if (!url.username || !url.password) return undefined;
    return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  } catch {
    return undefined;
  }
}

/** Whether two AMQP URIs name the same broker and vhost, whatever their credentials. */
export function sameBroker(a: string, b: string): boolean {
  try {
    const [x, y] = [new URL(a), new URL(b)];
    return x.protocol === y.protocol && x.host === y.host && x.pathname === y.pathname;
  } catch {
    return false;
  }
}

/** The vhost an AMQP URI names: its path, `/` when it has none. */
export function vhostOf(uri: string): string {
  const path = new URL(uri).pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}

/**
 * The management API's URL for an AMQP URI: the same host and credentials, on the
 * management plugin's default port (15672, or 15671 over TLS).
 */
export function managementUriFor(brokerUri: string): string {
  const amqpUrl = new URL(brokerUri);
  const tls = amqpUrl.protocol === 'amqps:';
  const url = new URL(`${tls ? 'https' : 'http'}://${amqpUrl.hostname}:${tls ? 15671 : 15672}/`);
  url.username = amqpUrl.username || 'guest';
  url.password = amqpUrl.password || 'guest';
  return url.toString();
}

const TIMEOUT_MS = 10_000;

export class BrokerUsers {
  readonly #base: string;
  readonly #authorization: string;
  readonly #label: string;

  constructor(managementUri: string) {
    const url = new URL(managementUri);
    this.#authorization = `Basic ${Buffer.from(
      `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`,
    ).toString('base64')}`;
    this.#label = redactUri(managementUri);
    url.username = '';
    url.password = '';
    this.#base = url.toString().replace(/\/+$/, '');
  }

  /** Creates the user, or sets its password; it gets no tags (no management access). */
  async put(user: string, password: string, vhost: string, permissions: Permissions): Promise<void> {
    await this.#call('PUT', `/api/users/${encodeURIComponent(user)}`, { password, tags: '' });
    await this.#call(
      'PUT',
      `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(user)}`,
      permissions,
    );
  }

  /** Deletes the user (and so its permissions); one that does not exist is no error. */
  async delete(user: string): Promise<void> {
    await this.#call('DELETE', `/api/users/${encodeURIComponent(user)}`, undefined, [404]);
  }

  async #call(
    method: 'PUT' | 'DELETE',
    path: string,
    body: unknown,
    tolerated: number[] = [],
  ): Promise<void> {
    const operation = `${method} ${path.replace(/\/api\/(\w+)\/.*/, '/api/$1/…')}`;
    let status: number;
    let text: string;
    try {
      const response = await request(`${this.#base}${path}`, {
        method,
        headers: { authorization: this.#authorization, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw new HooklineError(
        'BrokerManagementUnreachable',
        `cannot reach RabbitMQ's management API at ${this.#label}: ${errorMessage(error)}`,
        error,
      );
    }
    if ((status >= 200 && status < 300) || tolerated.includes(status)) return;
    throw new HooklineError(
      'BrokerManagementRefused',
      `RabbitMQ's management API at ${this.#label} answered ${status} to ${operation}: ${text.slice(0, 200)}`,
    );
  }
}
