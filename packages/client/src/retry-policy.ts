/**
 * Which calls the client may send again on its own. One table, by gRPC
 * method path, for every unary method of the v3 API.
 *
 * - 'retry': the call changes nothing (or repeating it changes nothing
 *   more), so after UNAVAILABLE (a dropped connection, "no leader",
 *   "request timed out", ...) it is tried again, on the next endpoint, with
 *   backoff. This is clientv3's "repeatable" policy.
 * - 'unsent-only': the call changes state. It is tried on another endpoint
 *   only when it provably never left the client: no connection to the
 *   endpoint could be made. Once it was handed to a connection, any failure
 *   is the caller's to judge (a Put that timed out may have been applied).
 *   This is clientv3's "nonRepeatable" policy.
 * - 'per-request': depends on the request (a Txn is 'retry' when every op
 *   in it, nested ones too, is a Range; an Alarm when it only reads).
 *
 * Streams (Watch, LeaseKeepAlive, Snapshot, Observe) are not in the table:
 * the watch and lease managers re-open their streams themselves, resuming
 * where they were; Snapshot and Observe fail to the caller.
 */
import { etcdserverpb, healthpb, v3electionpb, v3lockpb } from '@holdfast/proto';

export type RetryPolicy = 'retry' | 'unsent-only' | 'per-request';

const kv = etcdserverpb.KVService;
const lease = etcdserverpb.LeaseService;
const cluster = etcdserverpb.ClusterService;
const maintenance = etcdserverpb.MaintenanceService;
const auth = etcdserverpb.AuthService;
const lock = v3lockpb.LockService;
const election = v3electionpb.ElectionService;
const health = healthpb.HealthService;

export const retryPolicies: ReadonlyMap<string, RetryPolicy> = new Map<string, RetryPolicy>([
  [kv.range.path, 'retry'],
  [kv.put.path, 'unsent-only'],
  [kv.deleteRange.path, 'unsent-only'],
  [kv.txn.path, 'per-request'],
  [kv.compact.path, 'unsent-only'],

  [lease.leaseGrant.path, 'unsent-only'],
  [lease.leaseRevoke.path, 'unsent-only'],
  [lease.leaseTimeToLive.path, 'retry'],
  [lease.leaseLeases.path, 'retry'],

  [cluster.memberAdd.path, 'unsent-only'],
  [cluster.memberRemove.path, 'unsent-only'],
  [cluster.memberUpdate.path, 'unsent-only'],
  [cluster.memberList.path, 'retry'],
  [cluster.memberPromote.path, 'unsent-only'],

  [maintenance.alarm.path, 'per-request'],
  [maintenance.status.path, 'retry'],
  [maintenance.defragment.path, 'unsent-only'],
  [maintenance.hash.path, 'retry'],
  [maintenance.hashKv.path, 'retry'],
  [maintenance.moveLeader.path, 'unsent-only'],
  [maintenance.downgrade.path, 'unsent-only'],

  [auth.authEnable.path, 'unsent-only'],
  [auth.authDisable.path, 'unsent-only'],
  [auth.authStatus.path, 'retry'],
  // A second token for the same user changes nothing the caller can see.
  [auth.authenticate.path, 'retry'],
  [auth.userAdd.path, 'unsent-only'],
  [auth.userGet.path, 'retry'],
  [auth.userList.path, 'retry'],
  [auth.userDelete.path, 'unsent-only'],
  [auth.userChangePassword.path, 'unsent-only'],
  [auth.userGrantRole.path, 'unsent-only'],
  [auth.userRevokeRole.path, 'unsent-only'],
  [auth.roleAdd.path, 'unsent-only'],
  [auth.roleGet.path, 'retry'],
  [auth.roleList.path, 'retry'],
  [auth.roleDelete.path, 'unsent-only'],
  [auth.roleGrantPermission.path, 'unsent-only'],
  [auth.roleRevokePermission.path, 'unsent-only'],

  [lock.lock.path, 'unsent-only'],
  [lock.unlock.path, 'unsent-only'],

  [election.campaign.path, 'unsent-only'],
  [election.proclaim.path, 'unsent-only'],
  [election.leader.path, 'retry'],
  [election.resign.path, 'unsent-only'],

  [health.check.path, 'retry'],
]);

/** Whether a call may be sent again after it reached a server; `requestOnlyReads` decides 'per-request' methods. */
export function mayRetryAfterSend(path: string, requestOnlyReads?: boolean): boolean {
  const policy = retryPolicies.get(path);
  if (policy === undefined) throw new Error(`retry policy: no entry for ${path}`);
  if (policy === 'per-request') {
    if (requestOnlyReads === undefined) throw new Error(`retry policy: ${path} needs the request's kind`);
    return requestOnlyReads;
  }
  return policy === 'retry';
}

/** Whether a Txn only reads: every op, in both branches and nested txns, is a Range. */
export function txnOnlyReads(request: etcdserverpb.TxnRequest): boolean {
  const opOnlyReads = (op: etcdserverpb.RequestOp): boolean =>
    op.requestRange !== undefined || (op.requestTxn !== undefined && txnOnlyReads(op.requestTxn));
  return request.success.every(opOnlyReads) && request.failure.every(opOnlyReads);
}
