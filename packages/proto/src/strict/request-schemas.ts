/**
 * Schemas of the request messages Holdfast decodes strictly: every request
 * of the KV, Watch, Lease, Cluster and Maintenance services (rpc.proto,
 * etcd 3.5's fields) and grpc.health.v1's HealthCheckRequest, keyed by
 * gRPC method path. The Auth, Lock and Election services are not served.
 *
 * request-schemas.test.ts checks each schema against the generated codec
 * (same field numbers and wire types), so a field added to a .proto without
 * its schema entry fails the build's tests.
 */
import { messageSchema, type FieldSpec, type MessageSchema } from './schema.js';

const varint: FieldSpec = { kind: 'varint' };
const bytes: FieldSpec = { kind: 'bytes' };
const repeatedBytes: FieldSpec = { kind: 'bytes', repeated: true };
const repeatedMessage = (message: () => MessageSchema): FieldSpec => ({ kind: 'message', repeated: true, message });
const oneofMessage = (oneof: string, message: () => MessageSchema): FieldSpec => ({ kind: 'message', oneof, message });
const oneofVarint = (oneof: string): FieldSpec => ({ kind: 'varint', oneof });
const oneofBytes = (oneof: string): FieldSpec => ({ kind: 'bytes', oneof });

const etcd = (name: string, fields: Parameters<typeof messageSchema>[1]): MessageSchema => messageSchema(`etcdserverpb.${name}`, fields);

export const RangeRequest: MessageSchema = etcd('RangeRequest', {
  1: ['key', bytes],
  2: ['range_end', bytes],
  3: ['limit', varint],
  4: ['revision', varint],
  5: ['sort_order', varint],
  6: ['sort_target', varint],
  7: ['serializable', varint],
  8: ['keys_only', varint],
  9: ['count_only', varint],
  10: ['min_mod_revision', varint],
  11: ['max_mod_revision', varint],
  12: ['min_create_revision', varint],
  13: ['max_create_revision', varint],
});
export const PutRequest: MessageSchema = etcd('PutRequest', {
  1: ['key', bytes],
  2: ['value', bytes],
  3: ['lease', varint],
  4: ['prev_kv', varint],
  5: ['ignore_value', varint],
  6: ['ignore_lease', varint],
});
export const DeleteRangeRequest: MessageSchema = etcd('DeleteRangeRequest', {
  1: ['key', bytes],
  2: ['range_end', bytes],
  3: ['prev_kv', varint],
});
export const RequestOp: MessageSchema = etcd('RequestOp', {
  1: ['request_range', oneofMessage('request', () => RangeRequest)],
  2: ['request_put', oneofMessage('request', () => PutRequest)],
  3: ['request_delete_range', oneofMessage('request', () => DeleteRangeRequest)],
  4: ['request_txn', oneofMessage('request', () => TxnRequest)],
});
export const Compare: MessageSchema = etcd('Compare', {
  1: ['result', varint],
  2: ['target', varint],
  3: ['key', bytes],
  4: ['version', oneofVarint('target_union')],
  5: ['create_revision', oneofVarint('target_union')],
  6: ['mod_revision', oneofVarint('target_union')],
  7: ['value', oneofBytes('target_union')],
  8: ['lease', oneofVarint('target_union')],
  64: ['range_end', bytes],
});
export const TxnRequest: MessageSchema = etcd('TxnRequest', {
  1: ['compare', repeatedMessage(() => Compare)],
  2: ['success', repeatedMessage(() => RequestOp)],
  3: ['failure', repeatedMessage(() => RequestOp)],
});
export const CompactionRequest: MessageSchema = etcd('CompactionRequest', { 1: ['revision', varint], 2: ['physical', varint] });

export const WatchCreateRequest: MessageSchema = etcd('WatchCreateRequest', {
  1: ['key', bytes],
  2: ['range_end', bytes],
  3: ['start_revision', varint],
  4: ['progress_notify', varint],
  5: ['filters', { kind: 'packable', repeated: true }],
  6: ['prev_kv', varint],
  7: ['watch_id', varint],
  8: ['fragment', varint],
});
export const WatchCancelRequest: MessageSchema = etcd('WatchCancelRequest', { 1: ['watch_id', varint] });
export const WatchProgressRequest: MessageSchema = etcd('WatchProgressRequest', {});
export const WatchRequest: MessageSchema = etcd('WatchRequest', {
  1: ['create_request', oneofMessage('request_union', () => WatchCreateRequest)],
  2: ['cancel_request', oneofMessage('request_union', () => WatchCancelRequest)],
  3: ['progress_request', oneofMessage('request_union', () => WatchProgressRequest)],
});

