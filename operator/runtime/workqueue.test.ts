import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue } from './workqueue.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('deduplicates a key that is waiting', async () => {
    const seen: string[] = [];
    const gate = deferred();
    const queue = new WorkQueue({
      concurrency: 1,
      process: async (key) => {
        seen.push(key);
        if (key === 'a') await gate.promise;
      },
    });
    queue.add('a');
    queue.add('b');
    queue.add('b');
    queue.add('b');
    gate.resolve();
    await sleep(10);
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('runs one reconcile per key at a time and runs again when the key changed meanwhile', async () => {
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    const gate = deferred();
    const queue = new WorkQueue({
      concurrency: 4,
      process: async () => {
        runs++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        if (runs === 1) await gate.promise;
        concurrent--;
      },
    });
    queue.add('ns/a');
    await sleep(1);
    queue.add('ns/a'); // while processing: must run again, not in parallel
    queue.add('ns/a');
    gate.resolve();
    await sleep(10);
    assert.equal(maxConcurrent, 1);
    assert.equal(runs, 2);
  });

  it('bounds total concurrency', async () => {
    let concurrent = 0;
    let maxConcurrent = 0;
    const queue = new WorkQueue({
      concurrency: 3,
      process: async () => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await sleep(5);
        concurrent--;
      },
    });
    for (let i = 0; i < 20; i++) queue.add(`k${i}`);
    await sleep(60);
    assert.equal(maxConcurrent, 3);
  });

  it('keeps the earliest of two delayed adds', async () => {
    const seen: number[] = [];
    const began = Date.now();
    const queue = new WorkQueue({
      concurrency: 1,
      process: () => Promise.resolve(void seen.push(Date.now() - began)),
    });
    queue.addAfter('k', 200);
    queue.addAfter('k', 20);
    queue.addAfter('k', 500);
    await sleep(300);
    assert.equal(seen.length, 1);
    assert.ok(seen[0]! < 150, `ran after ${seen[0]} ms`);
  });

  it('keeps going when a process call throws', async () => {
    const seen: string[] = [];
    const queue = new WorkQueue({
      concurrency: 1,
      process: (key) => {
        seen.push(key);
        return key === 'bad' ? Promise.reject(new Error('boom')) : Promise.resolve();
      },
    });
    queue.add('bad');
    queue.add('good');
    await sleep(10);
    assert.deepEqual(seen, ['bad', 'good']);
  });

  it('waits for in-flight work on shutdown and takes no more keys', async () => {
    let finished = false;
    const queue = new WorkQueue({
      concurrency: 1,
      process: async () => {
        await sleep(20);
        finished = true;
      },
    });
    queue.add('a');
    queue.addAfter('b', 10);
    await sleep(1);
    await queue.shutdown();
    assert.ok(finished);
    queue.add('c');
    assert.equal(queue.length, 0);
  });
});
