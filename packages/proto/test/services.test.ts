// gRPC service definitions: method paths and streaming kinds must match etcd.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { etcdserverpb, healthpb, v3electionpb, v3lockpb } from '../src/index.js';

interface Def {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

function check(def: Def, path: string, requestStream: boolean, responseStream: boolean): void {
  assert.equal(def.path, path);
  assert.equal(def.requestStream, requestStream, `${path} requestStream`);
  assert.equal(def.responseStream, responseStream, `${path} responseStream`);
}

test('services: method paths and streaming kinds', () => {
  check(etcdserverpb.KVService.range, '/etcdserverpb.KV/Range', false, false);
  check(etcdserverpb.KVService.txn, '/etcdserverpb.KV/Txn', false, false);
  check(etcdserverpb.WatchService.watch, '/etcdserverpb.Watch/Watch', true, true);
  check(etcdserverpb.LeaseService.leaseKeepAlive, '/etcdserverpb.Lease/LeaseKeepAlive', true, true);
  check(etcdserverpb.LeaseService.leaseGrant, '/etcdserverpb.Lease/LeaseGrant', false, false);
  check(etcdserverpb.MaintenanceService.snapshot, '/etcdserverpb.Maintenance/Snapshot', false, true);
  check(etcdserverpb.MaintenanceService.hashKv, '/etcdserverpb.Maintenance/HashKV', false, false);
  check(etcdserverpb.ClusterService.memberList, '/etcdserverpb.Cluster/MemberList', false, false);
  check(etcdserverpb.AuthService.authenticate, '/etcdserverpb.Auth/Authenticate', false, false);
  check(v3lockpb.LockService.lock, '/v3lockpb.Lock/Lock', false, false);
  check(v3lockpb.LockService.unlock, '/v3lockpb.Lock/Unlock', false, false);
  check(v3electionpb.ElectionService.observe, '/v3electionpb.Election/Observe', false, true);
  check(v3electionpb.ElectionService.campaign, '/v3electionpb.Election/Campaign', false, false);
  check(healthpb.HealthService.check, '/grpc.health.v1.Health/Check', false, false);
  check(healthpb.HealthService.watch, '/grpc.health.v1.Health/Watch', false, true);
});

test('services: every etcd method is present', () => {
  const names = (svc: object): string[] => Object.values(svc).map((d: Def) => d.path.split('/')[2] ?? '').sort();
  assert.deepEqual(names(etcdserverpb.KVService), ['Compact', 'DeleteRange', 'Put', 'Range', 'Txn']);
  assert.deepEqual(names(etcdserverpb.LeaseService), [
    'LeaseGrant',
    'LeaseKeepAlive',
    'LeaseLeases',
    'LeaseRevoke',
    'LeaseTimeToLive',
  ]);
  assert.deepEqual(names(etcdserverpb.ClusterService), [
    'MemberAdd',
    'MemberList',
    'MemberPromote',
    'MemberRemove',
    'MemberUpdate',
  ]);
  assert.deepEqual(names(etcdserverpb.MaintenanceService), [
    'Alarm',
    'Defragment',
    'Downgrade',
    'Hash',
    'HashKV',
    'MoveLeader',
    'Snapshot',
    'Status',
  ]);
  assert.equal(names(etcdserverpb.AuthService).length, 17);
  assert.deepEqual(names(v3electionpb.ElectionService), ['Campaign', 'Leader', 'Observe', 'Proclaim', 'Resign']);
});
