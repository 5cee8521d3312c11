// The session's consumers spread over as many connections as they need. RabbitMQ gives a
// connection at most `channel_max` channels (2,047 by default) and a dispatcher opens one
// per consumer (two more for a Strict Webhook's head queue and lock), so a source with
// thousands of Webhooks needs several connections. The channels of one Webhook (its key)
// stay on one connection: a Strict Webhook's lock and its consumers then go together when
// that connection drops, and another replica cannot take the lock while this one still has
// an event in hand.
import type amqp from 'amqplib';
import type { BrokerConnection } from './connection.ts';

/** Channels a connection carries before the next one is used: half of RabbitMQ's default channel_max. */
export const CHANNELS_PER_CONNECTION = 1000;

interface Carrier {
  readonly connection: BrokerConnection;
  channels: number;
}

export class Carriers {
  readonly #carriers: Carrier[];
  readonly #open: (index: number) => BrokerConnection;
  readonly #perConnection: number;
  /** Per key, the carrier its channels are on and how many are open. */
  readonly #keys = new Map<string, { carrier: Carrier; channels: number }>();

  constructor(
    first: BrokerConnection,
    open: (index: number) => BrokerConnection,
    perConnection = CHANNELS_PER_CONNECTION,
  ) {
    this.#carriers = [{ connection: first, channels: 0 }];
    this.#open = open;
    this.#perConnection = perConnection;
  }

  get connections(): readonly BrokerConnection[] {
    return this.#carriers.map((c) => c.connection);
  }

  /** Channels open on each connection, first one first (for tests and metrics). */
  get channels(): number[] {
    return this.#carriers.map((c) => c.channels);
  }

  /**
   * Opens a channel's worth of something (a consumer, a lock) with `open`, on the connection
   * of `key`'s other channels or else the first with room, and counts it until `closed`
   * resolves for it.
   */
  async open<T>(
    key: string | undefined,
    open: (connection: amqp.ChannelModel) => Promise<T>,
    closed: (opened: T) => Promise<void>,
  ): Promise<T> {
    const known = key === undefined ? undefined : this.#keys.get(key);
    const carrier = known?.carrier ?? this.#roomy();
    // Counted from now: channels opened at once for other keys see this one's place taken.
    carrier.channels++;
    const entry = key === undefined ? undefined : (known ?? { carrier, channels: 0 });
    if (key !== undefined && entry) {
      entry.channels++;
      this.#keys.set(key, entry);
    }
    const release = () => {
      carrier.channels--;
      if (key !== undefined && entry && --entry.channels === 0 && this.#keys.get(key) === entry)
        this.#keys.delete(key);
    };
    let opened: T;
    try {
      opened = await open(await carrier.connection.current());
    } catch (error) {
      release();
      throw error;
    }
    void closed(opened).then(release, release);
    return opened;
  }

  #roomy(): Carrier {
    const found = this.#carriers.find((c) => c.channels < this.#perConnection);
    if (found) return found;
    const added: Carrier = { connection: this.#open(this.#carriers.length), channels: 0 };
    this.#carriers.push(added);
    return added;
  }
}
