/**
 * The watch hub: which watcher hears which change, and when.
 *
 * Every watcher is in exactly one of two places (etcd's watchableStore has
 * three; victims are folded into "unsynced" here):
 *
 * - synced: it has been sent everything up to the store's current revision.
 *   notify() hands it new changes right after they are applied (after the
 *   backend transaction commits, in revision order).
 * - unsynced: it is behind. Either it asked for a start revision in the
 *   past, or its stream stopped accepting (a slow or stuck client). A sync
 *   round reads history from the backend for the watchers that are behind,
 *   from the oldest revision one of them needs, a bounded number of events
 *   at a time, and moves each watcher back to synced once it has caught up.
 *
 * Why this gives etcd's guarantees:
 * - Ordered and unique: `nextRevision` is the first revision a watcher has
 *   not been sent; it only moves forward, by exactly what was handed over.
 * - Reliable: a watcher that cannot take a delivery is demoted with
 *   `nextRevision` at the first change it missed, and history from there is
 *   read back before it is synced again. Nothing is dropped, and memory stays
 *   bounded, because history lives in the backend, not in queues.
 * - Atomic: a revision's changes are never split between deliveries
 *   (readHistory stops at revision boundaries; notify() delivers whole
 *   revisions); only a stream that asked for fragments splits a response.
 * - Compaction: a watcher behind the compacted revision gets the compacted
 *   cancellation, and only then: its history is really gone.
 *
 * Everything runs on the server's one thread, so a sync round reads the
 * store and promotes watchers without any change landing in between.
 */
import type { Change, HistoryEvent, MvccStore } from '@holdfast/mvcc';
import { bytesToKey } from '@holdfast/mvcc';
import { WatcherIndex, type WatchRange } from './watcher-index.js';

export interface WatchHubLimits {
  /** Most events in one delivery (more go in further deliveries, split only between revisions). */
  readonly maxEventsPerDelivery: number;
  /**
   * Most key and value bytes in one delivery, likewise split only between
   * revisions, so that catching up with large values does not make responses
   * bigger than clients accept (grpc-js refuses messages over 4 MiB by default).
   */
  readonly maxBytesPerDelivery: number;
  /**
   * Most events read from history in one sync round (the round ends at a
   * revision boundary, so a larger revision is read whole).
   */
  readonly historyReadMaxEvents: number;
  /**
   * Most record bytes read from history in one sync round, likewise. With
   * both at one delivery's bounds, a round reads what one delivery carries:
   * a stream that can take one more delivery takes the whole round, so
   * catching up reads each event once (reading 10,000 events a round for a
   * stream that took 1 MiB of them re-read each event ~9 times: issue 12,
   * finding 5). Rounds are separate turns of the event loop, so catch-up
   * shares the loop with every other request.
   */
  readonly historyReadMaxBytes: number;
  /** Most watchers caught up in one sync round (etcd: maxWatchersPerSync = 512). */
  readonly maxWatchersPerSync: number;
}

export const defaultWatchHubLimits: WatchHubLimits = {
  maxEventsPerDelivery: 1000,
  maxBytesPerDelivery: 1024 * 1024,
  historyReadMaxEvents: 1000,
  historyReadMaxBytes: 1024 * 1024,
  maxWatchersPerSync: 512,
};

/** Where a watcher's deliveries go: one client stream, shared by many watchers. */
export interface WatchSink {
  /** False while the stream's queue is full; its watchers then fall back to history. */
  readonly writable: boolean;
  /** Events (whole revisions, in order) up to `revision`, for `watcher`. */
  deliver(watcher: Watcher, events: readonly HistoryEvent[], revision: number): void;
  /** The watcher needs history that compaction removed; it is gone from the hub. */
  compacted(watcher: Watcher, compactRevision: number): void;
  /** The watcher caught up with the store (progress notifications may now be sent). */
  synced(watcher: Watcher): void;
}

export interface WatchOptions {
  readonly range: WatchRange;
  /** First revision to deliver; 0 = after the current revision. */
  readonly startRevision: number;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly sink: WatchSink;
}

export class Watcher {
  readonly range: WatchRange;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly sink: WatchSink;
  /** The first revision not yet handed to the sink. Only moves forward. */
  nextRevision: number;
  state: 'synced' | 'unsynced' | 'canceled' = 'synced';

  constructor(options: WatchOptions, nextRevision: number) {
    this.range = options.range;
    this.noPut = options.noPut;
    this.noDelete = options.noDelete;
    this.sink = options.sink;
    this.nextRevision = nextRevision;
  }

  wants(event: HistoryEvent): boolean {
    return event.kv.modRevision >= this.nextRevision && !(event.kind === 'put' ? this.noPut : this.noDelete);
  }
}

function eventBytes(event: HistoryEvent): number {
  return event.kv.key.length + event.kv.value.length;
}

export class WatchHub {
  private readonly store: MvccStore;
  private readonly limits: WatchHubLimits;
  private readonly synced = new WatcherIndex<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private syncScheduled = false;

  constructor(store: MvccStore, limits: WatchHubLimits = defaultWatchHubLimits) {
    this.store = store;
    this.limits = limits;
  }

