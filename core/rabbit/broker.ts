// Hookline's own small interface to a RabbitMQ broker's topology, so that the client
// library can be swapped; the implementation below uses amqplib. One connection per
// broker URI is shared and re-opened after it drops. Broker URIs carry passwords: they are
// redacted from every message.
import amqp from 'amqplib';
import { HooklineError, errorMessage } from '../errors.ts';
import { brokerError, connectBroker, unreachable } from './connection.ts';

export interface QueueInfo {
  messageCount: number;
  consumerCount: number;
}

export interface BrokerAdmin {
  /** Declares a queue; one that exists already is kept as it is (its arguments are not changed). */
  assertQueue(name: string, args?: Record<string, unknown>): Promise<QueueInfo & { existed: boolean }>;
  queueInfo(name: string): Promise<QueueInfo | undefined>;
  deleteQueue(name: string): Promise<void>;
  purgeQueue(name: string): Promise<number>;
  exchangeExists(name: string): Promise<boolean>;
  assertExchange(name: string, type: string, args?: Record<string, unknown>): Promise<void>;
  /**
   * The check an existing exchange's type allows over AMQP: 'mismatch' when the broker says
   * its type is not `type`, 'unknown' when it refuses to say (other arguments differ, or
   * the credential may not configure it).
   */
  exchangeTypeIs(name: string, type: string): Promise<'match' | 'mismatch' | 'unknown'>;
  deleteExchange(name: string): Promise<void>;
  bindQueue(queue: string, exchange: string, pattern: string): Promise<void>;
  unbindQueue(queue: string, exchange: string, pattern: string): Promise<void>;
  bindExchange(destination: string, source: string, pattern: string): Promise<void>;
  /**
   * Moves every message of `from` to queue `to`, with publisher confirms and `mandatory`:
   * a message is removed from `from` only once `to` holds it. Per-message expirations and
   * the broker's dead-letter history are dropped; `resetHeaders` are dropped too (a replay
   * starts an event's attempts again). With `select`, see MoveOptions. Returns how many moved.
   */
  moveMessages(from: string, to: string, options?: MoveOptions): Promise<number>;
}

export interface MoveOptions {
  /** Headers dropped from the moved copies. */
  resetHeaders?: readonly string[];
  /**
   * Moves only the messages whose headers it accepts (it is asked once per message); the
   * others go back, unchanged, to the tail of `from`, each confirmed there before its
   * original is acknowledged. Exactly the messages `from` held when the move began are
   * looked at, so none put back is read twice.
   */
  select?: (headers: Record<string, unknown>) => boolean;
}

/** The part of an amqplib confirm channel a move uses. */
export interface MoveChannel {
  get(queue: string, options: { noAck: false }): Promise<amqp.GetMessage | false>;
  sendToQueue(
    queue: string,
    content: Buffer,
    options: amqp.Options.Publish,
    callback: (err: unknown) => void,
  ): boolean;
  ack(message: amqp.GetMessage): void;
  on(event: 'return', listener: () => void): unknown;
}

/** Publishes one message and resolves once the broker confirmed it; a returned one throws. */
function confirmedSend(
  channel: MoveChannel,
  queue: string,
  message: amqp.GetMessage,
  headers: Record<string, unknown>,
  returned: () => boolean,
  from: string,
): Promise<void> {
  // The expiration and user id of the first publish do not carry over.
  const properties: Record<string, unknown> = { ...message.properties };
  delete properties.expiration;
  delete properties.userId;
  return new Promise<void>((resolve, reject) => {
    channel.sendToQueue(queue, message.content, { ...properties, headers, mandatory: true }, (err) =>
      err ? reject(err instanceof Error ? err : new Error(errorMessage(err))) : resolve(),
    );
  }).then(() => {
    // A return comes before the confirm: the message stays where it was.
    if (returned())
      throw new HooklineError(
        'BrokerUnroutable',
        `queue "${queue}" does not exist; "${from}" keeps its messages`,
      );
  });
}

/**
 * The move of BrokerAdmin.moveMessages on one confirm channel: up to `limit` messages (all
 * there are without one). An original is acknowledged only after what replaces it (its
 * copy in `to`, or itself back in `from`) was confirmed: a failure midway loses nothing,
 * and the messages in hand go back to `from` when the channel closes.
 */
