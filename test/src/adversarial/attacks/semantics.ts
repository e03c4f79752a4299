/**
 * Semantic abuse: requests that are well-formed on the wire but push the
 * limits of what a request may be. Each case records the gRPC (or HTTP)
 * answer as `code message`, so the test can require that Holdfast answers
 * exactly as etcd 3.4 does (the figures named in comparableFigures).
 *
 * - keys and values at and just over --max-request-bytes, and over the
 *   gRPC receive limit (--max-request-bytes + 512 KiB);
 * - txns nested deeper and deeper (each level a RequestOp holding a
 *   TxnRequest): decoders, validators and appliers that recurse must not
 *   overflow the stack or stop the server;
 * - JSON gateway bodies: oversized, and nested far past Go's decoder depth.
 */
import { request } from 'node:http';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { ownConnection } from '../../kv-client.js';
import type { Attack, AttackFigures, AttackScale, AttackTarget } from '../attack.js';

/** Depths of nested txns tried, by scale. */
const txnDepths: Record<AttackScale, readonly number[]> = { short: [1, 64, 129, 130, 1_000, 10_000], long: [1, 64, 129, 130, 1_000, 10_000, 100_000] };
/** Depth of the nested JSON arrays sent to the gateway (Go's decoder stops at 10,000). */
const jsonDepths: Record<AttackScale, readonly number[]> = { short: [10_001, 200_000], long: [10_001, 200_000, 1_000_000] };
/** Depths of nested txns sent as gateway JSON (3,000 is past the protobuf decoder's bound, under Go's JSON depth). */
const jsonTxnDepths = [64, 129, 3_000] as const;
/** Answers are compared (ids masked) up to this many characters. */
const maxAnswerChars = 20_000;
/** Each answer must come within this; a hung request is a finding. */
const answerDeadlineMs = 20_000;

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** A length-delimited field. */
function field(number: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((number << 3) | 2), varint(payload.length), payload]);
}

/**
 * TxnRequest{success: [RequestOp{request_txn: ...}]} `depth` levels deep,
 * the innermost holding one put. Built from the inside out, so this
 * encoder needs no recursion however deep the nesting is.
 */
export function nestedTxnBytes(depth: number, key: string): Buffer {
  const put = Buffer.concat([field(1, Buffer.from(key)), field(2, Buffer.from('nested'))]);
  let txn = field(2, field(2, put)); // success: [RequestOp{request_put}]
  for (let level = 1; level < depth; level++) txn = field(2, field(4, txn)); // success: [RequestOp{request_txn}]
  return txn;
}

/** Sends raw bytes to a unary method and returns `code message` (or `OK <bytes>`). */
function unaryRaw(target: AttackTarget, path: string, body: Buffer): Promise<string> {
  const client = new Client(target.endpoint, credentials.createInsecure(), { ...ownConnection, 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
  return new Promise<string>((resolve) => {
    client.makeUnaryRequest(
      path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      body,
      new Metadata(),
      { deadline: new Date(Date.now() + answerDeadlineMs) },
      (error: ServiceError | null) => resolve(error ? `${error.code} ${error.details}` : 'OK'),
    );
  }).finally(() => client.close());
}

function putBytes(key: Buffer, value: Buffer): Buffer {
  return Buffer.from(etcdserverpb.PutRequest.encode(etcdserverpb.PutRequest.fromPartial({ key, value })).finish());
}

function httpPost(target: AttackTarget, path: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: target.host, port: target.port, path, method: 'POST', agent: false, timeout: answerDeadlineMs, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(`${response.statusCode} ${masked(text.trim()).slice(0, maxAnswerChars)}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${answerDeadlineMs} ms`)));
    req.on('error', (error) => resolve(`error ${error.message}`));
    req.end(body);
  });
}

/** Replaces the ids and revisions in an answer, which differ between servers. */
function masked(answer: string): string {
  return answer.replace(/"(cluster_id|member_id|revision|raft_term)":"\d+"/g, '"$1":"…"');
}

