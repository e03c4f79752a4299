/**
 * Every error the client raises, and the one place where a gRPC status from a
 * server becomes one of them (toEtcdError).
 *
 * A server error is recognised first by etcd's exact message, from the table
 * in @holdfast/proto (etcd's api/v3rpc/rpctypes/error.go) that the server
 * builds its classes from too, then by gRPC status code alone. Every class
 * keeps the original grpc-js ServiceError as `cause` and records which
 * endpoint answered. The codes and messages live only in that table.
 */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { etcdErrors, type EtcdErrorEntry } from '@holdfast/proto';

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

/** The class of each etcd message, for toEtcdError and watchCancelError. */
const byMessage = new Map<string, EtcdErrorClass>();

/** One class per entry of etcd's error table (@holdfast/proto), named `${entry.name}Error`, registered by its message. */
function define(entry: EtcdErrorEntry): EtcdErrorClass {
  const defined = class extends EtcdError {
    override name = `${entry.name}Error`;
    constructor(options: EtcdErrorOptions = {}) {
      super(entry.message, { ...options, code: entry.code });
    }
  };
  byMessage.set(entry.message, defined);
  return defined;
}

// Invalid requests.
export const EmptyKeyError = define(etcdErrors.EmptyKey);
export const KeyNotFoundError = define(etcdErrors.KeyNotFound);
export const ValueProvidedError = define(etcdErrors.ValueProvided);
export const LeaseProvidedError = define(etcdErrors.LeaseProvided);
export const TooManyOpsError = define(etcdErrors.TooManyOps);
export const DuplicateKeyError = define(etcdErrors.DuplicateKey);
export const RequestTooLargeError = define(etcdErrors.RequestTooLarge);
export const AuthFailedError = define(etcdErrors.AuthFailed);
export const UserEmptyError = define(etcdErrors.UserEmpty);
export const RoleEmptyError = define(etcdErrors.RoleEmpty);
export const InvalidAuthManagementError = define(etcdErrors.InvalidAuthManagement);
export const AuthOldRevisionError = define(etcdErrors.AuthOldRevision);
export const MemberBadUrlsError = define(etcdErrors.MemberBadUrls);

// Revisions.
export const FutureRevisionError = define(etcdErrors.FutureRevision);
export const LeaseTtlTooLargeError = define(etcdErrors.LeaseTtlTooLarge);

/**
 * The requested revision has been compacted away. From a Range, Txn or
 * HashKV the compact revision is unknown (undefined); a watch that starts or
 * resumes below it learns it from the server's cancel response.
 */
export class CompactedError extends EtcdError {
  override name = 'CompactedError';
  static readonly message = etcdErrors.Compacted.message;
  readonly compactRevision: bigint | undefined;
  constructor(options: EtcdErrorOptions & { compactRevision?: bigint } = {}) {
    super(CompactedError.message, { ...options, code: etcdErrors.Compacted.code });
    this.compactRevision = options.compactRevision;
  }
}
byMessage.set(CompactedError.message, CompactedError);

// Limits.
export const NoSpaceError = define(etcdErrors.NoSpace);
export const TooManyRequestsError = define(etcdErrors.TooManyRequests);

// Missing things.
export const LeaseNotFoundError = define(etcdErrors.LeaseNotFound);
export const MemberNotFoundError = define(etcdErrors.MemberNotFound);

// State conflicts.
export const LeaseExistsError = define(etcdErrors.LeaseExists);
export const MemberExistsError = define(etcdErrors.MemberExists);
export const PeerUrlExistsError = define(etcdErrors.PeerUrlExists);
export const MemberNotLearnerError = define(etcdErrors.MemberNotLearner);
export const LearnerNotReadyError = define(etcdErrors.LearnerNotReady);
export const TooManyLearnersError = define(etcdErrors.TooManyLearners);
export const NotEnoughStartedMembersError = define(etcdErrors.NotEnoughStartedMembers);
export const AuthNotEnabledError = define(etcdErrors.AuthNotEnabled);
export const RootUserNotExistError = define(etcdErrors.RootUserNotExist);
export const RootRoleNotExistError = define(etcdErrors.RootRoleNotExist);
export const UserAlreadyExistsError = define(etcdErrors.UserAlreadyExists);
export const UserNotFoundError = define(etcdErrors.UserNotFound);
export const RoleAlreadyExistsError = define(etcdErrors.RoleAlreadyExists);
export const RoleNotFoundError = define(etcdErrors.RoleNotFound);
export const RoleNotGrantedError = define(etcdErrors.RoleNotGranted);
export const PermissionNotGrantedError = define(etcdErrors.PermissionNotGranted);
export const NotLeaderError = define(etcdErrors.NotLeader);
export const BadLeaderTransfereeError = define(etcdErrors.BadLeaderTransferee);

// Authorisation.
export const PermissionDeniedError = define(etcdErrors.PermissionDenied);
export const InvalidAuthTokenError = define(etcdErrors.InvalidAuthToken);

// The cluster cannot serve right now: safe to retry idempotent calls.
export const NoLeaderError = define(etcdErrors.NoLeader);
export const LeaderChangedError = define(etcdErrors.LeaderChanged);
export const NotCapableError = define(etcdErrors.NotCapable);
export const StoppedError = define(etcdErrors.Stopped);
export const RequestTimeoutError = define(etcdErrors.RequestTimeout);
export const LeaderFailTimeoutError = define(etcdErrors.LeaderFailTimeout);
export const ConnectionLostTimeoutError = define(etcdErrors.ConnectionLostTimeout);
export const AppliedIndexTimeoutError = define(etcdErrors.AppliedIndexTimeout);
export const UnhealthyClusterError = define(etcdErrors.UnhealthyCluster);
export const LearnerNotSupportedError = define(etcdErrors.LearnerNotSupported);

// The data is damaged.
export const CorruptError = define(etcdErrors.Corrupt);

// The Election service answers with Go clientv3/concurrency's errors.
export const ElectionNoLeaderError = define(etcdErrors.ElectionNoLeader);
export const ElectionNotLeaderError = define(etcdErrors.ElectionNotLeader);

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
