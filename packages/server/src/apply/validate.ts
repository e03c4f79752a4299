/**
 * Request checks done before a request is proposed, as etcd's v3rpc layer
 * does them: a request that fails here never reaches the log.
 */
import type { etcdserverpb } from '@holdfast/proto';
import { bytesToKey } from '@holdfast/mvcc';
import { DuplicateKeyError, EmptyKeyError, KeyNotFoundError, LeaseProvidedError, TooManyOpsError, ValueProvidedError } from '../errors.js';

type RangeRequest = etcdserverpb.RangeRequest;
type PutRequest = etcdserverpb.PutRequest;
type DeleteRangeRequest = etcdserverpb.DeleteRangeRequest;
type TxnRequest = etcdserverpb.TxnRequest;
type RequestOp = etcdserverpb.RequestOp;

export function validateRange(request: RangeRequest): void {
  if (request.key.length === 0) throw new EmptyKeyError();
}

export function validatePut(request: PutRequest): void {
  if (request.key.length === 0) throw new EmptyKeyError();
  if (request.ignoreValue && request.value.length !== 0) throw new ValueProvidedError();
  if (request.ignoreLease && request.lease !== 0n) throw new LeaseProvidedError();
}

export function validateDeleteRange(request: DeleteRangeRequest): void {
  if (request.key.length === 0) throw new EmptyKeyError();
}

/**
 * etcd's checkTxnRequest: the largest of #compares, #success, #failure must
 * not exceed maxTxnOps, then every op is checked, then puts and deletes in
 * one branch must not touch a key twice. A nested txn gets what its parent
 * left of the budget (maxTxnOps minus the parent's op count), as in etcd, so
 * the whole tree is bounded: nesting deeper than maxTxnOps + 1 levels is
 * always "too many operations".
 */
export function validateTxn(request: TxnRequest, maxTxnOps: number): void {
  validateTxnOps(request, maxTxnOps);
  checkIntervals(request.success);
  checkIntervals(request.failure);
}

function validateTxnOps(request: TxnRequest, maxTxnOps: number): void {
  const opCount = Math.max(request.compare.length, request.success.length, request.failure.length);
  if (opCount > maxTxnOps) throw new TooManyOpsError();
  for (const compare of request.compare) if (compare.key.length === 0) throw new EmptyKeyError();
  for (const op of request.success) validateOp(op, maxTxnOps - opCount);
  for (const op of request.failure) validateOp(op, maxTxnOps - opCount);
}

/** `maxTxnOps` is what the enclosing txns left of the budget. */
function validateOp(op: RequestOp, maxTxnOps: number): void {
  if (op.requestRange !== undefined) validateRange(op.requestRange);
  else if (op.requestPut !== undefined) validatePut(op.requestPut);
  else if (op.requestDeleteRange !== undefined) validateDeleteRange(op.requestDeleteRange);
  else if (op.requestTxn !== undefined) validateTxnOps(op.requestTxn, maxTxnOps);
  // An empty op is what etcd 3.4 answers "key not found" to.
  else throw new KeyNotFoundError();
}

/** A half-open byte-string interval [start, end); end undefined = the point start. */
interface Interval {
  start: string;
  end: string | undefined;
}

function intersectsPoint(intervals: Interval[], point: string): boolean {
  return intervals.some(({ start, end }) => (end === undefined ? point === start : start <= point && point < end));
}

/**
 * etcd's checkIntervals: within one branch, a key may be put at most once
 * and not also deleted; a nested txn's then/else may put the same key (only
 * one runs). Range ends are compared literally, as etcd 3.4 does (so a
 * delete to "\0" does not count as covering later keys).
 */
function checkIntervals(ops: RequestOp[]): { puts: Set<string>; deletes: Interval[] } {
  const deletes: Interval[] = [];
  for (const op of ops) {
    const request = op.requestDeleteRange;
    if (request === undefined) continue;
    deletes.push({ start: bytesToKey(request.key), end: request.rangeEnd.length === 0 ? undefined : bytesToKey(request.rangeEnd) });
  }
  const puts = new Set<string>();
  for (const op of ops) {
    if (op.requestTxn === undefined) continue;
    const thenBranch = checkIntervals(op.requestTxn.success);
    const elseBranch = checkIntervals(op.requestTxn.failure);
    for (const key of thenBranch.puts) {
      if (puts.has(key) || intersectsPoint(deletes, key)) throw new DuplicateKeyError();
      puts.add(key);
    }
    for (const key of elseBranch.puts) {
      if (puts.has(key) && !thenBranch.puts.has(key)) throw new DuplicateKeyError();
      if (intersectsPoint(deletes, key)) throw new DuplicateKeyError();
      puts.add(key);
    }
    deletes.push(...thenBranch.deletes, ...elseBranch.deletes);
  }
  for (const op of ops) {
    if (op.requestPut === undefined) continue;
    const key = bytesToKey(op.requestPut.key);
    if (puts.has(key) || intersectsPoint(deletes, key)) throw new DuplicateKeyError();
    puts.add(key);
  }
  return { puts, deletes };
}
