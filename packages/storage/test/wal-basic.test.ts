import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryWalFileSystem,
  Wal,
  WalClosedError,
  WalExistsError,
  WalNotFoundError,
  WalRecordTooLargeError,
  recordSize,
  segmentName,
} from '../src/index.js';
import { DIR, entries, entry, plain, recordingLogger, segmentFiles } from './helpers.js';

test('create, append, sync, reopen: round trip across many segment rotations', async () => {
  const fs = new MemoryWalFileSystem();
  const logger = recordingLogger();
  const metadata = new TextEncoder().encode('cluster=7;member=3');
  const wal = await Wal.create(DIR, { fs, logger, metadata, segmentSizeBytes: 1024 });
  let index = 0;
  for (let batch = 0; batch < 60; batch++) {
    const list = entries(index + 1, index + 1 + (batch % 5));
    index += list.length;
    await wal.appendAndSync({ entries: list, hardState: { term: 1 + (batch >> 4), vote: 2n, commit: index - 1 } });
  }
  await wal.close();
  assert.ok(segmentFiles(fs).length >= 10, `expected many segments, got ${segmentFiles(fs).length}`);
  fs.crash(); // only synced data survives
  const result = await Wal.open(DIR, { fs, logger, segmentSizeBytes: 1024 });
  assert.deepEqual(plain(result.entries), plain(entries(1, index)));
  assert.deepEqual(result.hardState, { term: 4, vote: 2n, commit: index - 1 });
  assert.deepEqual(result.snapshotMarker, { index: 0, term: 0 });
  assert.deepEqual([...result.metadata], [...metadata]);
  assert.equal(result.wal.lastIndex, index);
  // Appends continue across reopen.
  await result.wal.appendAndSync({ entries: entries(index + 1, index + 3) });
  await result.wal.close();
  const again = await Wal.open(DIR, { fs, logger });
  assert.deepEqual(plain(again.entries), plain(entries(1, index + 3)));
  await again.wal.close();
  assert.deepEqual(logger.messages, []);
});

test('segment names follow %016x-%016x.wal with the first index each may hold', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, segmentSizeBytes: 256, logger: recordingLogger() });
  assert.deepEqual(segmentFiles(fs), [`${DIR}/${segmentName(0, 1)}`]);
  assert.equal(segmentName(0, 1), '0000000000000000-0000000000000001.wal');
  await wal.appendAndSync({ entries: entries(1, 5) });
  await wal.close();
  assert.deepEqual(segmentFiles(fs), [`${DIR}/${segmentName(0, 1)}`, `${DIR}/${segmentName(1, 6)}`]);
});

test('raft tail replacement: later entries with lower index replace the tail', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, segmentSizeBytes: 512, logger: recordingLogger() });
  await wal.appendAndSync({ entries: entries(1, 10, 1), hardState: { term: 1, vote: 1n, commit: 5 } });
  // New leader at term 2 overwrites uncommitted 7..10 with 7..8.
  await wal.appendAndSync({ entries: entries(7, 8, 2) });
  await wal.appendAndSync({ entries: entries(9, 12, 2) });
  // And again at term 3 from 11 on.
  await wal.appendAndSync({ entries: [entry(11, 3)] });
  await wal.close();
  const { entries: got, wal: reopened } = await Wal.open(DIR, { fs, logger: recordingLogger() });
  const expected = [...entries(1, 6, 1), ...entries(7, 10, 2), entry(11, 3)];
  assert.deepEqual(plain(got), plain(expected));
  assert.equal(reopened.lastIndex, 11);
  await reopened.close();
});

test('append validation: gaps, committed replacement, oversize records', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, maxRecordBytes: 1024, logger: recordingLogger() });
  await assert.rejects(wal.append([entry(2)]), /would leave a gap after index 0/);
  await wal.appendAndSync({ entries: entries(1, 5), hardState: { term: 1, vote: 0n, commit: 4 } });
  await assert.rejects(wal.append([entry(4, 2)]), /would replace a committed entry/);
  await assert.rejects(wal.append([{ index: 6, term: 1, type: 0, data: new Uint8Array(2000) }]), (error: unknown) => {
    assert.ok(error instanceof WalRecordTooLargeError);
    assert.match(error.message, /^wal: entry 6 payload of 2017 bytes exceeds maxRecordBytes 1024$/);
    return true;
  });
  await assert.rejects(wal.append([{ index: 2 ** 53, term: 1, type: 0, data: new Uint8Array() }]), RangeError);
  // Nothing of the rejected calls was written; the WAL still works.
  await wal.appendAndSync({ entries: entries(6, 6) });
  await wal.close();
  await assert.rejects(wal.append([entry(7)]), WalClosedError);
  const { entries: got, wal: w2 } = await Wal.open(DIR, { fs, maxRecordBytes: 1024, logger: recordingLogger() });
  assert.deepEqual(plain(got), plain(entries(1, 6)));
  await w2.close();
});

