/**
 * KV operations and txn compares as plain data, and their conversion to and
 * from the wire in a key space. The same operation is sent on its own
 * (client.get/put/delete) or inside a txn; the key space (namespace) is
 * applied on the way out and stripped on the way back, in one place.
 */
import { etcdserverpb, prefixRangeEnd, type mvccpb } from '@holdfast/proto';
import { KeyValue, checkCount, emptyBytes, toBuffer, toHeader, type Bytes, type ResponseHeader } from './bytes.js';
import type { KeySpace } from './key-space.js';

/** Which keys an operation covers; at most one of the three. Default: the key alone. */
export interface RangeSelector {
  /** Every key that starts with the key (an empty key: every key). */
  readonly prefix?: boolean;
  /** Every key >= the key. */
  readonly fromKey?: boolean;
  /** Keys in [key, rangeEnd). */
  readonly rangeEnd?: Bytes;
}

export type SortTarget = 'key' | 'version' | 'createRevision' | 'modRevision' | 'value';
export type SortOrder = 'none' | 'ascend' | 'descend';

export interface GetOperationOptions extends RangeSelector {
  /** At most this many keys (0: no limit). */
  readonly limit?: number;
  /** Read at this revision (0n or absent: the latest). */
  readonly revision?: bigint;
  /** Served by the member alone, without a quorum round: may be stale. */
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  /** Sort order; etcd sorts by key ascending when neither is given. */
  readonly sort?: { readonly target?: SortTarget; readonly order?: SortOrder };
  readonly minModRevision?: bigint;
  readonly maxModRevision?: bigint;
  readonly minCreateRevision?: bigint;
  readonly maxCreateRevision?: bigint;
}

export interface PutOperationOptions {
  /** Attach the key to this lease (0n or absent: none). */
  readonly lease?: bigint;
  /** Return the previous key-value. */
  readonly prevKv?: boolean;
  /** Keep the current value (the key must exist). */
  readonly ignoreValue?: boolean;
  /** Keep the current lease (the key must exist). */
  readonly ignoreLease?: boolean;
}

export interface DeleteOperationOptions extends RangeSelector {
  /** Return the deleted key-values. */
  readonly prevKv?: boolean;
}

export interface GetOperation {
  readonly kind: 'get';
  readonly key: Buffer;
  readonly options: GetOperationOptions;
}
export interface PutOperation {
  readonly kind: 'put';
  readonly key: Buffer;
  readonly value: Buffer;
  readonly options: PutOperationOptions;
}
export interface DeleteOperation {
  readonly kind: 'delete';
  readonly key: Buffer;
  readonly options: DeleteOperationOptions;
}
export interface TxnOperation {
  readonly kind: 'txn';
  readonly compares: readonly Compare[];
  readonly success: readonly Operation[];
  readonly failure: readonly Operation[];
}
export type Operation = GetOperation | PutOperation | DeleteOperation | TxnOperation;

/** Builders of operations, for txn branches: `Op.put('k', 'v')`. */
export const Op = {
  get: (key: Bytes, options: GetOperationOptions = {}): GetOperation => ({ kind: 'get', key: toBuffer(key), options }),
  put: (key: Bytes, value: Bytes, options: PutOperationOptions = {}): PutOperation => ({ kind: 'put', key: toBuffer(key), value: toBuffer(value), options }),
  delete: (key: Bytes, options: DeleteOperationOptions = {}): DeleteOperation => ({ kind: 'delete', key: toBuffer(key), options }),
  txn: (compares: readonly Compare[], success: readonly Operation[], failure: readonly Operation[] = []): TxnOperation => ({ kind: 'txn', compares, success, failure }),
} as const;

export type CompareOperator = '=' | '!=' | '<' | '>';
export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease';

/**
 * One condition of a txn. A key that does not exist compares as 0 for
 * version, createRevision, modRevision and lease; a value compare on a
 * missing key is false. With a range, every key in it must satisfy it.
 */
export class Compare {
  private constructor(
    readonly target: CompareTarget,
    readonly key: Buffer,
    readonly operator: CompareOperator,
    readonly operand: Buffer | bigint,
    readonly range: RangeSelector,
  ) {}

  static value(key: Bytes, operator: CompareOperator, value: Bytes, range: RangeSelector = {}): Compare {
    return new Compare('value', toBuffer(key), operator, toBuffer(value), range);
  }
  static version(key: Bytes, operator: CompareOperator, version: bigint, range: RangeSelector = {}): Compare {
    return new Compare('version', toBuffer(key), operator, version, range);
  }
  static createRevision(key: Bytes, operator: CompareOperator, revision: bigint, range: RangeSelector = {}): Compare {
    return new Compare('createRevision', toBuffer(key), operator, revision, range);
  }
  static modRevision(key: Bytes, operator: CompareOperator, revision: bigint, range: RangeSelector = {}): Compare {
    return new Compare('modRevision', toBuffer(key), operator, revision, range);
  }
  static lease(key: Bytes, operator: CompareOperator, leaseId: bigint, range: RangeSelector = {}): Compare {
    return new Compare('lease', toBuffer(key), operator, leaseId, range);
  }
}

