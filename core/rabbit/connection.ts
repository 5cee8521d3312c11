// The connection layer both faces of RabbitMQ share: the operator's admin
// (core/rabbit/broker.ts) and the dispatcher's session. It opens connections under a name
// the management UI shows, and turns a broker's failures into HooklineErrors with the URI's
// password redacted.
import amqp from 'amqplib';
import { HooklineError, errorMessage } from '../errors.ts';

export function redactUri(uri: string): string {
  try {
    const url = new URL(uri);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(invalid URI)';
  }
}

/** A message about the broker at `uri`, without its password. */
export function redactedMessage(uri: string, error: unknown): string {
  return errorMessage(error).replaceAll(uri, redactUri(uri));
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

/** Opens a connection; its 'error' is followed by 'close', which callers watch. */
export async function connectBroker(
  uri: string,
  options: { name: string; timeoutMs: number; heartbeatS?: number },
): Promise<amqp.ChannelModel> {
  const connection = await amqp.connect(uri, {
    timeout: options.timeoutMs,
    clientProperties: { connection_name: options.name },
    ...(options.heartbeatS === undefined ? {} : { heartbeat: options.heartbeatS }),
  });
  connection.on('error', () => undefined);
  return connection;
}
