/**
 * How etcd 3.4's grpc-gateway writes answers: JSON with exactly
 * `Content-Type: application/json`, errors as {"error","message","code"}
 * with grpc-gateway v1's HTTP status for the gRPC code.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { decodeKeyValueViews, type KeyValue } from '@holdfast/mvcc';

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

/**
 * Bytes of the buffer a streamed answer is written through. It is reused
 * for every piece (each piece waits until the previous one left for the
 * socket): no fresh memory per piece, which in some sandboxes costs more
 * than the work itself, and a few milliseconds of work between turns of
 * the event loop.
 */
export const streamedAnswerPieceBytes = 256 * 1024;
/**
 * Answers whose encoded KeyValues are at most this are written in one piece
 * with a Content-Length (JSON of at most a few hundred KiB); larger ones are
 * streamed, chunked, as Go's HTTP server sends any body past its 2 KiB
 * buffer.
 */
export const jsonAnswerStreamAboveBytes = 256 * 1024;

/**
 * Writes latin1 text to an HTTP response through one reused buffer of
 * streamedAnswerPieceBytes: each full piece is written and waited for (it
 * left for the socket) before the buffer is filled again.
 */
export class PieceWriter {
  private readonly response: ServerResponse;
  private readonly buffer = Buffer.allocUnsafe(streamedAnswerPieceBytes);
  private filled = 0;
  private closed = false;

  constructor(response: ServerResponse) {
    this.response = response;
    response.once('close', () => (this.closed = true));
  }

  /** False once the client went away: stop producing. */
  get open(): boolean {
    return !this.closed;
  }

  async add(text: string): Promise<void> {
    if (this.filled + text.length > this.buffer.length) await this.flush();
    if (text.length > this.buffer.length) {
      await this.writeAndWait(Buffer.from(text, 'latin1'));
      return;
    }
    this.filled += this.buffer.write(text, this.filled, 'latin1');
  }

  async end(text = ''): Promise<void> {
    await this.add(text);
    if (this.closed) return;
    this.response.end(this.buffer.subarray(0, this.filled));
  }

  private async flush(): Promise<void> {
    if (this.filled === 0) return;
    const piece = this.buffer.subarray(0, this.filled);
    this.filled = 0;
    await this.writeAndWait(piece);
  }

  private writeAndWait(bytes: Buffer): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.response.off('close', done);
        resolve();
      };
      this.response.once('close', done);
      this.response.write(bytes, done);
    });
  }
}

/** What streamRangeJson needs of an encoded Range answer (apply/range-answer.ts). */
export interface EncodedRangeAnswer {
  readonly header: etcdserverpb.ResponseHeader | undefined;
  readonly more: boolean;
  readonly count: bigint;
  readonly kvsBytes: number;
  encodedKvs(): Iterable<Uint8Array>;
}

/**
 * Writes a Range answer as the gateway's JSON (exactly
 * JSON.stringify(RangeResponse.toJSON(answer))), one KeyValue at a time
 * through a PieceWriter: a large answer neither stops the server nor exists
 * as one JSON string.
 */
export async function streamRangeJson(response: ServerResponse, answer: EncodedRangeAnswer): Promise<void> {
  response.statusCode = 200;
  response.setHeader('Content-Type', 'application/json');
  response.setHeader(grpcMetadataHeader.name, grpcMetadataHeader.value);
  const writer = new PieceWriter(response);
  await writer.add(answer.header === undefined ? '{' : `{"header":${JSON.stringify(etcdserverpb.ResponseHeader.toJSON(answer.header))}`);
  let first = true;
  for (const bytes of answer.encodedKvs()) {
    if (!writer.open) return;
    const json = keyValueJson(decodeKeyValueViews(bytes));
    await writer.add(first ? `${answer.header === undefined ? '' : ','}"kvs":[${json}` : `,${json}`);
    first = false;
  }
  let tail = first ? '' : ']';
  const leadingComma = answer.header !== undefined || !first;
  if (answer.more) tail += `${leadingComma ? ',' : ''}"more":true`;
  if (answer.count !== 0n) tail += `${leadingComma || answer.more ? ',' : ''}"count":"${answer.count}"`;
  await writer.end(`${tail}}`);
}

/** mvccpb.KeyValue.toJSON, stringified, from the stored fields (zero values left out, 64-bit numbers as strings). */
function keyValueJson(kv: KeyValue): string {
  const fields: string[] = [];
  if (kv.key.length > 0) fields.push(`"key":"${Buffer.from(kv.key.buffer, kv.key.byteOffset, kv.key.byteLength).toString('base64')}"`);
  if (kv.createRevision !== 0) fields.push(`"create_revision":"${kv.createRevision}"`);
  if (kv.modRevision !== 0) fields.push(`"mod_revision":"${kv.modRevision}"`);
  if (kv.version !== 0) fields.push(`"version":"${kv.version}"`);
  if (kv.value.length > 0) fields.push(`"value":"${Buffer.from(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength).toString('base64')}"`);
  if (kv.lease !== 0n) fields.push(`"lease":"${kv.lease}"`);
  return `{${fields.join(',')}}`;
}
