/**
 * The client's own test helpers: the shared toolkit support (./support), a
 * fake gRPC server for precise protocol tests, and probes for services a
 * server does not implement.
 */
import { Server, ServerCredentials, type UntypedServiceImplementation, type ServiceDefinition } from '@grpc/grpc-js';
import { UnimplementedError } from '../src/index.js';
import { freePort, type ServerKind } from './support/index.js';

export * from './support/index.js';

/**
 * What Holdfast answers UNIMPLEMENTED for until later issues bring it: the
 * only tests that may skip, and only on Holdfast. etcd serves all of them,
 * and everything else (KV, Watch, Lease, Maintenance, MemberList) must be
 * served by both: an UNIMPLEMENTED there fails the test.
 */
export const notYetOnHoldfast = ['Auth', 'Lock', 'Election', 'membership changes'] as const;

/**
 * Runs a probe of a service; returns the reason to skip when the server is
 * Holdfast, the service is one of notYetOnHoldfast and Holdfast answers
 * UNIMPLEMENTED for it; undefined when it is served. Rethrows any other
 * failure of the probe.
 */
export async function unimplementedReason(kind: ServerKind, service: (typeof notYetOnHoldfast)[number], probe: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await probe();
    return undefined;
  } catch (error) {
    if (error instanceof UnimplementedError && kind === 'holdfast') return `Holdfast does not implement ${service} yet, a later issue brings it (${error.message})`;
    throw error;
  }
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

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export function closedPort(): Promise<number> {
  return freePort();
}
