// JSON mapping: proto field names (snake_case, as etcd's grpc-gateway emits),
// 64-bit integers as decimal strings, bytes as base64, zero values omitted.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { etcdserverpb } from '../src/index.js';

const { RangeResponse } = etcdserverpb;

const resp = RangeResponse.fromPartial({
  header: { clusterId: 18446744073709551615n, memberId: 42n, revision: 7n, raftTerm: 2n },
  kvs: [
    { key: Buffer.from('foo'), value: Buffer.from([0xff, 0x00]), createRevision: 5n, modRevision: 7n, version: 2n },
  ],
  more: false,
  count: 1n,
});

test('json: RangeResponse.toJSON uses proto names, strings for 64-bit, base64 bytes, no zero values', () => {
  const json = RangeResponse.toJSON(resp);
  assert.deepEqual(json, {
    header: { cluster_id: '18446744073709551615', member_id: '42', revision: '7', raft_term: '2' },
    kvs: [{ key: 'Zm9v', create_revision: '5', mod_revision: '7', version: '2', value: '/wA=' }],
    count: '1',
  });
  // No bigint left over, so plain JSON.stringify works.
  assert.doesNotThrow(() => JSON.stringify(json));
});

test('json: fromJSON(toJSON(x)) round-trips', () => {
  const back = RangeResponse.fromJSON(JSON.parse(JSON.stringify(RangeResponse.toJSON(resp))));
  assert.deepEqual(back, resp);
});

test('json: enums by name, capitalised etcd field names kept as declared', () => {
  assert.deepEqual(
    etcdserverpb.RangeRequest.toJSON(
      etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('a'), sortOrder: etcdserverpb.RangeRequest_SortOrder.DESCEND }),
    ),
    { key: 'YQ==', sort_order: 'DESCEND' },
  );
  assert.deepEqual(etcdserverpb.LeaseGrantResponse.toJSON(etcdserverpb.LeaseGrantResponse.fromPartial({ ID: 5n, TTL: 60n })), {
    ID: '5',
    TTL: '60',
  });
  assert.deepEqual(
    etcdserverpb.Member.toJSON(etcdserverpb.Member.fromPartial({ ID: 1n, peerURLs: ['http://127.0.0.1:2380'] })),
    { ID: '1', peerURLs: ['http://127.0.0.1:2380'] },
  );
});
