/**
 * The client port: gRPC and HTTP on every --listen-client-urls address,
 * over one MemberApi. One listener per address sorts each connection into
 * grpc-js (HTTP/2) or the express app (HTTP/1.1).
 */
import { createServer as createHttpServer } from 'node:http';
import { Server, ServerCredentials, type ConnectionInjector, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { etcdserverpb, healthpb, strict } from '@holdfast/proto';
import { grpcOverheadBytes, parseUrl } from '../config.js';
import { StoppedError, toServiceError } from '../errors.js';
import type { MemberApi, TrackedStream } from './member-api.js';
import { ClientListener, OpeningBytesBudget } from './client-port/client-listener.js';
import { trackHttpConnections, type HttpConnections } from './client-port/http-connections.js';
import { Http2SessionGuard } from './client-port/http2-sessions.js';
import { createHttpApp } from './http/gateway.js';
import { createKvService, kvServiceDefinition } from './grpc/kv.js';
import { createMaintenanceService } from './grpc/maintenance.js';
import { createClusterService } from './grpc/cluster.js';
import { createHealthService } from './grpc/health.js';
import { createLeaseService } from './grpc/lease.js';
import { createWatchService, watchServiceDefinition } from './grpc/watch.js';
import { guardGrpcDeadlines } from './grpc/grpc-deadline.js';
import { installEtcdMessageReads } from './grpc/grpc-js-reads.js';
import { installZeroCopyFraming } from './grpc/grpc-js-frames.js';
import { grpcJsHttp2Servers } from './grpc/grpc-js-servers.js';
import { guardGrpcEncodings } from './grpc/grpc-encoding.js';

/** How long stop() lets streams flush their last responses before cutting them. */
export const streamShutdownGraceMs = 1_000;

export class ClientApi {
  /** Client URLs actually listened on (ports resolved when 0 was asked). */
  readonly clientUrls: string[] = [];
  private readonly member: MemberApi;
  private readonly grpcServer: Server;
  private readonly listeners: ClientListener[] = [];
  private grpcInjector: ConnectionInjector | undefined;
  private http2Sessions: Http2SessionGuard | undefined;
  private httpConnections: HttpConnections | undefined;
  /** Long-lived streams (watch, keepalive), ended with "server stopped" on stop(). */
  private readonly openStreams = new Set<TrackedStream>();

  private constructor(member: MemberApi) {
    this.member = member;
    this.grpcServer = new Server({
      'grpc.max_receive_message_length': member.config.maxRequestBytes + grpcOverheadBytes,
      'grpc.max_send_message_length': 2 ** 31 - 1,
      // etcd's server-side keepalive enforcement minimum.
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
      // channelz bookkeeping runs on every call and nothing here reads it.
      'grpc.enable_channelz': 0,
      interceptors: [member.metrics.grpcInterceptor],
    });
  }

  /** Registers every service and listens on every --listen-client-urls address. */
  static async listen(member: MemberApi): Promise<ClientApi> {
    const api = new ClientApi(member);
    try {
      await api.listen();
      return api;
    } catch (error) {
      await api.stop();
      throw error;
    }
  }

  private async listen(): Promise<void> {
    const member = this.member;
    const trackStream = (call: TrackedStream) => {
      this.openStreams.add(call);
      return () => this.openStreams.delete(call);
    };
    const services = {
      kv: createKvService(member),
      maintenance: createMaintenanceService(member),
      cluster: createClusterService(member),
      lease: createLeaseService(member, trackStream),
      watch: createWatchService(member, trackStream),
    };
    /** Every method path served, for the checks made before grpc-js sees a call. */
    const servedPaths = new Set<string>();
    const add = <T extends object>(definition: ServiceDefinition, implementation: T): void => {
      for (const method of Object.values(definition)) servedPaths.add(method.path);
      this.grpcServer.addService(member.metrics.instrumentService(strict.withStrictRequests(definition)), member.metrics.instrumentUnaryHandlers(definition, implementation) as UntypedServiceImplementation);
    };
    add(kvServiceDefinition, services.kv);
    add(etcdserverpb.LeaseService, services.lease);
    add(watchServiceDefinition, services.watch);
    add(etcdserverpb.MaintenanceService, services.maintenance);
    add(etcdserverpb.ClusterService, services.cluster);
    add(healthpb.HealthService, createHealthService(member));
    const injector = this.grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
    this.grpcInjector = injector;
    guardGrpcDeadlines(this.grpcServer);
    // Calls with a grpc-encoding etcd 3.4 cannot decompress (any but identity) are refused as they start, as etcd refuses them.
    guardGrpcEncodings(this.grpcServer, servedPaths);
    // Sessions nghttp2 stopped reading (after its rapid-reset GOAWAY) are closed.
    // After guardGrpcDeadlines: its 'stream' listener is among those handed only admitted streams.
    // Streams past --max-concurrent-streams are refused, as grpc-go refuses them.
    this.http2Sessions = new Http2SessionGuard({
      maxConcurrentStreams: member.config.maxConcurrentStreams,
      onStoppedReading: () => member.logger.warn('closed an HTTP/2 connection that was no longer read (no PING ACK)'),
    });
    for (const http2Server of grpcJsHttp2Servers(this.grpcServer, 'the HTTP/2 session guard')) this.http2Sessions.attach(http2Server);
    // Request framing and decoding errors as etcd answers them.
    installEtcdMessageReads();
    // Large Range answers go out without grpc-js copying them.
    installZeroCopyFraming();
    const httpServer = createHttpServer(createHttpApp(member, services, trackStream));
    this.httpConnections = trackHttpConnections(httpServer);
    // One bound on what slow HTTP/2 openings hold, across every listener.
    const openingBytes = new OpeningBytesBudget();
    for (const url of member.config.listenClientUrls) {
      const { host, port } = parseUrl(url, '--listen-client-urls');
      // "localhost" as etcd resolves it by default: the IPv4 loopback.
      const bindHost = host === 'localhost' ? '127.0.0.1' : host;
      const listener = await ClientListener.listen(bindHost, port, { grpc: (socket) => injector.injectConnection(socket), http: httpServer }, { maxConcurrentStreams: member.config.maxConcurrentStreams, openingBytes });
      this.listeners.push(listener);
      this.clientUrls.push(`http://${host.includes(':') ? `[${host}]` : host}:${listener.port}`);
    }
  }

  /**
   * Stops accepting, tells long-lived streams "server stopped" as etcd
   * does, lets answers in flight go out (at most streamShutdownGraceMs for
   * a client that does not read), then closes every connection.
   */
  async stop(): Promise<void> {
    // Stop accepting; the listeners finish closing once every connection is gone (below).
    const listenersClosed = this.listeners.map((listener) => listener.close().catch(() => {}));
    for (const listener of this.listeners) listener.destroyPending();
    for (const stream of this.openStreams) stream.emit('error', toServiceError(new StoppedError()));
    this.openStreams.clear();
    // HTTP connections end once their responses (a gateway stream's last words included) are out.
    this.httpConnections?.closeIdle();
    this.grpcInjector?.drain(0);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, streamShutdownGraceMs);
      const grpcDone = new Promise<void>((done) => this.grpcServer.tryShutdown(() => done()));
      void Promise.all([grpcDone, this.httpConnections?.closed()]).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.grpcServer.forceShutdown();
    this.httpConnections?.closeAll();
    this.grpcInjector?.destroy();
    this.http2Sessions?.stop();
    await Promise.all(listenersClosed);
  }
}
