/**
 * What the main thread and the load-generating worker threads say to each
 * other, and the layout of the counters they share.
 *
 * The run, from the main thread's side:
 *   spawn workers (WorkerPlan as workerData)
 *     <- ready | setup-failed      each worker connected and did its setup (leases, watches)
 *   -> start                       all at once; workers claim operations from the shared counter
 *     <- load-done                 a worker's clients found no more operations to claim
 *   (watch workloads: wait until the expected events arrived, or the drain timeout)
 *   -> finish
 *     <- report                    histograms, errors, CPU; the worker then tears down and exits
 */
import type { SerializedHistogram } from './histogram.js';
import type { WorkloadOptions } from './options.js';

export interface WorkerPlan {
  readonly workerIndex: number;
  readonly workerCount: number;
  readonly options: WorkloadOptions;
  /** Connections this worker owns: connection c belongs to worker c % workerCount. */
  readonly connectionIndices: readonly number[];
  /** Clients (request loops) on this worker's connections: client i uses connection i % conns. */
  readonly clientIndices: readonly number[];
  /** Watch streams on this worker's connections: stream s uses connection s % conns. */
  readonly streamIndices: readonly number[];
  readonly control: SharedArrayBuffer;
  readonly progress: SharedArrayBuffer;
  /** Watch workloads: successful puts per watched key (Int32 per key). */
  readonly putsPerKey: SharedArrayBuffer | undefined;
}

export type MainToWorker = { readonly type: 'start'; readonly startMs: number } | { readonly type: 'finish' };

export interface WorkerReport {
  readonly workerIndex: number;
  readonly operations: number;
  readonly errors: Readonly<Record<string, number>>;
  /** The headline latency (per operation; for watch workloads, put to event). */
  readonly latency: SerializedHistogram;
  /** Named secondary latencies, e.g. read and write of txn-mixed. */
  readonly series: Readonly<Record<string, SerializedHistogram>>;
  readonly counters: Readonly<Record<string, number>>;
  /** Process-wide monotonic ms (clock.nowMs) of the last completed operation or event; 0 if none. */
  readonly lastCompletionMs: number;
  /** CPU the worker thread used between start and finish; undefined off Linux. */
  readonly cpuSeconds: number | undefined;
  /** Share of wall time the worker's event loop was busy (1 = saturated). */
  readonly eventLoopUtilization: number;
  readonly connections: number;
  readonly clients: number;
}

export type WorkerToMain =
  | { readonly type: 'ready' }
  | { readonly type: 'setup-failed'; readonly error: string }
  | { readonly type: 'load-done' }
  | { readonly type: 'report'; readonly report: WorkerReport };

/** Int32 slots of the control buffer. */
export const controlSlot = {
  /** Next operation index to hand out (Atomics.add). */
  claimed: 0,
  /** Non-zero: stop claiming operations (duration over, interrupted, or aborted). */
  stop: 1,
  /** Non-zero: a worker hit an error that makes going on pointless (UNIMPLEMENTED). */
  aborted: 2,
} as const;
export const controlSlotCount = 4;

/** Float64 slots per worker in the progress buffer; each worker writes only its own. */
export const progressSlot = { completed: 0, errors: 1, events: 2 } as const;
export const progressSlotsPerWorker = 4;
