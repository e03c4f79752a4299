import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_MAX_RECORD_BYTES,
  MemoryWalFileSystem,
  RecordType,
  Wal,
  WalCorruptError,
  recordSize,
  scanRecords,
  type WalOptions,
} from '../src/index.js';
import { crc32 } from 'node:zlib';
import { DIR, entries, entry, plain, recordingLogger, segmentFiles } from './helpers.js';

/** Offsets of the records in a file. */
function recordOffsets(fs: MemoryWalFileSystem, path: string): Array<{ offset: number; type: number }> {
  const out: Array<{ offset: number; type: number }> = [];
  scanRecords(Buffer.from(fs.contents(path)), DEFAULT_MAX_RECORD_BYTES, (r) => out.push({ offset: r.offset, type: r.type }));
  return out;
}

async function expectCorrupt(fs: MemoryWalFileSystem, pattern: RegExp, options: WalOptions = {}): Promise<WalCorruptError> {
  let caught: unknown;
  try {
    await Wal.open(DIR, { fs, logger: recordingLogger(), ...options });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof WalCorruptError, `expected WalCorruptError, got ${String(caught)}`);
  assert.equal(caught.name, 'WalCorruptError');
  assert.match(caught.message, pattern);
  return caught;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- torn tails ------------------------------------------------------------------

test('torn tail: cutting the final write at every byte of its final record recovers all earlier records', async () => {
  const big = { index: 6, term: 2, type: 0, data: new Uint8Array(700).fill(0xab) }; // spans sectors
  const build = async (): Promise<{ fs: MemoryWalFileSystem; path: string; start: number; end: number }> => {
    const fs = new MemoryWalFileSystem();
    const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
    await wal.appendAndSync({ entries: entries(1, 4), hardState: { term: 1, vote: 1n, commit: 2 } });
    const path = segmentFiles(fs)[0]!;
    await wal.appendAndSync({ entries: [entry(5, 2), big] }); // the "last write"
    await wal.close();
    const end = fs.contents(path).length;
    return { fs, path, start: end - recordSize(17 + big.data.length), end };
  };
  const probe = await build();
  let checked = 0;
  for (let cut = probe.start; cut < probe.end; cut++) {
    const { fs, path } = await build();
    fs.setContents(path, fs.contents(path).subarray(0, cut));
    const logger = recordingLogger();
    const result = await Wal.open(DIR, { fs, logger });
    assert.deepEqual(plain(result.entries), plain(entries(1, 5).map((e) => (e.index === 5 ? entry(5, 2) : e))), `cut ${cut}`);
    assert.deepEqual(result.hardState, { term: 1, vote: 1n, commit: 2 });
    if (cut === probe.start) assert.deepEqual(logger.messages, []);
    else {
      assert.equal(logger.messages.length, 1, `cut ${cut}`);
      assert.match(logger.messages[0]!, new RegExp(`^wal: truncating torn write at end of ${escape(path)} at offset ${probe.start} `));
    }
    assert.equal(fs.contents(path).length, probe.start);
    // Appends continue correctly after the truncation.
    await result.wal.appendAndSync({ entries: [big, entry(7, 2)] });
    await result.wal.close();
    const again = await Wal.open(DIR, { fs, logger: recordingLogger() });
    assert.deepEqual(plain(again.entries).map((e) => e.index), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(plain(again.entries)[5], plain([big])[0]);
    await again.wal.close();
    checked += 1;
  }
  assert.equal(checked, recordSize(17 + 700));
});

test('torn tail: zero-filled tail and a final record with a zeroed sector are truncated', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
  await wal.appendAndSync({ entries: entries(1, 3) });
  await wal.close();
  const path = segmentFiles(fs)[0]!;
  const good = fs.contents(path);
  // 1. The file grew by 4 KiB of zeros (size updated, data never written).
  fs.setContents(path, Buffer.concat([good, new Uint8Array(4096)]));
  let logger = recordingLogger();
  let result = await Wal.open(DIR, { fs, logger });
  assert.deepEqual(plain(result.entries), plain(entries(1, 3)));
  assert.match(logger.messages[0]!, /zero-filled tail/);
  await result.wal.close();
  assert.equal(fs.contents(path).length, good.length);

  // 2. A 2 KiB final record whose second sector never made it (reads as zero).
  result = await Wal.open(DIR, { fs, logger: recordingLogger() });
  await result.wal.appendAndSync({ entries: [{ index: 4, term: 1, type: 0, data: new Uint8Array(2048).fill(7) }] });
  await result.wal.close();
  const full = Buffer.from(fs.contents(path));
  const sector = Math.ceil((good.length + 600) / 512) * 512;
  full.fill(0, sector, sector + 512);
  fs.setContents(path, full);
  logger = recordingLogger();
  result = await Wal.open(DIR, { fs, logger });
  assert.deepEqual(plain(result.entries), plain(entries(1, 3)));
  assert.match(logger.messages[0]!, /crc mismatch/);
  await result.wal.close();

  // 3. Same damage but followed by a non-zero byte: corruption, not a torn write.
  full.fill(0, sector, sector + 512);
  fs.setContents(path, Buffer.concat([full.subarray(0, good.length + recordSize(17 + 2048)), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1)]));
  await expectCorrupt(fs, new RegExp(`^wal: crc mismatch in ${escape(path)} at offset ${good.length} \\(record type 2, length 2065\\)$`));
});

