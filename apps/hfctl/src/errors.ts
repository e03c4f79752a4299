/**
 * Error text as etcdctl 3.4 prints it. clientv3 turns a gRPC status whose
 * message is one of etcd 3.4's known errors (rpctypes.errStringToError)
 * into that bare message ("etcdserver: key not found"); any other status
 * prints as grpc-go formats it ("rpc error: code = Unimplemented desc =
 * ..."); a deadline that passes prints as Go's context error.
 */
import { ClientClosedError, DeadlineExceededError, EtcdError, GrpcStatus } from '@holdfast/client';
import { etcdErrors } from '@holdfast/proto';

/** The server messages etcd 3.4's client recognises (rpctypes' errStringToError). */
const knownMessages: ReadonlySet<string> = new Set(
  Object.values(etcdErrors)
    .filter((entry) => entry.source === 'rpctypes')
    .map((entry) => entry.message),
);

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
