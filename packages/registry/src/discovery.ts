/**
 * Discovery of one service: a local cache of its instances, kept fresh by a
 * watch (never by polling), with change events and pick() helpers.
 *
 * The cache starts from one Get of `<service>/` (every instance at one
 * revision) and a watch from that revision + 1, the sequence Go's
 * endpoints.Manager.NewWatchChannel uses. The client's watch resumes after
 * a disconnect, a kill -9 or a failover at the last delivered revision + 1,
 * so an outage neither drops nor repeats a change: instances stay in the
 * cache while the server is away, and whatever happened meanwhile arrives
 * when it is back. If the history needed to resume was compacted, the prefix
 * is read again and the difference is applied (and reported) as changes at
 * that read's revision.
 *
 * Events. events() gives each consumer an async iterator of added / removed
 * / updated events. Its memory is bounded by the number of instances, not by
 * the number of changes: pending changes are kept per key, so a consumer
 * that falls behind gets, for each key, the difference between what it last
 * saw and what is there now (an instance that came and went meanwhile is
 * never reported; one that flapped is reported once). Events are in
 * revision order of their latest change.
 */
import { EventEmitter } from 'node:events';
import { ClientClosedError, CompactedError, onAbort, type KeyValue, type Namespace, type WatchBatch } from '@holdfast/client';
import { GoOperation, decodeEndpoint, servicePrefix, type Instance } from './codec.js';
import { Backoff, sleep } from './util.js';

export type DiscoveryEventType = 'added' | 'removed' | 'updated';

export interface DiscoveryEvent<M = unknown> {
  readonly type: DiscoveryEventType;
  /** The instance now; for 'removed', as it was last seen. */
  readonly instance: Instance<M>;
  /** For 'updated': what the consumer saw before. */
  readonly previous?: Instance<M>;
  /** The revision of the change. */
  readonly revision: bigint;
}

export type PickStrategy = 'round-robin' | 'random';

export interface DiscoveryOptions {
  /** Aborting closes the discovery: iterators and `done` reject with `signal.reason`. */
  readonly signal?: AbortSignal;
}

export interface EventsOptions {
  /** Start with an 'added' event per current instance (default true). */
  readonly initial?: boolean;
  /** Ends this iterator (it throws `signal.reason`). */
  readonly signal?: AbortSignal;
}

interface DiscoveryEvents<M> {
  /** Every change, as applied to the cache. */
  change: [event: DiscoveryEvent<M>];
  /** The history to resume from was compacted: the prefix was read again at `revision`. */
  resync: [revision: bigint];
}

/** Instances as the consumer of an iterator last saw them, and which keys changed since. */
class EventConsumer<M> {
  readonly known = new Map<string, Instance<M>>();
  /** Keys with changes not yet reported, in order of their latest change, with its revision. */
  readonly dirty = new Map<string, bigint>();
  waiter: { resolve: (result: IteratorResult<DiscoveryEvent<M>>) => void; reject: (error: unknown) => void } | undefined;
  ended = false;
  failure: { error: unknown } | undefined;

  constructor(private readonly current: () => ReadonlyMap<string, Instance<M>>) {}

  markDirty(key: string, revision: bigint): void {
    if (this.ended) return;
    this.dirty.delete(key);
    this.dirty.set(key, revision);
    this.wake();
  }

  /** The next event, if any change is pending. */
  take(): DiscoveryEvent<M> | undefined {
    for (const [key, revision] of this.dirty) {
      this.dirty.delete(key);
      const before = this.known.get(key);
      const now = this.current().get(key);
      if (before === undefined && now === undefined) continue;
      if (now === undefined) {
        this.known.delete(key);
        return { type: 'removed', instance: before!, revision };
      }
      this.known.set(key, now);
      if (before === undefined) return { type: 'added', instance: now, revision };
      if (before.revision === now.revision && before.leaseId === now.leaseId) continue;
      return { type: 'updated', instance: now, previous: before, revision };
    }
    return undefined;
  }

