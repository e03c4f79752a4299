/**
 * Applies committed log entries to the state machine: the MVCC store, the
 * alarms, and (later) leases and membership, in one backend transaction per
 * batch together with the consistent index (the last applied entry), so
 * that data and index are always saved atomically.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import type { Backend } from '@holdfast/storage';
import { CompactedError, FutureRevisionError, type Change, type MvccStore, type WriteTransaction } from '@holdfast/mvcc';
import { EtcdError, LeaseNotFoundError, NoSpaceError, toEtcdError } from '../errors.js';
import type { LogEntry } from '../log/replicated-log.js';
import { applyDeleteRange, applyPut, applyRange, applyTxn, isReadOnlyTxn, revisionHeader } from './kv-apply.js';
import type { AlarmStore } from './alarms.js';
import type { Lessor } from '../lease/lessor.js';

type InternalRaftRequest = etcdserverpb.InternalRaftRequest;

/** The outcome of applying one entry. */
export interface ApplyResult {
  readonly response?: unknown;
  readonly error?: EtcdError;
  /** For compaction: resolves when the compacted records are gone. */
  readonly physical?: Promise<void>;
}

/** Meta-table records the applier owns. */
export const applierMetaKeys = {
  consistentIndex: Buffer.from('consistent_index'),
  term: Buffer.from('term'),
} as const;

export interface ApplierOptions {
  readonly backend: Backend;
  readonly store: MvccStore;
  readonly alarms: AlarmStore;
  readonly lessor: Lessor;
  /** Told of every applied request and its result (metrics). */
  readonly onApplied?: (request: InternalRaftRequest, result: ApplyResult) => void;
}

export class Applier {
  private readonly backend: Backend;
  private readonly store: MvccStore;
  private readonly alarms: AlarmStore;
  private readonly leases: Lessor;
  private readonly onApplied: ((request: InternalRaftRequest, result: ApplyResult) => void) | undefined;
  private appliedIndexValue: number;
  /** Changes applied since takeChanges(), in revision order: what watchers are told. */
  private appliedChanges: Change[] = [];

  constructor(options: ApplierOptions) {
    this.backend = options.backend;
    this.store = options.store;
    this.alarms = options.alarms;
    this.leases = options.lessor;
    this.onApplied = options.onApplied;
    this.appliedIndexValue = readConsistentIndex(options.backend);
  }

  /** Index of the last applied entry; equals the backend's consistent index. */
  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  /**
   * The changes of every write applied since the last call, in revision
   * order. Call after applyEntries() returns, when the backend transaction
   * has committed, so that nobody hears of a change that could be rolled back.
   */
  takeChanges(): Change[] {
    const changes = this.appliedChanges;
    this.appliedChanges = [];
    return changes;
  }

  /**
   * Applies `entries` in one backend transaction. Entries at or below the
   * applied index (already in the backend, replayed from the WAL) are
   * skipped. An exception here is fatal: the backend transaction is rolled
   * back and in-memory state may be ahead of it.
   */
  applyEntries(entries: readonly LogEntry[], decode: (entry: LogEntry) => InternalRaftRequest | undefined): ApplyResult[] {
    const results: ApplyResult[] = [];
    const last = entries[entries.length - 1];
    if (last === undefined) return results;
    this.backend.write(() => {
      for (const entry of entries) {
        if (entry.index <= this.appliedIndexValue) {
          results.push({});
          continue;
        }
        if (entry.index !== this.appliedIndexValue + 1) {
          throw new Error(`apply: entry ${entry.index} after applied index ${this.appliedIndexValue} leaves a gap`);
        }
        // An empty entry (a new leader's) or one `decode` took care of (a conf change) changes no key.
        const request = entry.data.length === 0 ? undefined : decode(entry);
        if (request === undefined) {
          results.push({});
        } else {
          const result = this.applyRequest(request);
          results.push(result);
          this.onApplied?.(request, result);
        }
        this.appliedIndexValue = entry.index;
      }
      const meta = this.backend.table('meta');
      meta.put(applierMetaKeys.consistentIndex, encodeUint64(this.appliedIndexValue));
      meta.put(applierMetaKeys.term, encodeUint64(last.term));
    });
    return results;
  }

