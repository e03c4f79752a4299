/**
 * Config watching: a typed, always-consistent view of every key under a
 * prefix, and a stream of its versions.
 *
 *   const config = await watchConfig(client, '/app/config/', (entries) => ({
 *     port: Number(entries.get('port') ?? 8080),
 *     mode: entries.get('mode') ?? 'normal',
 *   }));
 *   config.value.port;                     // the latest version, parsed
 *   for await (const version of config) {  // every later version, in revision order
 *     console.log(version.revision, version.changed, version.value);
 *   }
 *   config.close();
 *
 * Consistency. The first version is one Get of the prefix (all keys at one
 * revision). Then a watch starts at that revision + 1, and the events of one
 * revision (one put, delete or txn) are applied together before `parse` runs:
 * a txn that changes several keys is seen as one version, never half of it.
 * etcd never splits a revision across watch responses, and the client's watch
 * resumes after a disconnect at the last delivered revision + 1, so a server
 * restart or a network cut loses and repeats nothing. If the history needed to
 * resume was compacted meanwhile, the view is read again with a Get and the
 * difference is delivered as one version at that Get's revision.
 *
 * Slow consumers. Each iterator has a bounded queue (maxPendingUpdates); when
 * it is full the newest pending version absorbs the next one (its `changed`
 * lists both, `coalesced` counts them). Every version an iterator gets is
 * still one consistent snapshot at its revision; only intermediate ones are
 * skipped. `current` and the 'update' event always see every version.
 */
import { EventEmitter } from 'node:events';
import type { Bytes, KeyValue } from './bytes.js';
import { toBuffer } from './bytes.js';
import { onAbort } from './abort-listeners.js';
import { CompactedError } from './errors.js';
import type { Namespace } from './namespace.js';
import type { Watch, WatchBatch, WatchEvent } from './watch.js';

/** Turns every entry under the prefix (keys relative to it, values as UTF-8) into the typed config. */
export type ConfigParser<T> = (entries: ReadonlyMap<string, string>, kvs: ReadonlyMap<string, KeyValue>) => T;

export interface ConfigWatchOptions {
  /** Aborting closes the watcher: iterators and `done` reject with `signal.reason`. */
  readonly signal?: AbortSignal;
  /** Versions queued per iterator before newer ones are coalesced into the last queued one (default 64). */
  readonly maxPendingUpdates?: number;
  /**
   * When `parse` throws for a later version: 'skip' (default) keeps the last
   * good value and emits 'invalid'; 'fail' ends the watcher with the error.
   * A throw on the first version always rejects watchConfig().
   */
  readonly onParseError?: 'skip' | 'fail';
  /** Pause before reading the prefix again after a failed resync (default 200 ms, doubling to 5 s). */
  readonly resyncBackoffMs?: number;
}

export interface ConfigVersion<T> {
  readonly value: T;
  /** The revision this version is as of: the revision of the change that made it (the first: the Get's revision). */
  readonly revision: bigint;
  /** Every entry (key relative to the prefix) at that revision. */
  readonly entries: ReadonlyMap<string, KeyValue>;
  /** Keys put or deleted since the previous version this consumer got (empty for the first). */
  readonly changed: readonly string[];
  /** How many store revisions this version covers (more than 1 when a slow iterator's queue was coalesced, or after a resync). */
  readonly coalesced: number;
}

interface ConfigWatchEvents<T> {
  /** A new version (every one, in order). */
  update: [version: ConfigVersion<T>];
  /** `parse` threw for the entries at `revision`; the value stays the last good one. */
  invalid: [error: unknown, revision: bigint];
  /** The history to resume from was compacted: the view was read again at `revision`. */
  resync: [revision: bigint];
}

export const defaultMaxPendingUpdates = 64;

/**
 * Reads the prefix, parses it, and keeps the result current. Resolves once
 * the first version is parsed; rejects if the read or `parse` fails.
 */