// ---- corruption --------------------------------------------------------------

/** A WAL of 3+ segments; returns the segment paths. */
async function threeSegments(fs: MemoryWalFileSystem): Promise<string[]> {
  const wal = await Wal.create(DIR, { fs, segmentSizeBytes: 600, logger: recordingLogger() });
  for (let i = 1; i <= 30; i += 3) await wal.appendAndSync({ entries: entries(i, i + 2) });
  await wal.close();
  const files = segmentFiles(fs);
  assert.ok(files.length >= 3);
  return files;
}

test('corruption: flipped byte in a middle record of the last segment', async () => {
  const fs = new MemoryWalFileSystem();
  const files = await threeSegments(fs);
  const { wal } = await Wal.open(DIR, { fs, logger: recordingLogger() });
  await wal.appendAndSync({ entries: entries(31, 32) });
  await wal.appendAndSync({ entries: entries(33, 34) });
  await wal.close();
  const last = files[files.length - 1]!;
  const records = recordOffsets(fs, last).filter((r) => r.type === RecordType.entry);
  assert.ok(records.length >= 2);
  const victim = records[0]!.offset;
  fs.flipByte(last, victim + 20);
  const error = await expectCorrupt(fs, new RegExp(`^wal: crc mismatch in ${escape(last)} at offset ${victim} \\(record type 2, length \\d+\\)$`));
  assert.equal(error.path, last);
  assert.equal(error.offset, victim);
});

test('corruption: flipped byte in the final record of a non-last segment', async () => {
  const fs = new MemoryWalFileSystem();
  const files = await threeSegments(fs);
  const middle = files[1]!;
  const records = recordOffsets(fs, middle);
  const victim = records[records.length - 1]!.offset;
  fs.flipByte(middle, victim + 12);
  await expectCorrupt(fs, new RegExp(`^wal: crc mismatch in ${escape(middle)} at offset ${victim} \\(record type 2, length \\d+\\)$`));
});

test('corruption: a truncated non-last segment is not treated as a torn write', async () => {
  const fs = new MemoryWalFileSystem();
  const files = await threeSegments(fs);
  const first = files[0]!;
  const content = fs.contents(first);
  const records = recordOffsets(fs, first);
  const lastRecord = records[records.length - 1]!.offset;
  fs.setContents(first, content.subarray(0, lastRecord + 12));
  await expectCorrupt(fs, new RegExp(`^wal: record runs past end of file in ${escape(first)} at offset ${lastRecord} \\(.*not the last segment\\)$`));
});

