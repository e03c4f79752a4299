// The strict decoder: etcd 3.4's verdicts and texts on bad request bytes.
// Every expected text below was measured against etcd 3.4.23 (the message
// after grpc-go's "grpc: error unmarshalling request: " prefix), except
// where a comment says otherwise; test/test/grpc-framing-compare.test.ts
// checks the same and more against a running etcd.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { etcdserverpb, healthpb, strict } from '../src/index.js';

const { requestSchemas: schemas, strictDecoder, ProtoDecodeError, ProtoLengthOverflowError } = strict;

const hex = (text: string): Buffer => Buffer.from(text.replace(/ /g, ''), 'hex');

function verdict<T>(schema: strict.MessageSchema, codec: strict.MessageDecoder<T>, bytes: string): string {
  try {
    strictDecoder(schema, codec)(hex(bytes));
    return 'accepted';
  } catch (error) {
    assert.ok(error instanceof ProtoDecodeError, `not a ProtoDecodeError: ${String(error)}`);
    return error.message;
  }
}

test('strict decode: LeaseGrantRequest, as etcd 3.4 answers', () => {
  const grant = (bytes: string) => verdict(schemas.LeaseGrantRequest, etcdserverpb.LeaseGrantRequest, bytes);
  assert.equal(grant('00'.repeat(2_000_000)), 'proto: LeaseGrantRequest: illegal tag 0 (wire type 0)');
  assert.equal(grant('00 01'), 'proto: LeaseGrantRequest: illegal tag 0 (wire type 0)');
  assert.equal(grant('0a 01 00'), 'proto: wrong wireType = 2 for field TTL');
  assert.equal(grant('0e'), 'proto: wrong wireType = 6 for field TTL');
  assert.equal(grant('08 80'), 'unexpected EOF');
  assert.equal(grant('08 ff ff ff ff ff ff ff ff ff ff 01'), 'proto: integer overflow');
  assert.equal(grant('0c'), 'proto: LeaseGrantRequest: wiretype end group for non-group');
  assert.equal(grant('1a 05 01'), 'unexpected EOF');
  assert.equal(grant('1a ff ff ff ff ff ff ff ff ff 01'), 'proto: negative length found during unmarshaling');
  assert.equal(grant('1b'), 'unexpected EOF');
  // A 10-byte tag whose field number (bits 3-34) is 0.
  assert.equal(grant('80 80 80 80 80 80 80 80 80 01'), 'proto: LeaseGrantRequest: illegal tag 0 (wire type 9223372036854775808)');
  // Unknown fields, of every wire type, are skipped.
  assert.equal(grant('18 01'), 'accepted');
  assert.equal(grant('1b 08 01 1c'), 'accepted');
  assert.equal(grant('f8 ff ff ff 0f 00'), 'accepted');
  assert.equal(grant('21 0102030405060708 2d 01020304'), 'accepted');
  assert.equal(grant('1f'), 'proto: illegal wireType 7');
});

test('strict decode: a length that overflows int64 (etcd 3.4 panics) is a negative length', () => {
  assert.throws(() => strictDecoder(schemas.RangeRequest, etcdserverpb.RangeRequest)(hex('0a ff ff ff ff ff ff ff ff 7f')), (error: unknown) => {
    assert.ok(error instanceof ProtoLengthOverflowError);
    assert.equal(error.message, 'proto: negative length found during unmarshaling');
    return true;
  });
});

test('strict decode: HealthCheckRequest follows golang/protobuf 1.3 (etcd 3.4)', () => {
  const check = (bytes: string) => verdict(schemas.HealthCheckRequest, healthpb.HealthCheckRequest, bytes);
  assert.equal(check('00 01'), 'proto: grpc_health_v1.HealthCheckRequest: illegal tag 0 (wire type 0)');
  assert.equal(check('0a 01 ff'), 'proto: field "grpc.health.v1.HealthCheckRequest.service" contains invalid UTF-8');
  assert.equal(check('0c'), "proto: can't skip unknown wire type 4");
  assert.equal(check('08 80'), 'unexpected EOF');
  assert.equal(check('1b'), 'unexpected EOF');
  assert.equal(check('80 80 80 80 80 80 80 80 80 01'), 'unexpected EOF');
  // A known field with the wrong wire type is skipped as unknown there.
  assert.equal(check('09 0102030405060708'), 'accepted');
  assert.equal(check('1b 1c'), 'accepted');
});

