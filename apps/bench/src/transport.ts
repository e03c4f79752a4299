/**
 * How requests reach the server. Two transports implement one small
 * interface over the generated service definitions of @holdfast/proto
 * (`etcdserverpb.KVService.put` and so on carry the path and the codecs):
 *
 * - `http2` (default): gRPC framing written directly on node:http2. It spends
 *   about half the CPU per request of grpc-js (measured on the project's
 *   2-core machine: 84 us against 167 us per put), which matters when the
 *   load generator shares the machine with the server.
 * - `grpc-js`: the generated grpc-js clients' machinery (Client.makeUnaryRequest
 *   and makeBidiStreamRequest), for cross-checking the lean transport.
 *
 * Both count errors the same way: a GrpcStatusError with the gRPC code and
 * the server's message.
 */
import { status } from '@grpc/grpc-js';

/** What the generated service definitions provide for one method. */
export interface MethodDefinition<Request, Response> {
  readonly path: string;
  readonly requestSerialize: (value: Request) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Response;
}

export interface DuplexCall<Request, Response> {
  write(request: Request): void;
  on(event: 'data', listener: (response: Response) => void): this;
  on(event: 'error', listener: (error: unknown) => void): this;
  on(event: 'end', listener: () => void): this;
  /** Half-closes: no more requests. */
  end(): void;
  /** Abandons the call (RST_STREAM CANCEL); an 'error' may follow and should be ignored. */
  cancel(): void;
}

export interface RpcTransport {
  readonly endpoint: string;
  unary<Request, Response>(method: MethodDefinition<Request, Response>, request: Request, timeoutMs: number): Promise<Response>;
  duplex<Request, Response>(method: MethodDefinition<Request, Response>): DuplexCall<Request, Response>;
  /** Resolves once connected; rejects after timeoutMs. */
  waitForReady(timeoutMs: number): Promise<void>;
  close(): void;
}

export type TransportName = 'http2' | 'grpc-js';
export const transportNames: readonly TransportName[] = ['http2', 'grpc-js'];

/** A failed call: gRPC status code and message, shaped like grpc-js's ServiceError. */
export class GrpcStatusError extends Error {
  override readonly name = 'GrpcStatusError';
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${statusName(code)}: ${details}`);
  }
}

/** gRPC status code name, e.g. UNIMPLEMENTED. */
export function statusName(code: number): string {
  return (status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/** Length-prefixed gRPC message framing: 1 byte compressed flag, 4 bytes big-endian length, message. */
export const grpcFrameHeaderBytes = 5;

export function encodeGrpcFrame(message: Buffer | Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(grpcFrameHeaderBytes + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, grpcFrameHeaderBytes);
  return frame;
}

/**
 * Splits a byte stream into gRPC messages. Chunks may hold several messages
 * or part of one; a partial message waits for the rest. A message larger
 * than `messageBytesMax` is refused rather than buffered.
 */
export class GrpcFrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly messageBytesMax: number = 64 * 1024 * 1024) {}

  push(chunk: Buffer): Buffer[] {
    const messages: Buffer[] = [];
    let buffer: Buffer;
    if (this.pendingBytes === 0) {
      buffer = chunk;
    } else {
      this.pending.push(chunk);
      buffer = Buffer.concat(this.pending, this.pendingBytes + chunk.length);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let offset = 0;
    while (buffer.length - offset >= grpcFrameHeaderBytes) {
      if (buffer[offset] !== 0) throw new GrpcStatusError(status.INTERNAL, 'compressed message received, but no compression was negotiated');
      const length = buffer.readUInt32BE(offset + 1);
      if (length > this.messageBytesMax) throw new GrpcStatusError(status.RESOURCE_EXHAUSTED, `response message of ${length} bytes exceeds ${this.messageBytesMax}`);
      const end = offset + grpcFrameHeaderBytes + length;
      if (end > buffer.length) break;
      messages.push(buffer.subarray(offset + grpcFrameHeaderBytes, end));
      offset = end;
    }
    if (offset < buffer.length) {
      const rest = buffer.subarray(offset);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
    return messages;
  }

  /** Bytes of an incomplete message held back. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
export function decodeGrpcMessage(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The grpc-timeout header: at most 8 digits and a unit. */
export function grpcTimeoutHeader(timeoutMs: number): string {
  const ms = Math.max(1, Math.ceil(timeoutMs));
  return ms < 1e8 ? `${ms}m` : `${Math.min(99_999_999, Math.ceil(ms / 1000))}S`;
}
