/**
 * Runs one workload: splits connections and clients over worker threads,
 * starts them together, shows progress, and merges what they report. See
 * protocol.ts for the conversation with the workers.
 */
import { Worker } from 'node:worker_threads';
import { nowMs, sleepMs, threadCpuSeconds } from './clock.js';
import { Connection, errorKey, range } from './connection.js';
import { LatencyHistogram } from './histogram.js';
import { workerCountFor, type WorkloadOptions } from './options.js';
import { ProgressBar, progressRedrawIntervalMs } from './progress.js';
import { controlSlot, controlSlotCount, progressSlot, progressSlotsPerWorker, type MainToWorker, type WorkerPlan, type WorkerReport, type WorkerToMain } from './protocol.js';
import type { BenchResult, WorkerUsage } from './result.js';
import { isWatchWorkload } from './workloads/index.js';
import { prefillRangeKey, rangeRequest } from './workloads/kv.js';
import { watchersPerKey } from './workloads/watch.js';

export interface RunHooks {
  /** Aborting stops the run early; the result covers what completed. */
  readonly signal?: AbortSignal;
  /** Shown before the progress bar; defaults to the workload's label. */
  readonly progressLabel?: string;
  /** Called just before the measured run starts (after setup and warm-up), e.g. to read a server's CPU. */
  readonly onMeasureStart?: () => void;
  /** Called when the measured run is over (for watch workloads, after the drain). */
  readonly onMeasureEnd?: () => void;
}

/** How long a worker may take to tear down (revoke leases, close streams) before it is terminated. */
const workerExitTimeoutMs = 10_000;
/** How often the main thread checks whether a watch run's events have all arrived. */
const drainPollIntervalMs = 20;
const workerScript = new URL('./worker.js', import.meta.url);

export function labelFor(options: WorkloadOptions): string {
  const details: string[] = [];
  if (options.workload === 'range') details.push(options.consistency === 's' ? 'serializable' : 'linearizable');
  if (options.workload === 'txn-put' && options.txnCompare) details.push('compare+put');
  if (options.workload === 'txn-mixed') details.push(`rw-ratio ${options.readWriteRatio}`);
  if (isWatchWorkload(options.workload)) details.push(`${options.streams * options.watchersPerStream} watchers on ${options.watchedKeys} keys`);
  const extra = details.length > 0 ? ` ${details.join(', ')}` : '';
  return `${options.workload}${extra} ${options.conns}/${options.clients}`;
}

/** Connection c to worker c % W; client i and stream s follow their connection (i % conns). */
export function assignToWorkers(options: WorkloadOptions, workerCount: number): Array<{ connections: number[]; clients: number[]; streams: number[] }> {
  const plans = Array.from({ length: workerCount }, () => ({ connections: [] as number[], clients: [] as number[], streams: [] as number[] }));
  for (let c = 0; c < options.conns; c++) plans[c % workerCount]!.connections.push(c);
  for (let i = 0; i < options.clients; i++) plans[(i % options.conns) % workerCount]!.clients.push(i);
  if (isWatchWorkload(options.workload)) {
    for (let s = 0; s < options.streams; s++) plans[(s % options.conns) % workerCount]!.streams.push(s);
  }
  return plans;
}

async function readRevision(connection: Connection, options: WorkloadOptions): Promise<number | undefined> {
  try {
    const response = await range(connection, rangeRequest(Buffer.from(options.rangeKey), { serializable: false, countOnly: true }), options.requestTimeoutMs);
    return response.header === undefined ? undefined : Number(response.header.revision);
  } catch {
    return undefined;
  }
}

class RunningWorker {
  readonly worker: Worker;
  private readonly waiters: Array<{ type: WorkerToMain['type']; resolve: (message: WorkerToMain) => void }> = [];
  /** Messages not yet awaited; a worker sends at most four in a run. */
  private readonly mailbox: WorkerToMain[] = [];
  private failure: Error | undefined;
  readonly exited: Promise<void>;

