/**
 * Error text as etcdctl 3.4 prints it. clientv3 turns a gRPC status whose
 * message is one of etcd 3.4's known errors (rpctypes.errStringToError)
 * into that bare message ("etcdserver: key not found"); any other status
 * prints as grpc-go formats it ("rpc error: code = Unimplemented desc =
 * ..."); a deadline that passes prints as Go's context error.
 */
import { ClientClosedError, DeadlineExceededError, EtcdError, GrpcStatus } from '@holdfast/client';

/** The server messages etcd 3.4's client recognises (etcdserver/api/v3rpc/rpctypes/error.go). */
const knownMessages: ReadonlySet<string> = new Set([
  'etcdserver: key is not provided',
  'etcdserver: key not found',
  'etcdserver: value is provided',
  'etcdserver: lease is provided',
  'etcdserver: too many operations in txn request',
  'etcdserver: duplicate key given in txn request',
  'etcdserver: mvcc: required revision has been compacted',
  'etcdserver: mvcc: required revision is a future revision',
  'etcdserver: mvcc: database space exceeded',
  'etcdserver: requested lease not found',
  'etcdserver: lease already exists',
  'etcdserver: too large lease TTL',
  'etcdserver: member ID already exist',
  'etcdserver: Peer URLs already exists',
  'etcdserver: re-configuration failed due to not enough started members',
  'etcdserver: given member URLs are invalid',
  'etcdserver: member not found',
  'etcdserver: can only promote a learner member',
  'etcdserver: can only promote a learner member which is in sync with leader',
  'etcdserver: too many learner members in cluster',
  'etcdserver: request is too large',
  'etcdserver: too many requests',
  'etcdserver: root user does not exist',
  'etcdserver: root user does not have root role',
  'etcdserver: user name already exists',
  'etcdserver: user name is empty',
  'etcdserver: user name not found',
  'etcdserver: role name already exists',
  'etcdserver: role name not found',
  'etcdserver: role name is empty',
  'etcdserver: authentication failed, invalid user ID or password',
  'etcdserver: permission denied',
  'etcdserver: role is not granted to the user',
  'etcdserver: permission is not granted to the role',
  'etcdserver: authentication is not enabled',
  'etcdserver: invalid auth token',
  'etcdserver: invalid auth management',
  'etcdserver: revision of auth store is old',
  'etcdserver: no leader',
  'etcdserver: not leader',
  'etcdserver: leader changed',
  'etcdserver: not capable',
  'etcdserver: server stopped',
  'etcdserver: request timed out',
  'etcdserver: request timed out, possibly due to previous leader failure',
  'etcdserver: request timed out, possibly due to connection lost',
  'etcdserver: request timed out, waiting for the applied index took too long',
  'etcdserver: unhealthy cluster',
  'etcdserver: corrupt cluster',
  'etcdserver: rpc not supported for learner',
  'etcdserver: bad leader transferee',
]);

/** grpc-go's names of status codes (codes.Code.String()). */
const codeNames: Record<number, string> = {
  [GrpcStatus.OK]: 'OK',
  [GrpcStatus.CANCELLED]: 'Canceled',
  [GrpcStatus.UNKNOWN]: 'Unknown',
  [GrpcStatus.INVALID_ARGUMENT]: 'InvalidArgument',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [GrpcStatus.NOT_FOUND]: 'NotFound',
  [GrpcStatus.ALREADY_EXISTS]: 'AlreadyExists',
  [GrpcStatus.PERMISSION_DENIED]: 'PermissionDenied',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [GrpcStatus.FAILED_PRECONDITION]: 'FailedPrecondition',
  [GrpcStatus.ABORTED]: 'Aborted',
  [GrpcStatus.OUT_OF_RANGE]: 'OutOfRange',
  [GrpcStatus.UNIMPLEMENTED]: 'Unimplemented',
  [GrpcStatus.INTERNAL]: 'Internal',
  [GrpcStatus.UNAVAILABLE]: 'Unavailable',
  [GrpcStatus.DATA_LOSS]: 'DataLoss',
  [GrpcStatus.UNAUTHENTICATED]: 'Unauthenticated',
};

/** The server's own message of an error, when a server answered. */
function serverDetails(error: EtcdError): string | undefined {
  const cause = error.cause as { details?: unknown } | undefined;
  return typeof cause?.details === 'string' ? cause.details : undefined;
}

/** What etcdctl would print after "Error: " for this failure. */
export function etcdctlMessage(error: unknown): string {
  if (error instanceof DeadlineExceededError) return 'context deadline exceeded';
  if (error instanceof ClientClosedError) return 'context canceled';
  if (error instanceof DOMException && error.name === 'TimeoutError') return 'context deadline exceeded';
  if (error instanceof DOMException && error.name === 'AbortError') return 'context canceled';
  if (error instanceof EtcdError) {
    const details = serverDetails(error) ?? error.message;
    if (knownMessages.has(details)) return details;
    if (serverDetails(error) !== undefined) return `rpc error: code = ${codeNames[error.code] ?? `Code(${error.code})`} desc = ${details}`;
    // The client's own condition (no endpoint reachable, ...): etcdctl would have kept trying until its deadline.
    if (error.code === GrpcStatus.UNAVAILABLE) return 'context deadline exceeded';
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
