/** The etcdserverpb.KV service. */
import { etcdserverpb } from '@holdfast/proto';
import type { MemberApi } from '../member-api.js';
import { applyTxn, isReadOnlyTxn } from '../../apply/kv-apply.js';
import { EncodedRangeResponse, readRange } from '../../apply/range-answer.js';
import { validateDeleteRange, validatePut, validateRange, validateTxn } from '../../apply/validate.js';
import { unary } from './grpc-handlers.js';

/** The KV service with Range answers serialized from their encoded KeyValues (range-answer.ts). */
export const kvServiceDefinition = {
  ...etcdserverpb.KVService,
  range: {
    ...etcdserverpb.KVService.range,
    responseSerialize: (value: etcdserverpb.RangeResponse): Buffer =>
      value instanceof EncodedRangeResponse ? value.encode() : Buffer.from(etcdserverpb.RangeResponse.encode(value).finish()),
  },
} as const satisfies typeof etcdserverpb.KVService;

export function createKvService(member: MemberApi): etcdserverpb.KVServer {
  return {
    range: unary(async (request: etcdserverpb.RangeRequest) => {
      validateRange(request);
      if (!request.serializable) await member.linearizableRead();
      // Read in slices that yield, so a range of any size leaves others served.
      const answer = member.fillHeader(await readRange(member.store, request));
      // Over etcd's send limit: its exact size, header included, in grpc-go's words.
      answer.assertSendable();
      return answer;
    }),

    put: unary(async (request: etcdserverpb.PutRequest) => {
      validatePut(request);
      await member.checkQuota(request.key.length + request.value.length);
      const { response } = await member.propose({ put: request });
      return member.fillHeader(response as etcdserverpb.PutResponse);
    }),

    deleteRange: unary(async (request: etcdserverpb.DeleteRangeRequest) => {
      validateDeleteRange(request);
      const { response } = await member.propose({ deleteRange: request });
      return member.fillHeader(response as etcdserverpb.DeleteRangeResponse);
    }),

    txn: unary(async (request: etcdserverpb.TxnRequest) => {
      validateTxn(request, member.config.maxTxnOps);
      if (isReadOnlyTxn(request)) {
        // Read-only txns are reads: no log entry, like etcd.
        if (!isSerializableTxn(request)) await member.linearizableRead();
        return member.fillHeader(applyTxn(member.store, request, member.lessor, undefined));
      }
      await member.checkQuota(txnPutBytes(request));
      const { response } = await member.propose({ txn: request });
      return member.fillHeader(response as etcdserverpb.TxnResponse);
    }),

    compact: unary(async (request: etcdserverpb.CompactionRequest) => {
      const { response, physical } = await member.propose({ compaction: request });
      if (request.physical && physical !== undefined) await physical;
      return member.fillHeader(response as etcdserverpb.CompactionResponse);
    }),
  };
}

/** A read-only txn is serializable when every range in it is. */
function isSerializableTxn(request: etcdserverpb.TxnRequest): boolean {
  return [...request.success, ...request.failure].every(
    (op) => (op.requestRange === undefined || op.requestRange.serializable) && (op.requestTxn === undefined || isSerializableTxn(op.requestTxn)),
  );
}

function txnPutBytes(request: etcdserverpb.TxnRequest): number {
  let bytes = 0;
  for (const op of [...request.success, ...request.failure]) {
    if (op.requestPut !== undefined) bytes += op.requestPut.key.length + op.requestPut.value.length;
    if (op.requestTxn !== undefined) bytes += txnPutBytes(op.requestTxn);
  }
  return bytes;
}
