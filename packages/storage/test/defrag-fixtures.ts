/** Shared data for the defragment tests (also exported as @holdfast/storage/test-support): a backend with records and free pages, and the freelist damage of issue 12. */
import { openSync, readSync, writeSync, closeSync } from 'node:fs';
import type { Backend } from '../src/index.js';

/** Bytes of each value: 1 KiB, as in the reproduction. */
export const fixtureValueBytes = 1024;

export function fixtureKey(index: number): Buffer {
  const key = Buffer.alloc(12);
  key.write('rec-', 0, 'latin1');
  key.writeUInt32BE(index, 4);
  return key;
}

/** The value stored under fixtureKey(index): its index repeated, so a misplaced value shows. */
export function fixtureValue(index: number): Buffer {
  const value = Buffer.alloc(fixtureValueBytes);
  for (let offset = 0; offset < value.length; offset += 4) value.writeUInt32BE(index, offset);
  return value;
}

/** Keys kept by fillFragmented (every other one is deleted again). */
export function isKept(index: number): boolean {
  return index % 2 === 0;
}

/**
 * Writes `records` records in batches, then deletes every other one in
 * separate commits, so the file has free pages and a non-empty freelist,
 * and waits until all of it is on disk.
 */
export async function fillFragmented(backend: Backend, records: number): Promise<void> {
  const table = backend.table('key');
  const batch = 1000;
  for (let from = 0; from < records; from += batch) {
    backend.write(() => {
      for (let index = from; index < Math.min(records, from + batch); index++) table.put(fixtureKey(index), fixtureValue(index));
    });
    backend.commit();
  }
  for (let from = 0; from < records; from += batch) {
    backend.write(() => {
      for (let index = from; index < Math.min(records, from + batch); index++) if (!isKept(index)) table.delete(fixtureKey(index));
    });
    backend.commit();
  }
  await backend.flushed();
}

/**
 * Damages data.mdb the way the file was damaged: the first key of
 * the freelist's first leaf page gets size 0, which lmdb-js's mdb_page_alloc
 * reports as "Invalid zero size key" (MDB_BAD_VALSIZE) or asserts on
 * (`key.mv_size > 0`) at the first write that needs a free page.
 */
export function damageFreelistKey(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    const metaBytes = 168;
    const first = Buffer.alloc(metaBytes);
    readSync(fd, first, 0, metaBytes, 0);
    const pageSize = first.readUInt32LE(48);
    const second = Buffer.alloc(metaBytes);
    readSync(fd, second, 0, metaBytes, pageSize);
    const meta = second.readBigUInt64LE(152) > first.readBigUInt64LE(152) ? second : first;
    let pgno = meta.readBigUInt64LE(88);
    if (pgno === 0xffffffffffffffffn) throw new Error('the fixture has an empty freelist');
    const page = Buffer.alloc(pageSize);
    for (;;) {
      readSync(fd, page, 0, pageSize, Number(pgno) * pageSize);
      const node = 24 + page.readUInt16LE(24);
      if ((page.readUInt16LE(18) & 0x02) !== 0) {
        page.writeUInt16LE(0, node + 6);
        writeSync(fd, page, 0, pageSize, Number(pgno) * pageSize);
        return;
      }
      pgno = BigInt(page.readUInt16LE(node)) | (BigInt(page.readUInt16LE(node + 2)) << 16n) | (BigInt(page.readUInt16LE(node + 4)) << 32n);
    }
  } finally {
    closeSync(fd);
  }
}
