/**
 * Test helpers shared by the toolkit's packages: one suite per server kind
 * (a fresh Holdfast and a fresh etcd 3.4, the etcd one skipped with the
 * reason when etcd is not installed), clients that are always closed, a TCP
 * proxy whose connections a test can cut, and waiting utilities.
 */
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { describe, before, after } from 'node:test';
import { Client, type ClientOptions } from '../../src/index.js';
import { TestServer, etcdSkipReason, type ServerKind } from './servers.js';

/** Options that make tests fast without changing behaviour. */
export const testClientOptions = {
  dialTimeoutMs: 1_000,
  // Short pauses, so the call deadline rather than the attempt count bounds retries.
  retryAttemptsMax: 100,
  callTimeoutMs: 15_000,
  retryBackoffInitialMs: 20,
  retryBackoffMaxMs: 300,
  reconnectBackoffInitialMs: 50,
  reconnectBackoffMaxMs: 300,
} as const satisfies Partial<ClientOptions>;

export interface ServerSuite {
  readonly kind: ServerKind;
  /** The running server (started before the suite's tests). */
  server(): TestServer;
  /** A client connected to it, shared by the suite's tests, closed after the suite. */
  client(): Client;
  /** Another client (its own connections, watch and keepalive streams), closed after the suite. */
  newClient(endpoint?: string): Client;
}

export interface ForEachServerOptions {
  /** Server kinds to run against (default both). */
  readonly kinds?: readonly ServerKind[];
  /** Flags both servers know. */
  readonly extraArgs?: readonly string[];
  readonly extraArgsByKind?: Partial<Record<ServerKind, readonly string[]>>;
  /** Runs after the suite's tests, before its clients close (e.g. to close sessions). */
  readonly beforeClose?: () => Promise<void>;
}

/**
 * Runs `body` once per server kind in a describe block that starts the
 * server and a client before its tests and stops both after them. The etcd
 * suite is skipped, with the reason, when etcd is not installed.
 */
export function forEachServer(title: string, body: (suite: ServerSuite) => void, options: ForEachServerOptions = {}): void {
  for (const kind of options.kinds ?? (['holdfast', 'etcd'] as const)) {
    let server: TestServer | undefined;
    let client: Client | undefined;
    const clients: Client[] = [];
    const suite: ServerSuite = {
      kind,
      server: () => server ?? fail('server not started'),
      client: () => client ?? fail('client not created'),
      newClient: (endpoint) => {
        const created = new Client({ ...testClientOptions, endpoints: [endpoint ?? suite.server().endpoint] });
        clients.push(created);
        return created;
      },
    };
    describe(`${title} [${kind}]`, { skip: kind === 'etcd' ? etcdSkipReason : false }, () => {
      before(async () => {
        server = await TestServer.start(kind, [...(options.extraArgs ?? []), ...(options.extraArgsByKind?.[kind] ?? [])]);
        client = new Client({ ...testClientOptions, endpoints: [server.endpoint] });
      });
      after(async () => {
        await options.beforeClose?.();
        client?.close();
        for (const other of clients.splice(0)) other.close();
        await server?.stop();
      });
      body(suite);
    });
  }
}

function fail(message: string): never {
  throw new Error(message);
}

/** Polls `condition` every 20 ms until it holds or `timeoutMs` passes. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` is still pending after `ms` milliseconds. */
export async function stillPending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const pending = Symbol('pending');
  promise.catch(() => {});
  const winner = await Promise.race([promise.then(() => 'settled', () => 'settled'), sleep(ms).then(() => pending)]);
  return winner === pending;
}

let nameCounter = 0;
/** `<prefix><what>-<pid>-<n>`: a name (key, topic, service) no other test uses. */
export function uniqueName(what: string, prefix = ''): string {
  nameCounter += 1;
  return `${prefix}${what}-${process.pid}-${nameCounter}`;
}

/**
 * A TCP proxy on 127.0.0.1 to a target port. cut() drops every proxied
 * connection and refuses new ones (accepts and closes them at once), as a
 * network partition would; restore() lets connections through again.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private refusing = false;

  private constructor(
    private readonly server: NetServer,
    readonly port: number,
  ) {}

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((inbound) => {
      if (proxy === undefined || proxy.refusing) {
        inbound.destroy();
        return;
      }
      const outbound = connect(targetPort, '127.0.0.1');
      proxy.track(inbound);
      proxy.track(outbound);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      const closeBoth = (): void => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', closeBoth);
      outbound.on('error', closeBoth);
      inbound.on('close', closeBoth);
      outbound.on('close', closeBoth);
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
    proxy = new TcpProxy(server, port);
    return proxy;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  cut(): void {
    this.refusing = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.refusing = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Collects the warnings the process emits while `body` runs (and a moment after: Node emits them on a later tick). */
export async function warningsDuring(body: () => Promise<void>): Promise<Error[]> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };
  process.on('warning', onWarning);
  try {
    await body();
    await sleep(50);
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}

export function describeWarnings(warnings: readonly Error[]): string {
  return warnings.map((warning) => `${warning.name}: ${warning.message}`).join('\n');
}
