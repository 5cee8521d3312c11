// The session's one connection to RabbitMQ: opened on first use and, after it dropped (the
// broker restarted), opened again on the next use, with backoff while the broker cannot be
// reached. Consumers are re-established by their owners, who wait on `current()`. Opening
// and redaction are the connection layer's (core/rabbit/connection.ts), shared with the
// operator's admin face.
import amqp from 'amqplib';
import type { Logger } from 'pino';
import { connectBroker, redactedMessage, redactUri } from '../../core/rabbit/connection.ts';
import { Retry, type Clock, type RetrySchedule } from '../../core/retry.ts';

/** Between attempts to reach the broker: from 250 ms, doubling up to 10 s, with jitter. */
const RECONNECT: RetrySchedule = { kind: 'exponential', baseMs: 250, maxMs: 10_000 };

export interface BrokerConnectionOptions {
  uri: string;
  /** The connection's name in the broker's management UI. */
  name: string;
  logger: Logger;
  /** Readies a new connection before it is handed out (the publisher's confirm channel). */
  onOpen: (connection: amqp.ChannelModel) => Promise<void>;
  /** The connection closed, by close() or because it dropped. */
  onClose: () => void;
  clock?: Clock;
}

export interface BrokerConnection {
  readonly connected: boolean;
  /** The open connection, or the next one once it is open. */
  current(): Promise<amqp.ChannelModel>;
  /**
   * The session is stopping: a connection that drops from now on is not opened again (what
   * was unacknowledged on it is back in its queue), and waiting for one fails at once.
   */
  drain(): void;
  close(): Promise<void>;
}

export function brokerConnection(options: BrokerConnectionOptions): BrokerConnection {
  const { uri, name, logger } = options;
  let connection: amqp.ChannelModel | undefined;
  let connecting: Promise<amqp.ChannelModel> | undefined;
  let closed = false;
  /** Aborted by drain(): the wait before the next attempt ends at once. */
  const stopping = new AbortController();
  let everConnected = false;

  async function connect(): Promise<amqp.ChannelModel> {
    const retry = new Retry(RECONNECT, { clock: options.clock });
    for (;;) {
      if (closed || stopping.signal.aborted) throw new Error('the broker session is closed');
      try {
        const c = await connectBroker(uri, { name, timeoutMs: 5000 });
        c.on('error', (error: Error) => logger.warn({ err: error.message }, 'Broker connection error'));
        c.once('close', () => {
          connection = undefined;
          options.onClose();
          if (!closed) logger.warn('Lost the broker connection; reconnecting');
        });
        await options.onOpen(c);
        connection = c;
        if (everConnected)
          logger.info({ broker: redactUri(uri), attempts: retry.failures + 1 }, 'Reconnected to the broker');
        everConnected = true;
        return c;
      } catch (error) {
        const delay = retry.failed();
        logger.warn(
          {
            broker: redactUri(uri),
            err: redactedMessage(uri, error),
            retryInMs: delay,
          },
          'Cannot reach the broker',
        );
        await retry.sleep(delay, stopping.signal);
      }
    }
  }

  return {
    get connected() {
      return connection !== undefined;
    },
    async current() {
      if (connection) return connection;
      connecting ??= connect().finally(() => (connecting = undefined));
      return connecting;
    },
    drain() {
      stopping.abort();
    },
    async close() {
      closed = true;
      await connection?.close().catch(() => undefined);
    },
  };
}
