/**
 * Test servers for the toolkit's tests (client, recipes, registry, pubsub):
 * Holdfast or real etcd 3.4 as child processes on free 127.0.0.1 ports with
 * temporary data directories. A server can be killed with SIGKILL and
 * restarted on the same data directory and ports, which the watch resume,
 * lease and registry reconnect tests need. `stop()` always removes the data
 * directory, and servers still running when the test process exits are
 * killed and their directories removed.
 *
 * The other toolkit packages import this as `@holdfast/client/test-support`
 * (see README.md, "Test support"). It is not test/src/support.ts: the client
 * must not depend on the integration-test workspace, which depends on the
 * server.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from packages/client/dist/test/support/). */
export const repositoryRoot = fileURLToPath(new URL('../../../../../', import.meta.url));
export const holdfastBin = join(repositoryRoot, 'apps', 'holdfast', 'bin', 'holdfast.js');

/** Maximum time for a server to accept connections after (re)start. */
export const serverStartTimeoutMs = 30_000;
/** Maximum time for a server to exit after SIGTERM before it gets SIGKILL. */
export const serverStopTimeoutMs = 10_000;

export type ServerKind = 'holdfast' | 'etcd';

/** A free TCP port on 127.0.0.1 (the OS picks it). */
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

function commandExists(command: string): Promise<boolean> {
  return new Promise((resolve) => execFile('sh', ['-c', `command -v ${command}`], (error) => resolve(error === null)));
}

/** Why etcd suites are skipped, or false when etcd is installed (checked once, at load). */
export const etcdSkipReason: string | false = (await commandExists('etcd')) ? false : 'etcd is not installed (apt-get install -y etcd-server)';
/** Why etcdctl interop tests are skipped, or false when etcdctl is installed. */
export const etcdctlSkipReason: string | false = (await commandExists('etcdctl')) ? false : 'etcdctl is not installed (apt-get install -y etcd-client)';

/**
 * Servers still running when this process exits (a test that crashed the
 * runner never reaches its after() hook): killed, their directories removed.
 */
const running = new Set<TestServer>();
process.once('exit', () => {
  for (const server of running) server.killNowAndForget();
});

export class TestServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private outputText = '';

  private constructor(
    readonly kind: ServerKind,
    readonly dataDir: string,
    readonly clientPort: number,
    private readonly peerPort: number,
    private readonly extraArgs: readonly string[],
  ) {}

  /** host:port for the client. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  /** Starts a fresh server on free ports with a new temporary data directory; `extraArgs` are flags both servers know. */
  static async start(kind: ServerKind, extraArgs: readonly string[] = []): Promise<TestServer> {
    const dataDir = mkdtempSync(join(tmpdir(), `holdfast-toolkit-${kind}-`));
    const server = new TestServer(kind, dataDir, await freePort(), await freePort(), extraArgs);
    try {
      await server.launch();
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
    return server;
  }

  /** Output so far (stdout and stderr), for diagnosing failures. */
  output(): string {
    return this.outputText;
  }

  /** SIGKILL and wait for the exit: a crash. The data directory stays. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
  }

  /** Starts the server again on the same data directory and ports. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /**
   * SIGTERM, wait for the exit (SIGKILL after serverStopTimeoutMs: a server
   * that waits for a client a failed test never closed must not hang the
   * run), and delete the data directory.
   */
  async stop(): Promise<void> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), serverStopTimeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    running.delete(this);
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Synchronous last resort on process exit: SIGKILL and delete the data directory. */
  killNowAndForget(): void {
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private arguments(): { command: string; args: string[] } {
    const clientUrl = `http://127.0.0.1:${this.clientPort}`;
    if (this.kind === 'holdfast') {
      return {
        command: process.execPath,
        args: [holdfastBin, '--data-dir', this.dataDir, '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl, '--log-level', 'warn', ...this.extraArgs],
      };
    }
    const peerUrl = `http://127.0.0.1:${this.peerPort}`;
    return {
      command: 'etcd',
      args: [
        '--data-dir', this.dataDir,
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl,
        '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', `default=${peerUrl}`,
        '--log-level', 'warn',
        '--logger', 'zap',
        ...this.extraArgs,
      ],
    };
  }

  private async launch(): Promise<void> {
    const { command, args } = this.arguments();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(this);
    child.stdout!.on('data', (chunk: Buffer) => (this.outputText += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.outputText += chunk.toString()));
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + serverStartTimeoutMs;
    while (!(await accepts(this.clientPort))) {
      if (child.exitCode !== null) throw new Error(`${this.kind} exited with ${child.exitCode} before serving:\n${this.outputText}`);
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`${this.kind} did not accept connections on ${this.endpoint} within ${serverStartTimeoutMs} ms:\n${this.outputText}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
