/**
 * The watch hub against a model of the full history.
 *
 * A real MvccStore on a temporary backend, one WatchHub, and a few fake
 * sinks whose `writable` flips as the schedule says: a sink takes a few
 * deliveries and is then full until drained, or is stuck outright until
 * unstuck; when it goes from full to writable it calls hub.resume(), as
 * WatchStream does. Random interleavings of write transactions (committed
 * with backend.write, then hub.notify(changes), as the server does after
 * applying a batch), watchers created at revision 0 / in the past / in the
 * future, cancels, compactions, and macrotask turns in which the hub's sync
 * rounds run. Small, random hub limits so that bounded deliveries, bounded
 * history reads and bounded sync rounds all happen.
 *
 * Checked for every watcher (see checkWatcher):
 * - the concatenation of its deliveries is exactly the history events from
 *   its start revision that pass its range and filters, in (revision, sub)
 *   order: nothing missing, nothing twice, nothing out of order, and
 *   identical to what was applied (history read back equals notified);
 * - every delivery holds whole revisions, its `revision` argument is at least
 *   its last event's revision and at most the store's, and the next delivery
 *   starts after it;
 * - nothing is delivered to a full sink;
 * - a watcher is compacted at most once, only when it needed history below
 *   the compaction, and hears nothing after (nor after a cancel);
 * - once every sink drained, no watcher is left behind and every live one
 *   has been sent everything up to the current revision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Backend } from '@holdfast/storage';
import { MvccStore, type Change, type HistoryEvent, type KeyValue } from '@holdfast/mvcc';
import { WatchHub, defaultWatchHubLimits, type Watcher, type WatchHubLimits, type WatchSink } from '../src/watch/watch-hub.js';
import { prefixRangeEndOf, type WatchRange } from '../src/watch/watcher-index.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const text = (data: Uint8Array): string => Buffer.from(data).toString('latin1');
const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---- the model ----

/** An event as compared: everything a watcher is told about a change. */
interface ModelEvent {
  readonly revision: number;
  readonly kind: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly version: number;
  readonly lease: string;
}

function toModelEvent(event: HistoryEvent | Change): ModelEvent {
  const kv: KeyValue = event.kv;
  return { revision: kv.modRevision, kind: event.kind, key: text(kv.key), value: text(kv.value), createRevision: kv.createRevision, version: kv.version, lease: kv.lease.toString() };
}

function inRange(range: WatchRange, key: string): boolean {
  if (range.end === undefined) return key === range.start;
  if (range.end === null) return key >= range.start;
  return key >= range.start && key < range.end;
}

interface Delivery {
  readonly events: ModelEvent[];
  readonly revision: number;
  /** The store's revision when it was delivered. */
  readonly storeRevision: number;
  /** The sink was writable when it was delivered. */
  readonly sinkWritable: boolean;
}

/** What the test knows about one watcher. */
interface WatcherRecord {
  readonly id: number;
  readonly watcher: Watcher;
  readonly sink: FakeSink;
  readonly range: WatchRange;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  /** First revision it must hear about. */
  readonly fromRevision: number;
  readonly deliveries: Delivery[];
  /** compacted() calls, with the revision given and the store's at the time. */
  readonly compactions: Array<{ compactRevision: number; storeCompactRevision: number; deliveriesBefore: number }>;
  /** Number of deliveries when the test canceled it. */
  canceledAfter: number | undefined;
  /** The hub's state for it once every sink drained. */
  finalState: Watcher['state'] | undefined;
  /**
   * Compaction revisions at which this watcher read history while its next
   * revision was exactly the compaction revision (the store keeps that
   * revision's tombstones for it: etcd-io/etcd#17780). Counted to show the
   * case is reached; nothing may be missing then either.
   */
  readonly readAtCompactRevision: Set<number>;
}

class FakeSink implements WatchSink {
  readonly name: string;
  /** Deliveries it takes before it is full (until drained). */
  readonly capacity: number;
  pending = 0;
  stuck = false;
  readonly records = new Map<Watcher, WatcherRecord>();
  private readonly hub: () => WatchHub;
  private readonly store: MvccStore;
  private readonly violations: string[];

  constructor(name: string, capacity: number, hub: () => WatchHub, store: MvccStore, violations: string[]) {
    this.name = name;
    this.capacity = capacity;
    this.hub = hub;
    this.store = store;
    this.violations = violations;
  }

