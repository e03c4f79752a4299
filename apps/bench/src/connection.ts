/**
 * One benchmark "connection": one transport (one TCP connection) that every
 * client and stream assigned to it shares, like one clientv3 connection in
 * etcd's benchmark. The rpc helpers below name the calls the workloads make,
 * over the generated service definitions of @holdfast/proto.
 */
import { status } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { GrpcJsTransport } from './transport-grpc-js.js';
import { Http2Transport } from './transport-http2.js';
import { statusName, type DuplexCall, type RpcTransport, type TransportName } from './transport.js';

export class Connection {
  readonly transport: RpcTransport;

  constructor(
    readonly index: number,
    readonly endpoint: string,
    transportName: TransportName = 'http2',
  ) {
    this.transport = transportName === 'grpc-js' ? new GrpcJsTransport(endpoint) : new Http2Transport(endpoint);
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return this.transport.waitForReady(timeoutMs);
  }

  close(): void {
    this.transport.close();
  }
}

/** A gRPC failure from either transport (GrpcStatusError or grpc-js's ServiceError). */
export function isStatusError(error: unknown): error is Error & { code: number; details: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'number' && typeof (error as { details?: unknown }).details === 'string';
}

/** The key errors are counted by: "<CODE>: <message>" for gRPC errors. */
export function errorKey(error: unknown): string {
  if (isStatusError(error)) return `${statusName(error.code)}: ${error.details || error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export function isUnimplemented(error: unknown): boolean {
  return isStatusError(error) && error.code === status.UNIMPLEMENTED;
}

export function put(connection: Connection, request: etcdserverpb.PutRequest, timeoutMs: number): Promise<etcdserverpb.PutResponse> {
  return connection.transport.unary(etcdserverpb.KVService.put, request, timeoutMs);
}

export function range(connection: Connection, request: etcdserverpb.RangeRequest, timeoutMs: number): Promise<etcdserverpb.RangeResponse> {
  return connection.transport.unary(etcdserverpb.KVService.range, request, timeoutMs);
}

export function txn(connection: Connection, request: etcdserverpb.TxnRequest, timeoutMs: number): Promise<etcdserverpb.TxnResponse> {
  return connection.transport.unary(etcdserverpb.KVService.txn, request, timeoutMs);
}

export function leaseGrant(connection: Connection, request: etcdserverpb.LeaseGrantRequest, timeoutMs: number): Promise<etcdserverpb.LeaseGrantResponse> {
  return connection.transport.unary(etcdserverpb.LeaseService.leaseGrant, request, timeoutMs);
}

export function leaseRevoke(connection: Connection, request: etcdserverpb.LeaseRevokeRequest, timeoutMs: number): Promise<etcdserverpb.LeaseRevokeResponse> {
  return connection.transport.unary(etcdserverpb.LeaseService.leaseRevoke, request, timeoutMs);
}

export function serverStatus(connection: Connection, timeoutMs: number): Promise<etcdserverpb.StatusResponse> {
  return connection.transport.unary(etcdserverpb.MaintenanceService.status, {}, timeoutMs);
}

export function watchStream(connection: Connection): DuplexCall<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse> {
  return connection.transport.duplex(etcdserverpb.WatchService.watch);
}

export function leaseKeepAliveStream(connection: Connection): DuplexCall<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse> {
  return connection.transport.duplex(etcdserverpb.LeaseService.leaseKeepAlive);
}
