// The default broker's users for dispatchers, through RabbitMQ's management API. Each
// EventSource on the operator's default broker gets a user of its own whose rights reach
// its namespace's Hookline objects only; the operator's own credential never leaves the
// operator. Names and rights are pure (table-tested in users.test.ts); BrokerUsers carries
// them out.
import crypto from 'node:crypto';
import { request } from 'undici';
import { HooklineError, errorMessage } from '../../core/errors.ts';
import { brokerNodes, redactUri, uriList } from '../../core/rabbit/connection.ts';

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
 * names match), and declare or delete only its Strict Webhooks' locks
 * (`hookline-lock.<namespace>.`, exclusive queues that hold no messages). No right on the
 * default exchange: a write there would reach every queue of the vhost.
 */
export function namespacePermissions(namespace: string): Permissions {
  const own = `^(hookline|hookline-ingest)\\.${literal(namespace)}\\.`;
  return { configure: `^hookline-lock\\.${literal(namespace)}\\.`, write: own, read: own };
}

/** A new password: 32 random bytes, URL-safe so that it sits in a URI as it is. */
export function generatePassword(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/**
 * The AMQP URI a dispatcher connects with: the default broker's, with the user's credentials
 * (in each node's URI, for a cluster).
 */
export function userUri(brokerUri: string, user: string, password: string): string {
  return brokerNodes(brokerUri)
    .map((node) => {
      const url = new URL(node);
      url.username = encodeURIComponent(user);
      url.password = encodeURIComponent(password);
      return url.toString();
    })
    .join(',');
}

/** The user and password of an AMQP URI (its first node's, for a cluster), if it has them. */
export function credentialsOf(uri: string): { user: string; password: string } | undefined {
  try {
    const url = new URL(brokerNodes(uri)[0]!);
    if (!url.username || !url.password) return undefined;
    return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  } catch {
    return undefined;
  }
}

/** Whether two AMQP URIs name the same nodes and vhost, in the same order, whatever their credentials. */
export function sameBroker(a: string, b: string): boolean {
  try {
    const where = (uri: string) =>
      brokerNodes(uri)
        .map((node) => {
          const url = new URL(node);
          return `${url.protocol}//${url.host}${url.pathname}`;
        })
        .join(',');
    return where(a) === where(b);
  } catch {
    return false;
  }
}

/** The vhost an AMQP URI names: its path, `/` when it has none. */
export function vhostOf(uri: string): string {
  const path = new URL(brokerNodes(uri)[0]!).pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}

/**
 * The management API's URL for an AMQP URI: the same host and credentials, on the
 * management plugin's default port (15672, or 15671 over TLS); for a cluster, one per node,
 * separated by commas.
 */
export function managementUriFor(brokerUri: string): string {
  return brokerNodes(brokerUri)
    .map((node) => {
      const amqpUrl = new URL(node);
      const tls = amqpUrl.protocol === 'amqps:';
      const url = new URL(`${tls ? 'https' : 'http'}://${amqpUrl.hostname}:${tls ? 15671 : 15672}/`);
      url.username = amqpUrl.username || 'guest';
      url.password = amqpUrl.password || 'guest';
      return url.toString();
    })
    .join(',');
}

const TIMEOUT_MS = 10_000;

interface ManagementNode {
  base: string;
  authorization: string;
  label: string;
}

/**
 * The management API of the default broker: one URL, or one per node of a cluster separated
 * by commas, tried in turn from the one that last answered (users are the cluster's, so any
 * node will do).
 */
export class BrokerUsers {
  readonly #nodes: ManagementNode[];
  #current = 0;

  constructor(managementUri: string) {
    this.#nodes = uriList(managementUri).map((node) => {
      const url = new URL(node);
      const authorization = `Basic ${Buffer.from(
        `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`,
      ).toString('base64')}`;
      const label = redactUri(node);
      url.username = '';
      url.password = '';
      return { base: url.toString().replace(/\/+$/, ''), authorization, label };
    });
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
    const failures: string[] = [];
    for (let tried = 0; tried < this.#nodes.length; tried++) {
      const node = this.#nodes[this.#current]!;
      let status: number;
      let text: string;
      try {
        const response = await request(`${node.base}${path}`, {
          method,
          headers: { authorization: node.authorization, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          headersTimeout: TIMEOUT_MS,
          bodyTimeout: TIMEOUT_MS,
        });
        status = response.statusCode;
        text = await response.body.text();
      } catch (error) {
        failures.push(`${node.label}: ${errorMessage(error)}`);
        this.#current = (this.#current + 1) % this.#nodes.length;
        continue;
      }
      if ((status >= 200 && status < 300) || tolerated.includes(status)) return;
      throw new HooklineError(
        'BrokerManagementRefused',
        `RabbitMQ's management API at ${node.label} answered ${status} to ${operation}: ${text.slice(0, 200)}`,
      );
    }
    throw new HooklineError(
      'BrokerManagementUnreachable',
      `cannot reach RabbitMQ's management API at ${failures.join('; ')}`,
    );
  }
}