  get writable(): boolean {
    return !this.stuck && this.pending < this.capacity;
  }

  deliver(watcher: Watcher, events: readonly HistoryEvent[], revision: number): void {
    const record = this.records.get(watcher);
    if (record === undefined) return void this.violations.push(`${this.name}: delivery for a watcher it never had`);
    record.deliveries.push({ events: events.map(toModelEvent), revision, storeRevision: this.store.currentRevision, sinkWritable: this.writable });
    this.pending++;
  }

  compacted(watcher: Watcher, compactRevision: number): void {
    const record = this.records.get(watcher);
    if (record === undefined) return void this.violations.push(`${this.name}: compacted() for a watcher it never had`);
    record.compactions.push({ compactRevision, storeCompactRevision: this.store.compactRevision, deliveriesBefore: record.deliveries.length });
  }

  synced(): void {}

  /** Takes `count` deliveries off its queue (all: also unsticks); resumes the hub when it becomes writable. */
  drain(count: number | 'all'): void {
    const wasWritable = this.writable;
    if (count === 'all') {
      this.pending = 0;
      this.stuck = false;
    } else {
      this.pending = Math.max(0, this.pending - count);
    }
    if (!wasWritable && this.writable) this.hub().resume();
  }
}

// ---- commands ----

const keys = ['a', 'a/1', 'a/2', 'a/\xff', 'b', 'b\xff', 'c', '\xff'];
/** Ranges watchers use: single keys, prefixes, from-key, arbitrary. */
const ranges: WatchRange[] = [
  { start: 'a', end: undefined },
  { start: 'a/\xff', end: undefined },
  { start: 'a/', end: prefixRangeEndOf('a/') },
  { start: 'a/\xff', end: prefixRangeEndOf('a/\xff') },
  { start: '', end: prefixRangeEndOf('') },
  { start: '\x00', end: null },
  { start: 'b', end: null },
  { start: '\xff', end: null },
  { start: 'a/1', end: 'b\xff' },
  { start: 'a/2', end: 'c' },
];

type Op = { kind: 'put'; key: string } | { kind: 'delete'; key: string };
type Txn = { kind: 'ops'; ops: Op[] } | { kind: 'deleteRange'; start: string; end: string | undefined };
type Command =
  | { kind: 'write'; txns: Txn[] }
  | { kind: 'watch'; sink: number; range: number; start: { at: 'now' } | { at: 'past'; back: number } | { at: 'compacted' } | { at: 'future'; ahead: number }; noPut: boolean; noDelete: boolean }
  | { kind: 'cancel'; pick: number }
  | { kind: 'compact'; back: number }
  | { kind: 'turn'; count: number }
  | { kind: 'stick'; sink: number }
  | { kind: 'drain'; sink: number; count: number | 'all' };

const sinkCount = 3;
const opArbitrary: fc.Arbitrary<Op> = fc.record({ kind: fc.constantFrom('put' as const, 'put' as const, 'delete' as const), key: fc.constantFrom(...keys) });
const txnArbitrary: fc.Arbitrary<Txn> = fc.oneof(
  { weight: 6, arbitrary: fc.uniqueArray(opArbitrary, { minLength: 1, maxLength: 4, selector: (op) => op.key }).map((ops) => ({ kind: 'ops' as const, ops })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<[string, string | undefined]>(['a/', 'a0'], ['\x00', '\x00'], ['b', '\x00'], ['a/1', 'b\xff']).map(([start, end]) => ({ kind: 'deleteRange' as const, start, end })),
  },
);
const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('write' as const), txns: fc.array(txnArbitrary, { minLength: 1, maxLength: 3 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('watch' as const),
      sink: fc.nat(sinkCount - 1),
      range: fc.nat(ranges.length - 1),
      start: fc.oneof(
        fc.constant({ at: 'now' as const }),
        fc.record({ at: fc.constant('past' as const), back: fc.nat(12) }),
        // Exactly the compaction revision: the oldest start that is not compacted.
        fc.constant({ at: 'compacted' as const }),
        fc.record({ at: fc.constant('future' as const), ahead: fc.integer({ min: 1, max: 4 }) }),
      ),
      noPut: fc.boolean(),
      noDelete: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(8) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('turn' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('stick' as const), sink: fc.nat(sinkCount - 1) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('drain' as const), sink: fc.nat(sinkCount - 1), count: fc.oneof(fc.integer({ min: 1, max: 2 }), fc.constant('all' as const)) }) },
);
const limitsArbitrary: fc.Arbitrary<WatchHubLimits> = fc
  .record({
    maxEventsPerDelivery: fc.integer({ min: 1, max: 5 }),
    // Keys and values here are 1 to 5 bytes: from one event per delivery to a few.
    maxBytesPerDelivery: fc.integer({ min: 1, max: 24 }),
    historyReadMaxEvents: fc.integer({ min: 1, max: 8 }),
    historyReadMaxBytes: fc.integer({ min: 1, max: 32 }),
    maxWatchersPerSync: fc.integer({ min: 1, max: 4 }),
  })
  .map((limits) => ({ ...defaultWatchHubLimits, ...limits }) as WatchHubLimits);