// Results.

export interface GetResult {
  readonly header: ResponseHeader;
  readonly kvs: KeyValue[];
  /** More keys matched than `limit` allowed. */
  readonly more: boolean;
  /** How many keys matched (whatever the limit). */
  readonly count: bigint;
}
export interface PutResult {
  readonly header: ResponseHeader;
  readonly prevKv: KeyValue | undefined;
}
export interface DeleteResult {
  readonly header: ResponseHeader;
  readonly deleted: bigint;
  readonly prevKvs: KeyValue[];
}
export interface TxnResult {
  readonly header: ResponseHeader;
  /** Whether every compare held (the success branch ran). */
  readonly succeeded: boolean;
  /** One result per operation of the branch that ran, in order. */
  readonly responses: OperationResult[];
}
export type OperationResult =
  | ({ readonly kind: 'get' } & GetResult)
  | ({ readonly kind: 'put' } & PutResult)
  | ({ readonly kind: 'delete' } & DeleteResult)
  | ({ readonly kind: 'txn' } & TxnResult);

// Conversions.

const sortTargets: Record<SortTarget, etcdserverpb.RangeRequest_SortTarget> = {
  key: etcdserverpb.RangeRequest_SortTarget.KEY,
  version: etcdserverpb.RangeRequest_SortTarget.VERSION,
  createRevision: etcdserverpb.RangeRequest_SortTarget.CREATE,
  modRevision: etcdserverpb.RangeRequest_SortTarget.MOD,
  value: etcdserverpb.RangeRequest_SortTarget.VALUE,
};
const sortOrders: Record<SortOrder, etcdserverpb.RangeRequest_SortOrder> = {
  none: etcdserverpb.RangeRequest_SortOrder.NONE,
  ascend: etcdserverpb.RangeRequest_SortOrder.ASCEND,
  descend: etcdserverpb.RangeRequest_SortOrder.DESCEND,
};
const compareResults: Record<CompareOperator, etcdserverpb.Compare_CompareResult> = {
  '=': etcdserverpb.Compare_CompareResult.EQUAL,
  '!=': etcdserverpb.Compare_CompareResult.NOT_EQUAL,
  '<': etcdserverpb.Compare_CompareResult.LESS,
  '>': etcdserverpb.Compare_CompareResult.GREATER,
};

const allKeysEnd = Buffer.from([0]);

