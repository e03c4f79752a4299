/**
 * Test support: start Holdfast or real etcd as child processes on free
 * loopback ports with temporary data directories, and always stop them.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accepts, freePort } from '@holdfast/client/test-support';

/** A free TCP port on 127.0.0.1: the toolkit's shared test support. */
export { freePort };

/** The repository root (this file runs from test/dist/src/). */
export const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const holdfastBin = join(repositoryRoot, 'apps', 'holdfast', 'bin', 'holdfast.js');


export function temporaryDirectory(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `holdfast-${prefix}-`));
}

/** Which of the etcd binaries are on PATH; the reason when one is missing. */
export async function etcdAvailability(): Promise<{ available: boolean; reason: string }> {
  for (const binary of ['etcd', 'etcdctl']) {
    const found = await new Promise<boolean>((resolve) => execFile('sh', ['-c', `command -v ${binary}`], (error) => resolve(error === null)));
    if (!found) return { available: false, reason: `${binary} is not installed (apt-get install -y etcd-server etcd-client)` };
  }
  return { available: true, reason: '' };
}

export interface RunningServer {
  readonly kind: 'holdfast' | 'etcd';
  readonly endpoint: string;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** Output so far (stdout and stderr), for diagnosing failures. */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. */
  kill(): Promise<void>;
}

export interface StartOptions {
  readonly dataDir?: string;
  readonly clientPort?: number;
  readonly extraArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Maximum time for a server to accept connections after start. */
export const serverStartTimeoutMs = 30_000;

export async function startHoldfast(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? temporaryDirectory('data');
  const port = options.clientPort ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  // HOLDFAST_NODE_ARGS passes flags to node itself, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a measurement.
  const nodeArgs = (process.env.HOLDFAST_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const args = [...nodeArgs, holdfastBin, '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--log-level', 'warn', ...(options.extraArgs ?? [])];
  return launch('holdfast', process.execPath, args, dataDir, `127.0.0.1:${port}`, port, options.env);
}

export async function startEtcd(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? temporaryDirectory('etcd');
  const port = options.clientPort ?? (await freePort());
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--data-dir', dataDir,
    '--listen-client-urls', url,
    '--advertise-client-urls', url,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `default=${peerUrl}`,
    '--log-level', 'warn',
    '--logger', 'zap',
    ...(options.extraArgs ?? []),
  ];
  return launch('etcd', 'etcd', args, dataDir, `127.0.0.1:${port}`, port, options.env);
}

async function launch(kind: 'holdfast' | 'etcd', command: string, args: string[], dataDir: string, endpoint: string, port: number, env?: NodeJS.ProcessEnv): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running: RunningServer = {
    kind,
    endpoint,
    dataDir,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  const deadline = Date.now() + serverStartTimeoutMs;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`${kind} exited with ${child.exitCode} before serving:\n${output}`);
    if (Date.now() > deadline) {
      await running.kill();
      throw new Error(`${kind} did not accept connections on ${endpoint} within ${serverStartTimeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return running;
}


export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** Runs etcdctl (v3 API) against `endpoint`, feeding `input` on stdin. */
export function etcdctl(endpoint: string, args: readonly string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'etcdctl',
      ['--endpoints', endpoint, '--command-timeout', '10s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ stdout, stderr, exitCode });
      },
    );
    // etcdctl may exit without reading its input (EPIPE); its exit code says what happened.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

export function removeDirectory(path: string): void {
  rmSync(path, { recursive: true, force: true });
}
