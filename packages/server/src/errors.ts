/**
 * Every error a client can see, as a class. etcd's own take their gRPC code
 * and message from the table in @holdfast/proto that the client maps back
 * with; grpc-go's framing errors are written here. Server code throws these
 * classes (or lower layers' typed errors, which toServiceError() maps); the
 * gRPC layer only calls toServiceError().
 */
import { status as GrpcStatus, Metadata, type ServiceError } from '@grpc/grpc-js';
import { CompactedError, FutureRevisionError, MvccCorruptError } from '@holdfast/mvcc';
import { etcdErrors, strict, type EtcdErrorEntry } from '@holdfast/proto';

/** An error with the gRPC status code and message etcd answers with. */
export class EtcdError extends Error {
  override name = 'EtcdError';
  readonly code: GrpcStatus;
  constructor(code: GrpcStatus, message: string) {
    super(message);
    this.code = code;
  }
}

const define = (code: GrpcStatus, message: string, name: string) =>
  class extends EtcdError {
    override name = name;
    constructor() {
      super(code, message);
    }
  };

/**
 * A class for one entry of etcd's error table (@holdfast/proto), which the
 * client maps back by the same entry; `entry` says which. The class name is
 * the entry's unless the server's has always been another.
 */
const defineEtcd = (entry: EtcdErrorEntry, name = `${entry.name}Error`) => Object.assign(define(entry.code, entry.message, name), { entry });

export const EmptyKeyError = defineEtcd(etcdErrors.EmptyKey);
export const KeyNotFoundError = defineEtcd(etcdErrors.KeyNotFound);
export const ValueProvidedError = defineEtcd(etcdErrors.ValueProvided);
export const LeaseProvidedError = defineEtcd(etcdErrors.LeaseProvided);
export const TooManyOpsError = defineEtcd(etcdErrors.TooManyOps);
export const DuplicateKeyError = defineEtcd(etcdErrors.DuplicateKey);
export const RequestTooLargeError = defineEtcd(etcdErrors.RequestTooLarge);
export const CompactedRevisionError = defineEtcd(etcdErrors.Compacted, 'CompactedRevisionError');
export const FutureRevisionRequestError = defineEtcd(etcdErrors.FutureRevision, 'FutureRevisionRequestError');
export const NoSpaceError = defineEtcd(etcdErrors.NoSpace);
export const TooManyRequestsError = defineEtcd(etcdErrors.TooManyRequests);
export const LeaseNotFoundError = defineEtcd(etcdErrors.LeaseNotFound);
export const LeaseExistsError = defineEtcd(etcdErrors.LeaseExists);
export const LeaseTtlTooLargeError = defineEtcd(etcdErrors.LeaseTtlTooLarge);
export const BadLeaderTransfereeError = defineEtcd(etcdErrors.BadLeaderTransferee);
export const MemberNotFoundError = defineEtcd(etcdErrors.MemberNotFound);
export const StoppedError = defineEtcd(etcdErrors.Stopped);
export const TimeoutError = defineEtcd(etcdErrors.RequestTimeout, 'TimeoutError');
export const NoLeaderError = defineEtcd(etcdErrors.NoLeader);
export const CorruptError = defineEtcd(etcdErrors.Corrupt);
export const NotCapableError = defineEtcd(etcdErrors.NotCapable);
// Holdfast's own text (etcd 3.4 has no error for an unknown alarm type), so not in the shared table.
export const AlarmTypeError = define(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: unknown alarm type', 'AlarmTypeError');

// How a request's messages are read (grpc-message-reader.ts). etcd's texts
// are grpc-go 1.33's (rpc_util.go, server.go, stream.go), measured against
// etcd 3.4.23; which code a truncated or missing message gets depends on
// the method's kind, as grpc-go reads unary requests on another path.

/** The kinds of gRPC method, as grpc-js names them. */
export type GrpcMethodKind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

export const CompressedIdentityError = define(GrpcStatus.INTERNAL, 'grpc: compressed flag set with identity or empty encoding', 'CompressedIdentityError');

export class PayloadFormatError extends EtcdError {
  override name = 'PayloadFormatError';
  constructor(flag: number) {
    super(GrpcStatus.INTERNAL, `grpc: received unexpected payload format ${flag}`);
  }
}

export class DecompressorMissingError extends EtcdError {
  override name = 'DecompressorMissingError';
  constructor(encoding: string) {
    // Go's %q; header values are printable ASCII, where JSON quoting is the same.
    super(GrpcStatus.UNIMPLEMENTED, `grpc: Decompressor is not installed for grpc-encoding ${JSON.stringify(encoding)}`);
  }
}

export class MessageTooLargeError extends EtcdError {
  override name = 'MessageTooLargeError';
  constructor(lengthBytes: number, maxBytes: number) {
    super(GrpcStatus.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${lengthBytes} vs. ${maxBytes})`);
  }
}

/** The request stream ended inside a message (a length prefix promising more bytes than came). */
export class TruncatedMessageError extends EtcdError {
  override name = 'TruncatedMessageError';
  constructor(kind: GrpcMethodKind) {
    super(kind === 'unary' ? GrpcStatus.UNKNOWN : GrpcStatus.INTERNAL, 'unexpected EOF');
  }
}

/** A unary or server-streaming call's request stream ended without a message. */
export const NoRequestMessageError = define(GrpcStatus.UNKNOWN, 'EOF', 'NoRequestMessageError');

/** A request message etcd's unmarshaler refuses; `error` carries Go's text. */
export class RequestUnmarshalError extends EtcdError {
  override name = 'RequestUnmarshalError';
  constructor(kind: GrpcMethodKind, error: InstanceType<typeof strict.ProtoDecodeError>) {
    super(GrpcStatus.INTERNAL, kind === 'unary' ? `grpc: error unmarshalling request: ${error.message}` : `grpc: failed to unmarshal the received message ${error.message}`);
  }
}

/**
 * An answer over the gRPC send limit: grpc-go's own refusal (etcd 3.4 sends
 * at most math.MaxInt32 bytes), with both sizes in bytes.
 */
export class ResponseTooLargeError extends EtcdError {
  override name = 'ResponseTooLargeError';
  constructor(responseBytes: number, maxBytes: number) {
    super(GrpcStatus.RESOURCE_EXHAUSTED, `grpc: trying to send message larger than max (${responseBytes} vs. ${maxBytes})`);
  }
}

/** Maps anything thrown while serving a request to the status a client sees. */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const mapped = toEtcdError(error);
  return { code: mapped.code, details: mapped.message, message: mapped.message, metadata: new Metadata() };
}

export function toEtcdError(error: unknown): EtcdError {
  if (error instanceof EtcdError) return error;
  if (error instanceof CompactedError) return new CompactedRevisionError();
  if (error instanceof FutureRevisionError) return new FutureRevisionRequestError();
  // A record failed its checksum: never serve it; etcd's answer to corruption.
  if (error instanceof MvccCorruptError) return new CorruptError();
  // Anything else is a bug or an I/O failure: say so without leaking internals.
  const message = error instanceof Error ? error.message : String(error);
  return new EtcdError(GrpcStatus.UNKNOWN, `etcdserver: ${message}`);
}
