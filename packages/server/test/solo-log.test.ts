import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Wal } from '@holdfast/storage';
import { SoloLog } from '../src/log/solo-log.js';
import type { LogEntry, LogEvents } from '../src/log/replicated-log.js';
import { StoppedError, TooManyRequestsError } from '../src/errors.js';

/** A WAL stand-in that records each appendAndSync (one write + one fsync). */
function fakeWal(options: { failOnCall?: number } = {}) {
  const batches: number[][] = [];
  let calls = 0;
  const wal = {
    appendAndSync: async (batch: { entries?: Array<{ index: number }> }) => {
      // Each "fsync" takes a turn of the event loop, like a real one.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.failOnCall === calls++) throw Object.assign(new Error('wal: no space left on device'), { code: 'ENOSPC' });
      batches.push((batch.entries ?? []).map((entry) => entry.index));
    },
  };
  return { wal: wal as unknown as Wal, batches };
}

/** Log events that fail the test on a fatal error unless the test handles it. */
function events(overrides: Partial<LogEvents>): Pick<LogEvents, 'applyCommitted' | 'leaderChanged' | 'fatal'> {
  return { applyCommitted: () => {}, leaderChanged: () => {}, fatal: (error: unknown) => assert.fail(String(error)), ...overrides };
}

test('group commit: proposals made while a batch is on disk share the next fsync', async () => {
  const { wal, batches } = fakeWal();
  const applied: number[] = [];
  const log = new SoloLog({ wal, lastIndex: 0, term: 2, memberId: 1n, events: events({ applyCommitted: (entries: readonly LogEntry[]) => applied.push(...entries.map((e) => e.index)) }) });
  for (let i = 0; i < 1000; i++) log.propose(Buffer.from(`p${i}`));
  await log.stop();
  assert.deepEqual(applied, Array.from({ length: 1000 }, (_, i) => i + 1), 'applied once each, in order');
  assert.ok(batches.length <= 3, `1000 proposals took ${batches.length} fsyncs`);
  assert.deepEqual(batches.flat(), applied, 'everything applied was written first');
  assert.equal(log.committedIndex, 1000);
});

test('the queue of proposals is bounded', () => {
  const { wal } = fakeWal();
  const log = new SoloLog({ wal, lastIndex: 0, term: 2, memberId: 1n, events: events({}), maxPendingProposals: 10, maxEntriesPerBatch: 1 });
  // The first proposal starts a batch at once; ten more fill the queue.
  for (let i = 0; i < 11; i++) log.propose(Buffer.from('x'));
  assert.throws(() => log.propose(Buffer.from('x')), TooManyRequestsError);
});

test('a failed WAL write is fatal: nothing after it is applied, later proposals are refused', async () => {
  const { wal, batches } = fakeWal({ failOnCall: 1 });
  const applied: number[] = [];
  let fatal: unknown;
  const log = new SoloLog({ wal, lastIndex: 0, term: 2, memberId: 1n, events: events({ applyCommitted: (entries) => applied.push(...entries.map((e) => e.index)), fatal: (error) => (fatal = error) }), maxEntriesPerBatch: 5 });
  for (let i = 0; i < 20; i++) log.propose(Buffer.from('x'));
  await log.stop();
  assert.match(String(fatal), /no space left on device/);
  // The first proposal started a batch on its own; the second batch failed.
  assert.deepEqual(batches, [[1]]);
  assert.deepEqual(applied, [1], 'only what reached the disk is applied');
  assert.throws(() => log.propose(Buffer.from('y')), StoppedError);
});

test('entries are normal entries; starting makes the new term durable and names this member leader', async () => {
  const written: unknown[] = [];
  const wal = { appendAndSync: async (batch: unknown) => void written.push(batch) } as unknown as Wal;
  const leaders: Array<[bigint, number]> = [];
  const applied: LogEntry[] = [];
  const log = await SoloLog.start({ wal, lastIndex: 7, previousTerm: 3, memberId: 0x8e9e05c52164694dn, events: events({ leaderChanged: (id, term) => leaders.push([id, term]), applyCommitted: (entries) => applied.push(...entries) }) });
  assert.deepEqual(written[0], { hardState: { term: 4, vote: 0x8e9e05c52164694dn, commit: 7 } }, 'the term is on disk before anything is served in it');
  assert.deepEqual(leaders, [[0x8e9e05c52164694dn, 4]]);
  log.propose(Buffer.from('x'));
  await log.stop();
  assert.deepEqual(applied.map((entry) => [entry.index, entry.term, entry.type]), [[8, 4, 'normal']]);
});
