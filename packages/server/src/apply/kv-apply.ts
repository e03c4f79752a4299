/**
 * Applying KV requests to the MVCC store, with etcd's exact semantics
 * (etcd's applierV3backend: Range sort/filter/limit rules, Put's
 * ignore_value/ignore_lease/prev_kv, Txn compare evaluation, the revisions in
 * nested response headers).
 */
import { etcdserverpb, type mvccpb } from '@holdfast/proto';
import type { KeyValue, MvccStore, RangeOptions, RangeResult, WriteTransaction } from '@holdfast/mvcc';
import { CompactedRevisionError, FutureRevisionRequestError, KeyNotFoundError, LeaseNotFoundError } from '../errors.js';

const { RangeRequest_SortOrder: SortOrder, RangeRequest_SortTarget: SortTarget, Compare_CompareResult: CompareResult, Compare_CompareTarget: CompareTarget } =
  etcdserverpb;

type RangeRequest = etcdserverpb.RangeRequest;
type RangeResponse = etcdserverpb.RangeResponse;
type PutRequest = etcdserverpb.PutRequest;
type PutResponse = etcdserverpb.PutResponse;
type DeleteRangeRequest = etcdserverpb.DeleteRangeRequest;
type DeleteRangeResponse = etcdserverpb.DeleteRangeResponse;
type TxnRequest = etcdserverpb.TxnRequest;
type TxnResponse = etcdserverpb.TxnResponse;
type Compare = etcdserverpb.Compare;
type ResponseHeader = etcdserverpb.ResponseHeader;

/** What the KV applier needs to know about leases. */
export interface LeaseLookup {
  exists(leaseId: bigint): boolean;
}

/** Something ranges can be read from: the store, or a write transaction. */
export interface RangeReader {
  range(key: Uint8Array, rangeEnd: Uint8Array | undefined, options?: RangeOptions): RangeResult;
}

/** A header with only the revision set; the server fills the rest on the outermost response. */
export function revisionHeader(revision: number): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision: BigInt(revision), raftTerm: 0n };
}

export function toProtoKeyValue(kv: KeyValue): mvccpb.KeyValue {
  return {
    key: kv.key as Buffer,
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    value: kv.value as Buffer,
    lease: kv.lease,
  };
}

const emptyValue = Buffer.alloc(0);

/** A Range in key order without revision filters: its limit can be pushed down to the read. */
export function isPlainRange(request: RangeRequest): boolean {
  return request.sortOrder === SortOrder.NONE && request.sortTarget === SortTarget.KEY && !hasRevisionFilter(request);
}

function hasRevisionFilter(request: RangeRequest): boolean {
  return request.minModRevision !== 0n || request.maxModRevision !== 0n || request.minCreateRevision !== 0n || request.maxCreateRevision !== 0n;
}

/**
 * How many keys to read: sorting or filtering needs every key before the
 * limit applies (0); otherwise one more than the limit, to know whether
 * there is more.
 */
export function rangeLimitToRead(request: RangeRequest): number {
  const pushDownLimit = request.sortOrder === SortOrder.NONE && !hasRevisionFilter(request);
  const requestedLimit = Number(request.limit);
  return pushDownLimit && requestedLimit > 0 ? requestedLimit + 1 : 0;
}

/** The request's min/max mod and create revision filters, as one test. */
export function rangeRevisionFilter(request: RangeRequest): (kv: KeyValue) => boolean {
  const { minModRevision, maxModRevision, minCreateRevision, maxCreateRevision } = request;
  return (kv) =>
    (maxModRevision === 0n || BigInt(kv.modRevision) <= maxModRevision) &&
    (minModRevision === 0n || BigInt(kv.modRevision) >= minModRevision) &&
    (maxCreateRevision === 0n || BigInt(kv.createRevision) <= maxCreateRevision) &&
    (minCreateRevision === 0n || BigInt(kv.createRevision) >= minCreateRevision);
}

