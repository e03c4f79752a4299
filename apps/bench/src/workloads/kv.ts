/**
 * The unary KV workloads: put, range, txn-put and txn-mixed. Each operation
 * is one RPC; requests are built as complete message objects (no
 * fromPartial) because this is the hot path.
 */
import { etcdserverpb } from '@holdfast/proto';
import { nowMs } from '../clock.js';
import { put, range, txn, type Connection } from '../connection.js';
import { keyNumberFor } from '../keys.js';
import { runClientLoop } from '../load-context.js';
import type { WorkloadOptions } from '../options.js';
import type { Workload } from './workload.js';

const emptyBuffer = Buffer.alloc(0);
/** An always-true bound for the guarded txn-put: no mod_revision reaches 2^62. */
const modRevisionBound = 2n ** 62n;

export function putRequest(key: Buffer, value: Buffer): etcdserverpb.PutRequest {
  return { key, value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false };
}

export function rangeRequest(key: Buffer, options: { rangeEnd?: Buffer; limit?: number; serializable: boolean; countOnly?: boolean }): etcdserverpb.RangeRequest {
  return {
    key,
    rangeEnd: options.rangeEnd ?? emptyBuffer,
    limit: BigInt(options.limit ?? 0),
    revision: 0n,
    sortOrder: etcdserverpb.RangeRequest_SortOrder.NONE,
    sortTarget: etcdserverpb.RangeRequest_SortTarget.KEY,
    serializable: options.serializable,
    keysOnly: false,
    countOnly: options.countOnly ?? false,
    minModRevision: 0n,
    maxModRevision: 0n,
    minCreateRevision: 0n,
    maxCreateRevision: 0n,
  };
}

export const putWorkload: Workload = {
  runClient(context, clientIndex) {
    const connection = context.connectionFor(clientIndex);
    const { keySpace, sequentialKeys, requestTimeoutMs } = context.options;
    return runClientLoop(context, async (opIndex) => {
      const key = context.keys.key(keyNumberFor(opIndex, keySpace, sequentialKeys));
      await put(connection, putRequest(key, context.value), requestTimeoutMs);
    });
  },
};

export const rangeWorkload: Workload = {
  runClient(context, clientIndex) {
    const connection = context.connectionFor(clientIndex);
    const { rangeKey, rangeEnd, rangeLimit, consistency, requestTimeoutMs } = context.options;
    // Every operation reads the same key (or range): one request object serves them all.
    const request = rangeRequest(Buffer.from(rangeKey), {
      rangeEnd: rangeEnd === '' ? emptyBuffer : Buffer.from(rangeEnd),
      limit: rangeLimit,
      serializable: consistency === 's',
    });
    return runClientLoop(context, async () => {
      await range(connection, request, requestTimeoutMs);
    });
  },
};

/** The distinct key numbers of one txn-put operation. */
function txnKeyNumbers(opIndex: number, options: WorkloadOptions): number[] {
  const { txnOps, keySpace, sequentialKeys } = options;
  if (sequentialKeys) return Array.from({ length: txnOps }, (_, j) => (opIndex * txnOps + j) % keySpace);
  const chosen = new Set<number>();
  // txnOps <= keySpace (validated), so this ends; with txnOps << keySpace it ends at once.
  while (chosen.size < txnOps) chosen.add(Math.floor(Math.random() * keySpace));
  return [...chosen];
}

export const txnPutWorkload: Workload = {
  runClient(context, clientIndex) {
    const connection = context.connectionFor(clientIndex);
    const options = context.options;
    return runClientLoop(context, async (opIndex) => {
      const keys = txnKeyNumbers(opIndex, options).map((n) => context.keys.key(n));
      const compare: etcdserverpb.Compare[] = options.txnCompare
        ? [{ result: etcdserverpb.Compare_CompareResult.LESS, target: etcdserverpb.Compare_CompareTarget.MOD, key: keys[0]!, modRevision: modRevisionBound, rangeEnd: emptyBuffer }]
        : [];
      const success = keys.map((key) => ({ requestPut: putRequest(key, context.value) }));
      const response = await txn(connection, { compare, success, failure: [] }, options.requestTimeoutMs);
      if (!response.succeeded) throw new Error('txn-put: the always-true compare failed');
    });
  },
};

export const txnMixedWorkload: Workload = {
  runClient(context, clientIndex) {
    const connection = context.connectionFor(clientIndex);
    const { keySpace, sequentialKeys, readWriteRatio, consistency, requestTimeoutMs } = context.options;
    const readShare = readWriteRatio / (readWriteRatio + 1);
    const reads = context.series('read');
    const writes = context.series('write');
    return runClientLoop(context, async (opIndex) => {
      const key = context.keys.key(keyNumberFor(opIndex, keySpace, sequentialKeys));
      const isRead = Math.random() < readShare;
      // As in etcd's txn-mixed, each read or write travels as a one-op Txn.
      const op: etcdserverpb.RequestOp = isRead ? { requestRange: rangeRequest(key, { serializable: consistency === 's' }) } : { requestPut: putRequest(key, context.value) };
      const startedMs = nowMs();
      await txn(connection, { compare: [], success: [op], failure: [] }, requestTimeoutMs);
      (isRead ? reads : writes).recordMs(nowMs() - startedMs);
    });
  },
};

/** Writes the key the range workload reads, so reads return a value of --val-size bytes. */
export async function prefillRangeKey(connection: Connection, options: WorkloadOptions): Promise<void> {
  if (options.rangeNoPrefill) return;
  await put(connection, putRequest(Buffer.from(options.rangeKey), Buffer.alloc(options.valueSizeBytes, 0x76)), options.requestTimeoutMs);
}
