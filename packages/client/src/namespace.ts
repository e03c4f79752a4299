/**
 * The key-space API of a client: KV, txn, watch, leases, lock and election,
 * with keys relative to a prefix. A Client is the namespace with the empty
 * prefix; client.namespace('/app/') gives a view where every key, range,
 * watch and txn compare is under '/app/' on the server and results come back
 * without it (Go clientv3/namespace). Views share the client's connections,
 * watch streams and keepalive stream; closing is the client's business.
 */
import { etcdserverpb } from '@holdfast/proto';
import { toBuffer, type Bytes } from './bytes.js';
import type { ConnectionPool, RequestOptions } from './connection-pool.js';
import { EmptyKeyError } from './errors.js';
import { KeySpace } from './key-space.js';
import { LeaseApi, type LeaseManager } from './lease.js';
import { ElectionApi, LockApi } from './lock-election.js';
import {
  fromDeleteResponse,
  fromPutResponse,
  fromRangeResponse,
  fromTxnResponse,
  toDeleteRequest,
  toPutRequest,
  toRangeRequest,
  toTxnRequest,
  type Compare,
  type DeleteOperationOptions,
  type DeleteResult,
  type GetOperationOptions,
  type GetResult,
  type Operation,
  type PutOperationOptions,
  type PutResult,
  type RangeSelector,
  type TxnResult,
} from './operations.js';
import { txnOnlyReads } from './retry-policy.js';
import type { Watch, WatchOptions } from './watch.js';
import type { WatchManager } from './watch-manager.js';

export interface GetOptions extends GetOperationOptions, RequestOptions {}
export interface PutOptions extends PutOperationOptions, RequestOptions {}
export interface DeleteOptions extends DeleteOperationOptions, RequestOptions {}
export interface CompactOptions extends RequestOptions {
  /** Wait until the compaction is applied to the backend, not just scheduled. */
  readonly physical?: boolean;
}

/** What every view of one client shares. */
export interface ClientCore {
  readonly pool: ConnectionPool;
  readonly watches: WatchManager;
  readonly leases: LeaseManager;
}

/**
 * A txn: `if` compares, `then` operations when all hold, `else` otherwise.
 *
 *   await client.txn().if(Compare.version('k', '=', 0n)).then(Op.put('k', 'v')).else(Op.get('k')).commit();
 */
export class TxnBuilder {
  private readonly compares: Compare[] = [];
  private readonly success: Operation[] = [];
  private readonly failure: Operation[] = [];

  constructor(private readonly commitTxn: (compares: Compare[], success: Operation[], failure: Operation[], options: RequestOptions) => Promise<TxnResult>) {}

  if(...compares: Compare[]): this {
    this.compares.push(...compares);
    return this;
  }

  then(...operations: Operation[]): this {
    this.success.push(...operations);
    return this;
  }

  else(...operations: Operation[]): this {
    this.failure.push(...operations);
    return this;
  }

  commit(options: RequestOptions = {}): Promise<TxnResult> {
    return this.commitTxn(this.compares, this.success, this.failure, options);
  }
}

export class Namespace {
  readonly lease: LeaseApi;
  readonly lock: LockApi;
  readonly election: ElectionApi;

  /** Use client.namespace(prefix); not meant to be constructed directly. */
  constructor(
    protected readonly core: ClientCore,
    protected readonly keySpace: KeySpace,
  ) {
    this.lease = new LeaseApi(core.pool, core.leases, keySpace);
    this.lock = new LockApi(core.pool, keySpace);
    this.election = new ElectionApi(core.pool, keySpace);
  }

  /** The prefix this view adds to keys on the server (empty for the client itself). */
  get prefix(): Buffer {
    return this.keySpace.prefix;
  }

  /** A view whose keys are under `prefix`, inside this view's own prefix. */
  namespace(prefix: Bytes): Namespace {
    return new Namespace(this.core, this.keySpace.extend(toBuffer(prefix)));
  }

  /** Reads a key, or a range with prefix / fromKey / rangeEnd. Always safe to retry. */
  async get(key: Bytes, options: GetOptions = {}): Promise<GetResult> {
    const keyBytes = this.checkKey(key, options);
    const response = await this.core.pool.unary(etcdserverpb.KVService.range, toRangeRequest(this.keySpace, keyBytes, options), options);
    return fromRangeResponse(this.keySpace, response);
  }

  /** Writes a key. Sent again only if it never reached a server (see the retry policy). */
  async put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    const keyBytes = this.checkKey(key, {});
    const response = await this.core.pool.unary(etcdserverpb.KVService.put, toPutRequest(this.keySpace, keyBytes, toBuffer(value), options), options);
    return fromPutResponse(this.keySpace, response);
  }

  /** Deletes a key, or a range with prefix / fromKey / rangeEnd. */
  async delete(key: Bytes, options: DeleteOptions = {}): Promise<DeleteResult> {
    const keyBytes = this.checkKey(key, options);
    const response = await this.core.pool.unary(etcdserverpb.KVService.deleteRange, toDeleteRequest(this.keySpace, keyBytes, options), options);
    return fromDeleteResponse(this.keySpace, response);
  }

  /** Starts a txn; see TxnBuilder. A txn that only reads is retried like a get. */
  txn(): TxnBuilder {
    return new TxnBuilder(async (compares, success, failure, options) => {
      const request = toTxnRequest(this.keySpace, { compares, success, failure });
      const response = await this.core.pool.unary(etcdserverpb.KVService.txn, request, { ...options, onlyReads: txnOnlyReads(request) });
      return fromTxnResponse(this.keySpace, response);
    });
  }

  /**
   * Discards history before `revision` for the whole store (not just this
   * namespace). Later reads and watches below it fail with CompactedError.
   */
  async compact(revision: bigint, options: CompactOptions = {}): Promise<void> {
    await this.core.pool.unary(etcdserverpb.KVService.compact, { revision, physical: options.physical ?? false }, options);
  }

  /** Watches a key or range; see Watch for the iteration contract. */
  watch(key: Bytes, options: WatchOptions = {}): Watch {
    return this.core.watches.watch(this.keySpace, this.checkKey(key, options), options);
  }

  /**
   * In a namespace an empty key would address the namespace's own prefix
   * key, which is never what a caller means; like clientv3/namespace it is
   * refused unless it starts a range.
   */
  private checkKey(key: Bytes, range: RangeSelector): Buffer {
    const buffer = toBuffer(key);
    if (buffer.length === 0 && !this.keySpace.isRoot && range.prefix !== true && range.fromKey !== true) throw new EmptyKeyError();
    return buffer;
  }
}

export { KeySpace };