  next(): Promise<IteratorResult<DiscoveryEvent<M>>> {
    if (!this.ended) {
      const event = this.take();
      if (event !== undefined) return Promise.resolve({ value: event, done: false });
    }
    if (this.failure !== undefined) {
      const { error } = this.failure;
      this.failure = undefined;
      this.ended = true;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  fail(error: unknown): void {
    if (this.ended || this.failure !== undefined) return;
    this.failure = { error };
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.dirty.clear();
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    this.waiter = undefined;
    this.next().then(
      (result) => waiter.resolve(result),
      (error: unknown) => waiter.reject(error),
    );
  }
}

export class Discovery<M = unknown> extends EventEmitter<DiscoveryEvents<M>> implements AsyncIterable<DiscoveryEvent<M>> {
  /** Resolves when closed (or the client closed); rejects with the error that ended it. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (error: unknown) => void;
  private readonly cache = new Map<string, Instance<M>>();
  /** Cached sorted list; undefined when the cache changed. */
  private sorted: Instance<M>[] | undefined;
  private cacheRevision: bigint;
  private roundRobinIndex = 0;
  private readonly consumers = new Set<EventConsumer<M>>();
  /**
   * waitFor() callers, told of every change. A set rather than one 'change'
   * listener each: any number may wait at once, and EventEmitter warns past
   * ten listeners of one event, the sign of a leak elsewhere.
   */
  private readonly changeWaiters = new Set<() => void>();
  private readonly stop = new AbortController();
  /** Stops waiting on the caller's signal (once closed). */
  private stopAbortWait: () => void = () => {};
  private closedState: { error?: unknown } | undefined;
  private readonly prefix: string;

  /** Reads the service's instances and starts watching; see Registry.discover(). */
  static async open<M = unknown>(client: Namespace, service: string, options: DiscoveryOptions = {}): Promise<Discovery<M>> {
    const prefix = servicePrefix(service);
    const result = await client.get(prefix, { prefix: true, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    return new Discovery<M>(client, service, prefix, result.kvs, result.header.revision, options);
  }

  private constructor(
    private readonly client: Namespace,
    readonly service: string,
    prefix: string,
    kvs: readonly KeyValue[],
    revision: bigint,
    options: DiscoveryOptions,
  ) {
    super();
    this.prefix = prefix;
    this.cacheRevision = revision;
    for (const kv of kvs) {
      const instance = this.toInstance(kv);
      if (instance !== undefined) this.cache.set(instance.key, instance);
    }
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {});
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) queueMicrotask(() => this.finish(signal.reason));
      else this.stopAbortWait = onAbort(signal, () => this.finish(signal.reason));
    }
    void this.run();
  }

  /** The revision the cache is up to date with (as far as events received tell). */
  get revision(): bigint {
    return this.cacheRevision;
  }

  get size(): number {
    return this.cache.size;
  }

  get closed(): boolean {
    return this.closedState !== undefined;
  }

  /** Every instance, sorted by key. */
  instances(): Instance<M>[] {
    this.sorted ??= [...this.cache.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return [...this.sorted];
  }

  /** The instance with this id (the key suffix; the address unless registered otherwise). */
  get(id: string): Instance<M> | undefined {
    return this.cache.get(`${this.prefix}${id}`);
  }

  /** One instance by `strategy` (default round-robin); undefined when there is none. */
  pick(strategy: PickStrategy = 'round-robin'): Instance<M> | undefined {
    return strategy === 'random' ? this.random() : this.roundRobin();
  }

  /** The instances in key order, one after the other. */
  roundRobin(): Instance<M> | undefined {
    const list = this.sortedList();
    if (list.length === 0) return undefined;
    const instance = list[this.roundRobinIndex % list.length];
    this.roundRobinIndex = (this.roundRobinIndex + 1) % Number.MAX_SAFE_INTEGER;
    return instance;
  }

  /** A uniformly random instance. */
  random(): Instance<M> | undefined {
    const list = this.sortedList();
    if (list.length === 0) return undefined;
    return list[Math.floor(Math.random() * list.length)];
  }

  /**
   * Resolves with the instances once `predicate` holds for them (checked now
   * and after every change); rejects on `signal`, `timeoutMs` or close.
   */
  waitFor(predicate: (instances: Instance<M>[]) => boolean, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Instance<M>[]> {
    const now = this.instances();
    if (predicate(now)) return Promise.resolve(now);
    return new Promise<Instance<M>[]>((resolve, reject) => {
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => fail(new Error(`discovery of "${this.service}": condition not met within ${options.timeoutMs} ms`)), options.timeoutMs);
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.changeWaiters.delete(onChange);
        stopAbortWait();
      };
      const fail = (error: unknown): void => {
        cleanup();
        reject(error);
      };
      const onChange = (): void => {
        const instances = this.instances();
        if (!predicate(instances)) return;
        cleanup();
        resolve(instances);
      };
      const signal = options.signal;
      this.changeWaiters.add(onChange);
      const stopAbortWait = signal === undefined ? () => {} : onAbort(signal, () => fail(signal.reason));
      this.done.then(
        () => fail(new Error(`discovery of "${this.service}" was closed`)),
        (error: unknown) => fail(error),
      );
    });
  }

  /** Added / removed / updated events for one consumer (see the file comment for the coalescing). */
  events(options: EventsOptions = {}): AsyncIterableIterator<DiscoveryEvent<M>> {
    const consumer = new EventConsumer<M>(() => this.cache);
    if (options.initial === false) for (const [key, instance] of this.cache) consumer.known.set(key, instance);
    else for (const instance of this.instances()) consumer.dirty.set(instance.key, instance.revision);
    if (this.closedState === undefined) this.consumers.add(consumer);
    else if ('error' in this.closedState) consumer.fail(this.closedState.error);
    else consumer.end();
    const signal = options.signal;
    const stopAbortWait =
      signal === undefined
        ? () => {}
        : onAbort(signal, () => {
            this.consumers.delete(consumer);
            consumer.fail(signal.reason);
          });
    const iterator: AsyncIterableIterator<DiscoveryEvent<M>> = {
      next: () => consumer.next(),
      return: async () => {
        stopAbortWait();
        this.consumers.delete(consumer);
        consumer.end();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  [Symbol.asyncIterator](): AsyncIterator<DiscoveryEvent<M>> {
    return this.events();
  }

  /** Stops watching; iterators end. The cache keeps its last contents. */
  close(): void {
    if (this.closedState !== undefined) return;
    this.closedState = {};
    this.stopAbortWait();
    this.stop.abort();
    for (const consumer of this.consumers) consumer.end();
    this.consumers.clear();
    this.resolveDone();
  }

  private finish(error: unknown): void {
    if (this.closedState !== undefined) return;
    this.closedState = { error };
    this.stopAbortWait();
    this.stop.abort();
    for (const consumer of this.consumers) consumer.fail(error);
    this.consumers.clear();
    this.rejectDone(error);
  }

  private sortedList(): Instance<M>[] {
    this.sorted ??= [...this.cache.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return this.sorted;
  }

  private toInstance(kv: KeyValue): Instance<M> | undefined {
    const key = kv.keyString;
    if (!key.startsWith(this.prefix)) return undefined;
    const decoded = decodeEndpoint(kv.value);
    if (decoded === undefined || decoded.op !== GoOperation.add) return undefined;
    return {
      service: this.service,
      id: key.slice(this.prefix.length),
      key,
      address: decoded.address,
      metadata: decoded.metadata as M,
      leaseId: kv.lease,
      revision: kv.modRevision,
      createRevision: kv.createRevision,
    };
  }

  private async run(): Promise<void> {
    const stop = this.stop.signal;
    const backoff = new Backoff(100, 2_000);
    while (!stop.aborted) {
      const watch = this.client.watch(this.prefix, { prefix: true, startRevision: this.cacheRevision + 1n, signal: stop });
      try {
        for await (const batch of watch) {
          this.applyBatch(batch);
          backoff.reset();
        }
        // Ended quietly: we or the client closed it.
        this.close();
        return;
      } catch (error) {
        if (stop.aborted) return;
        if (error instanceof ClientClosedError) {
          this.close();
          return;
        }
        if (!(error instanceof CompactedError)) {
          this.finish(error);
          return;
        }
      } finally {
        watch.close();
      }
      // Compacted: read the prefix again and apply the difference.
      while (!stop.aborted) {
        try {
          await this.resync();
          break;
        } catch (error) {
          if (stop.aborted) return;
          if (error instanceof ClientClosedError) {
            this.close();
            return;
          }
          await sleep(backoff.nextDelayMs(), stop);
        }
      }
    }
  }

  private async resync(): Promise<void> {
    const result = await this.client.get(this.prefix, { prefix: true, signal: this.stop.signal });
    const revision = result.header.revision;
    const seen = new Set<string>();
    for (const kv of result.kvs) {
      const instance = this.toInstance(kv);
      if (instance === undefined) continue;
      seen.add(instance.key);
      const before = this.cache.get(instance.key);
      if (before === undefined || before.revision !== instance.revision) this.apply(instance.key, instance, revision);
    }
    for (const key of [...this.cache.keys()]) if (!seen.has(key)) this.apply(key, undefined, revision);
    if (revision > this.cacheRevision) this.cacheRevision = revision;
    this.emit('resync', revision);
  }

  private applyBatch(batch: WatchBatch): void {
    for (const event of batch.events) {
      const revision = event.kv.modRevision;
      if (revision <= this.cacheRevision) continue; // already applied (defensive: the client never repeats a revision)
      this.apply(event.kv.keyString, event.type === 'put' ? this.toInstance(event.kv) : undefined, revision);
    }
    const last = batch.events[batch.events.length - 1];
    if (last !== undefined && last.kv.modRevision > this.cacheRevision) this.cacheRevision = last.kv.modRevision;
  }

  /** Sets or removes one key in the cache and tells listeners and consumers. */
  private apply(key: string, instance: Instance<M> | undefined, revision: bigint): void {
    const before = this.cache.get(key);
    if (instance === undefined && before === undefined) return;
    if (instance === undefined) this.cache.delete(key);
    else this.cache.set(key, instance);
    this.sorted = undefined;
    for (const consumer of this.consumers) consumer.markDirty(key, revision);
    if (instance === undefined) this.emit('change', { type: 'removed', instance: before!, revision });
    else if (before === undefined) this.emit('change', { type: 'added', instance, revision });
    else this.emit('change', { type: 'updated', instance, previous: before, revision });
    for (const waiter of [...this.changeWaiters]) waiter();
  }
}