  constructor(plan: WorkerPlan) {
    this.worker = new Worker(workerScript, { workerData: plan });
    this.worker.on('message', (message: WorkerToMain) => {
      const index = this.waiters.findIndex((waiter) => waiter.type === message.type || message.type === 'setup-failed');
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message);
      else this.mailbox.push(message);
    });
    this.worker.on('error', (error) => {
      this.failure = error;
      for (const waiter of this.waiters.splice(0)) waiter.resolve({ type: 'setup-failed', error: `worker ${plan.workerIndex} crashed: ${error.stack ?? error.message}` });
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
  }

  /** The next message of `type` (or a setup failure, which can answer any wait). */
  next(type: WorkerToMain['type']): Promise<WorkerToMain> {
    if (this.failure !== undefined) return Promise.resolve({ type: 'setup-failed', error: `worker crashed: ${this.failure.message}` });
    const index = this.mailbox.findIndex((message) => message.type === type || message.type === 'setup-failed');
    if (index >= 0) return Promise.resolve(this.mailbox.splice(index, 1)[0]!);
    return new Promise((resolve) => this.waiters.push({ type, resolve }));
  }

  send(message: MainToWorker): void {
    this.worker.postMessage(message);
  }

  async stop(): Promise<void> {
    const timer = setTimeout(() => void this.worker.terminate(), workerExitTimeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function runWorkload(options: WorkloadOptions, hooks: RunHooks = {}): Promise<BenchResult> {
  const label = labelFor(options);
  const workerCount = workerCountFor(options);
  const control = new SharedArrayBuffer(controlSlotCount * Int32Array.BYTES_PER_ELEMENT);
  const progress = new SharedArrayBuffer(workerCount * progressSlotsPerWorker * Float64Array.BYTES_PER_ELEMENT);
  const watch = isWatchWorkload(options.workload);
  const putsPerKey = watch ? new SharedArrayBuffer(options.watchedKeys * Int32Array.BYTES_PER_ELEMENT) : undefined;
  const controlView = new Int32Array(control);
  const progressView = new Float64Array(progress);
  const stop = (): void => void Atomics.store(controlView, controlSlot.stop, 1);

  // A connection of the main thread's own, for preparation and revision readings only.
  const probe = new Connection(-1, options.endpoints[0]!, options.transport);
  const workers: RunningWorker[] = [];
  const bar = new ProgressBar(hooks.progressLabel ?? label, options.quiet);
  let progressTimer: NodeJS.Timeout | undefined;
  let durationTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => stop();
  hooks.signal?.addEventListener('abort', onAbort);
  try {
    try {
      await probe.waitForReady(options.requestTimeoutMs);
      if (options.workload === 'range') await prefillRangeKey(probe, options);
    } catch (error) {
      return failedResult(options, label, `cannot prepare: ${errorKey(error)}`);
    }
    const serverRevisionBefore = await readRevision(probe, options);

    const assignments = assignToWorkers(options, workerCount);
    assignments.forEach((assignment, workerIndex) => {
      const plan: WorkerPlan = {
        workerIndex,
        workerCount,
        options,
        connectionIndices: assignment.connections,
        clientIndices: assignment.clients,
        streamIndices: assignment.streams,
        control,
        progress,
        putsPerKey,
      };
      workers.push(new RunningWorker(plan));
    });

    const readiness = await Promise.all(workers.map((worker) => worker.next('ready')));
    const setupFailure = readiness.find((message) => message.type === 'setup-failed');
    if (setupFailure !== undefined && setupFailure.type === 'setup-failed') {
      stop();
      await Promise.all(workers.map((worker) => worker.worker.terminate()));
      return failedResult(options, label, setupFailure.error);
    }

    hooks.onMeasureStart?.();
    const cpuAtStart = process.cpuUsage();
    const mainCpuAtStartSeconds = threadCpuSeconds();
    const startMs = nowMs();
    for (const worker of workers) worker.send({ type: 'start', startMs });
    if (options.durationSeconds !== undefined) durationTimer = setTimeout(stop, options.durationSeconds * 1000);

    const totals = (): { completed: number; errors: number; events: number } => {
      let completed = 0;
      let errors = 0;
      let events = 0;
      for (let w = 0; w < workerCount; w++) {
        completed += progressView[w * progressSlotsPerWorker + progressSlot.completed] ?? 0;
        errors += progressView[w * progressSlotsPerWorker + progressSlot.errors] ?? 0;
        events += progressView[w * progressSlotsPerWorker + progressSlot.events] ?? 0;
      }
      return { completed, errors, events };
    };
    let note: string | undefined;
    const drawProgress = (): void => {
      const { completed, errors, events } = totals();
      const elapsedSeconds = (nowMs() - startMs) / 1000;
      const byCount = options.total !== undefined ? (completed + errors) / options.total : 0;
      const byTime = options.durationSeconds !== undefined ? elapsedSeconds / options.durationSeconds : 0;
      bar.update({ fraction: Math.max(byCount, byTime), operations: watch ? events : completed, errors, elapsedSeconds, note: watch ? `(${completed} puts)${note ?? ''}` : note });
    };
    progressTimer = setInterval(drawProgress, progressRedrawIntervalMs);

    const loadDone = await Promise.all(workers.map((worker) => worker.next('load-done')));
    const crashed = loadDone.find((message) => message.type === 'setup-failed');
    if (crashed !== undefined && crashed.type === 'setup-failed') throw new Error(crashed.error);
    const loadDoneMs = nowMs();

    const extraErrors = new Map<string, number>();
    const watchCounters: Record<string, number> = {};
    if (watch) {
      const watcherCount = options.streams * options.watchersPerStream;
      const perKey = watchersPerKey(watcherCount, options.watchedKeys);
      const puts = new Int32Array(putsPerKey!);
      let expected = 0;
      perKey.forEach((watchers, k) => (expected += watchers * Atomics.load(puts, k)));
      const drainDeadlineMs = nowMs() + options.watchDrainTimeoutSeconds * 1000;
      note = ', waiting for events';
      while (totals().events < expected && nowMs() < drainDeadlineMs && Atomics.load(controlView, controlSlot.aborted) === 0 && hooks.signal?.aborted !== true) {
        await sleepMs(drainPollIntervalMs);
      }
      const missing = expected - totals().events;
      if (missing > 0) extraErrors.set(`watch: events not delivered within ${options.watchDrainTimeoutSeconds} s of the last put`, missing);
      watchCounters.watchers = watcherCount;
      watchCounters.eventsExpected = expected;
    }

    hooks.onMeasureEnd?.();
    for (const worker of workers) worker.send({ type: 'finish' });
    const reports: WorkerReport[] = [];
    for (const worker of workers) {
      const message = await worker.next('report');
      if (message.type !== 'report') throw new Error(message.type === 'setup-failed' ? message.error : `unexpected ${message.type}`);
      reports.push(message.report);
    }
    const cpuUsed = process.cpuUsage(cpuAtStart);
    const mainCpuAtEndSeconds = threadCpuSeconds();
    clearInterval(progressTimer);
    progressTimer = undefined;
    bar.finish();
    await Promise.all(workers.map((worker) => worker.stop()));

    const serverRevisionAfter = await readRevision(probe, options);
    const aborted = Atomics.load(controlView, controlSlot.aborted) !== 0;
    return mergeReports({
      options,
      label,
      reports,
      startMs,
      loadDoneMs,
      extraErrors,
      watchCounters,
      aborted,
      processCpuSeconds: (cpuUsed.user + cpuUsed.system) / 1e6,
      mainCpuSeconds: mainCpuAtStartSeconds !== undefined && mainCpuAtEndSeconds !== undefined ? mainCpuAtEndSeconds - mainCpuAtStartSeconds : undefined,
      serverRevisionBefore,
      serverRevisionAfter,
    });
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    if (progressTimer !== undefined) clearInterval(progressTimer);
    if (durationTimer !== undefined) clearTimeout(durationTimer);
    bar.finish();
    stop();
    await Promise.all(workers.map((worker) => worker.stop()));
    probe.close();
  }
}

interface MergeInput {
  readonly options: WorkloadOptions;
  readonly label: string;
  readonly reports: readonly WorkerReport[];
  readonly startMs: number;
  readonly loadDoneMs: number;
  readonly extraErrors: ReadonlyMap<string, number>;
  readonly watchCounters: Readonly<Record<string, number>>;
  readonly aborted: boolean;
  readonly processCpuSeconds: number;
  readonly mainCpuSeconds: number | undefined;
  readonly serverRevisionBefore: number | undefined;
  readonly serverRevisionAfter: number | undefined;
}

export function mergeReports(input: MergeInput): BenchResult {
  const { options, reports } = input;
  const latency = new LatencyHistogram();
  const series = new Map<string, LatencyHistogram>();
  const errors = new Map<string, number>(input.extraErrors);
  const counters: Record<string, number> = { ...input.watchCounters };
  let operations = 0;
  let lastCompletionMs = 0;
  for (const report of reports) {
    latency.merge(report.latency);
    for (const [name, serialized] of Object.entries(report.series)) {
      let histogram = series.get(name);
      if (histogram === undefined) series.set(name, (histogram = new LatencyHistogram()));
      histogram.merge(serialized);
    }
    for (const [error, count] of Object.entries(report.errors)) errors.set(error, (errors.get(error) ?? 0) + count);
    for (const [name, value] of Object.entries(report.counters)) counters[name] = (counters[name] ?? 0) + value;
    operations += report.operations;
    lastCompletionMs = Math.max(lastCompletionMs, report.lastCompletionMs);
  }
  const watch = isWatchWorkload(options.workload);
  if (watch) {
    counters.puts = operations;
    operations = counters.eventsDelivered ?? 0;
  } else {
    delete counters.eventsDelivered;
  }
  const endMs = lastCompletionMs > 0 ? lastCompletionMs : input.loadDoneMs;
  const elapsedSeconds = Math.max(1e-6, (endMs - input.startMs) / 1000);
  const errorList = [...errors].map(([error, count]) => ({ error, count })).sort((a, b) => b.count - a.count);
  const errorCount = errorList.reduce((sum, entry) => sum + entry.count, 0);
  const topError = errorList[0]?.error;
  const failure = input.aborted ? (topError ?? 'aborted') : operations === 0 ? (topError ?? 'no operation completed') : undefined;
  // Worker CPU is measured from start to finish, which for watch runs includes the drain.
  const workerWallSeconds = Math.max(1e-6, (Math.max(endMs, input.loadDoneMs) - input.startMs) / 1000);
  const workers: WorkerUsage[] = reports.map((report) => ({
    workerIndex: report.workerIndex,
    connections: report.connections,
    clients: report.clients,
    operations: report.operations,
    cpuSeconds: report.cpuSeconds,
    cpuUtilization: report.cpuSeconds === undefined ? undefined : report.cpuSeconds / workerWallSeconds,
    eventLoopUtilization: report.eventLoopUtilization,
  }));
  return {
    workload: options.workload,
    label: input.label,
    options,
    ok: failure === undefined,
    failure,
    operations,
    errorCount,
    errors: errorList,
    elapsedSeconds,
    opsPerSecond: operations / elapsedSeconds,
    latencyMs: latency.summary(),
    latencyHistogramMs: latency.coarseRows(10),
    seriesLatencyMs: Object.fromEntries([...series].map(([name, histogram]) => [name, histogram.summary()])),
    counters,
    serverRevisionBefore: input.serverRevisionBefore,
    serverRevisionAfter: input.serverRevisionAfter,
    generator: { workers, processCpuSeconds: input.processCpuSeconds, processCpuCores: input.processCpuSeconds / workerWallSeconds, mainThreadCpuSeconds: input.mainCpuSeconds },
  };
}

export function failedResult(options: WorkloadOptions, label: string, failure: string): BenchResult {
  const empty = new LatencyHistogram();
  return {
    workload: options.workload,
    label,
    options,
    ok: false,
    failure,
    operations: 0,
    errorCount: 0,
    errors: [{ error: failure, count: 1 }],
    elapsedSeconds: 0,
    opsPerSecond: 0,
    latencyMs: empty.summary(),
    latencyHistogramMs: [],
    seriesLatencyMs: {},
    counters: {},
    serverRevisionBefore: undefined,
    serverRevisionAfter: undefined,
    generator: { workers: [], processCpuSeconds: 0, processCpuCores: 0, mainThreadCpuSeconds: undefined },
  };
}
