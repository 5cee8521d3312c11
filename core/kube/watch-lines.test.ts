import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonLines } from './watch-lines.ts';

/** Everything the decoder yields for `chunks`, pushed one after another. */
function decode(chunks: Uint8Array[]): unknown[] {
  const lines = new JsonLines();
  const values = chunks.flatMap((chunk) => [...lines.push(chunk)]);
  lines.end();
  return values;
}

/** `text` as UTF-8 bytes, cut at the given offsets. */
function cutAt(text: string, ...offsets: number[]): Buffer[] {
  const bytes = Buffer.from(text);
  return [0, ...offsets].map((start, i) => bytes.subarray(start, offsets[i] ?? bytes.length));
}

/** `text` as UTF-8 bytes, cut after the given bytes of the first `character` in it. */
function cutInside(text: string, character: string, ...bytesIn: number[]): Buffer[] {
  const start = Buffer.from(text).indexOf(Buffer.from(character));
  assert.ok(start >= 0 && bytesIn.every((n) => n > 0 && n < Buffer.byteLength(character)));
  return cutAt(text, ...bytesIn.map((n) => start + n));
}

const event = (name: string, note = '') => ({
  type: 'MODIFIED',
  object: { metadata: { name, annotations: { note } } },
});
const lines = (...values: unknown[]) => values.map((value) => `${JSON.stringify(value)}\n`).join('');

describe('JsonLines', () => {
  const cases: { name: string; chunks: Buffer[]; want: unknown[] }[] = [
    {
      name: 'a two-byte character (é) split between chunks',
      chunks: cutInside(lines(event('café')), 'é', 1),
      want: [event('café')],
    },
    {
      name: 'a three-byte character (€) in an annotation, split twice',
      chunks: cutInside(lines(event('a', 'costs 5 €')), '€', 1, 2),
      want: [event('a', 'costs 5 €')],
    },
    {
      name: 'a four-byte character (🚀) split after each of its first three bytes',
      chunks: cutInside(lines(event('launch-🚀')), '🚀', 1, 2, 3),
      want: [event('launch-🚀')],
    },
    {
      name: 'several events in one chunk, and one across three',
      chunks: cutAt(lines(event('a'), event('b'), event('c')), 3, 10),
      want: [event('a'), event('b'), event('c')],
    },
    {
      name: 'blank lines, and a last line cut off, yield nothing',
      chunks: [Buffer.from(`\n  \n${lines(event('a'))}`), Buffer.from('{"type":"ADD')],
      want: [event('a')],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(decode(c.chunks), c.want);
    });
  }
});