test('strict decode: the last member of a oneof wins, as in Go', () => {
  const decode = strictDecoder(schemas.RequestOp, etcdserverpb.RequestOp);
  const op = decode(hex('0a 03 0a0161  12 03 0a0162'));
  assert.equal(op.requestRange, undefined);
  assert.equal(op.requestPut?.key.toString(), 'b');
  const compare = strictDecoder(schemas.Compare, etcdserverpb.Compare)(hex('20 05  3a 01 78'));
  assert.equal(compare.version, undefined);
  assert.equal(compare.value?.toString(), 'x');
  const txn = strictDecoder(schemas.TxnRequest, etcdserverpb.TxnRequest)(hex('12 0a  0a 03 0a0161  12 03 0a0162'));
  assert.deepEqual(Object.keys(txn.success[0]!).filter((key) => (txn.success[0] as Record<string, unknown>)[key] !== undefined), ['requestPut']);
});

test('strict decode: unknown fields never reach the generated decoder', () => {
  const grant = strictDecoder(schemas.LeaseGrantRequest, etcdserverpb.LeaseGrantRequest);
  // Tag (1 << 32) | 8: Go reads field 2^29 + 1 (unknown); the low 32 bits alone say TTL.
  assert.equal(grant(hex('88 80 80 80 10 05')).TTL, 0n);
  // An unknown group holding what the generated skipper refuses (tag 0, unmatched end tags).
  assert.equal(grant(hex('1b 00 00 2b 3c 1c 08 05')).TTL, 5n);
  assert.equal(strictDecoder(schemas.HealthCheckRequest, healthpb.HealthCheckRequest)(hex('8a 80 80 80 10 01 61')).service, '');
});

test('strict decode: packed and unpacked watch filters', () => {
  const watch = strictDecoder(schemas.WatchRequest, etcdserverpb.WatchRequest)(hex('0a 06 2a 02 00 01 28 01'));
  assert.deepEqual(watch.createRequest?.filters, [0, 1, 1]);
});

test('strict decode: nesting is bounded at 256 txns, then one more is ProtoNestingError (etcd 3.4 decodes any depth, then refuses past --max-txn-ops + 1)', () => {
  let txn = Buffer.alloc(0);
  const length = (n: number): Buffer => {
    const out: number[] = [];
    for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
    out.push(n);
    return Buffer.from(out);
  };
  const nest = (times: number): Buffer => {
    for (let i = 0; i < times; i++) {
      const op = Buffer.concat([Buffer.from([0x22]), length(txn.length), txn]); // RequestOp.request_txn
      txn = Buffer.concat([Buffer.from([0x12]), length(op.length), op]); // TxnRequest.success
    }
    return txn;
  };
  const decode = strictDecoder(schemas.TxnRequest, etcdserverpb.TxnRequest);
  // n txns around the top one put the innermost at depth 1 + 2n.
  assert.doesNotThrow(() => decode(nest(Math.floor((strict.maxMessageDepth - 1) / 2))));
  assert.throws(() => decode(nest(1)), (error: unknown) => error instanceof strict.ProtoNestingError && error.message === `proto: TxnRequest: messages nested deeper than ${strict.maxMessageDepth}`);
});

test('strict decode: well-formed requests decode exactly as the generated decoder does', () => {
  const put = etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v'), lease: -5n, prevKv: true });
  const bytes = Buffer.from(etcdserverpb.PutRequest.encode(put).finish());
  assert.deepEqual(strictDecoder(schemas.PutRequest, etcdserverpb.PutRequest)(bytes), etcdserverpb.PutRequest.decode(bytes));
  assert.equal(strictDecoder(schemas.SnapshotRequest, etcdserverpb.SnapshotRequest)(Buffer.alloc(0)) !== undefined, true);
});

test('strict decode: goCamelCase gives the Go field names etcd prints', () => {
  for (const [proto, go] of [['range_end', 'RangeEnd'], ['TTL', 'TTL'], ['ID', 'ID'], ['peerURLs', 'PeerURLs'], ['watch_id', 'WatchId'], ['targetID', 'TargetID']]) {
    assert.equal(strict.goCamelCase(proto!), go);
  }
});