export async function watchConfig<T>(client: Namespace, prefix: Bytes, parse: ConfigParser<T>, options: ConfigWatchOptions = {}): Promise<ConfigWatch<T>> {
  const maxPending = options.maxPendingUpdates ?? defaultMaxPendingUpdates;
  if (!Number.isSafeInteger(maxPending) || maxPending < 1) throw new RangeError(`maxPendingUpdates must be a positive integer, got ${maxPending}`);
  options.signal?.throwIfAborted();
  const space = toBuffer(prefix).length === 0 ? client : client.namespace(prefix);
  const { entries, revision } = await readAll(space, options.signal);
  const first: ConfigVersion<T> = { value: parse(asStrings(entries), entries), revision, entries, changed: [], coalesced: 1 };
  return new ConfigWatch(space, parse, first, { ...options, maxPendingUpdates: maxPending });
}

async function readAll(space: Namespace, signal: AbortSignal | undefined): Promise<{ entries: Map<string, KeyValue>; revision: bigint }> {
  const result = await space.get('', { prefix: true, ...(signal === undefined ? {} : { signal }) });
  const entries = new Map<string, KeyValue>();
  for (const kv of result.kvs) entries.set(kv.keyString, kv);
  return { entries, revision: result.header.revision };
}

function asStrings(entries: ReadonlyMap<string, KeyValue>): Map<string, string> {
  const strings = new Map<string, string>();
  for (const [key, kv] of entries) strings.set(key, kv.valueString);
  return strings;
}

function sameKeyValue(a: KeyValue | undefined, b: KeyValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.modRevision === b.modRevision && a.value.equals(b.value);
}

type Waiter<T> = { resolve: (result: IteratorResult<ConfigVersion<T>>) => void; reject: (error: unknown) => void };

interface RevisionWaiter<T> {
  readonly revision: bigint;
  resolve(version: ConfigVersion<T>): void;
  reject(error: unknown): void;
}

/** One consumer's queue of versions. */
class Subscriber<T> {
  readonly pending: ConfigVersion<T>[] = [];
  waiter: Waiter<T> | undefined;
  ended = false;
  failure: { error: unknown } | undefined;

  constructor(
    private readonly maxPending: number,
    private readonly onEnd: (subscriber: Subscriber<T>) => void,
  ) {}

  push(version: ConfigVersion<T>): void {
    if (this.ended) return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter.resolve({ value: version, done: false });
      return;
    }
    const last = this.pending[this.pending.length - 1];
    if (last !== undefined && this.pending.length >= this.maxPending) {
      const changed = new Set([...last.changed, ...version.changed]);
      this.pending[this.pending.length - 1] = { ...version, changed: [...changed], coalesced: last.coalesced + version.coalesced };
      return;
    }
    this.pending.push(version);
  }

  fail(error: unknown): void {
    if (this.ended || this.failure !== undefined) return;
    this.failure = { error };
    if (this.pending.length === 0) this.settle();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending.length = 0;
    this.settle();
  }

  next(): Promise<IteratorResult<ConfigVersion<T>>> {
    const version = this.pending.shift();
    if (version !== undefined) return Promise.resolve({ value: version, done: false });
    if (this.failure !== undefined) {
      const { error } = this.failure;
      this.failure = undefined;
      this.ended = true;
      this.onEnd(this);
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  private settle(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter === undefined) return;
    if (this.failure !== undefined && !this.ended) {
      const { error } = this.failure;
      this.failure = undefined;
      this.ended = true;
      this.onEnd(this);
      waiter.reject(error);
    } else {
      this.ended = true;
      this.onEnd(this);
      waiter.resolve({ value: undefined, done: true });
    }
  }
}

export class ConfigWatch<T> extends EventEmitter<ConfigWatchEvents<T>> implements AsyncIterable<ConfigVersion<T>> {
  /** Resolves when the watcher is closed; rejects with the error that ended it otherwise. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (error: unknown) => void;
  private latest: ConfigVersion<T>;
  /** The raw entries at `rawRevision` (ahead of `latest` while parse fails). */
  private raw: Map<string, KeyValue>;
  private rawRevision: bigint;
  private watch: Watch | undefined;
  private readonly subscribers = new Set<Subscriber<T>>();
  /** Callers of waitForRevision() still waiting. */
  private readonly revisionWaiters = new Set<RevisionWaiter<T>>();
  private closedState: { error?: unknown } | undefined;
  private readonly removeAbortListener: () => void;

