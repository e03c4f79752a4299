/**
 * Test support for hfctl: start Holdfast or real etcd on free loopback
 * ports with temporary data directories (always stopped and removed), run
 * etcdctl or hfctl with the same arguments, and compare what they print.
 *
 * (The test workspace has a launcher too, but hfctl's build does not
 * depend on it, so this is a small one of its own.)
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accepts, freePort } from '@holdfast/client/test-support';

/** A free TCP port on 127.0.0.1: the toolkit's shared test support. */
export { freePort };

/** The repository root (this file runs from apps/hfctl/dist/test/). */
export const repositoryRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const holdfastBin = join(repositoryRoot, 'apps', 'holdfast', 'bin', 'holdfast.js');
export const hfctlBin = join(repositoryRoot, 'apps', 'hfctl', 'bin', 'hfctl.js');

export type Tool = 'etcdctl' | 'hfctl';
export type ServerKind = 'holdfast' | 'etcd';


export function temporaryDirectory(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `hfctl-${prefix}-`));
}

export function removeDirectory(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** Why the etcd comparisons cannot run here, or undefined when they can. */
export async function etcdMissing(): Promise<string | undefined> {
  for (const binary of ['etcd', 'etcdctl']) {
    const found = await new Promise<boolean>((resolve) => execFile('sh', ['-c', `command -v ${binary}`], (error) => resolve(error === null)));
    if (!found) return `${binary} is not installed (apt-get install -y etcd-server etcd-client)`;
  }
  return undefined;
}

/** Holdfast must be built for these tests; say so instead of failing obscurely. */
export function requireHoldfastBuilt(): void {
  if (!existsSync(join(repositoryRoot, 'apps', 'holdfast', 'dist', 'src', 'main.js'))) {
    throw new Error('apps/holdfast is not built: run `npm run build` (or `npx tsc -b apps/holdfast`) at the repository root first');
  }
}

export interface RunningServer {
  readonly kind: ServerKind;
  /** host:port of the client URL. */
  readonly endpoint: string;
  readonly peerPort: number;
  readonly dataDir: string;
  output(): string;
  /** SIGTERM (SIGKILL after 10 s), wait, remove the data directory. */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly extraArgs?: readonly string[];
  /** Serve the v2 API too (--enable-v2, for ETCDCTL_API=2 and hfctl's v2 verbs). */
  readonly enableV2?: boolean;
}

const startTimeoutMs = 30_000;

export async function startServer(kind: ServerKind, options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = temporaryDirectory(kind);
  const port = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let command: string;
  let args: string[];
  if (kind === 'holdfast') {
    requireHoldfastBuilt();
    command = process.execPath;
    args = [holdfastBin, '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--log-level', 'warn', ...(options.enableV2 === true ? ['--enable-v2'] : []), ...(options.extraArgs ?? [])];
  } else {
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    command = 'etcd';
    args = [
      '--data-dir', dataDir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `default=${peerUrl}`,
      '--log-level', 'warn',
      '--logger', 'zap',
      ...(options.enableV2 === true ? ['--enable-v2'] : []),
      ...(options.extraArgs ?? []),
    ];
  }
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    removeDirectory(dataDir);
  };
  const deadline = Date.now() + startTimeoutMs;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) {
      removeDirectory(dataDir);
      throw new Error(`${kind} exited with ${child.exitCode} before serving:\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${kind} did not accept connections on 127.0.0.1:${port} within ${startTimeoutMs} ms:\n${output}`);
    }
    await sleep(50);
  }
  return { kind, endpoint: `127.0.0.1:${port}`, peerPort, dataDir, output: () => output, stop };
}


export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface RunOptions {
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** etcdctl's API version (ETCDCTL_API); hfctl ignores it. */
  readonly api?: '2' | '3';
  readonly cwd?: string;
}

/** The command line that runs `tool`. */
function commandLine(tool: Tool, args: readonly string[]): [string, string[]] {
  return tool === 'etcdctl' ? ['etcdctl', [...args]] : [process.execPath, [hfctlBin, ...args]];
}

/** A clean environment: no ETCDCTL_* from the caller, except what the step sets. */
function environment(tool: Tool, options: RunOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ETCDCTL_')) env[key] = value;
  if (tool === 'etcdctl') env.ETCDCTL_API = options.api ?? '3';
  return { ...env, ...options.env };
}

/** Runs a tool to completion, feeding `input` on stdin. */
export function run(tool: Tool, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const [command, argv] = commandLine(tool, args);
  return new Promise((resolve) => {
    const child = execFile(
      command,
      argv,
      { env: environment(tool, options), timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer', cwd: options.cwd },
      (error, stdout, stderr) => {
        const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : error.signal !== null && error.signal !== undefined ? 128 + 15 : 1;
        resolve({ stdout: stdout.toString('latin1'), stderr: stderr.toString('latin1'), exitCode });
      },
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input ?? '');
  });
}

/** A long-running tool (watch, keep-alive, lock, elect) whose output is read when it is stopped. */
export interface Background {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  writeLine(line: string): void;
  /** SIGTERM unless it already exited; resolves with the exit code (or 128 + signal). */
  stop(signal?: NodeJS.Signals): Promise<number>;
  exited(): Promise<number>;
}

export function background(tool: Tool, args: readonly string[], options: RunOptions = {}): Background {
  const [command, argv] = commandLine(tool, args);
  const child = spawn(command, argv, { env: environment(tool, options), stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('latin1')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
  child.stdin!.on('error', () => {});
  const exitCode = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15))));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    writeLine: (line) => child.stdin!.write(`${line}\n`),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exitCode;
      clearTimeout(killer);
      return code;
    },
    exited: () => exitCode,
  };
}

/** Waits until `predicate` holds (polling), or fails after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}
