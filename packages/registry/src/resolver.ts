/**
 * A name resolver for @grpc/grpc-js: `etcd:///<service>` resolves to the
 * addresses of the service's registered instances, and follows them as they
 * come and go (the counterpart of Go's client/v3/naming/resolver).
 *
 *   registerEtcdResolver(client);                       // once per process
 *   const stub = new EchoClient('etcd:///echo', grpc.credentials.createInsecure());
 *
 * Each channel's resolver opens a Discovery of its service (one watch on the
 * client's shared watch streams) and hands grpc-js the instances' addresses
 * on every change. Unless the channel sets `grpc.service_config`, the
 * resolver also supplies a service config choosing round_robin (Go leaves
 * that to a dial option), so calls spread over every instance; when the list
 * becomes empty, calls fail UNAVAILABLE (or wait, with waitForReady) until an
 * instance registers.
 */
import * as grpcJs from '@grpc/grpc-js';
import type { Namespace } from '@holdfast/client';
import type { Instance } from './codec.js';
import { Discovery } from './discovery.js';

type GrpcModule = typeof grpcJs;
type GrpcUri = grpcJs.experimental.GrpcUri;
type ResolverListener = grpcJs.experimental.ResolverListener;
type Endpoint = grpcJs.experimental.Endpoint;
type ServiceConfig = grpcJs.ServiceConfig;

/** The service config the resolver supplies by default: round_robin over every address. */
export const roundRobinServiceConfig = { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] } as const;

export interface EtcdResolverOptions {
  /** The URI scheme (default 'etcd', as Go's resolver). */
  readonly scheme?: string;
  /**
   * The grpc-js module whose resolver registry to use: pass yours if your
   * application loads another copy of @grpc/grpc-js than this package does.
   */
  readonly grpc?: GrpcModule;
  /**
   * Service config supplied with every resolution when the channel sets no
   * `grpc.service_config` (default: round_robin); null supplies none.
   */
  readonly serviceConfig?: object | null;
}

/** The addresses grpc-js should connect to, one endpoint per distinct address. */
export function instancesToEndpoints(instances: readonly Instance[], grpc: GrpcModule = grpcJs): Endpoint[] {
  const endpoints: Endpoint[] = [];
  const seen = new Set<string>();
  for (const instance of instances) {
    const address = instance.address;
    if (seen.has(address)) continue;
    seen.add(address);
    if (address.startsWith('unix:')) {
      endpoints.push({ addresses: [{ path: address.replace(/^unix:(\/\/)?/, '') }] });
      continue;
    }
    const hostPort = grpc.experimental.splitHostPort(address);
    if (hostPort === null || hostPort.port === undefined) continue; // not something grpc-js can dial
    endpoints.push({ addresses: [{ host: hostPort.host, port: hostPort.port }] });
  }
  return endpoints;
}

/** The service named by a target: `etcd:///svc` → `svc` (as Go: the URL path without its leading '/'). */
export function targetService(target: GrpcUri): string {
  return target.path.replace(/^\/+/, '');
}

/**
 * The :authority calls carry unless the channel sets
 * `grpc.default_authority`: the target's authority if it names one
 * (`etcd://auth/svc`), else the service name made a valid host name
 * (characters other than letters, digits, '.' and '-' become '-': a service
 * name may contain '/', which an HTTP/2 server refuses in :authority).
 */
export function defaultAuthority(target: GrpcUri): string {
  if (target.authority !== undefined && target.authority.length > 0) return target.authority;
  const host = targetService(target).replace(/[^A-Za-z0-9.-]/g, '-');
  return host.length === 0 ? 'localhost' : host;
}

/**
 * Registers the `etcd` scheme (or options.scheme) with grpc-js, resolving
 * through `client`. A later call for the same scheme replaces the earlier
 * one for channels created after it.
 */
export function registerEtcdResolver(client: Namespace, options: EtcdResolverOptions = {}): void {
  const grpc = options.grpc ?? grpcJs;
  const scheme = options.scheme ?? 'etcd';
  const suppliedConfig = options.serviceConfig === undefined ? roundRobinServiceConfig : options.serviceConfig;

  class EtcdResolver implements grpcJs.experimental.Resolver {
    private readonly service: string;
    private discovery: Discovery | undefined;
    private opening: Promise<void> | undefined;
    private destroyed = false;
    private readonly serviceConfig: grpcJs.experimental.StatusOr<ServiceConfig> | null;

    constructor(
      target: GrpcUri,
      private readonly listener: ResolverListener,
      channelOptions: grpcJs.ChannelOptions,
    ) {
      this.service = targetService(target);
      const channelHasConfig = typeof channelOptions['grpc.service_config'] === 'string';
      this.serviceConfig =
        channelHasConfig || suppliedConfig === null ? null : grpc.experimental.statusOrFromValue(suppliedConfig as unknown as ServiceConfig);
    }

    updateResolution(): void {
      this.destroyed = false;
      // While the discovery is open its watch reports every change: nothing to do (as Go's ResolveNow).
      // Reporting here again would loop: a new address list makes round_robin ask for re-resolution.
      if (this.discovery !== undefined && !this.discovery.closed) return;
      this.opening ??= this.open().finally(() => (this.opening = undefined));
    }

    destroy(): void {
      this.destroyed = true;
      this.discovery?.close();
      this.discovery = undefined;
    }

    static getDefaultAuthority(target: GrpcUri): string {
      return defaultAuthority(target);
    }

    private async open(): Promise<void> {
      if (this.service.length === 0) {
        this.fail(grpc.status.INVALID_ARGUMENT, 'etcd resolver: the target names no service (use etcd:///<service>)');
        return;
      }
      let discovery: Discovery;
      try {
        discovery = await Discovery.open(client, this.service);
      } catch (error) {
        // grpc-js asks again (updateResolution) with backoff.
        this.fail(grpc.status.UNAVAILABLE, `etcd resolver: cannot read "${this.service}": ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
      if (this.destroyed) {
        discovery.close();
        return;
      }
      this.discovery = discovery;
      discovery.on('change', () => this.report());
      discovery.done.then(
        () => {},
        (error: unknown) => this.fail(grpc.status.UNAVAILABLE, `etcd resolver: watch of "${this.service}" failed: ${error instanceof Error ? error.message : String(error)}`),
      );
      this.report();
    }

    private report(): void {
      const discovery = this.discovery;
      if (this.destroyed || discovery === undefined) return;
      const endpoints = instancesToEndpoints(discovery.instances(), grpc);
      if (endpoints.length === 0) {
        this.fail(grpc.status.UNAVAILABLE, `etcd resolver: no instances of "${this.service}" are registered`);
        return;
      }
      this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, this.serviceConfig, '');
    }

    private fail(code: grpcJs.status, details: string): void {
      if (this.destroyed) return;
      this.listener(grpc.experimental.statusOrFromError({ code, details, metadata: new grpc.Metadata() }), {}, null, '');
    }
  }

  grpc.experimental.registerResolver(scheme, EtcdResolver);
}
