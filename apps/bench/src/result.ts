/**
 * The result of one benchmark run: what --json prints and what compare
 * tabulates.
 */
import type { LatencySummary } from './histogram.js';
import type { WorkloadName, WorkloadOptions } from './options.js';

export interface WorkerUsage {
  readonly workerIndex: number;
  readonly connections: number;
  readonly clients: number;
  /** Operations this worker completed successfully (for watch workloads: puts). */
  readonly operations: number;
  /** CPU seconds of the worker thread from start to finish; undefined off Linux. */
  readonly cpuSeconds: number | undefined;
  /** cpuSeconds / elapsed: 1 means the thread had a whole core and may be the bottleneck. */
  readonly cpuUtilization: number | undefined;
  /** Share of time the worker's event loop was busy. */
  readonly eventLoopUtilization: number;
}

export interface GeneratorUsage {
  readonly workers: readonly WorkerUsage[];
  /** CPU of the whole generator process (every thread, GC helpers included) during the run. */
  readonly processCpuSeconds: number;
  /** processCpuSeconds / elapsed: cores the generator kept busy. */
  readonly processCpuCores: number;
  /** CPU of the main thread (orchestration and progress only); undefined off Linux. */
  readonly mainThreadCpuSeconds: number | undefined;
}

export interface BenchResult {
  readonly workload: WorkloadName;
  /** e.g. "put 10 conns/100 clients". */
  readonly label: string;
  readonly options: WorkloadOptions;
  /** False when the run could not do its job: setup failed, the server lacks the service, or nothing succeeded. */
  readonly ok: boolean;
  /** Why ok is false, e.g. "UNIMPLEMENTED: unknown service etcdserverpb.Lease". */
  readonly failure: string | undefined;
  /** Successful operations; for watch workloads, events delivered. */
  readonly operations: number;
  readonly errorCount: number;
  /** Failed operations by "<gRPC code>: <message>", most frequent first. */
  readonly errors: ReadonlyArray<{ readonly error: string; readonly count: number }>;
  readonly elapsedSeconds: number;
  readonly opsPerSecond: number;
  /** Per operation; for watch workloads, from sending a put to a watcher receiving its event. */
  readonly latencyMs: LatencySummary;
  /** Coarse histogram rows: operations with latency up to upToMs (and above the previous row). */
  readonly latencyHistogramMs: ReadonlyArray<{ readonly upToMs: number; readonly count: number }>;
  /** Secondary latencies: read/write (txn-mixed), grant/revoke (lease-grant), put (watch). */
  readonly seriesLatencyMs: Readonly<Record<string, LatencySummary>>;
  readonly counters: Readonly<Record<string, number>>;
  /** The store's revision before and after the run (undefined if it could not be read). */
  readonly serverRevisionBefore: number | undefined;
  readonly serverRevisionAfter: number | undefined;
  readonly generator: GeneratorUsage;
}