export const LeaseGrantRequest: MessageSchema = etcd('LeaseGrantRequest', { 1: ['TTL', varint], 2: ['ID', varint] });
export const LeaseRevokeRequest: MessageSchema = etcd('LeaseRevokeRequest', { 1: ['ID', varint] });
export const LeaseKeepAliveRequest: MessageSchema = etcd('LeaseKeepAliveRequest', { 1: ['ID', varint] });
export const LeaseTimeToLiveRequest: MessageSchema = etcd('LeaseTimeToLiveRequest', { 1: ['ID', varint], 2: ['keys', varint] });
export const LeaseLeasesRequest: MessageSchema = etcd('LeaseLeasesRequest', {});

export const MemberAddRequest: MessageSchema = etcd('MemberAddRequest', { 1: ['peerURLs', repeatedBytes], 2: ['isLearner', varint] });
export const MemberRemoveRequest: MessageSchema = etcd('MemberRemoveRequest', { 1: ['ID', varint] });
export const MemberUpdateRequest: MessageSchema = etcd('MemberUpdateRequest', { 1: ['ID', varint], 2: ['peerURLs', repeatedBytes] });
/** etcd 3.5's field 1 (linearizable); etcd 3.4 has no fields here and skips it as unknown. */
export const MemberListRequest: MessageSchema = etcd('MemberListRequest', { 1: ['linearizable', varint] });
export const MemberPromoteRequest: MessageSchema = etcd('MemberPromoteRequest', { 1: ['ID', varint] });

export const AlarmRequest: MessageSchema = etcd('AlarmRequest', { 1: ['action', varint], 2: ['memberID', varint], 3: ['alarm', varint] });
export const StatusRequest: MessageSchema = etcd('StatusRequest', {});
export const DefragmentRequest: MessageSchema = etcd('DefragmentRequest', {});
export const HashRequest: MessageSchema = etcd('HashRequest', {});
export const HashKVRequest: MessageSchema = etcd('HashKVRequest', { 1: ['revision', varint] });
export const SnapshotRequest: MessageSchema = etcd('SnapshotRequest', {});
export const MoveLeaderRequest: MessageSchema = etcd('MoveLeaderRequest', { 1: ['targetID', varint] });
/** etcd 3.5 only (etcd 3.4 has no Downgrade method). */
export const DowngradeRequest: MessageSchema = etcd('DowngradeRequest', { 1: ['action', varint], 2: ['version', bytes] });

/** golang/protobuf 1.3 (protoc-gen-go) code in etcd 3.4: proto3 strings must be valid UTF-8 there. */
export const HealthCheckRequest: MessageSchema = messageSchema(
  'grpc.health.v1.HealthCheckRequest',
  { 1: ['service', { kind: 'utf8' }] },
  { dialect: 'golang-protobuf-1.3', goTypeName: 'grpc_health_v1.HealthCheckRequest' },
);

/** The request schema of every method Holdfast serves, by gRPC path. */
export const requestSchemaByPath: ReadonlyMap<string, MessageSchema> = new Map([
  ['/etcdserverpb.KV/Range', RangeRequest],
  ['/etcdserverpb.KV/Put', PutRequest],
  ['/etcdserverpb.KV/DeleteRange', DeleteRangeRequest],
  ['/etcdserverpb.KV/Txn', TxnRequest],
  ['/etcdserverpb.KV/Compact', CompactionRequest],
  ['/etcdserverpb.Watch/Watch', WatchRequest],
  ['/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest],
  ['/etcdserverpb.Lease/LeaseRevoke', LeaseRevokeRequest],
  ['/etcdserverpb.Lease/LeaseKeepAlive', LeaseKeepAliveRequest],
  ['/etcdserverpb.Lease/LeaseTimeToLive', LeaseTimeToLiveRequest],
  ['/etcdserverpb.Lease/LeaseLeases', LeaseLeasesRequest],
  ['/etcdserverpb.Cluster/MemberAdd', MemberAddRequest],
  ['/etcdserverpb.Cluster/MemberRemove', MemberRemoveRequest],
  ['/etcdserverpb.Cluster/MemberUpdate', MemberUpdateRequest],
  ['/etcdserverpb.Cluster/MemberList', MemberListRequest],
  ['/etcdserverpb.Cluster/MemberPromote', MemberPromoteRequest],
  ['/etcdserverpb.Maintenance/Alarm', AlarmRequest],
  ['/etcdserverpb.Maintenance/Status', StatusRequest],
  ['/etcdserverpb.Maintenance/Defragment', DefragmentRequest],
  ['/etcdserverpb.Maintenance/Hash', HashRequest],
  ['/etcdserverpb.Maintenance/HashKV', HashKVRequest],
  ['/etcdserverpb.Maintenance/Snapshot', SnapshotRequest],
  ['/etcdserverpb.Maintenance/MoveLeader', MoveLeaderRequest],
  ['/etcdserverpb.Maintenance/Downgrade', DowngradeRequest],
  ['/grpc.health.v1.Health/Check', HealthCheckRequest],
  ['/grpc.health.v1.Health/Watch', HealthCheckRequest],
]);
