/**
 * Test helpers: a per-server-kind suite runner, a fake gRPC server for
 * precise protocol tests, a TCP proxy whose connections the test can cut,
 * and small waiting utilities.
 */
import { Server, ServerCredentials, type UntypedServiceImplementation, type ServiceDefinition } from '@grpc/grpc-js';
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { describe, before, after } from 'node:test';
import { Client, UnimplementedError, type ClientOptions } from '../src/index.js';
import { TestServer, etcdAvailability, freePort, type ServerKind } from './servers.js';

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
  /** A client connected to it, closed after the suite. */
  client(): Client;
}

/**
 * Runs `body` once per server kind in a describe block that starts the
 * server and a client before its tests and stops both after them. The etcd
 * suite is skipped, with the reason, when etcd is not installed.
 */
export function forEachServer(
  title: string,
  body: (suite: ServerSuite) => void,
  options: { kinds?: readonly ServerKind[]; extraArgs?: readonly string[]; extraArgsByKind?: Partial<Record<ServerKind, readonly string[]>> } = {},
): void {
  for (const kind of options.kinds ?? (['holdfast', 'etcd'] as const)) {
    let server: TestServer | undefined;
    let client: Client | undefined;
    const suite: ServerSuite = {
      kind,
      server: () => server ?? assertNever('server not started'),
      client: () => client ?? assertNever('client not created'),
    };
    describe(`${title} [${kind}]`, { skip: kind === 'etcd' ? etcdSkipReason : false }, () => {
      before(async () => {
        server = await TestServer.start(kind, [...(options.extraArgs ?? []), ...(options.extraArgsByKind?.[kind] ?? [])]);
        client = new Client({ ...testClientOptions, endpoints: [server.endpoint] });
      });
      after(async () => {
        client?.close();
        await server?.stop();
      });
      body(suite);
    });
  }
}

function assertNever(message: string): never {
  throw new Error(message);
}

/** Why etcd tests are skipped, or false when etcd is installed (checked once, at load). */
const etcdSkipReason: string | false = await etcdAvailability().then((availability) => (availability.available ? false : availability.reason));

/**
 * Runs a probe of a service; returns the reason to skip when the server
 * answers UNIMPLEMENTED for it, undefined when it is served.
 */
export async function unimplementedReason(service: string, probe: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await probe();
    return undefined;
  } catch (error) {
    if (error instanceof UnimplementedError) return `the server does not implement ${service} yet (${error.message})`;
    throw error;
  }
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

/** A gRPC server on 127.0.0.1 with hand-written service implementations. */
export class FakeServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(services: ReadonlyArray<{ definition: ServiceDefinition; implementation: UntypedServiceImplementation }>): Promise<FakeServer> {
    const server = new Server();
    for (const { definition, implementation } of services) server.addService(definition, implementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
    );
    return new FakeServer(server, port);
  }

  stop(): void {
    this.server.forceShutdown();
  }
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

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export function closedPort(): Promise<number> {
  return freePort();
}