// ---- the run ----

interface RunResult {
  readonly history: ModelEvent[];
  readonly records: WatcherRecord[];
  readonly currentRevision: number;
}

async function run(commands: readonly Command[], limits: WatchHubLimits, capacities: readonly number[]): Promise<RunResult> {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-watch-hub-'));
  const backend = Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 });
  const store = MvccStore.open(backend);
  const hub = new WatchHub(store, limits);
  // Broken rules seen inside hub callbacks (a throw there would land in a sync round, not here).
  const violations: string[] = [];
  const sinks = capacities.map((capacity, i) => new FakeSink(`sink${i}`, capacity, () => hub, store, violations));
  // Reading history for watchers none of whose sinks can take it would be a
  // busy loop: sync rounds must wait for resume().
  const readHistory = store.readHistory.bind(store);
  store.readHistory = (fromMain, toMain, maxEvents, maxBytes) => {
    if (!sinks.some((sink) => sink.writable)) violations.push(`history read (${fromMain}..${toMain}) while every sink is full`);
    return readHistory(fromMain, toMain, maxEvents, maxBytes);
  };
  const history: ModelEvent[] = [];
  const records: WatcherRecord[] = [];
  let valueCounter = 0;

  /** Before the hub may run a sync round: note who would read history at exactly the compaction revision. */
  const beforeTurn = (): void => {
    const compactRevision = store.compactRevision;
    if (compactRevision === 0) return;
    for (const record of records) {
      if (record.watcher.state === 'unsynced' && record.watcher.nextRevision === compactRevision) record.readAtCompactRevision.add(compactRevision);
    }
  };

  try {
    for (const command of commands) {
      switch (command.kind) {
        case 'write': {
          // One backend transaction for the batch, one revision per txn, then
          // one notify for the lot: exactly what applyCommitted does.
          const changes: Change[] = [];
          backend.write(() => {
            for (const txn of command.txns) {
              const write = store.beginWrite();
              if (txn.kind === 'ops') {
                for (const op of txn.ops) {
                  if (op.kind === 'put') write.put(bytes(op.key), bytes(`v${valueCounter++}`), 0n);
                  else write.deleteRange(bytes(op.key), undefined);
                }
              } else {
                write.deleteRange(bytes(txn.start), txn.end === undefined ? undefined : bytes(txn.end));
              }
              write.end();
              changes.push(...write.changes);
            }
          });
          history.push(...changes.map(toModelEvent));
          hub.notify(changes);
          break;
        }
        case 'watch': {
          const current = store.currentRevision;
          const start = command.start;
          const startRevision =
            start.at === 'now' ? 0 : start.at === 'past' ? Math.max(1, current - start.back) : start.at === 'compacted' ? Math.max(1, store.compactRevision) : current + start.ahead;
          const sink = sinks[command.sink]!;
          const range = ranges[command.range]!;
          const watcher = hub.watch({ range, startRevision, noPut: command.noPut, noDelete: command.noDelete, sink });
          const record: WatcherRecord = {
            id: records.length,
            watcher,
            sink,
            range,
            noPut: command.noPut,
            noDelete: command.noDelete,
            fromRevision: startRevision === 0 ? current + 1 : startRevision,
            deliveries: [],
            compactions: [],
            canceledAfter: undefined,
            finalState: undefined,
            readAtCompactRevision: new Set(),
          };
          records.push(record);
          sink.records.set(watcher, record);
          break;
        }
        case 'cancel': {
          const live = records.filter((record) => record.canceledAfter === undefined && record.compactions.length === 0);
          if (live.length === 0) break;
          const record = live[command.pick % live.length]!;
          hub.cancel(record.watcher);
          record.canceledAfter = record.deliveries.length;
          break;
        }
        case 'compact': {
          const target = store.currentRevision - command.back;
          if (target <= store.compactRevision || target < 1) break;
          // Not awaited: the physical deletion runs behind, as in the server.
          void backend.write(() => store.compact(target));
          break;
        }
        case 'turn':
          for (let i = 0; i < command.count; i++) {
            beforeTurn();
            await macrotask();
          }
          break;
        case 'stick':
          sinks[command.sink]!.stuck = true;
          break;
        case 'drain':
          sinks[command.sink]!.drain(command.count);
          break;
      }
    }
    // Every client reads everything: drain until nobody is behind.
    for (let turns = 0; hub.unsyncedCount > 0; turns++) {
      assert.ok(turns < 10_000, `hub never caught up: ${hub.unsyncedCount} watchers still behind`);
      for (const sink of sinks) sink.drain('all');
      beforeTurn();
      await macrotask();
    }
    assert.deepEqual(violations, [], 'no rule broken inside hub callbacks');
    for (const record of records) record.finalState = record.watcher.state;
    assert.equal(
      hub.watcherCount,
      records.filter((record) => record.canceledAfter === undefined && record.compactions.length === 0).length,
      'the hub holds exactly the watchers neither canceled nor compacted',
    );
    return { history, records, currentRevision: store.currentRevision };
  } finally {
    for (const record of records) hub.cancel(record.watcher);
    // Let a scheduled sync round (now with nobody to sync) run before closing.
    await macrotask();
    await store.compactionSettled();
    await backend.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

// ---- the checks ----

const describeEvent = (event: ModelEvent): string => `${event.revision}:${event.kind}:${JSON.stringify(event.key)}`;

function checkWatcher(record: WatcherRecord, history: readonly ModelEvent[], currentRevision: number): void {
  const label = `watcher ${record.id} (range ${JSON.stringify(record.range)}, from ${record.fromRevision}, noPut ${record.noPut}, noDelete ${record.noDelete}, sink ${record.sink.name})`;
  const wanted = history.filter(
    (event) => event.revision >= record.fromRevision && inRange(record.range, event.key) && !(event.kind === 'put' ? record.noPut : record.noDelete),
  );

  // Per delivery: whole revisions, in order, starting after the previous one.
  let through = record.fromRevision - 1;
  const revisionsSeen = new Set<number>();
  record.deliveries.forEach((delivery, i) => {
    assert.ok(delivery.sinkWritable, `${label}: delivery ${i} went to a full sink`);
    for (const event of delivery.events) {
      assert.ok(event.revision > through, `${label}: delivery ${i} has ${describeEvent(event)}, at or before ${through}, which was already handed over`);
    }
    const revisions = new Set(delivery.events.map((event) => event.revision));
    for (const revision of revisions) {
      assert.ok(!revisionsSeen.has(revision), `${label}: revision ${revision} split over two deliveries`);
      revisionsSeen.add(revision);
    }
    const last = delivery.events[delivery.events.length - 1];
    if (last !== undefined) assert.ok(delivery.revision >= last.revision, `${label}: delivery ${i} says revision ${delivery.revision} but holds ${describeEvent(last)}`);
    assert.ok(delivery.revision >= through, `${label}: delivery ${i} goes back to revision ${delivery.revision} from ${through}`);
    assert.ok(delivery.revision <= delivery.storeRevision, `${label}: delivery ${i} claims revision ${delivery.revision}, store was at ${delivery.storeRevision}`);
    through = delivery.revision;
  });

  // How far the watcher got: everything, or up to its end.
  let upTo = currentRevision;
  assert.ok(record.compactions.length <= 1, `${label}: compacted ${record.compactions.length} times`);
  const compaction = record.compactions[0];
  if (compaction !== undefined) {
    assert.equal(compaction.deliveriesBefore, record.deliveries.length, `${label}: deliveries after compacted()`);
    assert.equal(compaction.compactRevision, compaction.storeCompactRevision, `${label}: compacted() with a revision other than the store's`);
    assert.ok(through + 1 < compaction.compactRevision, `${label}: compacted at ${compaction.compactRevision} though it had everything through ${through}`);
    assert.equal(record.canceledAfter, undefined, `${label}: compacted after it was canceled`);
    upTo = through;
  }
  if (record.canceledAfter !== undefined) {
    assert.equal(record.deliveries.length, record.canceledAfter, `${label}: deliveries after cancel`);
    upTo = through;
  }
  if (compaction === undefined && record.canceledAfter === undefined) {
    assert.equal(record.finalState, 'synced', `${label}: still behind after every sink drained`);
  }
  const expected = wanted.filter((event) => event.revision <= upTo);
  const actual = record.deliveries.flatMap((delivery) => delivery.events);

  assert.deepEqual(
    actual,
    expected,
    `${label}: events differ from history\n  got  ${actual.map(describeEvent).join(' ')}\n  want ${expected.map(describeEvent).join(' ')}`,
  );
}

test('every watcher gets exactly its history, in whole revisions, through full sinks, cancels and compaction', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(commandArbitrary, { minLength: 1, maxLength: 60 }),
      limitsArbitrary,
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: sinkCount, maxLength: sinkCount }),
      async (commands, limits, capacities) => {
        const { history, records, currentRevision } = await run(commands, limits, capacities);
        for (const record of records) checkWatcher(record, history, currentRevision);
      },
    ),
    { numRuns: 1000 },
  );
});