  private applyRequest(request: InternalRaftRequest): ApplyResult {
    try {
      if (request.put !== undefined) return { response: this.applyStandalonePut(request.put) };
      if (request.deleteRange !== undefined) return { response: this.applyStandaloneDelete(request.deleteRange) };
      if (request.txn !== undefined) return { response: this.applyStandaloneTxn(request.txn) };
      if (request.compaction !== undefined) return this.applyCompaction(request.compaction);
      if (request.alarm !== undefined) return { response: this.applyAlarm(request.alarm) };
      if (request.leaseGrant !== undefined) return { response: this.applyLeaseGrant(request.leaseGrant) };
      if (request.leaseRevoke !== undefined) return { response: this.applyLeaseRevoke(request.leaseRevoke) };
      if (request.range !== undefined) return { response: applyRange(this.store, request.range) };
      return { error: new EtcdError(GrpcStatus.UNIMPLEMENTED, 'etcdserver: unsupported request in log') };
    } catch (error) {
      // A request's own error (checked before it changed anything) goes back
      // to its client; anything else is a bug and fails the whole batch.
      if (error instanceof EtcdError || error instanceof CompactedError || error instanceof FutureRevisionError) return { error: toEtcdError(error) };
      throw error;
    }
  }

  private applyStandalonePut(request: etcdserverpb.PutRequest): etcdserverpb.PutResponse {
    if (this.alarms.has(etcdserverpb.AlarmType.NOSPACE)) throw new NoSpaceError();
    const txn = this.store.beginWrite();
    const response = applyPut(txn, request, this.leases);
    this.endWrite(txn);
    return response;
  }

  private applyStandaloneDelete(request: etcdserverpb.DeleteRangeRequest): etcdserverpb.DeleteRangeResponse {
    const txn = this.store.beginWrite();
    const response = applyDeleteRange(txn, request);
    this.endWrite(txn);
    return response;
  }

  private applyStandaloneTxn(request: etcdserverpb.TxnRequest): etcdserverpb.TxnResponse {
    if (isReadOnlyTxn(request)) return applyTxn(this.store, request, this.leases, undefined);
    if (this.alarms.has(etcdserverpb.AlarmType.NOSPACE) && txnHasPut(request)) throw new NoSpaceError();
    const txn = this.store.beginWrite();
    const response = applyTxn(this.store, request, this.leases, txn);
    this.endWrite(txn);
    return response;
  }

  private applyLeaseGrant(request: etcdserverpb.LeaseGrantRequest): etcdserverpb.LeaseGrantResponse {
    const lease = this.leases.grant(request.ID, Number(request.TTL));
    return { header: revisionHeader(this.store.currentRevision), ID: lease.id, TTL: BigInt(lease.ttlSeconds), error: '' };
  }

  /** Deletes the lease's keys in one revision, then the lease. */
  private applyLeaseRevoke(request: etcdserverpb.LeaseRevokeRequest): etcdserverpb.LeaseRevokeResponse {
    if (!this.leases.exists(request.ID)) throw new LeaseNotFoundError();
    const txn = this.store.beginWrite();
    this.leases.revoke(request.ID, txn);
    this.endWrite(txn);
    return { header: revisionHeader(this.store.currentRevision) };
  }

  /** Ends a write transaction: attachments follow its changes, and watchers will hear of them. */
  private endWrite(txn: WriteTransaction): void {
    txn.end();
    if (txn.changes.length === 0) return;
    this.leases.trackChanges(txn.changes);
    for (const change of txn.changes) this.appliedChanges.push(change);
  }

  private applyCompaction(request: etcdserverpb.CompactionRequest): ApplyResult {
    const physical = this.store.compact(Number(request.revision));
    return { response: { header: revisionHeader(this.store.currentRevision) } satisfies etcdserverpb.CompactionResponse, physical };
  }

  private applyAlarm(request: etcdserverpb.AlarmRequest): etcdserverpb.AlarmResponse {
    const alarm = { memberId: request.memberID, alarm: request.alarm };
    const changed =
      request.action === etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE
        ? this.alarms.activate(alarm)
        : request.action === etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE
          ? this.alarms.deactivate(alarm)
          : undefined;
    return {
      header: revisionHeader(this.store.currentRevision),
      alarms: changed === undefined ? [] : [{ memberID: changed.memberId, alarm: changed.alarm }],
    };
  }
}

function txnHasPut(request: etcdserverpb.TxnRequest): boolean {
  return [...request.success, ...request.failure].some((op) => op.requestPut !== undefined || (op.requestTxn !== undefined && txnHasPut(op.requestTxn)));
}

export function readConsistentIndex(backend: Backend): number {
  const bytes = backend.table('meta').get(applierMetaKeys.consistentIndex);
  return bytes === undefined ? 0 : Number(bytes.readBigUInt64BE(0));
}

export function readAppliedTerm(backend: Backend): number {
  const bytes = backend.table('meta').get(applierMetaKeys.term);
  return bytes === undefined ? 0 : Number(bytes.readBigUInt64BE(0));
}

function encodeUint64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return bytes;
}
