// The acknowledgements of one consumer channel, gathered over a turn of the event loop:
// the settled deliveries from the oldest on go as one `multiple` ack, those settled out of
// order one by one. A channel's delivery tags rise in delivery order, and an ack with
// `multiple` settles every unsettled tag up to its own, so it is sent only up to where
// every older delivery is settled. Rejections go at once: they return the message.

/** What Acks needs of an amqplib channel. */
export interface AckChannel {
  ack(message: { fields: { deliveryTag: number } }, allUpTo?: boolean): void;
}

/** A delivery's state: in hand; acknowledged, the ack not yet sent; settled on the broker. */
const OPEN = 0;
const DUE = 1;
const SENT = 2;

export class Acks {
  readonly #channel: AckChannel;
  /**
   * The state of each delivery not yet known settled on the broker, oldest first, by tag: a
   * channel's delivery tags rise by one per delivery, so `#first` and the index give the tag.
   */
  #states: number[] = [];
  #first = 0;
  /** The tags acknowledged since the last flush. */
  #due: number[] = [];
  #scheduled = false;

  constructor(channel: AckChannel) {
    this.#channel = channel;
  }

  /** A delivery arrived; its tag is above every earlier one. */
  received(tag: number): void {
    const states = this.#states;
    if (states.length === 0) this.#first = tag;
    else if (tag < this.#first + states.length) return;
    // Tags skipped (none on a channel of its own) were never in hand here: nothing to settle.
    while (this.#first + states.length < tag) states.push(SENT);
    states.push(OPEN);
  }

  /** The delivery is acknowledged; the ack goes out by the end of this turn of the event loop. */
  ack(tag: number): void {
    const index = tag - this.#first;
    if (index < 0 || index >= this.#states.length || this.#states[index] !== OPEN) return;
    this.#states[index] = DUE;
    this.#due.push(tag);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  /** The delivery was settled some other way (a nack sent at once). */
  settled(tag: number): void {
    const index = tag - this.#first;
    if (index >= 0 && index < this.#states.length) this.#states[index] = SENT;
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
    // The run of settled deliveries from the oldest on goes as one multiple ack, up to the
    // last of them that is due; the oldest one in hand ends it.
    const states = this.#states;
    let prefix = 0;
    let last = -1;
    while (prefix < states.length && states[prefix] !== OPEN) {
      if (states[prefix] === DUE) last = prefix;
      prefix++;
    }
    const first = this.#first;
    if (prefix > 0) {
      states.splice(0, prefix);
      this.#first += prefix;
    }
    const due = this.#due;
    this.#due = [];
    if (last >= 0) this.#channel.ack({ fields: { deliveryTag: first + last } }, true);
    // Those acknowledged behind a delivery still in hand, one by one, oldest first.
    if (due.length > 1) due.sort((a, b) => a - b);
    for (const tag of due) {
      const index = tag - this.#first;
      if (index < 0 || states[index] !== DUE) continue;
      states[index] = SENT;
      this.#channel.ack({ fields: { deliveryTag: tag } }, false);
    }
  }
}
