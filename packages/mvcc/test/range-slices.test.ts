/**
 * MvccStore.rangeInSlices (issue 12, finding 4): a large Range read in
 * slices that yield to the event loop. What it returns must be exactly what
 * range() returns at the same revision, even when writes, deletes and a
 * compaction past the read's revision land between its slices; the
 * compaction waits for it, and only then removes what it read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '@holdfast/storage';
import { MvccStore, CompactedError, decodeKeyValue, rangeSliceKeys, type KeyValue } from '../src/index.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const keyOf = (index: number) => bytes(`k/${String(index).padStart(6, '0')}`);
const all = { key: bytes('\0'), end: bytes('\0') };

async function withStore(body: (backend: Backend, store: MvccStore) => Promise<void>): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-range-slices-'));
  const backend = Backend.open({ directory });
  try {
    await body(backend, MvccStore.open(backend));
  } finally {
    await backend.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

function put(backend: Backend, store: MvccStore, entries: Array<[Buffer, string]>): void {
  backend.write(() => {
    const txn = store.beginWrite();
    for (const [key, value] of entries) txn.put(key, bytes(value), 0n);
    txn.end();
  });
}

function collect(store: MvccStore, options: { limit?: number; revision?: number; countOnly?: boolean }, counted: { slices: number }) {
  const kvs: KeyValue[] = [];
  let turns = 0;
  let reading = true;
  // Counts event-loop turns taken while the read runs: one per yield.
  const tick = () => {
    if (!reading) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return store.rangeInSlices(all.key, all.end, options, (record) => kvs.push(decodeKeyValue(record))).then((result) => {
    reading = false;
    counted.slices = turns;
    return { ...result, kvs };
  });
}

test('a sliced range equals range() at its revision, and yields between slices', async () => {
  await withStore(async (backend, store) => {
    const keyCount = rangeSliceKeys * 3 + 17;
    for (let first = 0; first < keyCount; first += 500) {
      put(backend, store, Array.from({ length: Math.min(500, keyCount - first) }, (_, i) => [keyOf(first + i), `v${first + i}`] as [Buffer, string]));
    }
    for (const options of [{}, { limit: 10 }, { limit: rangeSliceKeys + 1 }, { countOnly: true }, { revision: 3 }]) {
      const expected = store.range(all.key, all.end, options);
      const counted = { slices: 0 };
      const sliced = await collect(store, options, counted);
      assert.equal(sliced.count, expected.count, JSON.stringify(options));
      assert.equal(sliced.revision, expected.revision);
      assert.deepEqual(sliced.kvs, expected.kvs);
      // A whole-keyspace walk visits keyCount index entries: at least 3 yields.
      assert.ok(counted.slices >= 3, `${counted.slices} event-loop turns during a ${keyCount}-key read with ${JSON.stringify(options)}`);
    }
  });
});

test('writes, deletes and a compaction between slices change nothing the read returns; the compaction waits for it', async () => {
  await withStore(async (backend, store) => {
    const keyCount = rangeSliceKeys * 4;
    for (let first = 0; first < keyCount; first += 500) {
      put(backend, store, Array.from({ length: 500 }, (_, i) => [keyOf(first + i), `old${first + i}`] as [Buffer, string]));
    }
    const readRevision = store.currentRevision;
    const expected = store.range(all.key, all.end, {});
    const reading = collect(store, { revision: readRevision }, { slices: 0 });
    // Runs after the first slice: overwrite every key, delete a quarter, add new ones, compact past the read.
    let compaction: Promise<void> | undefined;
    setImmediate(() => {
      put(backend, store, Array.from({ length: keyCount }, (_, i) => [keyOf(i), `new${i}`] as [Buffer, string]));
      backend.write(() => {
        const txn = store.beginWrite();
        txn.deleteRange(keyOf(0), keyOf(keyCount / 4));
        txn.end();
      });
      put(backend, store, [[keyOf(keyCount + 1), 'added']]);
      backend.commit();
      compaction = backend.write(() => store.compact(store.currentRevision));
    });
    const sliced = await reading;
    assert.ok(compaction !== undefined, 'the writes ran while the read was in progress');
    assert.equal(sliced.count, keyCount);
    assert.deepEqual(sliced.kvs, expected.kvs);
    await compaction;
    await store.compactionSettled();
    assert.throws(() => store.range(all.key, all.end, { revision: readRevision }), CompactedError);
    const now = store.range(all.key, all.end, {});
    assert.equal(now.count, keyCount - keyCount / 4 + 1);
    assert.equal(Buffer.from(now.kvs[0]!.value).toString(), `new${keyCount / 4}`);
  });
});

test('a read that starts below the compacted revision fails at once', async () => {
  await withStore(async (backend, store) => {
    put(backend, store, [[keyOf(1), 'a']]);
    put(backend, store, [[keyOf(1), 'b']]);
    await backend.write(() => store.compact(3));
    await assert.rejects(store.rangeInSlices(all.key, all.end, { revision: 2 }, () => {}), CompactedError);
  });
});