/** The caller-side range end of a selector (before the key space). */
function selectorRangeEnd(key: Buffer, range: RangeSelector): Buffer {
  const chosen = [range.prefix === true, range.fromKey === true, range.rangeEnd !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new TypeError('choose at most one of prefix, fromKey and rangeEnd');
  if (range.fromKey === true) return allKeysEnd;
  // The prefix of the empty key is every key ("\0"), which a key space turns into its own edge.
  if (range.prefix === true) return Buffer.from(prefixRangeEnd(key));
  return range.rangeEnd === undefined ? emptyBytes() : toBuffer(range.rangeEnd);
}

/** Server-side key and range end of a key plus selector. */
export function serverRange(keySpace: KeySpace, key: Buffer, range: RangeSelector): { key: Buffer; rangeEnd: Buffer } {
  const rangeEnd = keySpace.rangeEnd(selectorRangeEnd(key, range));
  let serverKey = keySpace.key(key);
  // etcd refuses an empty key; a range from the very first key starts at "\0" (as clientv3 does).
  if (serverKey.length === 0 && rangeEnd.length > 0) serverKey = allKeysEnd;
  return { key: serverKey, rangeEnd };
}

export function toRangeRequest(keySpace: KeySpace, key: Buffer, options: GetOperationOptions): etcdserverpb.RangeRequest {
  const { key: serverKey, rangeEnd } = serverRange(keySpace, key, options);
  return etcdserverpb.RangeRequest.fromPartial({
    key: serverKey,
    rangeEnd,
    limit: options.limit === undefined ? 0n : checkCount('limit', options.limit),
    revision: options.revision ?? 0n,
    sortOrder: sortOrders[options.sort?.order ?? (options.sort?.target === undefined ? 'none' : 'ascend')],
    sortTarget: sortTargets[options.sort?.target ?? 'key'],
    serializable: options.serializable ?? false,
    keysOnly: options.keysOnly ?? false,
    countOnly: options.countOnly ?? false,
    minModRevision: options.minModRevision ?? 0n,
    maxModRevision: options.maxModRevision ?? 0n,
    minCreateRevision: options.minCreateRevision ?? 0n,
    maxCreateRevision: options.maxCreateRevision ?? 0n,
  });
}

export function toPutRequest(keySpace: KeySpace, key: Buffer, value: Buffer, options: PutOperationOptions): etcdserverpb.PutRequest {
  return etcdserverpb.PutRequest.fromPartial({
    key: keySpace.key(key),
    value,
    lease: options.lease ?? 0n,
    prevKv: options.prevKv ?? false,
    ignoreValue: options.ignoreValue ?? false,
    ignoreLease: options.ignoreLease ?? false,
  });
}

export function toDeleteRequest(keySpace: KeySpace, key: Buffer, options: DeleteOperationOptions): etcdserverpb.DeleteRangeRequest {
  const { key: serverKey, rangeEnd } = serverRange(keySpace, key, options);
  return etcdserverpb.DeleteRangeRequest.fromPartial({ key: serverKey, rangeEnd, prevKv: options.prevKv ?? false });
}

function toCompare(keySpace: KeySpace, compare: Compare): etcdserverpb.Compare {
  const { key, rangeEnd } = serverRange(keySpace, compare.key, compare.range);
  const base = { result: compareResults[compare.operator], key, rangeEnd };
  const operand = compare.operand;
  if (compare.target === 'value') {
    if (!Buffer.isBuffer(operand)) throw new TypeError('a value compare needs a value');
    return { ...base, target: etcdserverpb.Compare_CompareTarget.VALUE, value: operand };
  }
  if (typeof operand !== 'bigint') throw new TypeError(`a ${compare.target} compare needs a bigint`);
  switch (compare.target) {
    case 'version':
      return { ...base, target: etcdserverpb.Compare_CompareTarget.VERSION, version: operand };
    case 'createRevision':
      return { ...base, target: etcdserverpb.Compare_CompareTarget.CREATE, createRevision: operand };
    case 'modRevision':
      return { ...base, target: etcdserverpb.Compare_CompareTarget.MOD, modRevision: operand };
    case 'lease':
      return { ...base, target: etcdserverpb.Compare_CompareTarget.LEASE, lease: operand };
  }
}

function toRequestOp(keySpace: KeySpace, operation: Operation): etcdserverpb.RequestOp {
  switch (operation.kind) {
    case 'get':
      return { requestRange: toRangeRequest(keySpace, operation.key, operation.options) };
    case 'put':
      return { requestPut: toPutRequest(keySpace, operation.key, operation.value, operation.options) };
    case 'delete':
      return { requestDeleteRange: toDeleteRequest(keySpace, operation.key, operation.options) };
    case 'txn':
      return { requestTxn: toTxnRequest(keySpace, operation) };
  }
}

export function toTxnRequest(keySpace: KeySpace, txn: Omit<TxnOperation, 'kind'>): etcdserverpb.TxnRequest {
  return {
    compare: txn.compares.map((compare) => toCompare(keySpace, compare)),
    success: txn.success.map((operation) => toRequestOp(keySpace, operation)),
    failure: txn.failure.map((operation) => toRequestOp(keySpace, operation)),
  };
}

const stripAll = (keySpace: KeySpace, kvs: readonly mvccpb.KeyValue[]): KeyValue[] =>
  kvs.map((kv) => keySpace.stripKeyValue(KeyValue.fromWire(kv)));

export function fromRangeResponse(keySpace: KeySpace, response: etcdserverpb.RangeResponse): GetResult {
  return { header: toHeader(response.header), kvs: stripAll(keySpace, response.kvs), more: response.more, count: response.count };
}

export function fromPutResponse(keySpace: KeySpace, response: etcdserverpb.PutResponse): PutResult {
  return {
    header: toHeader(response.header),
    prevKv: response.prevKv === undefined ? undefined : keySpace.stripKeyValue(KeyValue.fromWire(response.prevKv)),
  };
}

export function fromDeleteResponse(keySpace: KeySpace, response: etcdserverpb.DeleteRangeResponse): DeleteResult {
  return { header: toHeader(response.header), deleted: response.deleted, prevKvs: stripAll(keySpace, response.prevKvs) };
}

export function fromTxnResponse(keySpace: KeySpace, response: etcdserverpb.TxnResponse): TxnResult {
  return {
    header: toHeader(response.header),
    succeeded: response.succeeded,
    responses: response.responses.map((op): OperationResult => {
      if (op.responseRange !== undefined) return { kind: 'get', ...fromRangeResponse(keySpace, op.responseRange) };
      if (op.responsePut !== undefined) return { kind: 'put', ...fromPutResponse(keySpace, op.responsePut) };
      if (op.responseDeleteRange !== undefined) return { kind: 'delete', ...fromDeleteResponse(keySpace, op.responseDeleteRange) };
      if (op.responseTxn !== undefined) return { kind: 'txn', ...fromTxnResponse(keySpace, op.responseTxn) };
      throw new TypeError('txn response op without a response');
    }),
  };
}
