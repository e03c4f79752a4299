/**
 * Property: for any sequence of appends, syncs, snapshot markers, releases,
 * crashes (dropping or tearing unsynced bytes), injected write/fsync failures
 * and reopens, the recovered WAL equals the replay of exactly the synced
 * records plus some prefix of the unsynced ones: never less than what was
 * synced, never a gap, never altered bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryWalFileSystem, Wal, type HardState, type SnapshotMarker, type WalEntry, type WalOpenResult } from '../src/index.js';
import { DIR, recordingLogger } from './helpers.js';

type ModelRecord =
  | { kind: 'entry'; entry: WalEntry }
  | { kind: 'hardState'; state: HardState }
  | { kind: 'marker'; marker: SnapshotMarker };

interface ModelState {
  entries: string[];
  hardState: HardState;
  marker: SnapshotMarker;
  lastIndex: number;
}

/** An independent, naive replay of a record sequence. */
function replayModel(records: readonly ModelRecord[]): ModelState {
  let log: WalEntry[] = [];
  let lastIndex = 0;
  let hardState: HardState = { term: 0, vote: 0n, commit: 0 };
  let marker: SnapshotMarker = { index: 0, term: 0 };
  for (const record of records) {
    if (record.kind === 'entry') {
      log = log.filter((e) => e.index < record.entry.index);
      log.push(record.entry);
      lastIndex = record.entry.index;
    } else if (record.kind === 'hardState') {
      hardState = record.state;
    } else {
      if (record.marker.index > lastIndex) {
        log = [];
        lastIndex = record.marker.index;
      }
      if (record.marker.index >= marker.index) marker = record.marker;
    }
  }
  return { entries: log.filter((e) => e.index > marker.index).map(key), hardState, marker, lastIndex };
}

function key(entry: WalEntry): string {
  return `${entry.index}/${entry.term}/${entry.type}/${Buffer.from(entry.data).toString('hex')}`;
}

function observed(result: WalOpenResult): ModelState {
  return {
    entries: result.entries.map(key),
    hardState: result.hardState,
    marker: result.snapshotMarker,
    lastIndex: result.wal.lastIndex,
  };
}

interface Batch {
  count: number;
  back: number;
  size: number;
  hardState: boolean;
  commitFraction: number;
}

const batchArb: fc.Arbitrary<Batch> = fc.record({
  count: fc.integer({ min: 0, max: 4 }),
  back: fc.integer({ min: 0, max: 3 }),
  size: fc.integer({ min: 0, max: 200 }),
  hardState: fc.boolean(),
  commitFraction: fc.double({ min: 0, max: 1, noNaN: true }),
});

const opArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('append' as const), batch: batchArb, mode: fc.constantFrom('none', 'sync', 'appendAndSync') }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sync' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('marker' as const), release: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('crash' as const), tear: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reopen' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('fault' as const),
      on: fc.constantFrom('write' as const, 'datasync' as const),
      errno: fc.constantFrom('ENOSPC', 'EIO'),
      keepBytes: fc.integer({ min: 0, max: 400 }),
      batch: batchArb,
      crash: fc.boolean(),
    }),
  },
);

