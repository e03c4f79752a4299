/**
 * The server-side Lock (v3lockpb) and Election (v3electionpb) services.
 * Both hold ownership with a lease the caller grants and keeps alive; the
 * server uses Go clientv3/concurrency's key layouts (name/<lease id hex>),
 * so etcdctl lock/elect and Go programs interoperate. In a namespace, names
 * and returned keys are inside it.
 */
import { v3electionpb, v3lockpb } from '@holdfast/proto';
import { KeyValue, toBuffer, toHeader, type Bytes, type ResponseHeader } from './bytes.js';
import { onAbort } from './abort-listeners.js';
import { cancelCall, type ConnectionPool, type RequestOptions } from './connection-pool.js';
import { ElectionNoLeaderError, EtcdError, toEtcdError } from './errors.js';
import type { KeySpace } from './key-space.js';

export class LockApi {
  constructor(
    private readonly pool: ConnectionPool,
    private readonly keySpace: KeySpace,
  ) {}

  /**
   * Waits until the lock `name` is ours, held by `leaseId`; returns the
   * key that holds it (pass it to unlock). Blocks for as long as another
   * owner holds it: give a timeoutMs or signal that suits.
   */
  async lock(name: Bytes, leaseId: bigint, options: RequestOptions = {}): Promise<{ header: ResponseHeader; key: Buffer }> {
    const response = await this.pool.unary(v3lockpb.LockService.lock, { name: this.keySpace.key(toBuffer(name)), lease: leaseId }, options);
    return { header: toHeader(response.header), key: this.keySpace.strip(response.key) };
  }

  async unlock(key: Bytes, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(v3lockpb.LockService.unlock, { key: this.keySpace.key(toBuffer(key)) }, options)).header);
  }
}

/** Proof of leadership, returned by campaign() and passed to proclaim() and resign(). */
export interface LeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  /** Creation revision of the key. */
  readonly revision: bigint;
  readonly lease: bigint;
}

export class ElectionApi {
  constructor(
    private readonly pool: ConnectionPool,
    private readonly keySpace: KeySpace,
  ) {}

  private toWire(leader: LeaderKey): v3electionpb.LeaderKey {
    return { name: this.keySpace.key(leader.name), key: this.keySpace.key(leader.key), rev: leader.revision, lease: leader.lease };
  }

  /** Waits until we lead election `name` with `value`, under `leaseId`. */
  async campaign(name: Bytes, leaseId: bigint, value: Bytes, options: RequestOptions = {}): Promise<LeaderKey> {
    const request = { name: this.keySpace.key(toBuffer(name)), lease: leaseId, value: toBuffer(value) };
    const response = await this.pool.unary(v3electionpb.ElectionService.campaign, request, options);
    const leader = response.leader;
    if (leader === undefined) throw new EtcdError('campaign answered without a leader key');
    return { name: this.keySpace.strip(leader.name), key: this.keySpace.strip(leader.key), revision: leader.rev, lease: leader.lease };
  }

  /** Changes the leader's value without another election. */
  async proclaim(leader: LeaderKey, value: Bytes, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(v3electionpb.ElectionService.proclaim, { leader: this.toWire(leader), value: toBuffer(value) }, options)).header);
  }

  /** The current leader's key and value; undefined when nobody leads. */
  async leader(name: Bytes, options: RequestOptions = {}): Promise<KeyValue | undefined> {
    try {
      const response = await this.pool.unary(v3electionpb.ElectionService.leader, { name: this.keySpace.key(toBuffer(name)) }, options);
      return response.kv === undefined ? undefined : this.keySpace.stripKeyValue(KeyValue.fromWire(response.kv));
    } catch (error) {
      // etcd answers "election: no leader" rather than an empty response.
      if (error instanceof ElectionNoLeaderError) return undefined;
      throw error;
    }
  }

  async resign(leader: LeaderKey, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(v3electionpb.ElectionService.resign, { leader: this.toWire(leader) }, options)).header);
  }

  /** Every leader from the current one on, as they change. Not resumed: a broken stream throws. */
  async *observe(name: Bytes, options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<KeyValue, void, undefined> {
    const { stream, endpoint } = await this.pool.openServerStream(v3electionpb.ElectionService.observe, { name: this.keySpace.key(toBuffer(name)) }, options);
    const signal = options.signal;
    const stopWaiting = signal === undefined ? () => {} : onAbort(signal, () => cancelCall(stream));
    let finished = false;
    try {
      for await (const response of stream as AsyncIterable<v3electionpb.LeaderResponse>) {
        if (response.kv !== undefined) yield this.keySpace.stripKeyValue(KeyValue.fromWire(response.kv));
      }
      finished = true;
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      throw toEtcdError(error, endpoint);
    } finally {
      stopWaiting();
      if (!finished) cancelCall(stream);
    }
  }
}
