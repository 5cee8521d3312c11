// Where the Kafka cluster's tests look for a group's coordinator. The expected values are
// those of String.hashCode and Utils.abs run by a JVM.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupPartition } from './kafka.ts';

describe('groupPartition', () => {
  it("places a group as Kafka does: Java's String.hashCode, made non-negative, modulo the partitions", () => {
    const cases: [groupId: string, partitions: number, expected: number][] = [
      ['', 50, 0],
      ['hello', 50, 22], // hashCode 99162322
      ['Aa', 50, 12], // "Aa" and "BB" share the hashCode 2112
      ['BB', 50, 12],
      ['a', 4, 1],
      ['polygenelubricants', 4, 0], // hashCode Integer.MIN_VALUE, which Utils.abs maps to 0
      ['hookline.ns.source', 50, 35], // hashCode -328317235
      ['hookline.ns.source', 4, 3],
    ];
    for (const [groupId, partitions, expected] of cases)
      assert.equal(groupPartition(groupId, partitions), expected, `${groupId} on ${partitions} partitions`);
  });
});
