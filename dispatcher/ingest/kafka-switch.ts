// Keeps the Kafka ingest in step with the EventSource: started once its spec is known,
// restarted when what it reads or how it reads it changed, stopped when the source is no
// longer a kafka source. One change at a time.
import type { Logger } from 'pino';
import type { PartitionLag } from './kafka-client.ts';
import type { EventSourceSpec } from '../../core/api/v1alpha1/eventsource.ts';
import { errorMessage } from '../../core/errors.ts';
import { Retry, type Clock, type RetrySchedule } from '../../core/retry.ts';

export interface IngestComponent {
  readonly joined: boolean;
  lag?(): Promise<PartitionLag[] | undefined>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface KafkaSwitchOptions {
  build: (spec: EventSourceSpec) => IngestComponent;
  logger: Logger;
  clock?: Clock;
}

/** After the ingest could not start, it is tried again this much later. */
const START_RETRY: RetrySchedule = { kind: 'fixed', ms: 5000 };

/** What the running ingest depends on; any change restarts it. */
function inputsOf(spec: EventSourceSpec): string {
  return JSON.stringify([spec.kafka, spec.eventType, spec.dispatcher.maxEventBytes]);
}

export class KafkaSwitch {
  readonly #o: KafkaSwitchOptions;
  #current: { ingest: IngestComponent; inputs: string } | undefined;
  #queue: Promise<void> = Promise.resolve();
  #isKafka = false;
  #latest: EventSourceSpec | undefined;
  /** Aborted by stop(). */
  readonly #stop = new AbortController();
  readonly #retry: Retry;

  constructor(options: KafkaSwitchOptions) {
    this.#o = options;
    this.#retry = new Retry(START_RETRY, { clock: options.clock });
  }

  /** Not a kafka source, or the consumer has joined its group. */
  get ready(): boolean {
    return !this.#isKafka || (this.#current?.ingest.joined ?? false);
  }

  /** The running consumer's lag per partition; undefined when none runs. */
  async lag(): Promise<PartitionLag[] | undefined> {
    return this.#current?.ingest.lag?.();
  }

  follow(spec: EventSourceSpec | undefined): void {
    this.#isKafka = spec?.kafka !== undefined;
    this.#latest = spec;
    this.#queue = this.#queue.then(async () => {
      if (this.#stop.signal.aborted || spec !== this.#latest) return;
      const inputs = spec?.kafka ? inputsOf(spec) : undefined;
      if (this.#current?.inputs === inputs) return;
      if (this.#current) {
        this.#o.logger.info('Restarting Kafka ingest: its source changed');
        await this.#current.ingest.stop();
        this.#current = undefined;
      }
      if (!spec?.kafka || !inputs) return;
      const ingest = this.#o.build(spec);
      try {
        await ingest.start();
        this.#current = { ingest, inputs };
        this.#retry.succeeded();
      } catch (error) {
        const delay = this.#retry.failed();
        this.#o.logger.error(
          { err: errorMessage(error) },
          `Cannot start Kafka ingest; retrying in ${delay / 1000} s`,
        );
        void this.#retry.sleep(delay, this.#stop.signal).then(() => this.follow(this.#latest));
      }
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#queue;
    await this.#current?.ingest.stop();
    this.#current = undefined;
  }
}