  get watcherCount(): number {
    return this.synced.size + this.unsynced.size;
  }

  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  /** Registers a watcher; past start revisions are caught up from history. */
  watch(options: WatchOptions): Watcher {
    const current = this.store.currentRevision;
    // As etcd: a start at or before the current revision reads history; a
    // later one waits among the synced for its first revision.
    if (options.startRevision === 0 || options.startRevision > current) {
      const watcher = new Watcher(options, Math.max(options.startRevision, current + 1));
      this.synced.add(watcher, watcher.range);
      return watcher;
    }
    const watcher = new Watcher(options, options.startRevision);
    watcher.state = 'unsynced';
    this.unsynced.add(watcher);
    this.scheduleSync();
    return watcher;
  }

  cancel(watcher: Watcher): void {
    if (watcher.state === 'synced') this.synced.delete(watcher, watcher.range);
    else this.unsynced.delete(watcher);
    watcher.state = 'canceled';
  }

  /** A sink can take deliveries again: resume catching its watchers up. */
  resume(): void {
    if (this.unsynced.size > 0) this.scheduleSync();
  }

  /**
   * Tells synced watchers about applied changes (in revision order), after
   * the backend transaction that holds them has committed.
   */
  notify(changes: readonly Change[]): void {
    if (changes.length === 0 || this.synced.size === 0) return;
    const batches = new Map<Watcher, HistoryEvent[]>();
    for (const change of changes) {
      this.synced.forEachMatching(bytesToKey(change.kv.key), (watcher) => {
        if (!watcher.wants(change)) return;
        const batch = batches.get(watcher);
        if (batch === undefined) batches.set(watcher, [change]);
        else batch.push(change);
      });
    }
    const lastRevision = changes[changes.length - 1]!.kv.modRevision;
    for (const [watcher, events] of batches) {
      // An earlier delivery of this round may have canceled or demoted it.
      if (watcher.state !== 'synced') continue;
      if (!this.handOver(watcher, events, lastRevision)) {
        this.synced.delete(watcher, watcher.range);
        watcher.state = 'unsynced';
        this.unsynced.add(watcher);
        this.scheduleSync();
      }
    }
  }

  /**
   * Hands `events` (whole revisions, all >= nextRevision) to the sink in
   * deliveries of bounded size while it is writable. Returns false if the
   * sink filled up first; nextRevision then names the first revision not
   * handed over.
   */
  private handOver(watcher: Watcher, events: readonly HistoryEvent[], throughRevision: number): boolean {
    let from = 0;
    while (from < events.length) {
      if (!watcher.sink.writable) {
        watcher.nextRevision = events[from]!.kv.modRevision;
        return false;
      }
      let to = from + 1;
      let bytes = eventBytes(events[from]!);
      const maxTo = Math.min(from + this.limits.maxEventsPerDelivery, events.length);
      while (to < maxTo && bytes + eventBytes(events[to]!) <= this.limits.maxBytesPerDelivery) bytes += eventBytes(events[to++]!);
      // Never end a delivery inside a revision: extend to its end (or, if
      // one revision is larger than the bounds, the delivery is that revision).
      while (to < events.length && events[to]!.kv.modRevision === events[to - 1]!.kv.modRevision) to++;
      const last = to === events.length;
      const deliveredThrough = last ? throughRevision : events[to - 1]!.kv.modRevision;
      watcher.sink.deliver(watcher, from === 0 && last ? events : events.slice(from, to), deliveredThrough);
      watcher.nextRevision = deliveredThrough + 1;
      if (watcher.state === 'canceled') return true;
      from = to;
    }
    watcher.nextRevision = Math.max(watcher.nextRevision, throughRevision + 1);
    return true;
  }

  private scheduleSync(): void {
    if (this.syncScheduled) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      this.syncRound();
    });
  }

  /** One catch-up round for up to maxWatchersPerSync writable unsynced watchers. */
  private syncRound(): void {
    const current = this.store.currentRevision;
    const compactRevision = this.store.compactRevision;
    const chosen: Watcher[] = [];
    for (const watcher of this.unsynced) {
      if (!watcher.sink.writable) continue;
      if (watcher.nextRevision < compactRevision) {
        this.unsynced.delete(watcher);
        watcher.state = 'canceled';
        watcher.sink.compacted(watcher, compactRevision);
        continue;
      }
      chosen.push(watcher);
      if (chosen.length === this.limits.maxWatchersPerSync) break;
    }
    // Nobody can take anything: sinks call resume() when they drain.
    if (chosen.length === 0) return;

    let from = Infinity;
    for (const watcher of chosen) from = Math.min(from, watcher.nextRevision);
    const { events, throughRevision } = from > current ? { events: [], throughRevision: current } : this.store.readHistory(from, current, this.limits.historyReadMaxEvents, this.limits.historyReadMaxBytes);

    const index = new WatcherIndex<Watcher>();
    for (const watcher of chosen) index.add(watcher, watcher.range);
    const batches = new Map<Watcher, HistoryEvent[]>();
    for (const event of events) {
      index.forEachMatching(bytesToKey(event.kv.key), (watcher) => {
        if (!watcher.wants(event)) return;
        const batch = batches.get(watcher);
        if (batch === undefined) batches.set(watcher, [event]);
        else batch.push(event);
      });
    }
    for (const watcher of chosen) {
      if (watcher.state !== 'unsynced') continue;
      const handedOver = this.handOver(watcher, batches.get(watcher) ?? [], throughRevision);
      if (!handedOver || watcher.state !== 'unsynced') continue;
      if (watcher.nextRevision > current) {
        this.unsynced.delete(watcher);
        watcher.state = 'synced';
        this.synced.add(watcher, watcher.range);
        watcher.sink.synced(watcher);
      }
    }
    if (this.unsynced.size > 0) this.scheduleSync();
  }
}
