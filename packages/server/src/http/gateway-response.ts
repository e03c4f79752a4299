/**
 * How etcd 3.4's grpc-gateway writes answers: JSON with exactly
 * `Content-Type: application/json`, errors as {"error","message","code"}
 * with grpc-gateway v1's HTTP status for the gRPC code.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { status as GrpcStatus } from '@grpc/grpc-js';

/** gRPC code -> HTTP status, as grpc-gateway v1 maps them. */
export const httpStatusByGrpcCode: Record<number, number> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 408,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  // grpc-gateway v1 (etcd 3.4's); v2 answers 400.
  [GrpcStatus.FAILED_PRECONDITION]: 412,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

export function httpStatusOf(code: number): number {
  return httpStatusByGrpcCode[code] ?? 500;
}

/** Go's http.StatusText (the same words as Node's for every status above). */
export function httpStatusText(status: number): string {
  return STATUS_CODES[status] ?? '';
}

/**
 * The header grpc-gateway adds for the gRPC response's metadata; present
 * on answers that came back from the gRPC server with a response.
 */
export const grpcMetadataHeader = { name: 'Grpc-Metadata-Content-Type', value: 'application/grpc' } as const;
/** The trailer grpc-gateway adds to an error the gRPC server returned. */
export const grpcTrailer = { name: 'Grpc-Trailer-Content-Type', value: 'application/grpc' } as const;

/** JSON with etcd's exact Content-Type (express would add a charset). */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json');
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  response.end(JSON.stringify(body));
}

/** An error the gateway found itself (a body it could not read): no gRPC metadata. */
export function sendError(response: ServerResponse, code: number, message: string): void {
  sendJson(response, httpStatusOf(code), { error: message, message, code });
}

/**
 * An error the server returned to a unary call: grpc-gateway forwards the
 * gRPC trailers, so the body goes out chunked with a trailer after it.
 */
export function sendServerError(response: ServerResponse, code: number, message: string): void {
  response.statusCode = httpStatusOf(code);
  response.setHeader('Content-Type', 'application/json');
  response.setHeader('Trailer', grpcTrailer.name);
  response.write(JSON.stringify({ error: message, message, code }));
  response.addTrailers({ [grpcTrailer.name]: grpcTrailer.value });
  response.end();
}

/** Another method on a gateway path (grpc-gateway v1 registers POST only). */
export function methodNotAllowed(_request: unknown, response: ServerResponse): void {
  response.statusCode = 405;
  response.setHeader('Content-Type', 'text/plain; charset=utf-8');
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.end('Method Not Allowed\n');
}
