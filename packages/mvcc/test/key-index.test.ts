import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyIndex, revisionKey } from '../src/key-index.js';
import { encodeRevision, decodeRevision } from '../src/revision.js';
import { encodeKeyValue, decodeKeyValue, decodeKeyValueHeader } from '../src/key-value.js';
import { Crc32c } from '../src/crc32c.js';
import fc from 'fast-check';

function exampleIndex(): KeyIndex {
  // The worked example in key-index.ts.
  const index = new KeyIndex('a');
  index.put({ main: 1, sub: 0 });
  index.put({ main: 2, sub: 0 });
  index.tombstone({ main: 3, sub: 0 });
  index.put({ main: 4, sub: 0 });
  index.put({ main: 5, sub: 0 });
  index.assertInvariants();
  return index;
}

test('get follows generations and tombstones', () => {
  const index = exampleIndex();
  assert.equal(index.get(0), undefined);
  assert.deepEqual(index.get(2), { modified: { main: 2, sub: 0 }, created: { main: 1, sub: 0 }, version: 2 });
  assert.equal(index.get(3), undefined, 'deleted at 3');
  assert.deepEqual(index.get(4), { modified: { main: 4, sub: 0 }, created: { main: 4, sub: 0 }, version: 1 });
  assert.deepEqual(index.get(99)?.version, 2);
});

test('compaction keeps the newest revision at or below the compaction point', () => {
  const atTwo = exampleIndex();
  const keptAtTwo = new Set<string>();
  assert.equal(atTwo.compact(2, keptAtTwo), false);
  assert.deepEqual([...keptAtTwo], ['2.0']);
  assert.deepEqual(atTwo.get(2)?.modified, { main: 2, sub: 0 });
  atTwo.assertInvariants();

  const atFour = exampleIndex();
  const keptAtFour = new Set<string>();
  atFour.compact(4, keptAtFour);
  assert.deepEqual([...keptAtFour], ['4.0']);
  assert.equal(atFour.generations.length, 1, 'the deleted generation is gone');

  const atThree = exampleIndex();
  const keptAtThree = new Set<string>();
  atThree.compact(3, keptAtThree);
  // The generation leaves the index, but the tombstone's record at exactly
  // the compaction point is kept for watchers resuming there (etcd-io/etcd#17780).
  assert.deepEqual([...keptAtThree], ['3.0'], 'the tombstone at the compaction point keeps its record');
  assert.equal(atThree.get(3), undefined);
  assert.equal(atThree.generations.length, 1, 'the deleted generation is gone from the index');
});

test('a key deleted at or before the compaction point disappears', () => {
  const index = new KeyIndex('k');
  index.put({ main: 2, sub: 0 });
  index.tombstone({ main: 3, sub: 0 });
  assert.equal(index.compact(5, new Set()), true);
});

test('keep() predicts what compact() keeps, but for a tombstone exactly at the compaction point', () => {
  // HashKV hashes what etcd 3.4's compaction keeps; Holdfast also keeps the
  // record of a tombstone at exactly the compaction point (for watchers), which
  // the hash leaves out so that it still equals etcd's.
  for (let at = 1; at <= 6; at++) {
    const predicted = new Set<string>();
    exampleIndex().keep(at, predicted);
    const kept = new Set<string>();
    exampleIndex().compact(at, kept);
    const tombstoneAtPoint = at === 3 ? ['3.0'] : [];
    assert.deepEqual([...predicted, ...tombstoneAtPoint].sort(), [...kept].sort(), `at ${at}`);
  }
});

