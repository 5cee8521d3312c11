// Unordered delivery of one Webhook: a consumer with `concurrency` events in hand. While the
// circuit breaker is open the consumer is stopped, so events wait in the queue with their
// retries untouched, and one probe event is taken per probe interval.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.ts';
import { Retry, type Clock, type RetrySchedule } from '../../core/retry.ts';
import type { BrokerSession, Consumer, Delivery } from '../broker/session.ts';
import type { HookConfig } from '../hooks.ts';
import { unlessAborted } from './abort.ts';
import type { Circuit } from './circuit.ts';
import type { Handled } from './outcomes.ts';

/** After the queue could not be consumed: 500 ms more for each failure in a row, up to 5 s. */
const CONSUME_RETRY: RetrySchedule = { kind: 'linear', stepMs: 500, maxMs: 5000 };
/** How long a stopping consumer waits for the deliveries in hand. */
const DRAIN_TIMEOUT_MS = 20_000;

export interface UnorderedDeps {
  config: HookConfig;
  session: BrokerSession;
  logger: Logger;
  clock: Clock;
  /** Aborts when the worker stops. */
  stopped: AbortSignal;
  circuit: Circuit | undefined;
  /** The worker's handling of one event; `probe` lets it through an open circuit. */
  handle: (delivery: Delivery, probe?: boolean) => Promise<Handled>;
  /** Resolves when no delivery is in hand, or after `timeoutMs`. */
  drained: (timeoutMs: number) => Promise<void>;
}

export class UnorderedLane {
  readonly #d: UnorderedDeps;
  /** The queue's consumer while it takes events (not while it stops, nor a probe's). */
  #consumer: Consumer | undefined;

  constructor(deps: UnorderedDeps) {
    this.#d = deps;
  }

  /** Whether a consumer takes the queue's events now: the broker hands it each ready one it has room for. */
  get consuming(): boolean {
    return this.#consumer !== undefined;
  }

  async run(): Promise<void> {
    const { session, config, stopped, circuit } = this.#d;
    const retry = new Retry(CONSUME_RETRY, { clock: this.#d.clock });
    while (!stopped.aborted) {
      try {
        await session.ready();
        if (circuit?.open) {
          await this.#probe(circuit);
          continue;
        }
        const consumer = await session.consume(
          config.topology.queue,
          { prefetch: config.policy.concurrency, key: config.name },
          (d) => void this.#d.handle(d),
        );
        retry.succeeded();
        this.#consumer = consumer;
        // An opening circuit stops the consumer too: the events wait in the queue.
        const until = circuit ? AbortSignal.any([stopped, circuit.opened]) : stopped;
        await unlessAborted(consumer.closed, until);
        this.#consumer = undefined;
        await this.#release(consumer);
      } catch (error) {
        this.#d.logger.warn({ err: errorMessage(error) }, 'Cannot consume the queue; retrying');
        await retry.wait(stopped);
      }
    }
  }

  /** The loop owns its consumer: whatever it opened, even while stopping, it closes. */
  async #release(consumer: Consumer): Promise<void> {
    await consumer.cancel();
    await this.#d.drained(DRAIN_TIMEOUT_MS);
    await consumer.close();
  }

  /** While the circuit is open: one event, when the next probe is due, tells whether the receiver is back. */
  async #probe(circuit: Circuit): Promise<void> {
    const { stopped } = this.#d;
    if (!(await circuit.untilProbe(stopped))) return;
    let taken = false;
    let handled!: () => void;
    const done = new Promise<void>((resolve) => (handled = resolve));
    const { queue } = this.#d.config.topology;
    const consumer = await this.#d.session.consume(queue, { prefetch: 1, key: this.#d.config.name }, (d) => {
      if (taken) return d.nack(true);
      taken = true;
      void this.#d.handle(d, true).finally(handled);
    });
    // A probe's consumer that the broker closes (the connection lost) waits no longer.
    await unlessAborted(Promise.race([done, consumer.closed]), stopped);
    await this.#release(consumer);
  }
}
