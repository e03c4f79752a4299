/**
 * `compare`: the same workload suite against a fresh real etcd and a fresh
 * Holdfast, one server after the other (never both at once), and one table
 * of the results. The suite mirrors the measurements of real etcd in
 * ../shared/REFERENCE.md (8-byte keys, 256-byte values).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowMs, sleepMs } from './clock.js';
import { Connection, serverStatus } from './connection.js';
import { describeMachine, type MachineDescription } from './machine.js';
import { resolveOptions, type WorkloadName, type WorkloadOptions } from './options.js';
import { formatMs, formatNumber } from './report.js';
import type { BenchResult } from './result.js';
import { failedResult, labelFor, runWorkload } from './run-workload.js';
import {
  binaryVersion,
  planLaunch,
  processTreeCpuSeconds,
  serverDataDir,
  spawnServer,
  waitUntilServing,
  type RunningServer,
  type ServerBinaries,
  type ServerKind,
} from './servers.js';
import type { TransportName } from './transport.js';

export interface SuiteEntry {
  readonly id: string;
  readonly title: string;
  /** Real etcd 3.4.23 on the project's machine with the Go benchmark tool (REFERENCE.md). */
  readonly referenceOpsPerSecond?: number;
  readonly options: Partial<WorkloadOptions> & { readonly workload: WorkloadName };
  readonly fullTotal: number;
  readonly quickTotal: number;
}

const kvSizes = { keySizeBytes: 8, valueSizeBytes: 256 } as const;
/** Distinct keys for the put workloads: writes land on new and existing keys as in a growing store. */
const putKeySpace = 100_000;

export const suite: readonly SuiteEntry[] = [
  { id: 'put-1', title: 'put', referenceOpsPerSecond: 1_300, options: { workload: 'put', conns: 1, clients: 1, keySpace: putKeySpace, sequentialKeys: true }, fullTotal: 10_000, quickTotal: 500 },
  { id: 'put-100', title: 'put', referenceOpsPerSecond: 12_200, options: { workload: 'put', conns: 10, clients: 100, keySpace: putKeySpace, sequentialKeys: true }, fullTotal: 100_000, quickTotal: 3_000 },
  { id: 'put-1000', title: 'put', referenceOpsPerSecond: 18_650, options: { workload: 'put', conns: 100, clients: 1000, keySpace: putKeySpace, sequentialKeys: true }, fullTotal: 100_000, quickTotal: 5_000 },
  { id: 'txn-put', title: 'txn (compare + put)', referenceOpsPerSecond: 6_400, options: { workload: 'txn-put', conns: 10, clients: 100, keySpace: putKeySpace, txnCompare: true }, fullTotal: 50_000, quickTotal: 2_000 },
  { id: 'range-l-1', title: 'range linearizable', referenceOpsPerSecond: 1_700, options: { workload: 'range', conns: 1, clients: 1, consistency: 'l' }, fullTotal: 10_000, quickTotal: 500 },
  { id: 'range-s-1', title: 'range serializable', referenceOpsPerSecond: 2_000, options: { workload: 'range', conns: 1, clients: 1, consistency: 's' }, fullTotal: 10_000, quickTotal: 500 },
  { id: 'range-l-1000', title: 'range linearizable', referenceOpsPerSecond: 6_700, options: { workload: 'range', conns: 100, clients: 1000, consistency: 'l' }, fullTotal: 100_000, quickTotal: 5_000 },
  { id: 'range-s-1000', title: 'range serializable', referenceOpsPerSecond: 8_400, options: { workload: 'range', conns: 100, clients: 1000, consistency: 's' }, fullTotal: 100_000, quickTotal: 5_000 },
  { id: 'lease-keepalive', title: 'lease keepalive', referenceOpsPerSecond: 18_300, options: { workload: 'lease-keepalive', conns: 10, clients: 100 }, fullTotal: 100_000, quickTotal: 3_000 },
  {
    id: 'watch',
    title: 'watch fan-out (events/s)',
    // 1,000 watchers on 100 streams, 100 per key; 10 writers.
    options: { workload: 'watch', conns: 10, clients: 10, streams: 100, watchersPerStream: 10, watchedKeys: 10 },
    fullTotal: 10_000,
    quickTotal: 300,
  },
  { id: 'stm', title: 'stm (read-modify-write txn)', options: { workload: 'stm', conns: 10, clients: 100, stmKeys: 10_000, stmKeysPerTxn: 2, stmWritePercent: 50 }, fullTotal: 20_000, quickTotal: 500 },
];