/** Sorts (etcd's rules) and applies the limit to KeyValues already read and filtered. */
export function finishRangeKvs(request: RangeRequest, filtered: KeyValue[]): { kvs: KeyValue[]; more: boolean } {
  let kvs = filtered;
  let sortOrder = request.sortOrder;
  // Results come sorted by key ascending; any other target sorts ascending by default.
  if (request.sortTarget !== SortTarget.KEY && sortOrder === SortOrder.NONE) sortOrder = SortOrder.ASCEND;
  if (sortOrder === SortOrder.ASCEND || sortOrder === SortOrder.DESCEND) {
    const compare = sortComparator(request.sortTarget);
    // Stable, so ties keep key order (what Go's sort gives for small inputs).
    kvs = [...kvs].sort(sortOrder === SortOrder.ASCEND ? compare : (a, b) => compare(b, a));
  }
  const requestedLimit = Number(request.limit);
  let more = false;
  if (requestedLimit > 0 && kvs.length > requestedLimit) {
    kvs = kvs.slice(0, requestedLimit);
    more = true;
  }
  return { kvs, more };
}

/**
 * A Range read at once, as objects: for Ranges inside a Txn (which must
 * read at the txn's revision without yielding). A plain Range request is
 * served by readRange (range-answer.ts), in slices.
 */
export function applyRange(reader: RangeReader, request: RangeRequest): RangeResponse {
  const result = reader.range(request.key, request.rangeEnd.length === 0 ? undefined : request.rangeEnd, {
    limit: rangeLimitToRead(request),
    revision: Number(request.revision),
    countOnly: request.countOnly,
  });
  const { kvs, more } = finishRangeKvs(request, hasRevisionFilter(request) ? result.kvs.filter(rangeRevisionFilter(request)) : result.kvs);
  return {
    header: revisionHeader(result.revision),
    kvs: kvs.map((kv) => {
      const proto = toProtoKeyValue(kv);
      if (request.keysOnly) proto.value = emptyValue;
      return proto;
    }),
    more,
    count: BigInt(result.count),
  };
}

function sortComparator(target: etcdserverpb.RangeRequest_SortTarget): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case SortTarget.VERSION:
      return (a, b) => a.version - b.version;
    case SortTarget.CREATE:
      return (a, b) => a.createRevision - b.createRevision;
    case SortTarget.MOD:
      return (a, b) => a.modRevision - b.modRevision;
    case SortTarget.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => Buffer.compare(a.key, b.key);
  }
}

/** Checks a put can apply before anything is written (etcd's checkRequestPut). */
function checkPut(reader: RangeReader, request: PutRequest, leases: LeaseLookup): void {
  if (request.ignoreValue || request.ignoreLease) {
    if (reader.range(request.key, undefined).kvs.length === 0) throw new KeyNotFoundError();
  }
  if (request.lease !== 0n && !leases.exists(request.lease)) throw new LeaseNotFoundError();
}

export function applyPut(txn: WriteTransaction, request: PutRequest, leases: LeaseLookup, checked = false): PutResponse {
  if (!checked) checkPut(txn, request, leases);
  let value: Uint8Array = request.value;
  let lease = request.lease;
  let previous: KeyValue | undefined;
  if (request.ignoreValue || request.ignoreLease || request.prevKv) {
    previous = txn.range(request.key, undefined).kvs[0];
  }
  if (request.ignoreValue) value = previous!.value;
  if (request.ignoreLease) lease = previous!.lease;
  txn.put(request.key, value, lease);
  return {
    header: revisionHeader(txn.writeMain),
    prevKv: request.prevKv && previous !== undefined ? toProtoKeyValue(previous) : undefined,
  };
}

export function applyDeleteRange(txn: WriteTransaction, request: DeleteRangeRequest): DeleteRangeResponse {
  const deleted = txn.deleteRange(request.key, request.rangeEnd.length === 0 ? undefined : request.rangeEnd);
  return {
    header: revisionHeader(deleted.length > 0 || txn.changes.length > 0 ? txn.writeMain : txn.beginMain),
    deleted: BigInt(deleted.length),
    prevKvs: request.prevKv ? deleted.map(toProtoKeyValue) : [],
  };
}

/** Whether a txn request (with everything nested) could write anything. */
export function isReadOnlyTxn(request: TxnRequest): boolean {
  const readOnly = (ops: etcdserverpb.RequestOp[]): boolean =>
    ops.every((op) => op.requestRange !== undefined || (op.requestTxn !== undefined && isReadOnlyTxn(op.requestTxn)));
  return readOnly(request.success) && readOnly(request.failure);
}

