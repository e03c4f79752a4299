/**
 * The member that proposes a request applies the object it built, not the
 * bytes it put in the log (node/member-node.ts buildProposal); every other
 * member, and this one after a restart, applies the decoded bytes. Any
 * difference between the two would make members diverge, so this checks
 * that decoding the bytes gives back exactly the object, for every kind of
 * request the API layer and the node propose, built the way they build them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { etcdserverpb } from '@holdfast/proto';
import { buildProposal, proposalRequest } from '../src/node/member-node.js';

const bytes = fc.uint8Array({ maxLength: 24 }).map((array) => Buffer.from(array));
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const positive64 = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n });

const put = fc.record({ key: bytes, value: bytes, lease: int64, prevKv: fc.boolean(), ignoreValue: fc.boolean(), ignoreLease: fc.boolean() }, { requiredKeys: [] });
const deleteRange = fc.record({ key: bytes, rangeEnd: bytes, prevKv: fc.boolean() }, { requiredKeys: [] });
const range = fc.record(
  { key: bytes, rangeEnd: bytes, limit: int64, revision: int64, sortOrder: fc.integer({ min: 0, max: 2 }), sortTarget: fc.integer({ min: 0, max: 4 }), serializable: fc.boolean(), keysOnly: fc.boolean(), countOnly: fc.boolean(), minModRevision: int64, maxModRevision: int64, minCreateRevision: int64, maxCreateRevision: int64 },
  { requiredKeys: [] },
);
const compareTarget = fc.oneof(
  fc.record({ target: fc.constant(0), version: int64 }),
  fc.record({ target: fc.constant(1), createRevision: int64 }),
  fc.record({ target: fc.constant(2), modRevision: int64 }),
  fc.record({ target: fc.constant(3), value: bytes }),
  fc.record({ target: fc.constant(4), lease: int64 }),
);
const compare = fc.tuple(fc.record({ result: fc.integer({ min: 0, max: 3 }), key: bytes, rangeEnd: bytes }, { requiredKeys: [] }), compareTarget).map(([base, target]) => ({ ...base, ...target }));
const recursive = fc.letrec((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    put.map((requestPut) => ({ requestPut: etcdserverpb.PutRequest.fromPartial(requestPut) })),
    deleteRange.map((requestDeleteRange) => ({ requestDeleteRange: etcdserverpb.DeleteRangeRequest.fromPartial(requestDeleteRange) })),
    range.map((requestRange) => ({ requestRange: etcdserverpb.RangeRequest.fromPartial(requestRange) })),
    tie('txn').map((requestTxn) => ({ requestTxn: etcdserverpb.TxnRequest.fromPartial(requestTxn as Partial<etcdserverpb.TxnRequest>) })),
  ),
  txn: fc.record({ compare: fc.array(compare, { maxLength: 3 }), success: fc.array(tie('op'), { maxLength: 3 }), failure: fc.array(tie('op'), { maxLength: 3 }) }, { requiredKeys: [] }),
}));
const txn = recursive.txn as fc.Arbitrary<Partial<etcdserverpb.TxnRequest>>;

/** Every kind of request a member proposes, as api/ and node/ build them. */
const proposed: fc.Arbitrary<Omit<Partial<etcdserverpb.InternalRaftRequest>, 'header' | 'ID'>> = fc.oneof(
  // api/grpc: messages decoded from the wire, i.e. complete.
  put.map((request) => ({ put: etcdserverpb.PutRequest.fromPartial(request) })),
  deleteRange.map((request) => ({ deleteRange: etcdserverpb.DeleteRangeRequest.fromPartial(request) })),
  txn.map((request) => ({ txn: etcdserverpb.TxnRequest.fromPartial(request) })),
  fc.record({ revision: int64, physical: fc.boolean() }).map((request) => ({ compaction: etcdserverpb.CompactionRequest.fromPartial(request) })),
  fc.record({ action: fc.integer({ min: 0, max: 2 }), memberID: positive64, alarm: fc.integer({ min: 0, max: 2 }) }).map((request) => ({ alarm: etcdserverpb.AlarmRequest.fromPartial(request) })),
  // Built by hand: lease grant and revoke (api/grpc/lease.ts, v2), the node's lease expiry and auto-compaction.
  fc.record({ ID: positive64, TTL: int64 }).map(({ ID, TTL }) => ({ leaseGrant: { ID, TTL } })),
  positive64.map((ID) => ({ leaseRevoke: { ID } })),
  positive64.map((revision) => ({ compaction: { revision, physical: false } })),
);

/** Bytes compared by content (decoding gives Buffers, builders may hold Uint8Arrays). */
function comparable(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('hex')}`;
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, comparable(field)]));
  return value;
}

test('a proposal decodes from its log bytes to exactly the object its proposer applies', () => {
  fc.assert(
    fc.property(proposed, positive64, (request, id) => {
      const built = buildProposal(request, id);
      const data = etcdserverpb.InternalRaftRequest.encode(built).finish();
      const shortcut = proposalRequest({ index: 1, term: 2, type: 'normal', data, context: { request: built, deadlineMs: 0, settle: () => {} } });
      const replayed = proposalRequest({ index: 1, term: 2, type: 'normal', data });
      assert.equal(shortcut, built, 'the proposer applies its own object');
      assert.deepStrictEqual(comparable(replayed), comparable(shortcut));
    }),
    { numRuns: 2000 },
  );
});

test('the check can fail: a field the bytes do not carry is a divergence', () => {
  const built = buildProposal({ put: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k') }) }, 1n);
  const skewed = { ...built, put: { ...built.put!, extra: 1 } } as unknown as etcdserverpb.InternalRaftRequest;
  const replayed = proposalRequest({ index: 1, term: 1, type: 'normal', data: etcdserverpb.InternalRaftRequest.encode(skewed).finish() });
  assert.notDeepStrictEqual(comparable(replayed), comparable(skewed));
});
