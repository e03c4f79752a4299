/**
 * `compare --recovery`: memory, disk and restart time with many keys. For
 * each server: load N keys of 256-byte values (txns of 100 puts, through
 * the txn-put workload on worker threads), read the server's RSS
 * (/proc/<pid>/status VmRSS, whole process tree) and the data directory's
 * size (du), stop it with SIGTERM, start it again on the same data, and time
 * from spawn until a linearizable Range answers, checking it counts all N
 * keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowMs, sleepMs } from './clock.js';
import { serverTitles, describeMachineLine, describeServers, type ServerFacts } from './compare.js';
import { describeMachine, type MachineDescription } from './machine.js';
import { resolveOptions } from './options.js';
import { formatNumber } from './report.js';
import { runWorkload } from './run-workload.js';
import {
  binaryVersion,
  diskUsageBytes,
  planLaunch,
  processTreeRssBytes,
  serverDataDir,
  spawnServer,
  waitUntilServing,
  type ServerBinaries,
  type ServerKind,
} from './servers.js';
import type { TransportName } from './transport.js';

/** Puts per loading txn: well under etcd's default --max-txn-ops of 128. */
export const loadPutsPerTxn = 100;
const loadConns = 4;
const loadClients = 16;
const valueSizeBytes = 256;
const keyPrefix = 'recovery/';
/** Time for the server to settle (flush, free) after loading before its RSS is read. */
const settleAfterLoadMs = 2000;

export interface RecoverySettings {
  readonly keyCount: number;
  readonly servers: readonly ServerKind[];
  readonly binaries: ServerBinaries;
  readonly transport: TransportName;
  readonly quiet: boolean;
  readonly keepData: boolean;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
}

export interface RecoveryMeasurement {
  readonly keyCount: number;
  readonly loadSeconds: number | undefined;
  readonly loadErrors: number;
  readonly rssAfterLoadBytes: number | undefined;
  readonly diskAfterLoadBytes: number | undefined;
  readonly stopSeconds: number | undefined;
  readonly restartMs: number | undefined;
  readonly keysCountedAfterRestart: number | undefined;
  readonly rssAfterRestartBytes: number | undefined;
  readonly failure: string | undefined;
}

export interface RecoveryReport {
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: MachineDescription;
  readonly servers: Partial<Record<ServerKind, ServerFacts>>;
  readonly keyCount: number;
  readonly measurements: Partial<Record<ServerKind, RecoveryMeasurement>>;
}

async function measureServer(kind: ServerKind, root: string, settings: RecoverySettings, facts: Partial<Record<ServerKind, ServerFacts>>): Promise<RecoveryMeasurement> {
  const launch = await planLaunch(kind, serverDataDir(root, kind));
  const measured: { -readonly [K in keyof RecoveryMeasurement]: RecoveryMeasurement[K] } = {
    keyCount: settings.keyCount,
    loadSeconds: undefined,
    loadErrors: 0,
    rssAfterLoadBytes: undefined,
    diskAfterLoadBytes: undefined,
    stopSeconds: undefined,
    restartMs: undefined,
    keysCountedAfterRestart: undefined,
    rssAfterRestartBytes: undefined,
    failure: undefined,
  };
  settings.log(`starting a fresh ${serverTitles[kind]} (data in ${launch.dataDir})`);
  let server = spawnServer(launch, settings.binaries);
  try {
    await waitUntilServing(server);
    facts[kind] = { binaryVersion: await binaryVersion(kind, settings.binaries), statusVersion: undefined };
    const load = await runWorkload(
      resolveOptions('txn-put', {
        endpoints: [server.endpoint],
        conns: loadConns,
        clients: loadClients,
        total: Math.ceil(settings.keyCount / loadPutsPerTxn),
        txnOps: loadPutsPerTxn,
        keySpace: settings.keyCount,
        sequentialKeys: true,
        keyPrefix,
        keySizeBytes: 8,
        valueSizeBytes,
        transport: settings.transport,
        quiet: settings.quiet,
      }),
      { progressLabel: `[${serverTitles[kind]}] loading ${formatNumber(settings.keyCount)} keys`, signal: settings.signal },
    );
    measured.loadSeconds = load.elapsedSeconds;
    measured.loadErrors = load.errorCount;
    if (!load.ok) throw new Error(`loading failed: ${load.failure ?? ''}`);
    settings.log(`${serverTitles[kind]}: loaded ${formatNumber(settings.keyCount)} keys in ${load.elapsedSeconds.toFixed(1)} s`);
    await sleepMs(settleAfterLoadMs);
    measured.rssAfterLoadBytes = processTreeRssBytes(server.pid);
    measured.diskAfterLoadBytes = await diskUsageBytes(launch.dataDir);

    const stopStartedMs = nowMs();
    await server.stop();
    measured.stopSeconds = (nowMs() - stopStartedMs) / 1000;

    const restartStartedMs = nowMs();
    server = spawnServer(launch, settings.binaries);
    const counted = await waitUntilServing(server, keyPrefix);
    measured.restartMs = nowMs() - restartStartedMs;
    measured.keysCountedAfterRestart = Number(counted);
    measured.rssAfterRestartBytes = processTreeRssBytes(server.pid);
    settings.log(`${serverTitles[kind]}: restarted in ${Math.round(measured.restartMs)} ms with ${formatNumber(Number(counted))} keys`);
    if (Number(counted) !== settings.keyCount) measured.failure = `counted ${counted} keys after restart, expected ${settings.keyCount}`;
  } catch (error) {
    measured.failure = error instanceof Error ? error.message.split('\n')[0] : String(error);
  } finally {
    await server.stop();
    if (!settings.keepData) rmSync(launch.dataDir, { recursive: true, force: true });
  }
  return measured;
}