test('revision keys use etcd layout and sort by revision', () => {
  const bytes = encodeRevision({ main: 5, sub: 1 }, true);
  assert.equal(bytes.toString('hex'), '00000000000000055f000000000000000174');
  assert.deepEqual(decodeRevision(bytes), { revision: { main: 5, sub: 1 }, tombstone: true });
  const big = encodeRevision({ main: 2 ** 40 + 3, sub: 0 });
  assert.ok(Buffer.compare(encodeRevision({ main: 2 ** 40, sub: 7 }), big) < 0);
  assert.throws(() => encodeRevision({ main: -1, sub: 0 }), RangeError);
  assert.equal(revisionKey({ main: 5, sub: 1 }), '5.1');
  // Every byte of both halves matters, up to 2^53 - 1; one above is refused.
  const revision = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  fc.assert(
    fc.property(revision, revision, fc.boolean(), (main, sub, tombstone) => {
      assert.deepEqual(decodeRevision(encodeRevision({ main, sub }, tombstone)), { revision: { main, sub }, tombstone });
    }),
    { numRuns: 2000 },
  );
  for (const tooBig of ['00200000000000005f0000000000000000', 'ff000000000000005f0000000000000000', '00000000000000005f8000000000000001']) {
    assert.throws(() => decodeRevision(Buffer.from(tooBig, 'hex')), /above 2\^53/, tooBig);
  }
});

test('KeyValue encoding matches protobuf field order and round-trips', () => {
  const kv = { key: Buffer.from('foo'), createRevision: 2, modRevision: 300, version: 1, value: Buffer.from('bar'), lease: 7587862222334906909n };
  const bytes = encodeKeyValue(kv);
  // 0a 03 'foo' | 10 02 | 18 ac 02 | 20 01 | 2a 03 'bar' | 30 <varint lease>
  assert.equal(bytes.subarray(0, 16).toString('hex'), '0a03666f6f100218ac0220012a036261');
  assert.deepEqual(decodeKeyValue(bytes), kv);
  const tombstone = encodeKeyValue({ key: Buffer.from('x'), createRevision: 0, modRevision: 0, version: 0, value: new Uint8Array(0), lease: 0n });
  assert.equal(tombstone.toString('hex'), '0a0178');
  const negativeLease = decodeKeyValue(encodeKeyValue({ ...kv, lease: -1n }));
  assert.equal(negativeLease.lease, -1n);
  assert.throws(() => decodeKeyValue(Buffer.from([0x0a, 0x05, 0x61])), RangeError);
});

test('decodeKeyValueHeader reads what decodeKeyValue reads, but the value', () => {
  const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));
  const revision = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  const keyValue = fc.record({ key: bytes(300), createRevision: revision, modRevision: revision, version: revision, value: bytes(400), lease: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) });
  fc.assert(
    fc.property(keyValue, (kv) => {
      const full = decodeKeyValue(encodeKeyValue(kv));
      const header = decodeKeyValueHeader(encodeKeyValue(kv));
      assert.deepEqual(header, { key: Buffer.from(full.key).toString('latin1'), createRevision: full.createRevision, version: full.version, lease: full.lease });
    }),
    { numRuns: 500 },
  );
  assert.throws(() => decodeKeyValueHeader(Buffer.from([0x0a, 0x05, 0x61])), RangeError);
  assert.throws(() => decodeKeyValueHeader(Buffer.from([0x38, 0x01])), RangeError);
});

test('CRC-32C matches the standard check value', () => {
  assert.equal(new Crc32c().update(Buffer.from('123456789')).digest(), 0xe3069283);
});

test('a tampered record is refused at open, naming the file and the record', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Backend } = await import('@holdfast/storage');
  const { MvccStore, MvccCorruptError } = await import('../src/index.js');
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-tamper-'));
  try {
    let backend = Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 });
    const store = MvccStore.open(backend);
    for (const value of ['one', 'two', 'three']) {
      backend.write(() => {
        const txn = store.beginWrite();
        txn.put(Buffer.from('k'), Buffer.from(value), 0n);
        txn.end();
      });
    }
    // Flip one bit of the value stored at revision 3, behind the store's back.
    const revisionKey = encodeRevision({ main: 3, sub: 0 });
    const stored = Buffer.from(backend.table('key').get(revisionKey)!);
    stored[stored.length - 6]! ^= 0x01;
    backend.write(() => backend.table('key').put(revisionKey, stored));
    assert.throws(() => store.range(Buffer.from('k'), undefined, { revision: 3 }), MvccCorruptError, 'reads check the record');
    await backend.close();
    backend = Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 });
    assert.throws(
      () => MvccStore.open(backend),
      (error: Error) => error instanceof MvccCorruptError && error.message.includes(join(directory, 'data.mdb')) && error.message.includes('revision 3.0'),
    );
    await backend.close();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
