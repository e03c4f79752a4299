/**
 * Entry of a load-generating worker thread; see protocol.ts for the
 * conversation with the main thread. Each worker owns its connections
 * outright (gRPC channels cannot be shared between threads).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { threadCpuSeconds } from './clock.js';
import { errorKey } from './connection.js';
import { LoadContext } from './load-context.js';
import type { MainToWorker, WorkerPlan, WorkerReport, WorkerToMain } from './protocol.js';
import { isWatchWorkload, workloads } from './workloads/index.js';

const port = parentPort;
if (port === null) throw new Error('worker.js runs only as a worker thread');

const plan = workerData as WorkerPlan;
const workload = workloads[plan.options.workload];
const context = new LoadContext(plan);

/** Messages arrive one at a time and are awaited in order; this never holds more than one. */
const inbox: MainToWorker[] = [];
let inboxWaiter: ((message: MainToWorker) => void) | undefined;
port.on('message', (message: MainToWorker) => {
  if (inboxWaiter !== undefined) {
    const waiter = inboxWaiter;
    inboxWaiter = undefined;
    waiter(message);
  } else {
    inbox.push(message);
  }
});

function nextMessage(): Promise<MainToWorker> {
  const queued = inbox.shift();
  if (queued !== undefined) return Promise.resolve(queued);
  return new Promise((resolve) => (inboxWaiter = resolve));
}

/** This worker's part of the warm-up: its share of the clients' share of --warmup. */
function warmupShare(plan: WorkerPlan): number {
  const { warmupOps, clients, workload: name } = plan.options;
  if (warmupOps === 0 || isWatchWorkload(name)) return 0;
  return Math.ceil((warmupOps * plan.clientIndices.length) / clients);
}

function post(message: WorkerToMain): void {
  port!.postMessage(message);
}

async function run(): Promise<void> {
  try {
    await Promise.all(context.connections.map((connection) => connection.waitForReady(plan.options.requestTimeoutMs)));
    await workload.setup?.(context);
    const warmupOps = warmupShare(plan);
    if (warmupOps > 0) {
      context.beginWarmup(warmupOps);
      await Promise.all(plan.clientIndices.map((clientIndex) => workload.runClient(context, clientIndex)));
      context.endWarmup();
    }
  } catch (error) {
    post({ type: 'setup-failed', error: errorKey(error) });
    await workload.teardown?.(context).catch(() => undefined);
    context.close();
    port!.close();
    return;
  }
  post({ type: 'ready' });

  const start = await nextMessage();
  if (start.type !== 'start') throw new Error(`worker ${plan.workerIndex}: expected start, got ${start.type}`);
  context.startMs = start.startMs;
  const cpuStartSeconds = threadCpuSeconds();
  const eventLoopStart = performance.eventLoopUtilization();

  await Promise.all(plan.clientIndices.map((clientIndex) => workload.runClient(context, clientIndex)));
  post({ type: 'load-done' });

  const finish = await nextMessage();
  if (finish.type !== 'finish') throw new Error(`worker ${plan.workerIndex}: expected finish, got ${finish.type}`);
  const cpuEndSeconds = threadCpuSeconds();
  const report: WorkerReport = {
    workerIndex: plan.workerIndex,
    operations: context.operations,
    errors: Object.fromEntries(context.errors),
    latency: context.latency.serialize(),
    series: Object.fromEntries([...context.allSeries].map(([name, histogram]) => [name, histogram.serialize()])),
    counters: { ...context.counters, eventsDelivered: context.eventsDelivered },
    lastCompletionMs: context.lastCompletionMs,
    cpuSeconds: cpuStartSeconds !== undefined && cpuEndSeconds !== undefined ? cpuEndSeconds - cpuStartSeconds : undefined,
    eventLoopUtilization: performance.eventLoopUtilization(eventLoopStart).utilization,
    connections: plan.connectionIndices.length,
    clients: plan.clientIndices.length,
  };
  post({ type: 'report', report });

  await workload.teardown?.(context).catch(() => undefined);
  context.close();
  port!.close();
}

run().catch((error: unknown) => {
  // An unexpected failure: let the main thread's 'error' handler see it.
  setImmediate(() => {
    throw error;
  });
});