export async function runRecoveryComparison(settings: RecoverySettings): Promise<RecoveryReport> {
  const startedAtMs = Date.now();
  const root = mkdtempSync(join(tmpdir(), 'holdfast-bench-recovery-'));
  const machine = await describeMachine(root);
  const servers: Partial<Record<ServerKind, ServerFacts>> = {};
  const measurements: Partial<Record<ServerKind, RecoveryMeasurement>> = {};
  try {
    for (const kind of settings.servers) {
      if (settings.signal?.aborted) break;
      measurements[kind] = await measureServer(kind, root, settings, servers);
    }
  } finally {
    if (!settings.keepData) rmSync(root, { recursive: true, force: true });
  }
  return { startedAt: new Date(startedAtMs).toISOString(), durationSeconds: (Date.now() - startedAtMs) / 1000, machine, servers, keyCount: settings.keyCount, measurements };
}

const mebibyte = 1024 * 1024;

function cells(report: RecoveryReport, value: (m: RecoveryMeasurement) => number | undefined, format: (v: number) => string): string[] {
  const etcd = report.measurements.etcd;
  const holdfast = report.measurements.holdfast;
  const etcdValue = etcd === undefined ? undefined : value(etcd);
  const holdfastValue = holdfast === undefined ? undefined : value(holdfast);
  const ratio = etcdValue !== undefined && holdfastValue !== undefined && etcdValue > 0 ? (holdfastValue / etcdValue).toFixed(2) : '—';
  return [etcdValue === undefined ? '—' : format(etcdValue), holdfastValue === undefined ? '—' : format(holdfastValue), ratio];
}

export function recoveryTable(report: RecoveryReport): string {
  const keys = formatNumber(report.keyCount);
  const rows: Array<[string, string[]]> = [
    [`load ${keys} keys (txns of ${loadPutsPerTxn} puts, ${loadClients} clients), s`, cells(report, (m) => m.loadSeconds, (v) => `${v.toFixed(1)} (${formatNumber(report.keyCount / v)} keys/s)`)],
    ['RSS after loading, MiB', cells(report, (m) => m.rssAfterLoadBytes, (v) => formatNumber(v / mebibyte))],
    ['data directory on disk after loading (du), MiB', cells(report, (m) => m.diskAfterLoadBytes, (v) => formatNumber(v / mebibyte))],
    ['stop (SIGTERM until exit), s', cells(report, (m) => m.stopSeconds, (v) => v.toFixed(2))],
    [`restart with ${keys} keys until a linearizable range answers, ms`, cells(report, (m) => m.restartMs, (v) => formatNumber(v))],
    ['RSS right after restart, MiB', cells(report, (m) => m.rssAfterRestartBytes, (v) => formatNumber(v / mebibyte))],
  ];
  const lines = ['| measurement | etcd | Holdfast | Holdfast/etcd |', '|---|---:|---:|---:|'];
  for (const [name, [etcd, holdfast, ratio]] of rows) lines.push(`| ${name} | ${etcd} | ${holdfast} | ${ratio} |`);
  return lines.join('\n');
}

export function recoveryMarkdown(report: RecoveryReport): string {
  const failures = (Object.keys(report.measurements) as ServerKind[])
    .map((kind) => [kind, report.measurements[kind]?.failure] as const)
    .filter(([, failure]) => failure !== undefined)
    .map(([kind, failure]) => `- ${serverTitles[kind]} failed: ${failure ?? ''}`);
  return [
    '## Memory, disk and restart with many keys',
    '',
    `Generated by \`holdfast-bench compare --recovery\` on ${report.startedAt} (${report.durationSeconds.toFixed(0)} s). Rerun instead of editing.`,
    '',
    `- Machine: ${describeMachineLine(report.machine)}.`,
    `- Servers: ${describeServers(report.servers)}. Single node, default settings, fresh data directory, one server at a time.`,
    `- ${formatNumber(report.keyCount)} distinct keys ("${keyPrefix}" + 8 digits) with ${valueSizeBytes}-byte random values. RSS is VmRSS of the server's process tree. Restart time runs from spawning the process to the first answered linearizable Range (a count of all the keys, which must match).`,
    ...failures,
    '',
    recoveryTable(report),
  ].join('\n');
}
