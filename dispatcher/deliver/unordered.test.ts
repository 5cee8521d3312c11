import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { fakeQueues, instantClock, until } from '../../test/fixtures/fake-queues.ts';
import type { HookConfig } from '../hooks.ts';
import type { Circuit } from './circuit.ts';
import { UnorderedLane } from './unordered.ts';

const queue = 'hookline.shop.hook';

/** A circuit that is open until `close()`; a probe is always due. */
function openCircuit() {
  let open = true;
  const circuit = {
    get open() {
      return open;
    },
    opened: new AbortController().signal,
    untilProbe: () => Promise.resolve(true),
  } as unknown as Circuit;
  return { circuit, close: () => (open = false) };
}

/**
 * A lane of the Webhook `hook` over an empty in-memory queue, its circuit open: the first
 * event it takes is the probe, whose answer closes the circuit. Every event taken is
 * acknowledged and its body recorded in `delivered`.
 */
function probingLane() {
  const stop = new AbortController();
  const broker = fakeQueues({ [queue]: [] });
  const { circuit, close } = openCircuit();
  const delivered: string[] = [];
  const lane = new UnorderedLane({
    config: { name: 'hook', topology: { queue }, policy: { concurrency: 4 } } as unknown as HookConfig,
    session: broker.session,
    logger: pino({ level: 'silent' }),
    clock: instantClock(),
    stopped: stop.signal,
    circuit,
    handle: (d) => {
      close(); // the receiver answered: the probe closes the circuit
      delivered.push(d.body.toString());
      d.ack();
      return Promise.resolve('delivered');
    },
    drained: () => Promise.resolve(),
  });
  const running = lane.run();
  return {
    lane,
    broker,
    delivered,
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}

describe('UnorderedLane', () => {
  it('takes the next probe event after the probe’s consumer was closed by the broker', async () => {
    const { broker, delivered, stop } = probingLane();
    // The probe waits on an empty queue when its channel is closed (a connection lost).
    await until(() => false, 100);
    broker.drop(queue);
    broker.push(queue, '1');
    await until(() => delivered.length === 1, 3000);
    broker.push(queue, '2');
    await until(() => delivered.length === 2, 3000);
    await stop();
    assert.deepEqual(delivered, ['1', '2']);
  });

  it('says it consumes only while its consumer takes events: not while probing, nor once closed', async () => {
    const { lane, broker, stop } = probingLane();
    await until(() => false, 50);
    assert.equal(lane.consuming, false, 'a probe’s consumer takes one event, not the queue’s');
    broker.push(queue, '1'); // the probe succeeds: the circuit closes, the consumer opens
    await until(() => lane.consuming, 3000);
    assert.equal(lane.consuming, true);
    broker.drop(queue); // the broker closes it
    await until(() => !lane.consuming, 3000);
    await stop();
    assert.equal(lane.consuming, false);
  });
});