export const semanticsAttack: Attack = {
  name: 'semantics',
  description: 'keys and values at and over the size limits, nested txns up to 10,000+ deep, oversized and deeply nested JSON',
  async run(target, scale) {
    const figures: AttackFigures = {};
    const limit = target.maxRequestBytes;
    // A put request's own fields cost a few bytes beyond the value; etcd
    // measures the encoded InternalRaftRequest, which adds a header.
    figures.valueJustUnderLimit = await unaryRaw(target, '/etcdserverpb.KV/Put', putBytes(Buffer.from('adversarial/limit/under'), Buffer.alloc(limit - 1024, 'v')));
    figures.valueJustOverLimit = await unaryRaw(target, '/etcdserverpb.KV/Put', putBytes(Buffer.from('adversarial/limit/over'), Buffer.alloc(limit + 1, 'v')));
    figures.keyJustOverLimit = await unaryRaw(target, '/etcdserverpb.KV/Put', putBytes(Buffer.alloc(limit + 1, 'k'), Buffer.from('v')));
    figures.valueOverGrpcLimit = (await unaryRaw(target, '/etcdserverpb.KV/Put', putBytes(Buffer.from('adversarial/limit/grpc'), Buffer.alloc(limit + 512 * 1024 + 1, 'v')))).replace(/\(\d+ vs\. \d+\)/, '(n vs. m)');
    figures.bigKeyUnderLimit = await unaryRaw(target, '/etcdserverpb.KV/Put', putBytes(Buffer.alloc(256 * 1024, 'k'), Buffer.from('v')));
    figures.bigKeyRangeBack = await unaryRaw(target, '/etcdserverpb.KV/Range', Buffer.from(etcdserverpb.RangeRequest.encode(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.alloc(256 * 1024, 'k'), countOnly: true })).finish()));
    // etcd gives a nested txn what its parent left of --max-txn-ops: 100
    // ops beside a nested txn leave it 28, so 30 is too many.
    const budgetTxn = etcdserverpb.TxnRequest.fromPartial({
      success: [
        ...Array.from({ length: 100 }, (_, i) => ({ requestPut: { key: Buffer.from(`adversarial/budget/outer/${i}`), value: Buffer.from('v') } })),
        { requestTxn: { success: Array.from({ length: 30 }, (_, i) => ({ requestPut: { key: Buffer.from(`adversarial/budget/inner/${i}`), value: Buffer.from('v') } })) } },
      ],
    });
    figures.txnNestedOverBudget = await unaryRaw(target, '/etcdserverpb.KV/Txn', Buffer.from(etcdserverpb.TxnRequest.encode(budgetTxn).finish()));
    for (const depth of txnDepths[scale]) {
      figures[`txnNested${depth}`] = await unaryRaw(target, '/etcdserverpb.KV/Txn', nestedTxnBytes(depth, `adversarial/nested/${depth}`));
    }
    // The same nesting as JSON on the gateway: Go's decoder reads 10,000
    // levels of JSON, enough for about 3,300 nested txns.
    for (const depth of jsonTxnDepths) {
      let body = JSON.stringify({ success: [{ request_put: { key: Buffer.from(`adversarial/jsonnested/${depth}`).toString('base64'), value: 'dg==' } }] });
      for (let level = 1; level < depth; level++) body = `{"success":[{"request_txn":${body}}]}`;
      figures[`jsonTxnNested${depth}`] = (await httpPost(target, '/v3/kv/txn', Buffer.from(body)));
    }
    const oversized = Buffer.from(JSON.stringify({ key: Buffer.from('adversarial/json/big').toString('base64'), value: Buffer.alloc(limit + 1024, 'v').toString('base64') }));
    figures.jsonOversizedPut = (await httpPost(target, '/v3/kv/put', oversized));
    for (const depth of jsonDepths[scale]) {
      const nested = Buffer.from(`{"key":"YQ==","value":${'['.repeat(depth)}${']'.repeat(depth)}}`);
      figures[`jsonNested${depth}`] = (await httpPost(target, '/v3/kv/put', nested));
    }
    return figures;
  },
};

/** The figures that must be the same on Holdfast as on etcd 3.4. */
export const semanticsComparableFigures = ['txnNestedOverBudget', ...txnDepths.short.map((depth) => `txnNested${depth}`), 'valueJustUnderLimit', 'valueJustOverLimit', 'keyJustOverLimit', 'valueOverGrpcLimit', 'bigKeyUnderLimit', 'bigKeyRangeBack', 'jsonOversizedPut', ...jsonTxnDepths.map((depth) => `jsonTxnNested${depth}`), ...jsonDepths.short.map((depth) => `jsonNested${depth}`)];
