/**
 * The one table of etcd 3.4's errors as they travel on the wire: a gRPC
 * status code and an exact message per condition. The server builds the
 * classes it throws from it, the client recognises a server's status by it,
 * and hfctl prints what etcdctl would; none of them writes a message or a
 * code of its own for these conditions.
 *
 * Rows follow etcd 3.4's etcdserver/api/v3rpc/rpctypes/error.go (checked
 * against release 3.4.23), then clientv3/concurrency's election errors.
 * Names are Holdfast's (the client's class name without "Error"), stable
 * because both packages derive exported class names from them.
 *
 * Left out on purpose: rpctypes' ErrGRPCWatchCanceled ("etcdserver: watch
 * canceled"), which Holdfast never sends and etcd's own client does not
 * recognise (it is missing from errStringToError); a watch the server ends
 * reaches the client's WatchCanceledError through the watch response
 * instead. grpc-go's framing errors are not etcd's and stay in the server.
 */
import { status } from '@grpc/grpc-js';

/**
 * Where etcd defines an error. 'rpctypes': api/v3rpc/rpctypes/error.go and
 * its errStringToError, so etcd's Go client hands the bare message back
 * (etcdctl prints "Error: etcdserver: ..."). 'concurrency':
 * clientv3/concurrency, which the Election service returns as UNKNOWN.
 */
export type EtcdErrorSource = 'rpctypes' | 'concurrency';

/** One etcd error: what a server answers with and a client matches on. */
export interface EtcdErrorEntry {
  /** Holdfast's stable name; the classes built from it are named `${name}Error` unless a package says otherwise. */
  readonly name: string;
  /** The gRPC status code (grpc-js's `status` enum, the same numbers as grpc-go's codes). */
  readonly code: status;
  /** The status message, exactly as etcd writes it. */
  readonly message: string;
  readonly source: EtcdErrorSource;
}

type Row = Omit<EtcdErrorEntry, 'name'>;

const rpctypes = (code: status, message: string): Row => ({ code, message, source: 'rpctypes' });
const concurrency = (code: status, message: string): Row => ({ code, message, source: 'concurrency' });

/** Gives each row the name it is listed under, so an entry passed on alone still says what it is. */
function named<Names extends string>(rows: Record<Names, Row>): { readonly [Name in Names]: EtcdErrorEntry & { readonly name: Name } } {
  const entries: Partial<Record<Names, EtcdErrorEntry>> = {};
  for (const name of Object.keys(rows) as Names[]) entries[name] = Object.freeze({ name, ...rows[name] });
  return Object.freeze(entries) as { readonly [Name in Names]: EtcdErrorEntry & { readonly name: Name } };
}

export const etcdErrors = named({
  EmptyKey: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  KeyNotFound: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: key not found'),
  ValueProvided: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  LeaseProvided: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  TooManyOps: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  DuplicateKey: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  Compacted: rpctypes(status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  FutureRevision: rpctypes(status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  NoSpace: rpctypes(status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),

  LeaseNotFound: rpctypes(status.NOT_FOUND, 'etcdserver: requested lease not found'),
  LeaseExists: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  LeaseTtlTooLarge: rpctypes(status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),

  MemberExists: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  PeerUrlExists: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  NotEnoughStartedMembers: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: re-configuration failed due to not enough started members'),
  MemberBadUrls: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  MemberNotFound: rpctypes(status.NOT_FOUND, 'etcdserver: member not found'),
  MemberNotLearner: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  LearnerNotReady: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'),
  TooManyLearners: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),

  RequestTooLarge: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  TooManyRequests: rpctypes(status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),

  RootUserNotExist: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  RootRoleNotExist: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  UserAlreadyExists: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  UserEmpty: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  UserNotFound: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  RoleAlreadyExists: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  RoleNotFound: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  RoleEmpty: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  AuthFailed: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
  PermissionDenied: rpctypes(status.PERMISSION_DENIED, 'etcdserver: permission denied'),
  RoleNotGranted: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  PermissionNotGranted: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  AuthNotEnabled: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  InvalidAuthToken: rpctypes(status.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  InvalidAuthManagement: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  AuthOldRevision: rpctypes(status.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),

  NoLeader: rpctypes(status.UNAVAILABLE, 'etcdserver: no leader'),
  NotLeader: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: not leader'),
  LeaderChanged: rpctypes(status.UNAVAILABLE, 'etcdserver: leader changed'),
  NotCapable: rpctypes(status.UNAVAILABLE, 'etcdserver: not capable'),
  Stopped: rpctypes(status.UNAVAILABLE, 'etcdserver: server stopped'),
  RequestTimeout: rpctypes(status.UNAVAILABLE, 'etcdserver: request timed out'),
  LeaderFailTimeout: rpctypes(status.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'),
  ConnectionLostTimeout: rpctypes(status.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'),
  AppliedIndexTimeout: rpctypes(status.UNAVAILABLE, 'etcdserver: request timed out, waiting for the applied index took too long'),
  UnhealthyCluster: rpctypes(status.UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  Corrupt: rpctypes(status.DATA_LOSS, 'etcdserver: corrupt cluster'),
  LearnerNotSupported: rpctypes(status.UNAVAILABLE, 'etcdserver: rpc not supported for learner'),
  BadLeaderTransferee: rpctypes(status.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),

  ElectionNoLeader: concurrency(status.UNKNOWN, 'election: no leader'),
  ElectionNotLeader: concurrency(status.UNKNOWN, 'election: not leader'),
});

export type EtcdErrorName = keyof typeof etcdErrors;
