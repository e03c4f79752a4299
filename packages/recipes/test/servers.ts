/**
 * Test servers: Holdfast or etcd 3.4 as child processes on free 127.0.0.1
 * ports with temporary data directories (the minimal part of
 * packages/client/test/servers.ts: start and stop, no restart), and
 * etcdctl runs against them.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from packages/recipes/dist/test/). */
export const repositoryRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const holdfastBin = join(repositoryRoot, 'apps', 'holdfast', 'bin', 'holdfast.js');

const serverStartTimeoutMs = 30_000;
const serverStopTimeoutMs = 10_000;

export type ServerKind = 'holdfast' | 'etcd';

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

/** Why etcd suites are skipped, or false when etcd is installed. */
export const etcdSkipReason: string | false = (await commandExists('etcd')) ? false : 'etcd is not installed (apt-get install -y etcd-server)';
/** Why etcdctl interop tests are skipped, or false when etcdctl is installed. */
export const etcdctlSkipReason: string | false = (await commandExists('etcdctl')) ? false : 'etcdctl is not installed (apt-get install -y etcd-client)';

export class TestServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private outputText = '';

  private constructor(
    readonly kind: ServerKind,
    readonly dataDir: string,
    readonly clientPort: number,
    private readonly peerPort: number,
  ) {}

  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  static async start(kind: ServerKind): Promise<TestServer> {
    const dataDir = mkdtempSync(join(tmpdir(), `holdfast-recipes-${kind}-`));
    const server = new TestServer(kind, dataDir, await freePort(), await freePort());
    try {
      await server.launch();
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
    return server;
  }

  output(): string {
    return this.outputText;
  }

  /** SIGTERM (SIGKILL after 10 s), wait for the exit, delete the data directory. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), serverStopTimeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private arguments(): { command: string; args: string[] } {
    const clientUrl = `http://127.0.0.1:${this.clientPort}`;
    if (this.kind === 'holdfast') {
      return {
        command: process.execPath,
        args: [holdfastBin, '--data-dir', this.dataDir, '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl, '--log-level', 'warn'],
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
      ],
    };
  }

  private async launch(): Promise<void> {
    const { command, args } = this.arguments();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => (this.outputText += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.outputText += chunk.toString()));
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + serverStartTimeoutMs;
    while (!(await accepts(this.clientPort))) {
      if (child.exitCode !== null) throw new Error(`${this.kind} exited with ${child.exitCode} before serving:\n${this.outputText}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await this.exited;
        throw new Error(`${this.kind} did not accept connections on ${this.endpoint} within ${serverStartTimeoutMs} ms:\n${this.outputText}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