export function applyCompare(reader: RangeReader, compare: Compare): boolean {
  let kvs: KeyValue[];
  try {
    kvs = reader.range(compare.key, compare.rangeEnd.length === 0 ? undefined : compare.rangeEnd).kvs;
  } catch {
    return false;
  }
  if (kvs.length === 0) {
    // A missing key has no value to compare; for the numeric targets it is 0.
    if (compare.target === CompareTarget.VALUE) return false;
    return compareKeyValue(compare, undefined);
  }
  return kvs.every((kv) => compareKeyValue(compare, kv));
}

function compareKeyValue(compare: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  switch (compare.target) {
    case CompareTarget.VALUE:
      result = Buffer.compare(kv?.value ?? emptyValue, compare.value ?? emptyValue);
      break;
    case CompareTarget.CREATE:
      result = compareBig(BigInt(kv?.createRevision ?? 0), compare.createRevision ?? 0n);
      break;
    case CompareTarget.MOD:
      result = compareBig(BigInt(kv?.modRevision ?? 0), compare.modRevision ?? 0n);
      break;
    case CompareTarget.VERSION:
      result = compareBig(BigInt(kv?.version ?? 0), compare.version ?? 0n);
      break;
    case CompareTarget.LEASE:
      result = compareBig(kv?.lease ?? 0n, compare.lease ?? 0n);
      break;
    default:
      return true;
  }
  switch (compare.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}

function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Which branch each txn (outer first, then nested in op order) takes: etcd's compareToPath. */
function txnPath(reader: RangeReader, request: TxnRequest): boolean[] {
  const succeeded = request.compare.every((compare) => applyCompare(reader, compare));
  const path = [succeeded];
  for (const op of succeeded ? request.success : request.failure) {
    if (op.requestTxn !== undefined) path.push(...txnPath(reader, op.requestTxn));
  }
  return path;
}

/** Checks every op on the taken path before anything is written. */
function checkTxnPath(reader: RangeReader, request: TxnRequest, path: boolean[], leases: LeaseLookup, currentRevision: number, compactRevision: number, checkPuts: boolean): number {
  let consumed = 1;
  for (const op of path[0] ? request.success : request.failure) {
    if (op.requestPut !== undefined && checkPuts) checkPut(reader, op.requestPut, leases);
    if (op.requestRange !== undefined && op.requestRange.revision !== 0n) {
      const revision = Number(op.requestRange.revision);
      if (revision > currentRevision) throw new FutureRevisionRequestError();
      if (revision < compactRevision) throw new CompactedRevisionError();
    }
    if (op.requestTxn !== undefined) {
      consumed += checkTxnPath(reader, op.requestTxn, path.slice(consumed), leases, currentRevision, compactRevision, checkPuts);
    }
  }
  return consumed;
}

/**
 * Applies a txn. A read-only txn (`txn` undefined) reads the store; one that
 * may write runs in `txn`. Returns the response with the outer header's
 * revision set as etcd sets it.
 */
export function applyTxn(store: MvccStore, request: TxnRequest, leases: LeaseLookup, txn: WriteTransaction | undefined): TxnResponse {
  const reader: RangeReader = txn ?? store;
  const path = txnPath(reader, request);
  checkTxnPath(reader, request, path, leases, store.currentRevision, store.compactRevision, txn !== undefined);
  const response = runTxn(reader, txn, request, path, leases);
  let revision: number;
  if (txn === undefined) revision = store.currentRevision;
  else revision = txn.changes.length > 0 ? txn.writeMain : txn.beginMain;
  response.header = revisionHeader(revision);
  return response;
}

function runTxn(reader: RangeReader, txn: WriteTransaction | undefined, request: TxnRequest, path: boolean[], leases: LeaseLookup): TxnResponse {
  const succeeded = path.shift()!;
  const responses: etcdserverpb.ResponseOp[] = [];
  for (const op of succeeded ? request.success : request.failure) {
    if (op.requestRange !== undefined) {
      responses.push({ responseRange: applyRange(reader, op.requestRange) });
    } else if (op.requestPut !== undefined) {
      responses.push({ responsePut: applyPut(txn!, op.requestPut, leases, true) });
    } else if (op.requestDeleteRange !== undefined) {
      responses.push({ responseDeleteRange: applyDeleteRange(txn!, op.requestDeleteRange) });
    } else if (op.requestTxn !== undefined) {
      const nested = runTxn(reader, txn, op.requestTxn, path, leases);
      // etcd leaves nested txn headers empty.
      nested.header = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };
      responses.push({ responseTxn: nested });
    }
  }
  return { header: undefined, succeeded, responses };
}
