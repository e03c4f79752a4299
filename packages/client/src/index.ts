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
// One listener per AbortSignal however many waiters share it (no MaxListenersExceededWarning); the recipes, registry and pubsub use it too.
export { onAbort, abortWaiterCount } from './abort-listeners.js';
export type { WatchBatch, WatchEvent, WatchFilter, WatchOptions } from './watch.js';
export { ConfigWatch, watchConfig, defaultMaxPendingUpdates, type ConfigParser, type ConfigVersion, type ConfigWatchOptions } from './config-watch.js';
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
// Errors: one class per condition (see README.md); toEtcdError is the one mapping from a gRPC status.
export {
  EtcdError,
  EmptyKeyError,
  KeyNotFoundError,
  ValueProvidedError,
  LeaseProvidedError,
  TooManyOpsError,
  DuplicateKeyError,
  RequestTooLargeError,
  AuthFailedError,
  UserEmptyError,
  RoleEmptyError,
  InvalidAuthManagementError,
  AuthOldRevisionError,
  MemberBadUrlsError,
  FutureRevisionError,
  LeaseTtlTooLargeError,
  CompactedError,
  NoSpaceError,
  TooManyRequestsError,
  LeaseNotFoundError,
  MemberNotFoundError,
  LeaseExistsError,
  MemberExistsError,
  PeerUrlExistsError,
  MemberNotLearnerError,
  LearnerNotReadyError,
  TooManyLearnersError,
  NotEnoughStartedMembersError,
  AuthNotEnabledError,
  RootUserNotExistError,
  RootRoleNotExistError,
  UserAlreadyExistsError,
  UserNotFoundError,
  RoleAlreadyExistsError,
  RoleNotFoundError,
  RoleNotGrantedError,
  PermissionNotGrantedError,
  NotLeaderError,
  BadLeaderTransfereeError,
  PermissionDeniedError,
  InvalidAuthTokenError,
  NoLeaderError,
  LeaderChangedError,
  NotCapableError,
  StoppedError,
  RequestTimeoutError,
  LeaderFailTimeoutError,
  ConnectionLostTimeoutError,
  AppliedIndexTimeoutError,
  UnhealthyClusterError,
  LearnerNotSupportedError,
  CorruptError,
  ElectionNoLeaderError,
  ElectionNotLeaderError,
  UnavailableError,
  DeadlineExceededError,
  UnimplementedError,
  CancelledError,
  ClientClosedError,
  WatchCanceledError,
  TooManyWatchesError,
  LeaseLostError,
  GrpcStatus,
  toEtcdError,
} from './errors.js';
export type { EtcdErrorOptions, LeaseLostReason } from './errors.js';