test('the generator reaches the interesting cases (catch-up, demotion, compaction, bounded reads)', async () => {
  // Not a correctness check: guards against a generator that stopped
  // producing the situations the property above is meant to cover.
  let compacted = 0;
  let caughtUp = 0;
  let multiDelivery = 0;
  let futureStarts = 0;
  let atCompactRevision = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(commandArbitrary, { minLength: 20, maxLength: 60 }), limitsArbitrary, async (commands, limits) => {
      const { records } = await run(commands, limits, [1, 2, 3]);
      for (const record of records) {
        if (record.compactions.length > 0) compacted++;
        if (record.deliveries.some((delivery) => delivery.storeRevision > delivery.revision)) caughtUp++;
        if (record.deliveries.length > 2) multiDelivery++;
        if (record.readAtCompactRevision.size > 0) atCompactRevision++;
        if (record.fromRevision > 1 && record.deliveries.length > 0 && record.deliveries[0]!.events[0]?.revision === record.fromRevision) futureStarts++;
      }
    }),
    { numRuns: 40, seed: 42 },
  );
  assert.ok(compacted > 0, 'some watcher was compacted');
  assert.ok(caughtUp > 0, 'some watcher caught up from history');
  assert.ok(multiDelivery > 0, 'some watcher got several deliveries');
  assert.ok(futureStarts > 0, 'some watcher started exactly at its start revision');
  assert.ok(atCompactRevision > 0, 'some watcher read history from exactly the compaction revision');
});

