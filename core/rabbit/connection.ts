// The connection layer both faces of RabbitMQ share: the operator's admin
// (core/rabbit/broker.ts) and the dispatcher's session. It opens connections under a name
// the management UI shows, to the nodes of a cluster in turn, and turns a broker's failures
// into HooklineErrors with the URI's password redacted.
import { randomInt } from 'node:crypto';
import amqp from 'amqplib';
import { HooklineError, errorMessage } from '../errors.ts';

/**
 * The nodes a broker URI names: one AMQP URI, or the URIs of the nodes of one RabbitMQ
 * cluster separated by commas or whitespace
 * (`amqp://u:p@rabbit-0:5672/vhost,amqp://u:p@rabbit-1:5672/vhost`).
 */
export function brokerNodes(uri: string): string[] {
  return uriList(uri);
}

/** The URIs of a list separated by commas or whitespace (a comma inside one URI stays in it). */
export function uriList(text: string): string[] {
  return text.trim().split(/[\s,]+(?=[a-z][a-z0-9+.-]*:\/\/)/i);
}

/** What is wrong with a broker URI (or list of a cluster's node URIs), if anything. */
export function brokerUriProblem(uri: string): string | undefined {
  const vhosts = new Set<string>();
  for (const node of brokerNodes(uri)) {
    let url: URL;
    try {
      url = new URL(node);
    } catch {
      return `"${redactUri(node)}" is not a URI`;
    }
    if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:')
      return 'must be an amqp:// or amqps:// URI, or several (the nodes of one cluster) separated by commas';
    if (!url.hostname) return `"${redactUri(node)}" names no host`;
    vhosts.add(url.pathname === '' ? '/' : url.pathname);
  }
  if (vhosts.size > 1) return 'the nodes of one cluster must name the same vhost';
  return undefined;
}

function redactNode(node: string): string {
  try {
    const url = new URL(node);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(invalid URI)';
  }
}

export function redactUri(uri: string): string {
  return brokerNodes(uri).map(redactNode).join(',');
}

/** A message about the broker at `uri` (each of its nodes), without its passwords. */
export function redactedMessage(uri: string, error: unknown): string {
  let message = errorMessage(error).replaceAll(uri, redactUri(uri));
  for (const node of brokerNodes(uri)) message = message.replaceAll(node, redactNode(node));
  return message;
}

/** The broker cannot be reached (or the connection dropped): BrokerUnreachable. */
export function unreachable(uri: string, error: unknown): HooklineError {
  return new HooklineError(
    'BrokerUnreachable',
    `cannot reach RabbitMQ at ${redactUri(uri)}: ${redactedMessage(uri, error)}`,
    error,
  );
}

/**
 * Classifies a failed broker operation: a HooklineError stays as it is; a reply code
 * (AMQP 4xx/5xx: access refused, not found, precondition failed) is BrokerRefused; anything
 * else means the connection is gone: BrokerUnreachable.
 */
export function brokerError(uri: string, operation: string, error: unknown): HooklineError {
  if (error instanceof HooklineError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 400 && code < 600)
    return new HooklineError(
      'BrokerRefused',
      `RabbitMQ refused ${operation}: ${redactedMessage(uri, error)}`,
      error,
    );
  return unreachable(uri, error);
}

/** Per cluster URI: the node the next connection tries first (a random one at first, so that processes spread over the nodes). */
const nextNode = new Map<string, number>();

/**
 * Opens a connection; its 'error' is followed by 'close', which callers watch. The nodes of a
 * cluster are tried in turn, each connection starting after the node the previous one went
 * to: a reconnection after a node was lost goes to another node first, and one that cannot
 * be reached is passed over.
 */
export async function connectBroker(
  uri: string,
  options: { name: string; timeoutMs: number; heartbeatS?: number },
): Promise<amqp.ChannelModel> {
  const nodes = brokerNodes(uri);
  const first = nextNode.get(uri) ?? randomInt(nodes.length);
  const failures: string[] = [];
  for (let offset = 0; offset < nodes.length; offset++) {
    const index = (first + offset) % nodes.length;
    const node = nodes[index]!;
    try {
      const connection = await amqp.connect(node, {
        timeout: options.timeoutMs,
        clientProperties: { connection_name: options.name },
        ...(options.heartbeatS === undefined ? {} : { heartbeat: options.heartbeatS }),
      });
      connection.on('error', () => undefined);
      if (nodes.length > 1) nextNode.set(uri, (index + 1) % nodes.length);
      return connection;
    } catch (error) {
      if (nodes.length === 1) throw error;
      failures.push(`${redactNode(node)}: ${redactedMessage(node, error)}`);
    }
  }
  nextNode.set(uri, (first + 1) % nodes.length);
  throw new Error(`no node of the cluster answered (${failures.join('; ')})`);
}