export async function moveOnChannel(
  channel: MoveChannel,
  from: string,
  to: string,
  options: MoveOptions & { limit?: number },
): Promise<number> {
  let wasReturned = false;
  channel.on('return', () => (wasReturned = true));
  const returned = () => wasReturned;
  const drop = [...BROKER_DEATH_HEADERS, ...(options.resetHeaders ?? [])];
  let moved = 0;
  for (let taken = 0; options.limit === undefined || taken < options.limit; taken++) {
    const message = await channel.get(from, { noAck: false });
    if (!message) break;
    const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
    if (options.select && !options.select(headers)) {
      await confirmedSend(channel, from, message, headers, returned, from);
      channel.ack(message);
      continue;
    }
    await confirmedSend(channel, to, message, withoutHeaders(headers, drop), returned, from);
    channel.ack(message);
    moved++;
  }
  return moved;
}

/** Headers RabbitMQ writes when it dead-letters a message; never carried into a new publish. */
export const BROKER_DEATH_HEADERS = [
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
] as const;

export function withoutHeaders(
  headers: Record<string, unknown> | undefined,
  drop: readonly string[],
): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (!drop.includes(name)) kept[name] = value;
  return kept;
}

export interface BrokerConnections {
  admin(uri: string): Promise<BrokerAdmin>;
  close(): Promise<void>;
}

/** Channels an admin spreads its operations over (see AmqpAdmin.#shared). */
const SHARED_CHANNELS = 8;

/** amqplib reports a missing queue or exchange as a channel error with code 404. */
function isNotFound(error: unknown): boolean {
  return (error as { code?: number }).code === 404;
}

/** The admin face: every operation's failure is a HooklineError naming the operation. */
class AmqpAdmin implements BrokerAdmin {
  readonly #connection: amqp.ChannelModel;
  readonly #uri: string;
  readonly #channels: (Promise<amqp.ConfirmChannel> | undefined)[] = [];
  #next = 0;

  constructor(connection: amqp.ChannelModel, uri: string) {
    this.#connection = connection;
    this.#uri = uri;
  }

