/**
 * Starting fresh servers for `compare`: Holdfast and real etcd, each a
 * single node on a free loopback port with its data directory under one
 * temporary directory, and reading what they cost (CPU, RSS, disk).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSecondsFromStat, sleepMs } from './clock.js';
import { Connection, range } from './connection.js';
import { rangeRequest } from './workloads/kv.js';

export type ServerKind = 'etcd' | 'holdfast';

/** apps/holdfast/bin/holdfast.js, from apps/bench/dist/src/servers.js. */
export const defaultHoldfastBin = fileURLToPath(new URL('../../../holdfast/bin/holdfast.js', import.meta.url));

/** How long a server may take to answer its first linearizable read. */
export const serverReadyTimeoutMs = 120_000;
/** How long a server may take to exit on SIGTERM before it is killed. */
export const serverStopTimeoutMs = 30_000;
/** Server output kept for diagnosing a failed start; older output is dropped. */
const outputKeptBytesMax = 64 * 1024;

export interface ServerBinaries {
  readonly holdfastBin: string;
  readonly etcdBin: string;
}

export interface ServerLaunch {
  readonly kind: ServerKind;
  readonly dataDir: string;
  /** The client port; a restart reuses it. */
  readonly clientPort: number;
  readonly peerPort: number;
}

export class RunningServer {
  private outputTail = '';
  readonly exited: Promise<void>;

  constructor(
    readonly launch: ServerLaunch,
    readonly process: ChildProcess,
  ) {
    const keep = (chunk: Buffer): void => {
      this.outputTail = (this.outputTail + chunk.toString()).slice(-outputKeptBytesMax);
    };
    process.stdout?.on('data', keep);
    process.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => process.once('exit', () => resolve()));
  }

  get endpoint(): string {
    return `127.0.0.1:${this.launch.clientPort}`;
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  output(): string {
    return this.outputTail;
  }

  /** SIGTERM, then SIGKILL after serverStopTimeoutMs; resolves once exited. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), serverStopTimeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function planLaunch(kind: ServerKind, dataDir: string): Promise<ServerLaunch> {
  return { kind, dataDir, clientPort: await freePort(), peerPort: await freePort() };
}

/** Spawns the server; does not wait for it to serve (see waitUntilServing). */
export function spawnServer(launch: ServerLaunch, binaries: ServerBinaries): RunningServer {
  const url = `http://127.0.0.1:${launch.clientPort}`;
  const child =
    launch.kind === 'holdfast'
      ? spawn(process.execPath, [binaries.holdfastBin, '--data-dir', launch.dataDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--log-level', 'warn'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        })
      : spawn(
          binaries.etcdBin,
          [
            '--data-dir', launch.dataDir,
            '--listen-client-urls', url,
            '--advertise-client-urls', url,
            '--listen-peer-urls', `http://127.0.0.1:${launch.peerPort}`,
            '--initial-advertise-peer-urls', `http://127.0.0.1:${launch.peerPort}`,
            '--initial-cluster', `default=http://127.0.0.1:${launch.peerPort}`,
            '--log-level', 'warn',
            '--logger', 'zap',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
  return new RunningServer(launch, child);
}

/** Interval between attempts to read from a starting server. */
const readyPollIntervalMs = 10;

/**
 * Waits until a linearizable Range answers (a leader exists and the store
 * is open); resolves with that Range's count of keys under `countPrefix`.
 */
export async function waitUntilServing(server: RunningServer, countPrefix = ''): Promise<bigint> {
  const deadlineMs = Date.now() + serverReadyTimeoutMs;
  const key = Buffer.from(countPrefix === '' ? '\0' : countPrefix);
  const rangeEnd = countPrefix === '' ? Buffer.from('\0') : prefixEnd(key);
  let lastError: unknown;
  while (Date.now() < deadlineMs) {
    if (!server.running) throw new Error(`${server.launch.kind} exited (${String(server.process.exitCode ?? server.process.signalCode)}) before serving:\n${server.output()}`);
    const connection = new Connection(-1, server.endpoint);
    try {
      await connection.waitForReady(1000);
      const response = await range(connection, rangeRequest(key, { rangeEnd, serializable: false, countOnly: true }), 5000);
      return response.count;
    } catch (error) {
      lastError = error;
    } finally {
      connection.close();
    }
    await sleepMs(readyPollIntervalMs);
  }
  throw new Error(`${server.launch.kind} did not answer a linearizable range within ${serverReadyTimeoutMs} ms: ${String(lastError)}\n${server.output()}`);
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from('\0');
}

/** The version a binary prints with --version (first line). */
export function binaryVersion(kind: ServerKind, binaries: ServerBinaries): Promise<string> {
  const [command, args] = kind === 'holdfast' ? [process.execPath, [binaries.holdfastBin, '--version']] : [binaries.etcdBin, ['--version']];
  return new Promise((resolve) =>
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error !== null) return resolve(`unknown (${error.message.split('\n')[0] ?? ''})`);
      // etcd also prints its Git SHA and Go version; keep the version lines.
      const lines = `${stdout}${stderr}`.split('\n').map((line) => line.trim()).filter((line) => /version/i.test(line) && !/^go version/i.test(line));
      resolve(lines.join('; ') || 'unknown');
    }),
  );
}

/** Whether `command` can be run (found on PATH or as a path). */
export function commandAvailable(command: string): Promise<boolean> {
  return new Promise((resolve) => execFile(command, ['--version'], { timeout: 30_000 }, (error) => resolve(error === null)));
}

/** The pid and every descendant (Linux /proc), so helper processes count too. */
export function processTree(rootPid: number): number[] {
  const childrenByParent = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [rootPid];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const parentPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const siblings = childrenByParent.get(parentPid) ?? [];
      siblings.push(Number(entry));
      childrenByParent.set(parentPid, siblings);
    } catch {
      // The process exited while we looked.
    }
  }
  const tree: number[] = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(childrenByParent.get(pid) ?? []));
  }
  return tree;
}

/** CPU seconds (user + system) of a process tree; undefined off Linux. */
export function processTreeCpuSeconds(rootPid: number): number | undefined {
  let total = 0;
  let seen = false;
  for (const pid of processTree(rootPid)) {
    try {
      const seconds = cpuSecondsFromStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
      if (seconds !== undefined) {
        total += seconds;
        seen = true;
      }
    } catch {
      // Exited meanwhile.
    }
  }
  return seen ? total : undefined;
}

/** Resident set size (VmRSS) of a process tree in bytes; undefined off Linux. */
export function processTreeRssBytes(rootPid: number): number | undefined {
  let total = 0;
  let seen = false;
  for (const pid of processTree(rootPid)) {
    try {
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
      if (match !== null) {
        total += Number(match[1]) * 1024;
        seen = true;
      }
    } catch {
      // Exited meanwhile.
    }
  }
  return seen ? total : undefined;
}

/** Disk space a directory takes (du -sk: allocated blocks), in bytes. */
export function diskUsageBytes(path: string): Promise<number | undefined> {
  if (!existsSync(path)) return Promise.resolve(undefined);
  return new Promise((resolve) =>
    execFile('du', ['-sk', path], { timeout: 120_000 }, (error, stdout) => {
      const kilobytes = Number(stdout.split(/\s+/)[0]);
      resolve(error === null && Number.isFinite(kilobytes) ? kilobytes * 1024 : undefined);
    }),
  );
}

export function serverDataDir(root: string, kind: ServerKind): string {
  return join(root, kind);
}