test('property: recovery yields the synced prefix plus possibly a prefix of the unsynced records', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 300, max: 3000 }), async (ops, segmentSizeBytes) => {
      const fs = new MemoryWalFileSystem();
      const logger = recordingLogger();
      stats.runs += 1;
      const options = { fs, logger, segmentSizeBytes };
      let wal = await Wal.create(DIR, options);
      let records: ModelRecord[] = [{ kind: 'marker', marker: { index: 0, term: 0 } }];
      let synced = records.length;
      let termCounter = 1;

      const makeBatch = (batch: Batch) => {
        const commit = wal.hardState.commit;
        const start = Math.max(commit + 1, wal.lastIndex + 1 - batch.back);
        termCounter += 1;
        const list: WalEntry[] = [];
        for (let i = 0; i < batch.count; i++) {
          const index = start + i;
          const data = new Uint8Array(batch.size);
          for (let j = 0; j < data.length; j++) data[j] = (index * 13 + termCounter * 7 + j) & 0xff;
          list.push({ index, term: termCounter, type: index % 4, data });
        }
        const newLast = list.length > 0 ? list[list.length - 1]!.index : wal.lastIndex;
        const state = batch.hardState
          ? { term: termCounter, vote: BigInt(termCounter % 3), commit: commit + Math.floor(batch.commitFraction * Math.max(0, newLast - commit)) }
          : undefined;
        const added: ModelRecord[] = list.map((entry) => ({ kind: 'entry', entry }));
        if (state) added.push({ kind: 'hardState', state });
        return { list, state, added };
      };

      const reopen = async (): Promise<void> => {
        const result = await Wal.open(DIR, options);
        const got = observed(result);
        const unsynced = records.slice(synced);
        let matched = -1;
        for (let p = unsynced.length; p >= 0; p--) {
          try {
            assert.deepEqual(got, replayModel(records.slice(0, synced + p)));
            matched = p;
            break;
          } catch {
            // try a shorter prefix
          }
        }
        if (matched < 0) {
          assert.deepEqual(got, replayModel(records.slice(0, synced)), 'recovered state is not synced prefix + unsynced prefix');
        }
        records = records.slice(0, synced + matched);
        // Open fdatasyncs what it replayed, so all of it is now durable.
        synced = records.length;
        wal = result.wal;
        if (matched > 0) stats.unsyncedSurvived += 1;
      };

      for (const op of ops) {
        switch (op.op) {
          case 'append': {
            const { list, state, added } = makeBatch(op.batch);
            if (op.mode === 'appendAndSync') {
              await wal.appendAndSync({ entries: list, ...(state ? { hardState: state } : {}) });
              records.push(...added);
              synced = records.length;
            } else {
              await wal.append(list, state);
              records.push(...added);
              if (op.mode === 'sync') {
                await wal.sync();
                synced = records.length;
              }
            }
            break;
          }
          case 'sync':
            await wal.sync();
            synced = records.length;
            break;
          case 'marker': {
            const index = Math.min(wal.hardState.commit, wal.lastIndex);
            if (index <= wal.snapshotMarker.index) break;
            const marker = { index, term: termCounter };
            await wal.saveSnapshotMarker(marker);
            records.push({ kind: 'marker', marker });
            synced = records.length;
            if (op.release) await wal.releaseBefore(index);
            break;
          }
          case 'crash':
            fs.crash({ keepUnsynced: op.tear === undefined ? undefined : (_path, n) => Math.floor(op.tear! * n) });
            await reopen();
            break;
          case 'reopen':
            await wal.close();
            synced = records.length;
            await reopen();
            break;
          case 'fault': {
            const { list, state, added } = makeBatch({ ...op.batch, count: Math.max(1, op.batch.count) });
            fs.injectFault({ op: op.on, errno: op.errno, keepBytes: op.keepBytes });
            let failure: unknown;
            try {
              await wal.appendAndSync({ entries: list, ...(state ? { hardState: state } : {}) });
            } catch (error) {
              failure = error;
            }
            fs.clearFaults();
            records.push(...added);
            if (failure === undefined) {
              // The fault did not fire (e.g. datasync skipped): the batch is durable.
              synced = records.length;
              break;
            }
            assert.equal((failure as { name?: string }).name, 'WalWriteError');
            assert.equal((failure as { errno?: string }).errno, op.errno);
            await assert.rejects(wal.append([]), (e: unknown) => e === failure || (e as { name?: string }).name === 'WalWriteError');
            await wal.close();
            if (op.crash) fs.crash();
            await reopen();
            break;
          }
        }
      }
      await wal.close();
      fs.crash();
      synced = records.length;
      await reopen();
      await wal.close();
      stats.tornTails += logger.messages.filter((m) => m.includes('torn write')).length;
      stats.rotations += (await fs.readdir(DIR)).length > 1 ? 1 : 0;
    }),
    { numRuns: 300 },
  );
  // The generator must actually reach the interesting cases.
  assert.ok(stats.tornTails > 10, JSON.stringify(stats));
  assert.ok(stats.unsyncedSurvived > 10, JSON.stringify(stats));
  assert.ok(stats.rotations > 10, JSON.stringify(stats));
});

const stats = { runs: 0, tornTails: 0, unsyncedSurvived: 0, rotations: 0 };
