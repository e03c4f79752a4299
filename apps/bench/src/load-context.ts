/**
 * The state one worker thread's workload runs against: its connections, the
 * shared operation counter, and the histograms and error counts it fills.
 */
import { nowMs, sleepMs } from './clock.js';
import { Connection, errorKey, isUnimplemented } from './connection.js';
import { LatencyHistogram } from './histogram.js';
import { KeyMaker, randomValue } from './keys.js';
import type { WorkloadOptions } from './options.js';
import { controlSlot, progressSlot, progressSlotsPerWorker, type WorkerPlan } from './protocol.js';

/** Distinct error messages kept per worker; later new ones are lumped together so a flood of unique messages cannot grow memory. */
export const distinctErrorsMax = 100;
const otherErrorsKey = 'other errors (more than 100 distinct messages)';

export class LoadContext {
  readonly options: WorkloadOptions;
  readonly keys: KeyMaker;
  /** Random value bytes, shared by every request of this worker. */
  readonly value: Buffer;
  readonly latency = new LatencyHistogram();
  readonly counters: Record<string, number> = {};
  readonly errors = new Map<string, number>();
  operations = 0;
  lastCompletionMs = 0;
  /** Set by `start` (or the warm-up); process-wide monotonic ms. */
  startMs = 0;
  /** During the warm-up: operations left to hand out in this worker; undefined otherwise. */
  private warmupRemaining: number | undefined;
  private warmupNextIndex = 0;
  private readonly seriesByName = new Map<string, LatencyHistogram>();
  private readonly control: Int32Array;
  private readonly progress: Float64Array;
  private readonly progressBase: number;
  private readonly connectionsByIndex = new Map<number, Connection>();

  constructor(readonly plan: WorkerPlan) {
    this.options = plan.options;
    this.keys = new KeyMaker(this.options.keyPrefix, this.options.keySizeBytes);
    this.value = randomValue(this.options.valueSizeBytes);
    this.control = new Int32Array(plan.control);
    this.progress = new Float64Array(plan.progress);
    this.progressBase = plan.workerIndex * progressSlotsPerWorker;
    for (const index of plan.connectionIndices) {
      const endpoint = this.options.endpoints[index % this.options.endpoints.length]!;
      this.connectionsByIndex.set(index, new Connection(index, endpoint, this.options.transport));
    }
  }

  get connections(): Connection[] {
    return [...this.connectionsByIndex.values()];
  }

  /** The connection of client (or stream) `index`: index % conns. */
  connectionFor(index: number): Connection {
    const connection = this.connectionsByIndex.get(index % this.options.conns);
    if (connection === undefined) throw new Error(`client ${index} is not on a connection of worker ${this.plan.workerIndex}`);
    return connection;
  }

  series(name: string): LatencyHistogram {
    let histogram = this.seriesByName.get(name);
    if (histogram === undefined) {
      histogram = new LatencyHistogram();
      this.seriesByName.set(name, histogram);
    }
    return histogram;
  }

  get allSeries(): ReadonlyMap<string, LatencyHistogram> {
    return this.seriesByName;
  }

  get stopped(): boolean {
    return Atomics.load(this.control, controlSlot.stop) !== 0 || Atomics.load(this.control, controlSlot.aborted) !== 0;
  }

  /**
   * The index of the next operation to run, or undefined when the run is
   * over (total reached, duration over, or aborted). Indices are global
   * across workers, so --total is exact and sequential keys do not repeat.
   */
  claim(): number | undefined {
    if (this.stopped) return undefined;
    if (this.warmupRemaining !== undefined) {
      if (this.warmupRemaining <= 0) return undefined;
      this.warmupRemaining -= 1;
      return this.warmupNextIndex++;
    }
    // >>> 0: in --duration runs the Int32 counter may wrap; indices stay non-negative.
    const index = Atomics.add(this.control, controlSlot.claimed, 1) >>> 0;
    const total = this.options.total;
    if (total !== undefined && index >= total) return undefined;
    return index;
  }

  /** With --rate, waits until operation `opIndex` is due: op i starts at start + i / rate. */
  async pace(opIndex: number): Promise<void> {
    if (this.options.rateOpsPerSecond <= 0) return;
    const dueMs = this.startMs + (opIndex * 1000) / this.options.rateOpsPerSecond;
    const waitMs = dueMs - nowMs();
    if (waitMs > 0) await sleepMs(waitMs);
  }

  /** Hands out `operationCount` local operations until endWarmup. */
  beginWarmup(operationCount: number): void {
    this.warmupRemaining = operationCount;
    this.warmupNextIndex = 0;
    this.startMs = nowMs();
  }

  /** Forgets what the warm-up measured; errors stay if they aborted the run, so that the reason is reported. */
  endWarmup(): void {
    this.warmupRemaining = undefined;
    this.latency.reset();
    for (const histogram of this.seriesByName.values()) histogram.reset();
    for (const name of Object.keys(this.counters)) delete this.counters[name];
    if (Atomics.load(this.control, controlSlot.aborted) === 0) this.errors.clear();
    this.operations = 0;
    this.lastCompletionMs = 0;
    this.progress[this.progressBase + progressSlot.completed] = 0;
    this.progress[this.progressBase + progressSlot.errors] = this.errorCount();
  }

  recordSuccess(latencyMs: number, histogram: LatencyHistogram = this.latency): void {
    histogram.recordMs(latencyMs);
    this.operations += 1;
    this.lastCompletionMs = nowMs();
    this.progress[this.progressBase + progressSlot.completed] = this.operations;
  }

  recordError(error: unknown): void {
    let key = errorKey(error);
    if (!this.errors.has(key) && this.errors.size >= distinctErrorsMax) key = otherErrorsKey;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
    this.lastCompletionMs = nowMs();
    this.progress[this.progressBase + progressSlot.errors] = this.errorCount();
    // A server without the service answers every request the same way: stop the run.
    if (isUnimplemented(error)) this.abort();
  }

  /** Events delivered to this worker's watchers (watch workloads). */
  recordEvents(eventCount: number): void {
    const slot = this.progressBase + progressSlot.events;
    this.progress[slot] = (this.progress[slot] ?? 0) + eventCount;
  }

  get eventsDelivered(): number {
    return this.progress[this.progressBase + progressSlot.events] ?? 0;
  }

  errorCount(): number {
    let count = 0;
    for (const value of this.errors.values()) count += value;
    return count;
  }

  abort(): void {
    Atomics.store(this.control, controlSlot.aborted, 1);
  }

  addCounter(name: string, amount: number): void {
    this.counters[name] = (this.counters[name] ?? 0) + amount;
  }

  close(): void {
    for (const connection of this.connectionsByIndex.values()) connection.close();
  }
}

/**
 * The request loop of one client: claim an operation, pace it, time it,
 * count it; until there are no more to claim. One request in flight per
 * client, as in etcd's benchmark.
 */
export async function runClientLoop(context: LoadContext, operation: (opIndex: number) => Promise<void>, histogram: LatencyHistogram = context.latency): Promise<void> {
  for (;;) {
    const opIndex = context.claim();
    if (opIndex === undefined) return;
    await context.pace(opIndex);
    const startedMs = nowMs();
    try {
      await operation(opIndex);
      context.recordSuccess(nowMs() - startedMs, histogram);
    } catch (error) {
      context.recordError(error);
    }
  }
}

/** Runs `task` for every item with at most `concurrencyMax` in flight. */
export async function forEachBounded<T>(items: readonly T[], concurrencyMax: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrencyMax, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await task(item);
    }
  });
  await Promise.all(runners);
}
