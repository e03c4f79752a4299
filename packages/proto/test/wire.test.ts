// Byte compatibility: our generated encoders must produce exactly the bytes
// that protoc (an independent encoder reading our .proto files) produces, and
// our decoders must read protoc's bytes back into the same objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { etcdserverpb, mvccpb } from '../src/index.js';

/** protoc binary used as the independent reference encoder (override with $PROTOC). */
const PROTOC = process.env['PROTOC'] ?? '/usr/bin/protoc';
const HAVE_PROTOC = existsSync(PROTOC);
const SKIP_REASON = `protoc not found at ${PROTOC}; byte comparison needs it`;

/** packages/proto/proto, found from the compiled test in dist/test/. */
const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));

/**
 * Encode a text-format message with `protoc --encode=<type>`; `file` is the
 * .proto path relative to PROTO_DIR that defines (or imports) the type.
 */
function protocEncode(type: string, file: string, text: string): Buffer {
  const r = spawnSync(PROTOC, [`--encode=${type}`, '-I', PROTO_DIR, file], {
    input: Buffer.from(text, 'utf8'),
    encoding: 'buffer',
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`protoc --encode=${type} failed (${r.status}): ${r.stderr.toString()}`);
  }
  return r.stdout;
}

const RPC = 'etcd/etcdserverpb/rpc.proto';
const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

interface Case<T> {
  name: string;
  type: string;
  file: string;
  text: string;
  codec: Codec<T>;
  value: T;
}

function wireCase<T>(c: Case<T>): void {
  test(`wire: ${c.name} matches protoc --encode=${c.type}`, (t) => {
    if (!HAVE_PROTOC) {
      t.skip(SKIP_REASON);
      return;
    }
    const expected = protocEncode(c.type, c.file, c.text);
    const ours = Buffer.from(c.codec.encode(c.value).finish());
    assert.equal(ours.toString('hex'), expected.toString('hex'));
    assert.deepEqual(c.codec.decode(expected), c.value);
  });
}

// Values are built with fromPartial so that every default field is present,
// exactly as decode() produces them.
const { PutRequest, RangeRequest, TxnRequest, WatchRequest, ResponseHeader, InternalRaftRequest } = etcdserverpb;

wireCase({
  name: 'PutRequest with key/value/lease/prev_kv',
  type: 'etcdserverpb.PutRequest',
  file: RPC,
  text: 'key: "foo" value: "bar" lease: 7587862072373427455 prev_kv: true',
  codec: PutRequest,
  value: PutRequest.fromPartial({ key: b('foo'), value: b('bar'), lease: 7587862072373427455n, prevKv: true }),
});

wireCase({
  name: 'RangeRequest with every field set',
  type: 'etcdserverpb.RangeRequest',
  file: RPC,
  text: `
    key: "a" range_end: "b\\377" limit: 10 revision: -1
    sort_order: DESCEND sort_target: MOD
    serializable: true keys_only: true count_only: true
    min_mod_revision: 2 max_mod_revision: 300
    min_create_revision: 4 max_create_revision: 9223372036854775807`,
  codec: RangeRequest,
  value: RangeRequest.fromPartial({
    key: b('a'),
    rangeEnd: b([0x62, 0xff]),
    limit: 10n,
    revision: -1n,
    sortOrder: etcdserverpb.RangeRequest_SortOrder.DESCEND,
    sortTarget: etcdserverpb.RangeRequest_SortTarget.MOD,
    serializable: true,
    keysOnly: true,
    countOnly: true,
    minModRevision: 2n,
    maxModRevision: 300n,
    minCreateRevision: 4n,
    maxCreateRevision: 9223372036854775807n,
  }),
});

const { CompareResult: CR, CompareTarget: CT } = {
  CompareResult: etcdserverpb.Compare_CompareResult,
  CompareTarget: etcdserverpb.Compare_CompareTarget,
};

