// The acknowledgements of one consumer channel, gathered over a turn of the event loop:
// the settled deliveries from the oldest on go as one `multiple` ack, those settled out of
// order one by one. A channel's delivery tags rise in delivery order, and an ack with
// `multiple` settles every unsettled tag up to its own, so it is sent only up to where
// every older delivery is settled. Rejections go at once: they return the message.

/** What Acks needs of an amqplib channel. */
export interface AckChannel {
  ack(message: { fields: { deliveryTag: number } }, allUpTo?: boolean): void;
}

interface Held {
  tag: number;
  /** 'open': in hand; 'due': acknowledged, not yet sent; 'sent': settled on the broker. */
  state: 'open' | 'due' | 'sent';
}

export class Acks {
  readonly #channel: AckChannel;
  /** Every delivery not yet known settled on the broker, oldest first. */
  #held: Held[] = [];
  readonly #byTag = new Map<number, Held>();
  #scheduled = false;

  constructor(channel: AckChannel) {
    this.#channel = channel;
  }

  /** A delivery arrived; its tag is above every earlier one. */
  received(tag: number): void {
    const held: Held = { tag, state: 'open' };
    this.#held.push(held);
    this.#byTag.set(tag, held);
  }

  /** The delivery is acknowledged; the ack goes out by the end of this turn of the event loop. */
  ack(tag: number): void {
    const held = this.#byTag.get(tag);
    if (!held || held.state !== 'open') return;
    held.state = 'due';
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  /** The delivery was settled some other way (a nack sent at once). */
  settled(tag: number): void {
    const held = this.#byTag.get(tag);
    if (held) held.state = 'sent';
  }

  /** Sends every ack that is due. On a closed channel, sends nothing: the broker redelivers. */
  flush(): void {
    try {
      this.#send();
    } catch {
      // The channel closed meanwhile (amqplib throws): at-least-once, as with any lost ack.
    }
  }

  #send(): void {
    let prefix = 0;
    let last: Held | undefined;
    while (prefix < this.#held.length && this.#held[prefix]!.state !== 'open') {
      const held = this.#held[prefix]!;
      if (held.state === 'due') last = held;
      prefix++;
    }
    for (const held of this.#held.splice(0, prefix)) this.#byTag.delete(held.tag);
    if (last) this.#channel.ack({ fields: { deliveryTag: last.tag } }, true);
    for (const held of this.#held) {
      if (held.state !== 'due') continue;
      held.state = 'sent';
      this.#channel.ack({ fields: { deliveryTag: held.tag } }, false);
    }
  }
}