/** A full run's workloads stop after this long even if their total is not reached. */
const fullDurationCapSeconds = 30;
const quickDurationCapSeconds = 5;
/**
 * Each workload first runs a tenth of its total, unmeasured: every workload
 * starts fresh worker threads whose JIT is cold, and a cold generator would
 * be measured instead of the server.
 */
const warmupShareOfTotal = 0.1;
const warmupOpsMax = 5_000;
/** Pause between workloads, so that one's background work (fsync, GC) settles before the next. */
const settleBetweenWorkloadsMs = 500;

export interface CompareSettings {
  readonly quick: boolean;
  readonly servers: readonly ServerKind[];
  readonly binaries: ServerBinaries;
  readonly entryIds: readonly string[] | undefined;
  readonly transport: TransportName;
  readonly quiet: boolean;
  readonly keepData: boolean;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
}

export interface ServerRun {
  readonly result: BenchResult;
  /** Cores the server process tree used while the workload ran. */
  readonly serverCpuCores: number | undefined;
}

export interface CompareRow {
  readonly entry: SuiteEntry;
  readonly runs: Partial<Record<ServerKind, ServerRun>>;
}

export interface ServerFacts {
  readonly binaryVersion: string;
  /** What Maintenance.Status reports as the server version. */
  readonly statusVersion: string | undefined;
}

export interface CompareReport {
  readonly mode: 'full' | 'quick';
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: MachineDescription;
  readonly servers: Partial<Record<ServerKind, ServerFacts>>;
  readonly transport: TransportName;
  readonly rows: readonly CompareRow[];
  readonly notes: readonly string[];
}

export function suiteOptions(entry: SuiteEntry, quick: boolean, endpoint: string, settings: Pick<CompareSettings, 'transport' | 'quiet'>): WorkloadOptions {
  return resolveOptions(entry.options.workload, {
    ...kvSizes,
    ...entry.options,
    endpoints: [endpoint],
    total: quick ? entry.quickTotal : entry.fullTotal,
    durationSeconds: quick ? quickDurationCapSeconds : fullDurationCapSeconds,
    warmupOps: Math.min(warmupOpsMax, Math.ceil((quick ? entry.quickTotal : entry.fullTotal) * warmupShareOfTotal)),
    transport: settings.transport,
    quiet: settings.quiet,
  });
}

async function statusVersion(endpoint: string): Promise<string | undefined> {
  const connection = new Connection(-1, endpoint);
  try {
    return (await serverStatus(connection, 5000)).version;
  } catch {
    return undefined;
  } finally {
    connection.close();
  }
}

export const serverTitles: Record<ServerKind, string> = { etcd: 'etcd', holdfast: 'Holdfast' };

