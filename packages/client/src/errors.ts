/**
 * Every error the client raises, and the one place where a gRPC status from a
 * server becomes one of them (toEtcdError).
 *
 * A server error is recognised first by etcd's exact message (the strings in
 * etcd's api/v3rpc/rpctypes/error.go, which Holdfast mirrors in
 * packages/server/src/errors.ts), then by gRPC status code alone. Every class
 * keeps the original grpc-js ServiceError as `cause` and records which
 * endpoint answered.
 */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

export { GrpcStatus };

/** Base class of every error this package raises. */
export class EtcdError extends Error {
  override name = 'EtcdError';
  /** The gRPC status code the server answered with (or the client decided on). */
  readonly code: GrpcStatus;
  /** host:port of the endpoint that answered, when one did. */
  readonly endpoint: string | undefined;
  constructor(message: string, options: { code?: GrpcStatus; cause?: unknown; endpoint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? GrpcStatus.UNKNOWN;
    this.endpoint = options.endpoint;
  }
}

/** Options every mapped error class accepts. */
export interface EtcdErrorOptions {
  readonly cause?: unknown;
  readonly endpoint?: string;
}

type EtcdErrorClass = new (options?: EtcdErrorOptions) => EtcdError;

/** One class per etcd message: defines it and registers it for toEtcdError. */
const byMessage = new Map<string, EtcdErrorClass>();
function define(code: GrpcStatus, message: string, name: string): EtcdErrorClass {
  const defined = class extends EtcdError {
    override name = name;
    constructor(options: EtcdErrorOptions = {}) {
      super(message, { ...options, code });
    }
  };
  byMessage.set(message, defined);
  return defined;
}

// Invalid requests (INVALID_ARGUMENT).
export const EmptyKeyError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key is not provided', 'EmptyKeyError');
export const KeyNotFoundError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key not found', 'KeyNotFoundError');
export const ValueProvidedError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: value is provided', 'ValueProvidedError');
export const LeaseProvidedError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: lease is provided', 'LeaseProvidedError');
export const TooManyOpsError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request', 'TooManyOpsError');
export const DuplicateKeyError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request', 'DuplicateKeyError');
export const RequestTooLargeError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: request is too large', 'RequestTooLargeError');
export const AuthFailedError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password', 'AuthFailedError');
export const UserEmptyError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: user name is empty', 'UserEmptyError');
export const RoleEmptyError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: role name is empty', 'RoleEmptyError');
export const InvalidAuthManagementError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: invalid auth management', 'InvalidAuthManagementError');
export const MemberBadUrlsError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid', 'MemberBadUrlsError');

// Revisions (OUT_OF_RANGE).
export const FutureRevisionError = define(GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision', 'FutureRevisionError');
export const LeaseTtlTooLargeError = define(GrpcStatus.OUT_OF_RANGE, 'etcdserver: too large lease TTL', 'LeaseTtlTooLargeError');

/**
 * The requested revision has been compacted away. From a Range, Txn or
 * HashKV the compact revision is unknown (undefined); a watch that starts or
 * resumes below it learns it from the server's cancel response.
 */
export class CompactedError extends EtcdError {
  override name = 'CompactedError';
  static readonly message = 'etcdserver: mvcc: required revision has been compacted';
  readonly compactRevision: bigint | undefined;
  constructor(options: EtcdErrorOptions & { compactRevision?: bigint } = {}) {
    super(CompactedError.message, { ...options, code: GrpcStatus.OUT_OF_RANGE });
    this.compactRevision = options.compactRevision;
  }
}
byMessage.set(CompactedError.message, CompactedError);

// Limits (RESOURCE_EXHAUSTED).
export const NoSpaceError = define(GrpcStatus.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded', 'NoSpaceError');
export const TooManyRequestsError = define(GrpcStatus.RESOURCE_EXHAUSTED, 'etcdserver: too many requests', 'TooManyRequestsError');

// Missing things (NOT_FOUND).
export const LeaseNotFoundError = define(GrpcStatus.NOT_FOUND, 'etcdserver: requested lease not found', 'LeaseNotFoundError');
export const MemberNotFoundError = define(GrpcStatus.NOT_FOUND, 'etcdserver: member not found', 'MemberNotFoundError');

// State conflicts (FAILED_PRECONDITION).
export const LeaseExistsError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: lease already exists', 'LeaseExistsError');
export const MemberExistsError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: member ID already exist', 'MemberExistsError');
export const PeerUrlExistsError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists', 'PeerUrlExistsError');
export const MemberNotLearnerError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member', 'MemberNotLearnerError');
export const LearnerNotReadyError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader', 'LearnerNotReadyError');
export const TooManyLearnersError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster', 'TooManyLearnersError');
export const NotEnoughStartedMembersError = define(
  GrpcStatus.FAILED_PRECONDITION,
  'etcdserver: re-configuration failed due to not enough started members',
  'NotEnoughStartedMembersError',
);
export const AuthNotEnabledError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled', 'AuthNotEnabledError');
export const RootUserNotExistError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: root user does not exist', 'RootUserNotExistError');
export const RootRoleNotExistError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: root user does not have root role', 'RootRoleNotExistError');
export const UserAlreadyExistsError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: user name already exists', 'UserAlreadyExistsError');
export const UserNotFoundError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: user name not found', 'UserNotFoundError');
export const RoleAlreadyExistsError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: role name already exists', 'RoleAlreadyExistsError');
export const RoleNotFoundError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: role name not found', 'RoleNotFoundError');
export const RoleNotGrantedError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user', 'RoleNotGrantedError');
export const PermissionNotGrantedError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role', 'PermissionNotGrantedError');
export const NotLeaderError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: not leader', 'NotLeaderError');
export const BadLeaderTransfereeError = define(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: bad leader transferee', 'BadLeaderTransfereeError');

// Authorisation.
export const PermissionDeniedError = define(GrpcStatus.PERMISSION_DENIED, 'etcdserver: permission denied', 'PermissionDeniedError');
export const InvalidAuthTokenError = define(GrpcStatus.UNAUTHENTICATED, 'etcdserver: invalid auth token', 'InvalidAuthTokenError');

// The cluster cannot serve right now (UNAVAILABLE): safe to retry idempotent calls.
export const NoLeaderError = define(GrpcStatus.UNAVAILABLE, 'etcdserver: no leader', 'NoLeaderError');
export const LeaderChangedError = define(GrpcStatus.UNAVAILABLE, 'etcdserver: leader changed', 'LeaderChangedError');
export const NotCapableError = define(GrpcStatus.UNAVAILABLE, 'etcdserver: not capable', 'NotCapableError');
export const StoppedError = define(GrpcStatus.UNAVAILABLE, 'etcdserver: server stopped', 'StoppedError');
export const RequestTimeoutError = define(GrpcStatus.UNAVAILABLE, 'etcdserver: request timed out', 'RequestTimeoutError');
export const LeaderFailTimeoutError = define(
  GrpcStatus.UNAVAILABLE,
  'etcdserver: request timed out, possibly due to previous leader failure',
  'LeaderFailTimeoutError',
);
export const ConnectionLostTimeoutError = define(
  GrpcStatus.UNAVAILABLE,
  'etcdserver: request timed out, possibly due to connection lost',
  'ConnectionLostTimeoutError',
);
export const UnhealthyClusterError = define(GrpcStatus.UNAVAILABLE, 'etcdserver: unhealthy cluster', 'UnhealthyClusterError');
export const LearnerNotSupportedError = define(GrpcStatus.UNAVAILABLE, 'etcdserver: rpc not supported for learner', 'LearnerNotSupportedError');

// The data is damaged (DATA_LOSS).
export const CorruptError = define(GrpcStatus.DATA_LOSS, 'etcdserver: corrupt cluster', 'CorruptError');

// The Election service answers with Go clientv3/concurrency's errors (UNKNOWN, no "etcdserver: " prefix).
export const ElectionNoLeaderError = define(GrpcStatus.UNKNOWN, 'election: no leader', 'ElectionNoLeaderError');
export const ElectionNotLeaderError = define(GrpcStatus.UNKNOWN, 'election: not leader', 'ElectionNotLeaderError');

// Transport-level conditions, recognised by gRPC code when no etcd message matched.

/** The endpoint could not be reached or the connection broke (UNAVAILABLE). */
export class UnavailableError extends EtcdError {
  override name = 'UnavailableError';
  constructor(message: string, options: EtcdErrorOptions = {}) {
    super(message, { ...options, code: GrpcStatus.UNAVAILABLE });
  }
}

/** The call's deadline passed (DEADLINE_EXCEEDED, or the client's own timer). */
export class DeadlineExceededError extends EtcdError {
  override name = 'DeadlineExceededError';
  constructor(message: string, options: EtcdErrorOptions = {}) {
    super(message, { ...options, code: GrpcStatus.DEADLINE_EXCEEDED });
  }
}

/** The server does not serve this method (UNIMPLEMENTED). */
export class UnimplementedError extends EtcdError {
  override name = 'UnimplementedError';
  constructor(message: string, options: EtcdErrorOptions = {}) {
    super(message, { ...options, code: GrpcStatus.UNIMPLEMENTED });
  }
}

/** The call was cancelled (CANCELLED) other than by the caller's AbortSignal. */
export class CancelledError extends EtcdError {
  override name = 'CancelledError';
  constructor(message: string, options: EtcdErrorOptions = {}) {
    super(message, { ...options, code: GrpcStatus.CANCELLED });
  }
}

// Conditions the client itself detects.

/** A call was made on a client after close(). */
export class ClientClosedError extends EtcdError {
  override name = 'ClientClosedError';
  constructor() {
    super('client is closed', { code: GrpcStatus.CANCELLED });
  }
}

/** The server ended a watch for a reason other than compaction. */
export class WatchCanceledError extends EtcdError {
  override name = 'WatchCanceledError';
  constructor(reason: string, options: EtcdErrorOptions = {}) {
    super(reason === '' ? 'watch canceled by the server' : reason, { ...options, code: GrpcStatus.CANCELLED });
  }
}

/** The client refused to open another watch: every stream holds its maximum. */
export class TooManyWatchesError extends EtcdError {
  override name = 'TooManyWatchesError';
  constructor(watchesMax: number) {
    super(`client: too many watches (watchStreamsMax x watchesPerStreamMax = ${watchesMax})`, { code: GrpcStatus.RESOURCE_EXHAUSTED });
  }
}

/** Why a kept-alive lease can no longer be proven alive. */
export type LeaseLostReason = 'expired' | 'not-found' | 'unconfirmed' | 'failed';

/**
 * A kept-alive lease can no longer be proven alive: its TTL elapsed since the
 * last keepalive the server confirmed ('expired'), the server answered TTL 0
 * ('not-found': revoked or expired there), no keepalive was ever confirmed
 * ('unconfirmed'), or the keepalive stream failed for good ('failed').
 */
export class LeaseLostError extends EtcdError {
  override name = 'LeaseLostError';
  readonly leaseId: bigint;
  readonly reason: LeaseLostReason;
  constructor(leaseId: bigint, reason: LeaseLostReason, detail: string, options: EtcdErrorOptions = {}) {
    super(`lease ${leaseId.toString(16)} lost: ${detail}`, { ...options, code: GrpcStatus.NOT_FOUND });
    this.leaseId = leaseId;
    this.reason = reason;
  }
}

const etcdMessagePrefix = 'etcdserver: ';

/**
 * The one mapping from what a server said to an error class. Accepts a
 * grpc-js ServiceError (or anything with `code` and `details`); anything
 * that is already an EtcdError passes through unchanged.
 */
export function toEtcdError(error: unknown, endpoint?: string): EtcdError {
  if (error instanceof EtcdError) return error;
  if (!isServiceError(error)) {
    return new EtcdError(error instanceof Error ? error.message : String(error), { cause: error, ...(endpoint === undefined ? {} : { endpoint }) });
  }
  const options = { cause: error, ...(endpoint === undefined ? {} : { endpoint }) };
  const message = error.details;
  const known = byMessage.get(message);
  if (known !== undefined) return new known(options);
  switch (error.code) {
    case GrpcStatus.UNAVAILABLE:
      return new UnavailableError(message, options);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(message, options);
    case GrpcStatus.UNIMPLEMENTED:
      return new UnimplementedError(message, options);
    case GrpcStatus.CANCELLED:
      return new CancelledError(message, options);
    default:
      return new EtcdError(message, { ...options, code: error.code });
  }
}

/**
 * Maps a reason the server gave in a watch response (cancel_reason), which
 * may lack the "etcdserver: " prefix ("mvcc: required revision has been
 * compacted"), to the same classes.
 */
export function watchCancelError(reason: string, compactRevision: bigint, endpoint?: string): EtcdError {
  const options = endpoint === undefined ? {} : { endpoint };
  if (compactRevision > 0n) return new CompactedError({ ...options, compactRevision });
  const message = reason.startsWith(etcdMessagePrefix) || reason === '' ? reason : etcdMessagePrefix + reason;
  const known = byMessage.get(message);
  if (known === CompactedError) return new CompactedError(options);
  if (known !== undefined) return new known(options);
  return new WatchCanceledError(reason, options);
}

/**
 * Whether re-opening a long-lived stream (watch, lease keepalive) after this
 * error cannot help: the server does not serve the method, refuses the
 * caller, or refuses the request itself. Anything else (UNAVAILABLE, a
 * dropped connection, an internal error) is worth another stream.
 */
export function isFinalForStream(error: EtcdError): boolean {
  return finalStreamCodes.has(error.code);
}

const finalStreamCodes: ReadonlySet<GrpcStatus> = new Set([
  GrpcStatus.UNIMPLEMENTED,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.NOT_FOUND,
  GrpcStatus.OUT_OF_RANGE,
]);

/** Whether the server (or transport) said "not now": UNAVAILABLE. */
export function isUnavailable(error: unknown): boolean {
  return error instanceof EtcdError && error.code === GrpcStatus.UNAVAILABLE;
}

function isServiceError(error: unknown): error is ServiceError {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as Partial<ServiceError>).code === 'number' &&
    typeof (error as Partial<ServiceError>).details === 'string'
  );
}
