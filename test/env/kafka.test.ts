import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newClusterId } from './kafka.ts';

describe('newClusterId', () => {
  it("draws again rather than give an id that starts with '-' (kafka-storage would take it for an option)", () => {
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)];
    const id = newClusterId(() => draws.shift()!);
    assert.equal(Buffer.alloc(16, 0xf8).toString('base64url')[0], '-', 'the first draw starts with -');
    assert.equal(id, Buffer.alloc(16, 0x01).toString('base64url'));
    assert.equal(id.length, 22);
  });
});