export async function runComparison(settings: CompareSettings): Promise<CompareReport> {
  const startedAtMs = Date.now();
  const entries = settings.entryIds === undefined ? suite : suite.filter((entry) => settings.entryIds!.includes(entry.id));
  if (entries.length === 0) throw new Error(`no suite entry matches; ids are ${suite.map((entry) => entry.id).join(', ')}`);
  const root = mkdtempSync(join(tmpdir(), 'holdfast-bench-'));
  const machine = await describeMachine(root);
  const rows: CompareRow[] = entries.map((entry) => ({ entry, runs: {} }));
  const servers: Partial<Record<ServerKind, ServerFacts>> = {};
  const notes: string[] = [];
  try {
    for (const kind of settings.servers) {
      if (settings.signal?.aborted) break;
      const launch = await planLaunch(kind, serverDataDir(root, kind));
      settings.log(`starting a fresh ${serverTitles[kind]} (data in ${launch.dataDir})`);
      const server = spawnServer(launch, settings.binaries);
      try {
        await waitUntilServing(server);
        servers[kind] = { binaryVersion: await binaryVersion(kind, settings.binaries), statusVersion: await statusVersion(server.endpoint) };
        for (const row of rows) {
          if (settings.signal?.aborted) break;
          const options = suiteOptions(row.entry, settings.quick, server.endpoint, settings);
          const run = await runOnServer(server, options, `[${serverTitles[kind]}] ${labelFor(options)}`, settings.signal);
          row.runs[kind] = run;
          settings.log(`${serverTitles[kind].padEnd(8)} ${`${row.entry.title} ${options.conns}/${options.clients}`.padEnd(36)} ${describeRun(run)}`);
          await sleepMs(settleBetweenWorkloadsMs);
        }
      } finally {
        await server.stop();
        if (!settings.keepData) rmSync(launch.dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    if (!settings.keepData) rmSync(root, { recursive: true, force: true });
    else notes.push(`data directories kept in ${root}`);
  }
  return {
    mode: settings.quick ? 'quick' : 'full',
    startedAt: new Date(startedAtMs).toISOString(),
    durationSeconds: (Date.now() - startedAtMs) / 1000,
    machine,
    servers,
    transport: settings.transport,
    rows,
    notes,
  };
}

async function runOnServer(server: RunningServer, options: WorkloadOptions, progressLabel: string, signal: AbortSignal | undefined): Promise<ServerRun> {
  if (!server.running) return { result: failedResult(options, labelFor(options), `server exited (${String(server.process.exitCode ?? server.process.signalCode)})`), serverCpuCores: undefined };
  // The server's CPU over the measured run only: not setup, warm-up or teardown.
  let cpuAtStart: { seconds: number | undefined; ms: number } | undefined;
  let cpuAtEnd: { seconds: number | undefined; ms: number } | undefined;
  const sample = (): { seconds: number | undefined; ms: number } => ({ seconds: processTreeCpuSeconds(server.pid), ms: nowMs() });
  let result: BenchResult;
  try {
    result = await runWorkload(options, { progressLabel, signal, onMeasureStart: () => (cpuAtStart = sample()), onMeasureEnd: () => (cpuAtEnd = sample()) });
  } catch (error) {
    result = failedResult(options, labelFor(options), error instanceof Error ? error.message : String(error));
  }
  const serverCpuCores =
    cpuAtStart?.seconds !== undefined && cpuAtEnd?.seconds !== undefined && cpuAtEnd.ms > cpuAtStart.ms ? (cpuAtEnd.seconds - cpuAtStart.seconds) / ((cpuAtEnd.ms - cpuAtStart.ms) / 1000) : undefined;
  return { result, serverCpuCores };
}

function describeRun(run: ServerRun): string {
  const result = run.result;
  if (!result.ok) return `error: ${result.failure ?? ''}`;
  const errors = result.errorCount > 0 ? `, ${formatNumber(result.errorCount)} errors` : '';
  return `${formatNumber(result.opsPerSecond).padStart(8)} ops/s  p99 ${formatMs(result.latencyMs.p99Ms)} ms${errors}`;
}

/** A short cell for a failed run: the error, cut to fit a table. */
const errorCellCharsMax = 60;
function errorCell(result: BenchResult): string {
  const text = (result.failure ?? 'failed').replaceAll('|', '\\|').replaceAll('\n', ' ');
  return `error: ${text.length > errorCellCharsMax ? `${text.slice(0, errorCellCharsMax - 1)}…` : text}`;
}

function opsCell(run: ServerRun | undefined): string {
  if (run === undefined) return 'not run';
  if (!run.result.ok) return errorCell(run.result);
  const errors = run.result.errorCount > 0 ? ` (${formatNumber(run.result.errorCount)} errors)` : '';
  return `${formatNumber(run.result.opsPerSecond)}${errors}`;
}

function p99Cell(run: ServerRun | undefined): string {
  return run === undefined || !run.result.ok ? '—' : formatMs(run.result.latencyMs.p99Ms);
}

function ratioCell(etcd: ServerRun | undefined, holdfast: ServerRun | undefined): string {
  if (etcd === undefined || holdfast === undefined || !etcd.result.ok || !holdfast.result.ok || etcd.result.opsPerSecond === 0) return '—';
  return (holdfast.result.opsPerSecond / etcd.result.opsPerSecond).toFixed(2);
}

function cpuCell(value: number | undefined): string {
  return value === undefined ? '—' : value.toFixed(2);
}

export function resultsTable(rows: readonly CompareRow[]): string {
  const lines = [
    '| workload | conns/clients | etcd ops/s | Holdfast ops/s | Holdfast/etcd | etcd p99 ms | Holdfast p99 ms | REFERENCE.md etcd ops/s |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const { etcd, holdfast } = row.runs;
    const options = (etcd ?? holdfast)?.result.options;
    const connsClients = options === undefined ? `${row.entry.options.conns ?? 1}/${row.entry.options.clients ?? 1}` : `${options.conns}/${options.clients}`;
    const reference = row.entry.referenceOpsPerSecond === undefined ? '—' : formatNumber(row.entry.referenceOpsPerSecond);
    lines.push(`| ${row.entry.title} | ${connsClients} | ${opsCell(etcd)} | ${opsCell(holdfast)} | ${ratioCell(etcd, holdfast)} | ${p99Cell(etcd)} | ${p99Cell(holdfast)} | ${reference} |`);
  }
  return lines.join('\n');
}

export function cpuTable(rows: readonly CompareRow[]): string {
  const lines = [
    '| workload | conns/clients | etcd server cores | generator cores (etcd run) | Holdfast server cores | generator cores (Holdfast run) |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const { etcd, holdfast } = row.runs;
    const options = (etcd ?? holdfast)?.result.options;
    const connsClients = options === undefined ? '' : `${options.conns}/${options.clients}`;
    const generator = (run: ServerRun | undefined): string => cpuCell(run?.result.ok ? run.result.generator.processCpuCores : undefined);
    lines.push(`| ${row.entry.title} | ${connsClients} | ${cpuCell(etcd?.serverCpuCores)} | ${generator(etcd)} | ${cpuCell(holdfast?.serverCpuCores)} | ${generator(holdfast)} |`);
  }
  return lines.join('\n');
}

export function describeMachineLine(machine: MachineDescription): string {
  return `${machine.cores} cores (${machine.cpuModel}), ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB memory, ${machine.kernel}, Node ${machine.nodeVersion}; data directories on ${machine.disk}`;
}

export function describeServers(servers: Partial<Record<ServerKind, ServerFacts>>): string {
  const parts = (Object.keys(servers) as ServerKind[]).map((kind) => {
    const facts = servers[kind]!;
    const status = facts.statusVersion === undefined ? '' : `, Status reports ${facts.statusVersion}`;
    return `${serverTitles[kind]}: ${facts.binaryVersion}${status}`;
  });
  return parts.join('; ');
}

/** The generated section of docs/BENCHMARKS.md (and what compare prints). */
export function reportMarkdown(report: CompareReport): string {
  const generatorWorkers = new Set<number>();
  for (const row of report.rows) for (const run of Object.values(row.runs)) if (run?.result.ok) generatorWorkers.add(run.result.generator.workers.length);
  const lines = [
    '## Results',
    '',
    `Generated by \`holdfast-bench compare${report.mode === 'quick' ? ' --quick' : ''}\` on ${report.startedAt} (${report.mode} run, ${report.durationSeconds.toFixed(0)} s). Rerun instead of editing.`,
    '',
    `- Machine: ${describeMachineLine(report.machine)}.`,
    `- Servers: ${describeServers(report.servers)}. Each a single node with default snapshot count and quota, a fresh data directory, started one after the other (never both at once); each server runs the whole suite in the order below.`,
    `- Load generator: holdfast-bench on the same machine, ${report.transport} transport, worker threads = min(conns, cores); 8-byte keys, 256-byte values; each workload first runs 10% of its total (at most ${formatNumber(warmupOpsMax)}) unmeasured, then runs to its total or ${report.mode === 'quick' ? quickDurationCapSeconds : fullDurationCapSeconds} s, whichever comes first.`,
    '- watch fan-out: 1,000 watchers (100 streams x 10) on 10 keys, 10 writers; ops/s are events delivered per second and p99 is from sending a put to a watcher receiving the event.',
    '- REFERENCE.md etcd ops/s: real etcd measured with the official Go benchmark tool on this machine type, for scale; the load generator differs, so compare the etcd and Holdfast columns with each other.',
    ...report.notes.map((note) => `- ${note}`),
    '',
    resultsTable(report.rows),
    '',
    '### CPU during each workload',
    '',
    'Cores used while the workload ran (CPU seconds / elapsed seconds) by the server process tree and by the load generator process (all its threads). With the generator and the server sharing the machine, their sum near the core count means the machine, not the server alone, was the limit.',
    '',
    cpuTable(report.rows),
  ];
  return lines.join('\n');
}