test('create refuses an existing WAL; open refuses a missing one; leftover tmp dir is cleaned', async () => {
  const fs = new MemoryWalFileSystem();
  await assert.rejects(Wal.open(DIR, { fs }), WalNotFoundError);
  // A crashed earlier creation left DIR.tmp behind with a segment in it.
  await fs.mkdir(`${DIR}.tmp`, { recursive: true });
  const stale = await fs.openAppend(`${DIR}.tmp/${segmentName(0, 1)}`);
  await stale.append(new Uint8Array(16));
  await stale.close();
  assert.equal(await Wal.exists(DIR, fs), false);
  const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
  await wal.close();
  assert.equal(await Wal.exists(DIR, fs), true);
  assert.equal(await fs.stat(`${DIR}.tmp`), null);
  await assert.rejects(Wal.create(DIR, { fs }), WalExistsError);
});

test('creation is atomic: a crash before the final directory sync leaves no WAL', async () => {
  const fs = new MemoryWalFileSystem();
  fs.injectFault({ op: 'fsyncDirectory', errno: 'EIO', path: '/data/member', after: 1 });
  await assert.rejects(Wal.create(DIR, { fs, logger: recordingLogger() }), /wal: input\/output error/);
  fs.crash();
  // Either no WAL at all or a complete one; here the rename was not made durable.
  assert.equal(await Wal.exists(DIR, fs), false);
  const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
  await wal.close();
  fs.crash();
  assert.equal(await Wal.exists(DIR, fs), true);
});

test('a snapshot marker beyond the last entry moves the next index (snapshot from leader)', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
  await wal.appendAndSync({ entries: entries(1, 3) });
  await wal.saveSnapshotMarker({ index: 100, term: 5 });
  assert.equal(wal.lastIndex, 100);
  await wal.appendAndSync({ entries: entries(101, 103, 5) });
  await wal.close();
  const result = await Wal.open(DIR, { fs, logger: recordingLogger() });
  assert.deepEqual(result.snapshotMarker, { index: 100, term: 5 });
  assert.deepEqual(plain(result.entries), plain(entries(101, 103, 5)));
  await result.wal.close();
  // Asking for entries after an older snapshot fails: they are not in the WAL.
  await assert.rejects(Wal.open(DIR, { fs, snapshotIndex: 1, logger: recordingLogger() }), /entries missing/);
});

test('group commit: appendAndSync of 100 entries is one write and one fdatasync', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
  const before = { ...fs.counters };
  await wal.appendAndSync({ entries: entries(1, 100), hardState: { term: 1, vote: 1n, commit: 50 } });
  assert.equal(fs.counters.appends - before.appends, 1);
  assert.equal(fs.counters.datasyncs - before.datasyncs, 1);
  // sync with nothing new written is free.
  await wal.sync();
  assert.equal(fs.counters.datasyncs - before.datasyncs, 1);
  await wal.close();
});

test('operations issued without awaiting run in call order (pipelined group commit)', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, segmentSizeBytes: 512, logger: recordingLogger() });
  const pending: Array<Promise<unknown>> = [];
  for (let i = 1; i <= 40; i += 2) {
    pending.push(wal.append(entries(i, i)));
    pending.push(wal.appendAndSync({ entries: entries(i + 1, i + 1), hardState: { term: 1, vote: 0n, commit: i } }));
  }
  pending.push(wal.sync());
  await Promise.all(pending);
  assert.equal(wal.lastIndex, 40);
  await wal.close();
  fs.crash();
  const result = await Wal.open(DIR, { fs, logger: recordingLogger() });
  assert.deepEqual(plain(result.entries), plain(entries(1, 40)));
  assert.deepEqual(result.hardState, { term: 1, vote: 0n, commit: 39 });
  await result.wal.close();
});

test('tearLastWrite: a torn final write reopens to the records before it and appends continue', async () => {
  const fs = new MemoryWalFileSystem();
  const wal = await Wal.create(DIR, { fs, logger: recordingLogger() });
  await wal.appendAndSync({ entries: entries(1, 3) });
  await wal.appendAndSync({ entries: entries(4, 6) });
  await wal.close();
  // The 4..6 write keeps entry 4 whole and 10 bytes of entry 5.
  fs.tearLastWrite(recordSize(17 + entry(4).data.length) + 10);
  const logger = recordingLogger();
  const result = await Wal.open(DIR, { fs, logger });
  assert.deepEqual(plain(result.entries), plain(entries(1, 4)));
  assert.equal(logger.messages.length, 1);
  await result.wal.appendAndSync({ entries: entries(5, 6) });
  await result.wal.close();
  const again = await Wal.open(DIR, { fs, logger: recordingLogger() });
  assert.deepEqual(plain(again.entries), plain(entries(1, 6)));
  await again.wal.close();
});
