/** Minimal promise-based etcd clients over @holdfast/proto, for tests (no retries, no magic). */
import { credentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';

type Callback<T> = (error: ServiceError | null, response: T) => void;

function call<T>(invoke: (callback: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => invoke((error, response) => (error ? reject(error) : resolve(response))));
}

/** Channel options that give a client its own connection (not one shared with, and backing off like, other clients). */
export const ownConnection: ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

export class TestKvClient {
  private readonly client: etcdserverpb.KVClient;
  constructor(endpoint: string, options: ChannelOptions = {}) {
    this.client = new etcdserverpb.KVClient(endpoint, credentials.createInsecure(), options);
  }
  put(key: string, value: string | Buffer, lease = 0n): Promise<etcdserverpb.PutResponse> {
    return call((callback) => this.client.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value), lease }), callback));
  }
  range(request: Partial<etcdserverpb.RangeRequest>): Promise<etcdserverpb.RangeResponse> {
    return call((callback) => this.client.range(etcdserverpb.RangeRequest.fromPartial(request), callback));
  }
  deleteRange(request: Partial<etcdserverpb.DeleteRangeRequest>): Promise<etcdserverpb.DeleteRangeResponse> {
    return call((callback) => this.client.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial(request), callback));
  }
  txn(request: Partial<etcdserverpb.TxnRequest>): Promise<etcdserverpb.TxnResponse> {
    return call((callback) => this.client.txn(etcdserverpb.TxnRequest.fromPartial(request), callback));
  }
  compact(revision: bigint, physical = false): Promise<etcdserverpb.CompactionResponse> {
    return call((callback) => this.client.compact(etcdserverpb.CompactionRequest.fromPartial({ revision, physical }), callback));
  }
  close(): void {
    this.client.close();
  }
}

export class TestLeaseClient {
  readonly client: etcdserverpb.LeaseClient;
  constructor(endpoint: string, options: ChannelOptions = {}) {
    this.client = new etcdserverpb.LeaseClient(endpoint, credentials.createInsecure(), options);
  }
  grant(ttlSeconds: number, id = 0n): Promise<etcdserverpb.LeaseGrantResponse> {
    return call((callback) => this.client.leaseGrant(etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: BigInt(ttlSeconds), ID: id }), callback));
  }
  revoke(id: bigint): Promise<etcdserverpb.LeaseRevokeResponse> {
    return call((callback) => this.client.leaseRevoke(etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: id }), callback));
  }
  timeToLive(id: bigint, keys = false): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    return call((callback) => this.client.leaseTimeToLive(etcdserverpb.LeaseTimeToLiveRequest.fromPartial({ ID: id, keys }), callback));
  }
  leases(): Promise<etcdserverpb.LeaseLeasesResponse> {
    return call((callback) => this.client.leaseLeases({}, callback));
  }
  close(): void {
    this.client.close();
  }
}
