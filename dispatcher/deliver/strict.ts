// Strict delivery of one Webhook: one replica at a time, the one whose connection holds the
// Webhook's lock (an exclusive queue: the broker lets one connection at a time declare it,
// cluster-wide, and deletes it with that connection; an exclusive consumer would not do, as
// quorum queues do not enforce consumer exclusivity). The event being retried waits in the
// head queue with the time it is due, and the main queue is not consumed until it was
// delivered or failed for good, so later events wait in order. Head and main deliveries run
// one at a time.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.ts';
import { Retry, type Clock, type RetrySchedule } from '../../core/retry.ts';
import {
  ExclusiveConsumerTaken,
  type BrokerLock,
  type BrokerSession,
  type Consumer,
  type Delivery,
  type MessageProperties,
} from '../broker/session.ts';
import type { HookConfig } from '../hooks.ts';
import { unlessAborted } from './abort.ts';
import { HEADER } from './event.ts';
import type { Handled } from './outcomes.ts';
import { renewHead, sendToHead } from './republish.ts';

/** A held head event is put back before the broker's consumer timeout (30 min by default). */
const HEAD_RENEW_MS = 15 * 60_000;
/**
 * After taking the lock, how long to wait for an event left in the head queue to arrive
 * before the main queue is consumed: the head queue's message count is read on another
 * channel and may not yet count an event already on its way to this replica.
 */
const HEAD_SETTLE_MS = 250;
/** How often a replica that does not hold a Strict hook's lock tries to take it. */
const STANDBY_RETRY: RetrySchedule = { kind: 'fixed', ms: 5000 };

export interface StrictDeps {
  config: HookConfig;
  session: BrokerSession;
  logger: Logger;
  clock: Clock;
  /** Aborts when the worker stops. */
  stopped: AbortSignal;
  /** True once the worker disabled its Webhook: the main queue is not consumed any more. */
  disabled: () => boolean;
  /**
   * The worker's handling of one event, the same in both orderings. `released` aborts when
   * the lane lets go of its lock: an event still waiting (for a circuit's probe) then goes
   * back to the queue instead of being delivered out of turn.
   */
  handle: (delivery: Delivery, released: AbortSignal) => Promise<Handled>;
}

export class StrictLane {
  readonly #d: StrictDeps;
  readonly #standby: Retry;
  /** The main queue's consumer, while the head queue is empty. */
  #main: Tap | undefined;
  /** Deliveries run one at a time, head and main alike. */
  #turn: Promise<unknown> = Promise.resolve();
  /** Aborts the wait of the head event in hand until it is due. */
  #headWait: AbortController | undefined;
  /** Called when the main queue's consumer closes without the lane closing it. */
  #mainLost: (() => void) | undefined;
  /** An event from the head queue is in hand (waiting until due, or being delivered): later events wait. */
  #headHeld = false;
  /**
   * Between taking the lock with the head consumer and the moment either is lost: only then
   * is an event handled or the main queue consumed. Once the lock is lost another replica may
   * deliver, and what this one has in hand goes back to the queues with its channels.
   */
  #holding = false;
  /** Aborts as the lane lets go of the lock it holds (see StrictDeps.handle). */
  #released = new AbortController();

  constructor(deps: StrictDeps) {
    this.#d = deps;
    this.#standby = new Retry(STANDBY_RETRY, { clock: deps.clock });
  }