  /** Use watchConfig(). */
  constructor(
    private readonly space: Namespace,
    private readonly parse: ConfigParser<T>,
    first: ConfigVersion<T>,
    private readonly options: ConfigWatchOptions & { readonly maxPendingUpdates: number },
  ) {
    super();
    this.latest = first;
    this.raw = new Map(first.entries);
    this.rawRevision = first.revision;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {}); // iterators report the error too
    const signal = options.signal;
    if (signal === undefined) {
      this.removeAbortListener = () => {};
    } else {
      this.removeAbortListener = onAbort(signal, () => this.finish(signal.reason));
    }
    void this.run();
  }

  /** The latest version. */
  get current(): ConfigVersion<T> {
    return this.latest;
  }

  /** The latest parsed value. */
  get value(): T {
    return this.latest.value;
  }

  /** The revision of the latest version. */
  get revision(): bigint {
    return this.latest.revision;
  }

  get closed(): boolean {
    return this.closedState !== undefined;
  }

  /**
   * The versions after the current one, in revision order, until close()
   * (the iterator ends) or a failure (it throws). Each call is a separate
   * consumer with its own bounded queue.
   */
  updates(): AsyncIterableIterator<ConfigVersion<T>> {
    const subscriber = new Subscriber<T>(this.options.maxPendingUpdates, (ended) => this.subscribers.delete(ended));
    if (this.closedState === undefined) this.subscribers.add(subscriber);
    else if ('error' in this.closedState) subscriber.fail(this.closedState.error);
    else subscriber.end();
    const iterator: AsyncIterableIterator<ConfigVersion<T>> = {
      next: () => subscriber.next(),
      return: async () => {
        subscriber.end();
        this.subscribers.delete(subscriber);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  [Symbol.asyncIterator](): AsyncIterator<ConfigVersion<T>> {
    return this.updates();
  }

  /** Waits for a version at or after `revision` (e.g. the revision of your own write). */
  async waitForRevision(revision: bigint, options: { signal?: AbortSignal } = {}): Promise<ConfigVersion<T>> {
    if (this.latest.revision >= revision) return this.latest;
    if (this.closedState !== undefined) throw 'error' in this.closedState ? this.closedState.error : new Error('the config watcher was closed');
    const signal = options.signal;
    signal?.throwIfAborted();
    // Waiters are kept in a set, not as 'update' listeners: any number may wait at once without a listener warning.
    return new Promise<ConfigVersion<T>>((resolve, reject) => {
      const waiter: RevisionWaiter<T> = {
        revision,
        resolve: (version) => {
          stopWaiting();
          resolve(version);
        },
        reject: (error) => {
          stopWaiting();
          reject(error);
        },
      };
      const stopWaiting = (): void => {
        this.revisionWaiters.delete(waiter);
        stopAbortWait();
      };
      const stopAbortWait = signal === undefined ? () => {} : onAbort(signal, () => waiter.reject(signal.reason));
      this.revisionWaiters.add(waiter);
    });
  }

  /** Stops watching; iterators end after the versions already queued are dropped. */
  close(): void {
    if (this.closedState !== undefined) return;
    this.closedState = {};
    this.removeAbortListener();
    this.watch?.close();
    for (const subscriber of this.subscribers) subscriber.end();
    this.subscribers.clear();
    for (const waiter of [...this.revisionWaiters]) waiter.reject(new Error('the config watcher was closed'));
    this.resolveDone();
  }

  private finish(error: unknown): void {
    if (this.closedState !== undefined) return;
    this.closedState = { error };
    this.removeAbortListener();
    this.watch?.close();
    for (const subscriber of this.subscribers) subscriber.fail(error);
    this.subscribers.clear();
    for (const waiter of [...this.revisionWaiters]) waiter.reject(error);
    this.rejectDone(error);
  }

  private openWatch(): Watch {
    const signal = this.options.signal;
    this.watch = this.space.watch('', { prefix: true, startRevision: this.rawRevision + 1n, ...(signal === undefined ? {} : { signal }) });
    return this.watch;
  }

  private async run(): Promise<void> {
    let watch = this.openWatch();
    let backoffMs = this.options.resyncBackoffMs ?? 200;
    for (;;) {
      try {
        for await (const batch of watch) this.applyBatch(batch);
        // Ended quietly: closed by us or by the client.
        this.close();
        return;
      } catch (error) {
        if (this.closedState !== undefined) return;
        if (!(error instanceof CompactedError)) {
          this.finish(error);
          return;
        }
      }
      // Compacted: read everything again and deliver the difference.
      for (;;) {
        if (this.closedState !== undefined) return;
        try {
          await this.resync();
          backoffMs = this.options.resyncBackoffMs ?? 200;
          break;
        } catch (error) {
          if (this.closedState !== undefined) return;
          if (this.options.signal?.aborted === true) return;
          void error; // transient (server unreachable past the call deadline): try again
          await new Promise((resolve) => setTimeout(resolve, backoffMs));
          backoffMs = Math.min(backoffMs * 2, 5_000);
        }
      }
      if (this.closedState !== undefined) return;
      watch = this.openWatch();
    }
  }

  private async resync(): Promise<void> {
    const { entries, revision } = await readAll(this.space, this.options.signal);
    if (this.closedState !== undefined) return;
    const changed: string[] = [];
    for (const [key, kv] of entries) if (!sameKeyValue(this.raw.get(key), kv)) changed.push(key);
    for (const key of this.raw.keys()) if (!entries.has(key)) changed.push(key);
    this.emit('resync', revision);
    if (revision <= this.rawRevision) return;
    this.commit(entries, revision, changed.sort(), 1);
  }

  private applyBatch(batch: WatchBatch): void {
    if (this.closedState !== undefined) return;
    let index = 0;
    const events = batch.events;
    while (index < events.length) {
      const revision = events[index]!.kv.modRevision;
      const group: WatchEvent[] = [];
      while (index < events.length && events[index]!.kv.modRevision === revision) group.push(events[index++]!);
      if (revision <= this.rawRevision) continue; // already applied (defensive)
      const entries = new Map(this.raw);
      const changed = new Set<string>();
      for (const event of group) {
        const key = event.kv.keyString;
        if (event.type === 'put') entries.set(key, event.kv);
        else entries.delete(key);
        changed.add(key);
      }
      this.commit(entries, revision, [...changed], 1);
      if (this.closedState !== undefined) return;
    }
  }

  /** Parses the entries at `revision` and publishes the version (or reports the parse failure). */
  private commit(entries: Map<string, KeyValue>, revision: bigint, changed: string[], coalesced: number): void {
    this.raw = entries;
    this.rawRevision = revision;
    let value: T;
    try {
      value = this.parse(asStrings(entries), entries);
    } catch (error) {
      if (this.options.onParseError === 'fail') {
        this.finish(error);
        return;
      }
      this.emit('invalid', error, revision);
      return;
    }
    // Keys changed by versions that failed to parse are part of this one's change.
    const previous = this.latest;
    const allChanged = new Set(changed);
    if (previous.revision < revision) {
      for (const [key, kv] of entries) if (!sameKeyValue(previous.entries.get(key), kv)) allChanged.add(key);
      for (const key of previous.entries.keys()) if (!entries.has(key)) allChanged.add(key);
    }
    const version: ConfigVersion<T> = { value, revision, entries, changed: [...allChanged].sort(), coalesced };
    this.latest = version;
    for (const subscriber of this.subscribers) subscriber.push(version);
    for (const waiter of [...this.revisionWaiters]) if (version.revision >= waiter.revision) waiter.resolve(version);
    this.emit('update', version);
  }
}
