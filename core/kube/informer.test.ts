import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { HooklineError } from '../errors.ts';
import type { Clock } from '../retry.ts';
import { KubeApiError, type KubeClient, type WatchEvent } from './client.ts';
import { Informer, type KubeObject } from './informer.ts';

/** Wakes whoever waits for a condition each time something happened. */
class Happenings {
  #waiters = new Set<() => void>();

  notify(): void {
    for (const wake of this.#waiters) wake();
  }

  /** Resolves with `probe()` once it answers something other than undefined. */
  until<T>(probe: () => T | undefined): Promise<T> {
    return new Promise((resolve) => {
      const check = (): void => {
        const value = probe();
        if (value === undefined) return;
        this.#waiters.delete(check);
        resolve(value);
      };
      this.#waiters.add(check);
      check();
    });
  }
}

interface Sleep {
  ms: number;
  wake: () => void;
}

/** A clock whose sleeps last until the test wakes them (or their signal aborts). */
class ManualClock implements Clock {
  readonly asked: number[] = [];
  readonly #pending = new Set<Sleep>();
  readonly #happenings = new Happenings();

  now(): number {
    return 0;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.asked.push(ms);
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleep = { ms, wake: resolve };
      this.#pending.add(sleep);
      signal?.addEventListener('abort', () => (this.#pending.delete(sleep), resolve()), { once: true });
      this.#happenings.notify();
    });
  }

  /** Waits until a sleep that `matches` is pending, then ends it; answers its length. */
  async wake(matches: (ms: number) => boolean): Promise<number> {
    const sleep = await this.#happenings.until(() => [...this.#pending].find((s) => matches(s.ms)));
    this.#pending.delete(sleep);
    sleep.wake();
    return sleep.ms;
  }

  pending(matches: (ms: number) => boolean): number {
    return [...this.#pending].filter((s) => matches(s.ms)).length;
  }
}

type Item = KubeObject;
type ListStep = { items: Item[]; resourceVersion: string } | Error;
/** What one watch request does: send events, then end, fail, or go silent until aborted. */
type WatchStep = { events: WatchEvent<Item>[]; then: 'end' | 'silence' | Error };

const aborted = (): Error => Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });

/**
 * An API server that answers lists and watches as scripted, in turn; past the script, a
 * list never answers and a watch stays silent. `calls` says what was asked.
 */
function scriptedClient(lists: ListStep[], watches: WatchStep[], happenings: Happenings) {
  const calls: string[] = [];
  const silence = (signal: AbortSignal) =>
    new Promise<never>((_resolve, reject) => {
      if (signal.aborted) return reject(aborted());
      signal.addEventListener('abort', () => reject(aborted()), { once: true });
    });
  const client = {
    fieldManager: 'test',
    get(_path: string) {
      calls.push('list');
      happenings.notify();
      const step = lists.shift();
      if (!step) return new Promise<never>(() => {});
      if (step instanceof Error) return Promise.reject(step);
      return Promise.resolve({ metadata: { resourceVersion: step.resourceVersion }, items: step.items });
    },
    async watch(
      _path: string,
      query: Record<string, string>,
      onEvent: (event: WatchEvent<Item>) => void,
      signal: AbortSignal,
    ) {
      calls.push(`watch from ${query.resourceVersion}`);
      happenings.notify();
      const step = watches.shift() ?? { events: [], then: 'silence' };
      await Promise.resolve(); // the events arrive after the request went out
      for (const event of step.events) onEvent(event);
      happenings.notify();
      if (step.then === 'silence') return silence(signal);
      if (step.then instanceof Error) throw step.then;
    },
  } as unknown as KubeClient;
  return { client, calls };
}

const object = (name: string, resourceVersion: string): Item => ({
  metadata: { name, namespace: 'shop', resourceVersion },
});
const added = (name: string, resourceVersion: string): WatchEvent<Item> => ({
  type: 'ADDED',
  object: object(name, resourceVersion),
});
const expired: WatchEvent<Item> = {
  type: 'ERROR',
  object: { code: 410, message: 'too old resource version: 10 (15)' } as unknown as Item,
};

const STALL_MS = 999_999; // longer than any backoff, so the two kinds of sleep are told apart
const isStall = (ms: number) => ms === STALL_MS;
const isBackoff = (ms: number) => ms !== STALL_MS;

function informerOf(lists: ListStep[], watches: WatchStep[]) {
  const happenings = new Happenings();
  const clock = new ManualClock();
  const { client, calls } = scriptedClient(lists, watches, happenings);
  const changes: string[] = [];
  /** What each change replaced: `key:version` of the previous object, or `key:none`. */
  const replaced: string[] = [];
  const informer = new Informer<Item>({
    client,
    path: '/api/v1/namespaces/shop/configmaps',
    apiVersion: 'v1',
    kind: 'ConfigMap',
    logger: pino({ level: 'silent' }),
    onChange: (key, changed, previous) => {
      changes.push(changed ? `${key}@${changed.metadata.resourceVersion}` : `-${key}`);
      replaced.push(`${key}:${previous?.metadata.resourceVersion ?? 'none'}`);
      happenings.notify();
    },
    stallMs: STALL_MS,
    clock,
  });
  /** Resolves once the informer made `count` requests. */
  const requests = (count: number) => happenings.until(() => (calls.length >= count ? calls : undefined));
  /** Resolves once the informer told `count` changes. */
  const told = (count: number) => happenings.until(() => (changes.length >= count ? changes : undefined));
  return { informer, clock, calls, changes, replaced, requests, told };
}

