// @holdfast/client: a typed etcd v3 client for Holdfast and etcd.
// See README.md for the tour, the retry policy and the error classes.

export { Client } from './client.js';
export { Namespace, TxnBuilder } from './namespace.js';
export type { ClientCore, CompactOptions, DeleteOptions, GetOptions, PutOptions } from './namespace.js';
export { defaultClientOptions } from './client-options.js';
export type { ClientOptions, ResolvedClientOptions } from './client-options.js';
export type { RequestOptions } from './connection-pool.js';
export { KeyValue, toBuffer } from './bytes.js';
export type { Bytes, ResponseHeader } from './bytes.js';
export { Compare, Op } from './operations.js';
export type {
  CompareOperator,
  CompareTarget,
  DeleteOperation,
  DeleteOperationOptions,
  DeleteResult,
  GetOperation,
  GetOperationOptions,
  GetResult,
  Operation,
  OperationResult,
  PutOperation,
  PutOperationOptions,
  PutResult,
  RangeSelector,
  SortOrder,
  SortTarget,
  TxnOperation,
  TxnResult,
} from './operations.js';
export { Watch } from './watch.js';
export type { WatchBatch, WatchEvent, WatchFilter, WatchOptions } from './watch.js';
export { Lease, LeaseApi, LeaseKeepAlive, keepAlivesInFlightMax } from './lease.js';
export type { LeaseGrantOptions, LeaseTimeToLive } from './lease.js';
export { MaintenanceApi } from './maintenance.js';
export type { Alarm, AlarmKind, HashKvResult, MemberRequestOptions, StatusResult } from './maintenance.js';
export { ClusterApi } from './cluster.js';
export type { Member, MembersResult } from './cluster.js';
export { AuthApi } from './auth.js';
export type { Permission, PermissionType } from './auth.js';
export { ElectionApi, LockApi } from './lock-election.js';
export type { LeaderKey } from './lock-election.js';
export { retryPolicies, mayRetryAfterSend } from './retry-policy.js';
export type { RetryPolicy } from './retry-policy.js';
export * from './errors.js';
