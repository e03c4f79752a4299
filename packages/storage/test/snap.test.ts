import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryWalFileSystem,
  SnapshotCorruptError,
  Snapshotter,
  snapshotFileName,
  type SnapshotRecord,
} from '../src/index.js';
import { recordingLogger } from './helpers.js';

const SNAP_DIR = '/data/member/snap';

function snapshot(index: number, term: number): SnapshotRecord {
  return {
    index,
    term,
    confState: { voters: [1n, 2n, 0x8e9e05c52164694dn, 0xffff_ffff_ffff_ffffn], learners: [9n] },
    data: new TextEncoder().encode(`server metadata at ${index}`),
  };
}

test('save, list and load the newest snapshot; durable across a crash', async () => {
  const fs = new MemoryWalFileSystem();
  const snap = new Snapshotter(SNAP_DIR, { fs, logger: recordingLogger() });
  assert.deepEqual(await snap.loadNewest(), { snapshot: null, path: undefined, skipped: [] });
  await snap.saveSnapshot(snapshot(10, 1));
  await snap.saveSnapshot(snapshot(200, 3));
  const path = await snap.saveSnapshot(snapshot(35, 2));
  assert.equal(path, `${SNAP_DIR}/${snapshotFileName(2, 35)}`);
  assert.equal(snapshotFileName(2, 35), '0000000000000002-0000000000000023.snap');
  fs.crash();
  const listed = await snap.listSnapshots();
  assert.deepEqual(listed.map((s) => [s.index, s.term]), [[10, 1], [35, 2], [200, 3]]);
  const loaded = await snap.loadNewest();
  assert.deepEqual(loaded.skipped, []);
  assert.equal(loaded.snapshot!.index, 200);
  assert.deepEqual(loaded.snapshot!.confState, { voters: [1n, 2n, 0x8e9e05c52164694dn, 0xffff_ffff_ffff_ffffn], learners: [9n] });
  assert.equal(new TextDecoder().decode(loaded.snapshot!.data), 'server metadata at 200');
  // A filter restricts the choice (e.g. to snapshots the WAL has a marker for).
  const older = await snap.loadNewest((info) => info.index <= 40);
  assert.equal(older.snapshot!.index, 35);
});

test('corrupt and unreadable snapshot files are skipped, reported and renamed to .broken', async () => {
  const fs = new MemoryWalFileSystem();
  const logger = recordingLogger();
  const snap = new Snapshotter(SNAP_DIR, { fs, logger });
  await snap.saveSnapshot(snapshot(10, 1));
  const p2 = await snap.saveSnapshot(snapshot(20, 1));
  const p3 = await snap.saveSnapshot(snapshot(30, 2));
  fs.flipByte(p3, 40); // body byte: crc mismatch
  fs.setContents(p2, fs.contents(p2).subarray(0, 10)); // truncated
  const result = await snap.loadNewest();
  assert.equal(result.snapshot!.index, 10);
  assert.deepEqual(result.skipped.map((s) => [s.path, s.brokenPath]), [
    [p3, `${p3}.broken`],
    [p2, `${p2}.broken`],
  ]);
  assert.ok(result.skipped.every((s) => s.error instanceof SnapshotCorruptError && s.error.name === 'SnapshotCorruptError'));
  assert.equal(result.skipped[0]!.error.message, `snap: crc mismatch in ${p3}`);
  assert.equal(result.skipped[1]!.error.message, `snap: file too short (10 bytes) in ${p2}`);
  assert.equal(logger.messages.length, 2);
  assert.match(logger.messages[0]!, /^snap: crc mismatch in .*; skipped, renamed to .*\.broken$/);
  assert.ok(fs.listFiles().includes(`${p3}.broken`));
  assert.deepEqual((await snap.listSnapshots()).map((s) => s.index), [10]);
});

test('a snapshot whose content does not match its file name is corrupt', async () => {
  const fs = new MemoryWalFileSystem();
  const snap = new Snapshotter(SNAP_DIR, { fs, logger: recordingLogger() });
  const path = await snap.saveSnapshot(snapshot(10, 1));
  await fs.rename(path, `${SNAP_DIR}/${snapshotFileName(1, 11)}`);
  const result = await snap.loadNewest();
  assert.equal(result.snapshot, null);
  assert.match(result.skipped[0]!.error.message, /does not match its name/);
});

test('releaseOlderThan keeps the newest N', async () => {
  const fs = new MemoryWalFileSystem();
  const snap = new Snapshotter(SNAP_DIR, { fs, logger: recordingLogger() });
  for (const i of [5, 10, 15, 20, 25]) await snap.saveSnapshot(snapshot(i, 1));
  const removed = await snap.releaseOlderThan(2);
  assert.equal(removed.length, 3);
  assert.deepEqual((await snap.listSnapshots()).map((s) => s.index), [20, 25]);
  fs.crash();
  assert.deepEqual((await snap.listSnapshots()).map((s) => s.index), [20, 25]);
  await assert.rejects(snap.releaseOlderThan(0), RangeError);
});

test('an interrupted save leaves no visible snapshot', async () => {
  const fs = new MemoryWalFileSystem();
  const snap = new Snapshotter(SNAP_DIR, { fs, logger: recordingLogger() });
  await snap.saveSnapshot(snapshot(5, 1));
  fs.injectFault({ op: 'rename', errno: 'EIO' });
  await assert.rejects(snap.saveSnapshot(snapshot(9, 1)), { name: 'WalWriteError', errno: 'EIO' });
  fs.crash();
  const result = await snap.loadNewest();
  assert.equal(result.snapshot!.index, 5);
  assert.deepEqual(result.skipped, []);
});
