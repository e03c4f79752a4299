import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Snapshotter, Wal } from '../src/index.js';
import { entries, plain, recordingLogger } from './helpers.js';

test('real file system: create, rotate, reopen, torn tail, release, snapshots', async () => {
  const root = await mkdtemp(join(tmpdir(), 'holdfast-wal-'));
  try {
    const dir = join(root, 'member', 'wal');
    const wal = await Wal.create(dir, { metadata: Uint8Array.of(1, 2, 3), segmentSizeBytes: 4096, logger: recordingLogger() });
    for (let i = 1; i <= 200; i += 10) {
      await wal.appendAndSync({ entries: entries(i, i + 9), hardState: { term: 1, vote: 1n, commit: i + 9 } });
    }
    await wal.close();
    assert.equal((await readdir(root)).sort().join(','), 'member');
    const names = (await readdir(dir)).sort();
    assert.ok(names.length > 3);
    // Tear the last segment in the middle of its final record (the last batch's hard state).
    const last = join(dir, names[names.length - 1]!);
    const size = (await stat(last)).size;
    await truncate(last, size - 5);
    const logger = recordingLogger();
    const result = await Wal.open(dir, { logger, segmentSizeBytes: 4096 });
    assert.equal(logger.messages.length, 1);
    assert.deepEqual(plain(result.entries), plain(entries(1, 200)));
    assert.ok(result.hardState.commit < 200);
    assert.deepEqual([...result.metadata], [1, 2, 3]);
    await result.wal.appendAndSync({ entries: entries(201, 210) });
    const snap = new Snapshotter(join(root, 'member', 'snap'), { logger: recordingLogger() });
    await snap.saveSnapshot({ index: 150, term: 1, confState: { voters: [1n], learners: [] }, data: new Uint8Array(4) });
    await result.wal.saveSnapshotMarker({ index: 150, term: 1 });
    const removed = await result.wal.releaseBefore(150);
    assert.ok(removed.length > 0);
    await result.wal.close();
    const again = await Wal.open(dir, { logger: recordingLogger() });
    assert.deepEqual(plain(again.entries), plain(entries(151, 210)));
    assert.deepEqual(again.snapshotMarker, { index: 150, term: 1 });
    await again.wal.close();
    assert.equal((await snap.loadNewest()).snapshot!.index, 150);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