test(
  'a watch from exactly the compaction revision sees that revision whole, deletes included',
  {},
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'holdfast-watch-hub-'));
    const backend = Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 });
    const store = MvccStore.open(backend);
    const hub = new WatchHub(store);
    try {
      const write = (fn: (txn: ReturnType<MvccStore['beginWrite']>) => void): void => {
        const changes = backend.write(() => {
          const txn = store.beginWrite();
          fn(txn);
          txn.end();
          return txn.changes;
        });
        hub.notify(changes);
      };
      write((txn) => txn.put(bytes('a'), bytes('1'), 0n)); // 2
      write((txn) => {
        txn.deleteRange(bytes('a'), undefined);
        txn.put(bytes('b'), bytes('2'), 0n);
      }); // 3
      await backend.write(() => store.compact(3));
      const got: string[] = [];
      const sink: WatchSink = {
        writable: true,
        deliver: (_watcher, events) => got.push(...events.map((event) => `${event.kind} ${text(event.kv.key)}@${event.kv.modRevision}`)),
        compacted: (_watcher, compactRevision) => got.push(`compacted ${compactRevision}`),
        synced: () => {},
      };
      hub.watch({ range: { start: '\x00', end: null }, startRevision: 3, noPut: false, noDelete: false, sink });
      await macrotask();
      assert.deepEqual(got, ['delete a@3', 'put b@3']);
    } finally {
      await macrotask();
      await store.compactionSettled();
      await backend.close();
      rmSync(directory, { recursive: true, force: true });
    }
  },
);