  async #run<T>(operation: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw brokerError(this.#uri, operation, error);
    }
  }

  /**
   * One of a few shared channels, in turn: a broker works a channel's methods one after
   * another, and declaring a quorum queue takes it tens of milliseconds, so reconciles
   * running side by side each get a channel rather than waiting behind one.
   */
  #shared(): Promise<amqp.ConfirmChannel> {
    const slot = (this.#next = (this.#next + 1) % SHARED_CHANNELS);
    const open = this.#channels[slot];
    if (open) return open;
    const opening = this.#connection.createConfirmChannel();
    this.#channels[slot] = opening;
    const forget = () => {
      if (this.#channels[slot] === opening) this.#channels[slot] = undefined;
    };
    opening.then((channel) => {
      channel.on('error', () => undefined); // reported through the failing call
      channel.once('close', forget);
    }, forget);
    return opening;
  }

  /** Runs an operation that may close its channel (a 404) on a channel of its own. */
  async #probe<T>(operation: (channel: amqp.Channel) => Promise<T>): Promise<T> {
    const channel = await this.#connection.createChannel();
    channel.on('error', () => undefined);
    try {
      return await operation(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  async assertQueue(
    name: string,
    args: Record<string, unknown> = {},
  ): Promise<QueueInfo & { existed: boolean }> {
    return this.#run('assertQueue', async () => {
      const existing = await this.queueInfo(name);
      if (existing) return { ...existing, existed: true };
      const channel = await this.#shared();
      const reply = await channel.assertQueue(name, { durable: true, arguments: args });
      return { messageCount: reply.messageCount, consumerCount: reply.consumerCount, existed: false };
    });
  }

  async queueInfo(name: string): Promise<QueueInfo | undefined> {
    return this.#run('queueInfo', async () => {
      try {
        return await this.#probe(async (channel) => {
          const reply = await channel.checkQueue(name);
          return { messageCount: reply.messageCount, consumerCount: reply.consumerCount };
        });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    });
  }

  async deleteQueue(name: string): Promise<void> {
    return this.#run('deleteQueue', async () => {
      await (await this.#shared()).deleteQueue(name);
    });
  }

  async purgeQueue(name: string): Promise<number> {
    return this.#run('purgeQueue', async () => {
      if (!(await this.queueInfo(name))) return 0;
      return (await (await this.#shared()).purgeQueue(name)).messageCount;
    });
  }

  async exchangeExists(name: string): Promise<boolean> {
    return this.#run('exchangeExists', async () => {
      try {
        await this.#probe((channel) => channel.checkExchange(name));
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    });
  }

  async assertExchange(name: string, type: string, args: Record<string, unknown> = {}): Promise<void> {
    return this.#run('assertExchange', async () => {
      await (await this.#shared()).assertExchange(name, type, { durable: true, arguments: args });
    });
  }

  async exchangeTypeIs(name: string, type: string): Promise<'match' | 'mismatch' | 'unknown'> {
    return this.#run('exchangeTypeIs', async () => {
      try {
        await this.#probe((channel) => channel.assertExchange(name, type, { durable: true }));
        return 'match';
      } catch (error) {
        const { code } = error as { code?: number };
        if (code === 406 && /inequivalent arg 'type'/.test(errorMessage(error))) return 'mismatch';
        if (code === 406 || code === 403) return 'unknown';
        throw error;
      }
    });
  }

  async deleteExchange(name: string): Promise<void> {
    return this.#run('deleteExchange', async () => {
      await (await this.#shared()).deleteExchange(name);
    });
  }

  async bindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    return this.#run('bindQueue', async () => {
      await (await this.#shared()).bindQueue(queue, exchange, pattern);
    });
  }

  async unbindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    return this.#run('unbindQueue', async () => {
      if (!(await this.exchangeExists(exchange)) || !(await this.queueInfo(queue))) return;
      await (await this.#shared()).unbindQueue(queue, exchange, pattern);
    });
  }

  async bindExchange(destination: string, source: string, pattern: string): Promise<void> {
    return this.#run('bindExchange', async () => {
      await (await this.#shared()).bindExchange(destination, source, pattern);
    });
  }

  async moveMessages(from: string, to: string, options: MoveOptions = {}): Promise<number> {
    return this.#run('moveMessages', async () => {
      const held = await this.queueInfo(from);
      if (!held) return 0;
      const channel = await this.#connection.createConfirmChannel();
      channel.on('error', () => undefined);
      try {
        return await moveOnChannel(channel, from, to, {
          ...options,
          ...(options.select ? { limit: held.messageCount } : {}),
        });
      } finally {
        await channel.close().catch(() => undefined);
      }
    });
  }
}

export function amqpBrokerConnections(options: { connectTimeoutMs?: number } = {}): BrokerConnections {
  const connections = new Map<string, Promise<amqp.ChannelModel>>();
  function connect(uri: string): Promise<amqp.ChannelModel> {
    let pending = connections.get(uri);
    if (!pending) {
      pending = connectBroker(uri, {
        name: 'hookline-operator',
        timeoutMs: options.connectTimeoutMs ?? 5000,
      }).then((connection) => {
        connection.once('close', () => {
          if (connections.get(uri) === pending) connections.delete(uri);
        });
        return connection;
      });
      pending.catch(() => connections.delete(uri));
      connections.set(uri, pending);
    }
    return pending;
  }
  const admins = new WeakMap<amqp.ChannelModel, AmqpAdmin>();
  return {
    async admin(uri: string): Promise<BrokerAdmin> {
      let connection: amqp.ChannelModel;
      try {
        connection = await connect(uri);
      } catch (error) {
        throw unreachable(uri, error);
      }
      let admin = admins.get(connection);
      if (!admin) {
        admin = new AmqpAdmin(connection, uri);
        admins.set(connection, admin);
      }
      return admin;
    },
    async close(): Promise<void> {
      const all = [...connections.values()];
      connections.clear();
      await Promise.all(
        all.map(async (pending) => (await pending.catch(() => undefined))?.close().catch(() => undefined)),
      );
    },
  };
}