describe('Informer', () => {
  const bounded = { timeout: 5_000 }; // a safety net against a hang, not an assertion on speed
  const goneCases: { name: string; watch: WatchStep }[] = [
    { name: 'an ERROR event with code 410', watch: { events: [added('c', '11'), expired], then: 'end' } },
    {
      name: 'a watch request answered 410',
      watch: {
        events: [added('c', '11')],
        then: new KubeApiError(410, 'Expired', 'too old resource version'),
      },
    },
  ];
  for (const c of goneCases) {
    it(`relists at once after ${c.name}, and tells only what the relist changed`, bounded, async () => {
      const { informer, clock, calls, changes, requests } = informerOf(
        [
          { items: [object('a', '1'), object('b', '1')], resourceVersion: '10' },
          { items: [object('a', '1'), object('c', '11'), object('d', '12')], resourceVersion: '20' },
        ],
        [c.watch],
      );
      informer.start();
      await requests(4);
      await informer.stop();

      assert.deepEqual(calls, ['list', 'watch from 10', 'list', 'watch from 20']);
      assert.deepEqual(changes, ['shop/a@1', 'shop/b@1', 'shop/c@11', 'shop/d@12', '-shop/b']);
      assert.deepEqual(informer.keys().sort(), ['shop/a', 'shop/c', 'shop/d']);
      assert.deepEqual(clock.asked.filter(isBackoff), [], 'no backoff before a relist');
    });
  }

  it('fills in an object read by name only over the same version it has cached', bounded, async () => {
    const { informer, requests } = informerOf(
      [{ items: [object('a', '1'), object('b', '1')], resourceVersion: '10' }],
      [{ events: [], then: 'silence' }],
    );
    informer.start();
    await requests(2);
    const read = (name: string, resourceVersion: string) => ({
      ...object(name, resourceVersion),
      data: { read: 'by name' },
    });
    assert.equal(informer.fill(read('a', '1')), true);
    assert.equal(informer.fill(read('b', '2')), false, "a newer version is the watch's to bring");
    assert.equal(informer.fill(read('z', '1')), false, 'an object not cached stays out');
    const cached = (name: string) => (informer.get(`shop/${name}`) as { data?: unknown } | undefined)?.data;
    assert.deepEqual(
      [cached('a'), cached('b'), informer.get('shop/z')],
      [{ read: 'by name' }, undefined, undefined],
    );
    await informer.stop();
  });

  it('tells each change with the object it replaced, and caches no managedFields', bounded, async () => {
    const withFields = (name: string, resourceVersion: string): Item => ({
      metadata: { ...object(name, resourceVersion).metadata, managedFields: [{ manager: 'kubectl' }] },
    });
    const { informer, replaced, told } = informerOf(
      [{ items: [withFields('a', '1'), withFields('b', '1')], resourceVersion: '10' }],
      [
        {
          events: [
            { type: 'MODIFIED', object: withFields('a', '2') },
            { type: 'DELETED', object: withFields('b', '3') },
            { type: 'ADDED', object: withFields('c', '4') },
          ],
          then: 'silence',
        },
      ],
    );
    informer.start();
    await told(5);
    const cached = informer.list();
    await informer.stop();
    assert.deepEqual(replaced, ['shop/a:none', 'shop/b:none', 'shop/a:1', 'shop/b:1', 'shop/c:none']);
    assert.deepEqual(
      cached.map((o) => [o.metadata.name, 'managedFields' in o.metadata]),
      [
        ['a', false],
        ['c', false],
      ],
    );
  });

  it(
    'reopens a watch that went silent from the last version it saw, without relisting',
    bounded,
    async () => {
      const { informer, clock, calls, changes, requests, told } = informerOf(
        [{ items: [object('a', '1')], resourceVersion: '10' }],
        [{ events: [added('b', '11')], then: 'silence' }],
      );
      informer.start();
      // Each event restarts the stall timer: the one armed when the watch opened was dropped.
      await told(2);
      await clock.wake(isStall);
      await requests(3);
      assert.deepEqual(calls, ['list', 'watch from 10', 'watch from 11']);
      assert.deepEqual(clock.asked.filter(isStall).length, 3, 'armed on open, on the event, on reopening');
      assert.equal(clock.pending(isStall), 1, 'one stall timer, for the open watch');
      await informer.stop();

      assert.equal(clock.pending(isStall), 0, 'no stall timer left once stopped');
      assert.deepEqual(changes, ['shop/a@1', 'shop/b@11']);
      assert.deepEqual(clock.asked.filter(isBackoff), []);
    },
  );

  it(
    'backs off exponentially after consecutive errors, and starts again after a good list',
    bounded,
    async () => {
      const unreachable = () => new HooklineError('KubeApiUnreachable', 'connect ECONNREFUSED');
      const { informer, clock, calls, requests } = informerOf(
        [
          unreachable(),
          unreachable(),
          unreachable(),
          { items: [object('a', '1')], resourceVersion: '10' },
          { items: [object('a', '1')], resourceVersion: '20' },
        ],
        [{ events: [], then: new KubeApiError(500, 'InternalError', 'etcd timed out') }],
      );
      informer.start();
      const delays: number[] = [];
      for (let i = 0; i < 4; i++) delays.push(await clock.wake(isBackoff));
      await requests(7);
      await informer.stop();

      assert.deepEqual(calls, ['list', 'list', 'list', 'list', 'watch from 10', 'list', 'watch from 20']);
      assert.ok(informer.synced);
      // 500 ms doubling per consecutive failure, jittered down by at most half; the failed
      // watch after a good list counts as the first failure again.
      const ceilings = [500, 1000, 2000, 500];
      delays.forEach((delay, i) => {
        const ceiling = ceilings[i]!;
        assert.ok(
          delay >= ceiling / 2 && delay <= ceiling,
          `delay ${i + 1}: ${delay} ms, ceiling ${ceiling}`,
        );
      });
    },
  );
});