  get #running(): boolean {
    return !this.#d.stopped.aborted;
  }

  /** Takes the lock, delivers while it holds it, stands by while another replica does; until stopped. */
  async run(): Promise<void> {
    const { session, logger, stopped } = this.#d;
    const { headQueue, lockQueue } = this.#d.config.topology;
    while (this.#running) {
      let lock: BrokerLock | undefined;
      let head: Consumer | undefined;
      const mainLost = new Promise<never>((_resolve, reject) => {
        this.#mainLost = () =>
          reject(new Error(`the consumer of ${this.#d.config.topology.queue} was closed`));
      });
      mainLost.catch(() => undefined);
      try {
        await session.ready();
        // The lock and the consumers on one connection: they go together if it drops.
        lock = await session.lock(lockQueue, this.#d.config.name);
        if (!lock) throw new ExclusiveConsumerTaken(`${lockQueue} is held by another connection`);
        this.#holding = true;
        this.#released = new AbortController();
        // Exclusive as well: on a classic head queue, a replica of an earlier version that
        // still holds it keeps this one out.
        const headTap = new Tap();
        head = headTap.on(
          await session.consume(
            headQueue,
            { prefetch: 1, exclusive: true, key: this.#d.config.name },
            (d) => {
              void this.#serially(async () => {
                if (this.#holding && headTap.open) await this.#onHead(d);
              });
            },
          ),
        );
        this.#standby.succeeded();
        if (!this.#running) break;
        logger.info('Delivering in strict order');
        // Only the lock's holder puts events in the head queue: one that is there now was
        // left by an earlier holder, and arrives on the consumer above.
        await this.#d.clock.sleep(HEAD_SETTLE_MS, stopped).catch(() => undefined);
        if (((await session.messageCount(headQueue)) ?? 0) === 0)
          await this.#serially(() => this.#resumeMain());
        // A closed main consumer goes the way of a broker error: wait a little, start over.
        await unlessAborted(Promise.race([head.closed, lock.lost, mainLost]), stopped);
      } catch (error) {
        this.#holding = false;
        if (error instanceof ExclusiveConsumerTaken) {
          logger.debug('Another replica delivers this hook in strict order; standing by');
        } else {
          logger.warn({ err: errorMessage(error) }, 'Strict delivery interrupted; resuming');
        }
        await this.#standby.wait(stopped);
      } finally {
        this.#holding = false;
        this.#released.abort();
        this.#headWait?.abort();
        this.#mainLost = undefined;
        this.#headHeld = false;
        await this.#pauseMain();
        if (head) {
          await head.cancel();
          await this.#turn;
          await head.close();
        }
        await this.#closeMain();
        // Last: another replica may deliver once nothing of this one's is in hand.
        await lock?.release();
      }
    }
  }

  /** Puts the next attempt in the head queue, due in `delayMs`; later events stay in the queue until it is done. */
  async retry(
    delivery: Delivery,
    properties: MessageProperties & { headers: Record<string, unknown> },
    delayMs: number,
  ): Promise<void> {
    await this.#pauseMain();
    const dueAt = this.#d.clock.now() + delayMs;
    await sendToHead(this.#d.session, this.#d.config.topology, delivery, properties, dueAt);
  }

  #serially(step: () => Promise<unknown>): Promise<void> {
    const next = this.#turn.then(step, step);
    this.#turn = next.catch(() => undefined);
    return next.then(
      () => undefined,
      (error: unknown) => this.#d.logger.warn({ err: errorMessage(error) }, 'Strict delivery step failed'),
    );
  }

  /** Consume the main queue, one event in hand at a time. */
  async #resumeMain(): Promise<void> {
    if (!this.#running || !this.#holding || this.#main || this.#headHeld || this.#d.disabled()) return;
    const key = this.#d.config.name;
    const tap = new Tap();
    this.#main = tap;
    let consumer: Consumer;
    try {
      consumer = await this.#d.session.consume(this.#d.config.topology.queue, { prefetch: 1, key }, (d) => {
        void this.#serially(async () => {
          if (this.#holding && tap.open) await this.#onMain(d);
        });
      });
    } catch (error) {
      // Nothing else would try again: the round starts over.
      if (this.#main === tap) this.#main = undefined;
      this.#mainLost?.();
      throw error;
    }
    // The lane lets a consumer go before it closes it; one closed while still open here was
    // closed by the broker (a channel error, the queue deleted) and consumes no more.
    void consumer.closed.then(() => {
      if (tap.open) this.#mainLost?.();
    });
    tap.on(consumer);
  }

  /** Lets the main queue's consumer go, and closes it: what it has in hand goes back. */
  async #closeMain(): Promise<void> {
    const main = this.#main;
    this.#main = undefined;
    await main?.close();
  }

  /** Consume the main queue again on a channel of its own (a cancelled consumer does not resume). */
  async #reopenMain(): Promise<void> {
    await this.#closeMain();
    await this.#resumeMain();
  }

  /**
   * The next event of the main queue. After a retry it waits in the head queue and resumes
   * the main queue from there; when the broker refused that retry (a quorum queue nacks while
   * its leader's node is lost) the event was given back to the main queue, paused for the
   * retry, and nothing would come to the head queue to resume it.
   */
  async #onMain(delivery: Delivery): Promise<void> {
    const outcome = await this.#d.handle(delivery, this.#released.signal);
    if (outcome !== 'retry' && this.#main?.cancelled && !this.#headHeld) await this.#reopenMain();
  }

  /** Stop taking events from the main queue; the one in hand can still be acknowledged. */
  async #pauseMain(): Promise<void> {
    await this.#main?.cancel();
  }

  /** The head event, when it is due; held (and renewed before the consumer timeout) until then. */
  async #onHead(delivery: Delivery): Promise<void> {
    this.#headHeld = true;
    await this.#pauseMain();
    const due = Number(delivery.properties.headers?.[HEADER.dueAt] ?? 0);
    const wait = Number.isFinite(due) ? due - this.#d.clock.now() : 0;
    if (wait > 0) {
      const waiting = (this.#headWait = new AbortController());
      void this.#d.clock.sleep(Math.min(wait, HEAD_RENEW_MS), waiting.signal).then(() => {
        if (waiting.signal.aborted) return;
        void this.#serially(async () => {
          if (wait > HEAD_RENEW_MS) await this.#renewHead(delivery);
          else await this.#deliverHead(delivery);
        });
      });
      return;
    }
    await this.#deliverHead(delivery);
  }

  /** Puts the held head event back before the consumer timeout; given back when the broker refuses. */
  async #renewHead(delivery: Delivery): Promise<void> {
    try {
      await renewHead(this.#d.session, this.#d.config.topology, delivery);
    } catch (error) {
      // Back to the head queue as it is: it comes again, is held again until it is due.
      delivery.nack(true);
      throw error;
    }
    delivery.ack();
  }

  async #deliverHead(delivery: Delivery): Promise<void> {
    const outcome = await this.#d.handle(delivery, this.#released.signal);
    // Later events may go once the head event is done with. After a retry it is back in
    // the head queue; when it was given back (broker trouble, disabled) it comes again.
    if (outcome === 'delivered' || outcome === 'failed' || outcome === 'filtered') {
      this.#headHeld = false;
      await this.#reopenMain();
    }
  }
}

/**
 * A consumer as the lane sees it: its deliveries are handled while it is open, that is until
 * its channel closed or the lane let it go. An event handed out by a consumer that is no
 * longer open is back in its queue (or will be with its channel), and another replica may be
 * delivering the events after it. Deliveries can arrive before `consume` has returned.
 */
class Tap {
  #consumer: Consumer | undefined;
  #open = true;
  #cancelled = false;

  get open(): boolean {
    return this.#open;
  }

  /** Cancelled by the lane (for a retry or a head event): it hands out nothing more. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** The consumer once `consume` returned; closed if the lane let it go meanwhile. */
  on(consumer: Consumer): Consumer {
    this.#consumer = consumer;
    void consumer.closed.then(() => (this.#open = false));
    if (!this.#open) void consumer.close();
    else if (this.#cancelled) void consumer.cancel();
    return consumer;
  }

  async cancel(): Promise<void> {
    this.#cancelled = true;
    await this.#consumer?.cancel();
  }

  async close(): Promise<void> {
    this.#open = false;
    await this.#consumer?.close();
  }
}
