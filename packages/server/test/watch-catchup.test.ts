/**
 * Catching a watcher up from history costs in proportion to what it is
 * sent (issue 12, finding 5). A watch from revision 1 on a store of N
 * 1 KiB values, through a real WatchStream whose writer flushes one
 * response per turn of the event loop (a socket that keeps up): the events
 * read from the backend must be about the events delivered, and doubling N
 * must about double the reads and the sync rounds. Before the fix each
 * round read 10,000 events for a stream that could take ~1 MiB of them, so
 * every event was read about nine times. Counts, not timings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '@holdfast/storage';
import { MvccStore } from '@holdfast/mvcc';
import { etcdserverpb } from '@holdfast/proto';
import { WatchHub, defaultWatchHubLimits } from '../src/watch/watch-hub.js';
import { WatchStream, type WatchResponseWriter } from '../src/watch/watch-stream.js';

const valueBytes = 1024;
const putsPerRevision = 4;

interface CatchUp {
  readonly delivered: number;
  readonly read: number;
  readonly rounds: number;
}

async function catchUp(eventCount: number): Promise<CatchUp> {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-watch-catchup-'));
  const backend = Backend.open({ directory, mapSizeBytes: 256 * 1024 * 1024 });
  const store = MvccStore.open(backend);
  const hub = new WatchHub(store);
  let read = 0;
  let rounds = 0;
  const readHistory = store.readHistory.bind(store);
  store.readHistory = (fromMain, toMain, maxEvents, maxBytes) => {
    rounds++;
    const batch = readHistory(fromMain, toMain, maxEvents, maxBytes);
    read += batch.events.length;
    return batch;
  };
  let delivered = 0;
  let done: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  // A socket that keeps up: each response is flushed on the next turn of the loop.
  const writer: WatchResponseWriter = {
    write: (response, flushed) => {
      delivered += response.events.length;
      if (delivered >= eventCount) done();
      setImmediate(flushed);
    },
    pauseRequests: () => {},
    resumeRequests: () => {},
  };
  const stream = new WatchStream(
    { hub, store, header: (revision) => ({ clusterId: 1n, memberId: 2n, revision: BigInt(revision), raftTerm: 3n }), maxResponseBytes: 2 * 1024 * 1024, progressNotifyIntervalMs: 60_000 },
    writer,
  );
  try {
    const value = Buffer.alloc(valueBytes, 0x76);
    for (let first = 0; first < eventCount; first += 1000) {
      backend.write(() => {
        for (let i = first; i < Math.min(eventCount, first + 1000); i += putsPerRevision) {
          const txn = store.beginWrite();
          for (let j = i; j < Math.min(eventCount, i + putsPerRevision); j++) txn.put(Buffer.from(`key/${String(j).padStart(7, '0')}`), value, 0n);
          txn.end();
        }
      });
    }
    stream.receive({
      createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), startRevision: 1n }),
    });
    await finished;
    return { delivered, read, rounds };
  } finally {
    stream.close();
    await new Promise((resolve) => setImmediate(resolve));
    await backend.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

test('catch-up from revision 1 reads each event about once, and twice the history costs about twice the reads', { timeout: 120_000 }, async (t) => {
  const small = await catchUp(8_000);
  const large = await catchUp(16_000);
  t.diagnostic(`8,000 events: ${small.read} read in ${small.rounds} rounds; 16,000 events: ${large.read} read in ${large.rounds} rounds`);
  for (const [events, run] of [[8_000, small], [16_000, large]] as const) {
    assert.equal(run.delivered, events);
    // At most one round's read can be left over when the stream fills.
    assert.ok(run.read <= run.delivered * 1.1 + defaultWatchHubLimits.historyReadMaxEvents, `${run.read} events read to deliver ${run.delivered}`);
  }
  assert.ok(large.read <= 2.2 * small.read, `reads: ${small.read} for 8,000 events, ${large.read} for 16,000`);
  assert.ok(large.rounds <= 2.2 * small.rounds + 2, `rounds: ${small.rounds} for 8,000 events, ${large.rounds} for 16,000`);
});