test('corruption: segment header damage, missing middle segment, broken chain, unknown record type', async () => {
  {
    const fs = new MemoryWalFileSystem();
    const files = await threeSegments(fs);
    fs.flipByte(files[1]!, 20);
    await expectCorrupt(fs, new RegExp(`^wal: bad segment header in ${escape(files[1]!)} at offset 0 \\(crc mismatch: record type 1, length 32\\)$`));
  }
  {
    const fs = new MemoryWalFileSystem();
    const files = await threeSegments(fs);
    fs.removeDurably(files[1]!);
    await expectCorrupt(fs, new RegExp(`^wal: missing segment in ${escape(files[2]!)} at offset 0 \\(sequence 2 follows 0`));
  }
  {
    // Segment 1 replaced by a segment 1 of another WAL with the same name: the chain breaks.
    const fs = new MemoryWalFileSystem();
    const files = await threeSegments(fs);
    const other = new MemoryWalFileSystem();
    const otherFiles = await threeSegments(other);
    assert.equal(otherFiles[1], files[1]);
    const forged = Buffer.from(other.contents(otherFiles[1]!));
    // Same content except one entry payload byte (with a fixed crc): same shape, different chain.
    const records = recordOffsets(other, otherFiles[1]!);
    const target = records[records.length - 1]!.offset;
    forged[target + 9 + 17] = forged[target + 9 + 17]! ^ 1;
    const length = forged.readUInt32LE(target);
    forged.writeUInt32LE(crc32(forged.subarray(target + 8, target + 9 + length)), target + 4);
    fs.setContents(files[1]!, forged);
    await expectCorrupt(fs, new RegExp(`^wal: broken segment chain in ${escape(files[2]!)} at offset 0 \\(header prevCrc 0x[0-9a-f]+, previous segment ends with crc 0x[0-9a-f]+\\)$`));
  }
  {
    // A well-formed record of an unknown type appended to the last segment.
    const fs = new MemoryWalFileSystem();
    const files = await threeSegments(fs);
    const last = files[files.length - 1]!;
    const record = Buffer.alloc(recordSize(4));
    record.writeUInt32LE(4, 0);
    record[8] = 9;
    record.set([1, 2, 3, 4], 9);
    record.writeUInt32LE(crc32(record.subarray(8, 13)), 4);
    const before = fs.contents(last).length;
    fs.setContents(last, Buffer.concat([fs.contents(last), record]));
    await expectCorrupt(fs, new RegExp(`^wal: unknown record type in ${escape(last)} at offset ${before} \\(record type 9, length 4\\)$`));
  }
  {
    // A record length above maxRecordBytes is corruption, even at the tail.
    const fs = new MemoryWalFileSystem();
    const files = await threeSegments(fs);
    const last = files[files.length - 1]!;
    const records = recordOffsets(fs, last);
    const victim = records[records.length - 1]!.offset;
    const content = Buffer.from(fs.contents(last));
    content.writeUInt32LE(0x7fff_0000, victim);
    fs.setContents(last, content);
    await expectCorrupt(fs, new RegExp(`^wal: record length exceeds maxRecordBytes in ${escape(last)} at offset ${victim} `));
  }
});

// ---- write and sync failures --------------------------------------------------

for (const [op, errno, text] of [
  ['write', 'ENOSPC', 'no space left on device'],
  ['write', 'EIO', 'input/output error'],
  ['datasync', 'ENOSPC', 'no space left on device'],
  ['datasync', 'EIO', 'input/output error'],
] as const) {
  test(`${errno} on ${op}: WalWriteError, WAL failed for good, reopen shows exactly what was synced`, async () => {
    const fs = new MemoryWalFileSystem();
    const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
    await wal.appendAndSync({ entries: entries(1, 5), hardState: { term: 1, vote: 1n, commit: 3 } });
    await wal.append(entries(6, 6)); // written, not synced
    fs.injectFault({ op, errno, keepBytes: 10 });
    let failure: unknown;
    try {
      if (op === 'write') await wal.append(entries(7, 8), { term: 1, vote: 1n, commit: 7 });
      await wal.sync();
    } catch (error) {
      failure = error;
    }
    assert.ok(failure instanceof Error && failure.name === 'WalWriteError', String(failure));
    const writeError = failure as Error & { errno: string };
    assert.equal(writeError.errno, errno);
    assert.match(writeError.message, new RegExp(`^wal: ${escape(text)} \\(${errno} during (write|fdatasync)\\)$`));
    assert.ok(writeError.cause instanceof Error);
    // Every later operation rejects with the very same error.
    await assert.rejects(wal.append(entries(9, 9)), (e: unknown) => e === failure);
    await assert.rejects(wal.appendAndSync({ entries: entries(9, 9) }), (e: unknown) => e === failure);
    await assert.rejects(wal.sync(), (e: unknown) => e === failure);
    assert.equal(wal.failure, failure);
    await wal.close();
    fs.crash();
    const logger = recordingLogger();
    const result = await Wal.open(DIR, { fs, logger });
    assert.deepEqual(plain(result.entries), plain(entries(1, 5)));
    assert.deepEqual(result.hardState, { term: 1, vote: 1n, commit: 3 });
    await result.wal.appendAndSync({ entries: entries(6, 7) });
    await result.wal.close();
  });
}

