/** Test helpers: one suite per server kind, clients and sessions that are always cleaned up, waiting utilities. */
import { describe, before, after } from 'node:test';
import { Client, type ClientOptions } from '@holdfast/client';
import { Session, type SessionOptions } from '../src/index.js';
import { TestServer, etcdSkipReason, type ServerKind } from './servers.js';

export const testClientOptions = {
  dialTimeoutMs: 1_000,
  retryAttemptsMax: 100,
  callTimeoutMs: 15_000,
  retryBackoffInitialMs: 20,
  retryBackoffMaxMs: 300,
  reconnectBackoffInitialMs: 50,
  reconnectBackoffMaxMs: 300,
} as const satisfies Partial<ClientOptions>;

export interface ServerSuite {
  readonly kind: ServerKind;
  server(): TestServer;
  /** A client of the suite's server, shared by the suite's tests. */
  client(): Client;
  /** Another client (its own connections, watch and keepalive streams), closed after the suite. */
  newClient(): Client;
  /** A session on `client` (default: the shared one), closed after the suite. */
  newSession(client?: Client, options?: SessionOptions): Promise<Session>;
}

/** Runs `body` against a fresh Holdfast and a fresh etcd (skipped, with the reason, when etcd is not installed). */
export function forEachServer(title: string, body: (suite: ServerSuite) => void): void {
  for (const kind of ['holdfast', 'etcd'] as const) {
    let server: TestServer | undefined;
    let client: Client | undefined;
    const clients: Client[] = [];
    const sessions: Session[] = [];
    const suite: ServerSuite = {
      kind,
      server: () => server ?? fail('server not started'),
      client: () => client ?? fail('client not created'),
      newClient: () => {
        const created = new Client({ ...testClientOptions, endpoints: [suite.server().endpoint] });
        clients.push(created);
        return created;
      },
      newSession: async (on, options) => {
        const session = await Session.create(on ?? suite.client(), { ttlSeconds: 10, ...options });
        sessions.push(session);
        return session;
      },
    };
    describe(`${title} [${kind}]`, { skip: kind === 'etcd' ? etcdSkipReason : false }, () => {
      before(async () => {
        server = await TestServer.start(kind);
        client = new Client({ ...testClientOptions, endpoints: [server.endpoint] });
      });
      after(async () => {
        for (const session of sessions) await session.close({ timeoutMs: 2_000 }).catch(() => {});
        for (const other of clients) other.close();
        client?.close();
        await server?.stop();
      });
      body(suite);
    });
  }
}

function fail(message: string): never {
  throw new Error(message);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 20 ms until it holds or `timeoutMs` passes. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Whether `promise` is still pending after `ms` milliseconds. */
export async function stillPending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const pending = Symbol('pending');
  promise.catch(() => {});
  const winner = await Promise.race([promise.then(() => 'settled', () => 'settled'), sleep(ms).then(() => pending)]);
  return winner === pending;
}

/** A unique name per test, so tests of one suite never share keys. */
let nameCounter = 0;
export function uniqueName(what: string): string {
  nameCounter += 1;
  return `/recipes-test/${what}-${process.pid}-${nameCounter}`;
}