wireCase({
  name: 'TxnRequest with every compare target, range_end and nested ops',
  type: 'etcdserverpb.TxnRequest',
  file: RPC,
  // version: 0 and value: "" are oneof members, so they must still be sent.
  text: `
    compare { result: EQUAL target: VERSION key: "k0" version: 0 }
    compare { result: GREATER target: CREATE key: "k1" create_revision: 5 }
    compare { result: LESS target: MOD key: "k2" mod_revision: 6 range_end: "k3" }
    compare { result: NOT_EQUAL target: VALUE key: "k4" value: "v\\000\\377" }
    compare { result: EQUAL target: LEASE key: "k5" lease: 7 }
    success { request_range { key: "a" range_end: "b" limit: 1 } }
    success { request_put { key: "a" value: "1" prev_kv: true } }
    success { request_delete_range { key: "c" range_end: "\\000" prev_kv: true } }
    success { request_txn {
      compare { target: VALUE key: "x" value: "" }
      success { request_put { key: "x" value: "y" } }
      failure { request_range { key: "x" } }
    } }
    failure { request_range { key: "a" serializable: true } }`,
  codec: TxnRequest,
  value: TxnRequest.fromPartial({
    compare: [
      { result: CR.EQUAL, target: CT.VERSION, key: b('k0'), version: 0n },
      { result: CR.GREATER, target: CT.CREATE, key: b('k1'), createRevision: 5n },
      { result: CR.LESS, target: CT.MOD, key: b('k2'), modRevision: 6n, rangeEnd: b('k3') },
      { result: CR.NOT_EQUAL, target: CT.VALUE, key: b('k4'), value: b([0x76, 0x00, 0xff]) },
      { result: CR.EQUAL, target: CT.LEASE, key: b('k5'), lease: 7n },
    ],
    success: [
      { requestRange: { key: b('a'), rangeEnd: b('b'), limit: 1n } },
      { requestPut: { key: b('a'), value: b('1'), prevKv: true } },
      { requestDeleteRange: { key: b('c'), rangeEnd: b([0]), prevKv: true } },
      {
        requestTxn: {
          compare: [{ target: CT.VALUE, key: b('x'), value: b('') }],
          success: [{ requestPut: { key: b('x'), value: b('y') } }],
          failure: [{ requestRange: { key: b('x') } }],
        },
      },
    ],
    failure: [{ requestRange: { key: b('a'), serializable: true } }],
  }),
});

wireCase({
  name: 'WatchRequest create with filters',
  type: 'etcdserverpb.WatchRequest',
  file: RPC,
  text: `create_request {
    key: "foo" range_end: "fop" start_revision: 42 progress_notify: true
    filters: NOPUT filters: NODELETE prev_kv: true watch_id: 7 fragment: true }`,
  codec: WatchRequest,
  value: WatchRequest.fromPartial({
    createRequest: {
      key: b('foo'),
      rangeEnd: b('fop'),
      startRevision: 42n,
      progressNotify: true,
      filters: [etcdserverpb.WatchCreateRequest_FilterType.NOPUT, etcdserverpb.WatchCreateRequest_FilterType.NODELETE],
      prevKv: true,
      watchId: 7n,
      fragment: true,
    },
  }),
});

wireCase({
  name: 'WatchRequest progress (empty oneof member)',
  type: 'etcdserverpb.WatchRequest',
  file: RPC,
  text: 'progress_request {}',
  codec: WatchRequest,
  value: WatchRequest.fromPartial({ progressRequest: {} }),
});

wireCase({
  name: 'ResponseHeader with uint64 above 2^63',
  type: 'etcdserverpb.ResponseHeader',
  file: RPC,
  text: 'cluster_id: 18446744073709551615 member_id: 9223372036854775808 revision: 123456789012 raft_term: 3',
  codec: ResponseHeader,
  value: ResponseHeader.fromPartial({
    clusterId: 18446744073709551615n,
    memberId: 9223372036854775808n,
    revision: 123456789012n,
    raftTerm: 3n,
  }),
});

wireCase({
  name: 'KeyValue',
  type: 'mvccpb.KeyValue',
  file: 'etcd/mvccpb/kv.proto',
  text: 'key: "/registry/a" create_revision: 10 mod_revision: 20 version: 3 value: "\\001\\002\\377" lease: 1234567890123456789',
  codec: mvccpb.KeyValue,
  value: mvccpb.KeyValue.fromPartial({
    key: b('/registry/a'),
    createRevision: 10n,
    modRevision: 20n,
    version: 3n,
    value: b([1, 2, 0xff]),
    lease: 1234567890123456789n,
  }),
});

wireCase({
  name: 'InternalRaftRequest with header (100) and auth field (1100)',
  type: 'etcdserverpb.InternalRaftRequest',
  file: 'etcd/etcdserverpb/raft_internal.proto',
  text: `ID: 77 put { key: "a" value: "b" }
    header { ID: 18446744073709551615 username: "root" auth_revision: 9 }
    authenticate { name: "u" password: "p" simple_token: "t" }
    auth_user_add { name: "u" password: "p" options { no_password: true } }`,
  codec: InternalRaftRequest,
  value: InternalRaftRequest.fromPartial({
    ID: 77n,
    put: { key: b('a'), value: b('b') },
    header: { ID: 18446744073709551615n, username: 'root', authRevision: 9n },
    authenticate: { name: 'u', password: 'p', simpleToken: 't' },
    authUserAdd: { name: 'u', password: 'p', options: { noPassword: true } },
  }),
});

test('wire: decoding the WatchCreateRequest filters also accepts unpacked encoding', () => {
  // Tag 5 varint (0x28) twice, instead of one packed length-delimited field.
  const unpacked = Buffer.from([0x0a, 0x04, 0x28, 0x00, 0x28, 0x01]);
  const decoded = WatchRequest.decode(unpacked);
  assert.deepEqual(decoded.createRequest?.filters, [0, 1]);
});

test('wire: encoding rejects 64-bit values out of range', () => {
  assert.throws(() => ResponseHeader.encode(ResponseHeader.fromPartial({ clusterId: 1n << 64n })), /too large/);
  assert.throws(() => PutRequest.encode(PutRequest.fromPartial({ lease: 1n << 63n })), /too large/);
});