test('a failed write that landed a prefix of its bytes is cut off as a torn tail on reopen (no crash)', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
  await wal.appendAndSync({ entries: entries(1, 2) });
  fs.injectFault({ op: 'write', errno: 'ENOSPC', keepBytes: 30 });
  await assert.rejects(wal.appendAndSync({ entries: entries(3, 4) }), { name: 'WalWriteError', errno: 'ENOSPC' });
  await wal.close();
  const logger = recordingLogger();
  const result = await Wal.open(DIR, { fs, logger });
  assert.deepEqual(plain(result.entries), plain(entries(1, 2)));
  assert.equal(logger.messages.length, 1);
  await result.wal.close();
});

test('a failure during segment rotation fails the WAL; synced data survives', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, segmentSizeBytes: 400, logger: recordingLogger() });
  await wal.appendAndSync({ entries: entries(1, 2) });
  fs.injectFault({ op: 'rename', errno: 'EIO' });
  await assert.rejects(wal.appendAndSync({ entries: entries(3, 10) }), { name: 'WalWriteError', errno: 'EIO' });
  await assert.rejects(wal.append(entries(11, 11)), { name: 'WalWriteError' });
  await wal.close();
  fs.crash();
  const result = await Wal.open(DIR, { fs, logger: recordingLogger(), segmentSizeBytes: 400 });
  // The old segment was fsynced before the rotation started, so 3..10 survive too.
  assert.deepEqual(plain(result.entries), plain(entries(1, 10)));
  await result.wal.appendAndSync({ entries: entries(11, 20) });
  await result.wal.close();
  const again = await Wal.open(DIR, { fs, logger: recordingLogger() });
  assert.deepEqual(plain(again.entries), plain(entries(1, 20)));
  await again.wal.close();
});

// ---- release -------------------------------------------------------------------

test('releaseBefore deletes only segments fully covered by the newest snapshot marker', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, segmentSizeBytes: 700, logger: recordingLogger() });
  for (let i = 1; i <= 100; i += 4) await wal.appendAndSync({ entries: entries(i, i + 3), hardState: { term: 1, vote: 1n, commit: i } });
  const before = wal.segments;
  assert.ok(before.length > 10);
  // No snapshot marker yet except {0,0}: nothing may go.
  assert.deepEqual(await wal.releaseBefore(90), []);
  await wal.saveSnapshotMarker({ index: 50, term: 1 });
  // Asking for more than the snapshot covers only releases what the snapshot covers.
  const removed = await wal.releaseBefore(90);
  assert.ok(removed.length > 0);
  const remaining = wal.segments;
  for (const path of removed) {
    const info = before.find((s) => s.path === path)!;
    assert.ok(info.maxEntryIndex < 50, `${path} held entry ${info.maxEntryIndex}`);
  }
  // Entry 50 and everything after is still there; the segment with the marker is kept.
  const firstKept = before.find((s) => s.path === remaining[0]!.path)!;
  assert.ok(firstKept.maxEntryIndex >= 50);
  assert.deepEqual(segmentFiles(fs), remaining.map((s) => s.path));
  await wal.close();
  fs.crash();
  const result = await Wal.open(DIR, { fs, logger: recordingLogger() });
  assert.deepEqual(result.snapshotMarker, { index: 50, term: 1 });
  assert.deepEqual(plain(result.entries), plain(entries(51, 100)));
  assert.deepEqual(result.hardState, { term: 1, vote: 1n, commit: 97 });
  // Opening from the snapshot index also works; from an older one fails loudly.
  await result.wal.close();
  const fromSnap = await Wal.open(DIR, { fs, logger: recordingLogger(), snapshotIndex: 50 });
  assert.equal(fromSnap.entries[0]!.index, 51);
  await fromSnap.wal.close();
  await assert.rejects(Wal.open(DIR, { fs, logger: recordingLogger(), snapshotIndex: 3 }), WalCorruptError);
});

test('leftover temp segment from an interrupted rotation is removed on open', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
  await wal.appendAndSync({ entries: entries(1, 3) });
  await wal.close();
  const tmp = `${DIR}/0000000000000001-0000000000000004.wal.tmp`;
  const file = await fs.openAppend(tmp);
  await file.append(new Uint8Array(100).fill(3));
  await file.close();
  const logger = recordingLogger();
  const result = await Wal.open(DIR, { fs, logger });
  assert.deepEqual(plain(result.entries), plain(entries(1, 3)));
  assert.equal(await fs.stat(tmp), null);
  assert.match(logger.messages[0]!, /leftover temporary file/);
  await result.wal.close();
});
