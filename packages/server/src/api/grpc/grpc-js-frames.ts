/**
 * Lets a large answer go out without grpc-js copying it. grpc-js frames
 * every response by allocating a new buffer of its size plus the 5-byte
 * gRPC prefix and copying the message in: for a Range of a million keys
 * that is one synchronous copy of the better part of a gigabyte into fresh
 * memory, seconds during which nothing else is served (issue 12, finding 4).
 *
 * A serializer that built its message with spare room in front of it
 * (range-answer.ts does) marks the view it returns with withFrameRoom();
 * the replaced serializeMessage writes the prefix into that room and sends
 * the same memory. Any other message is framed exactly as grpc-js frames it.
 *
 * Like grpc-js-reads.ts, this replaces a method of grpc-js's
 * BaseServerInterceptingCall: installZeroCopyFraming() refuses to run if
 * the method has gone, and packages/server/test/grpc-js-frames.test.ts
 * serves through a bare grpc-js server, so an upgrade that changes the
 * method fails there. Holdfast's own transport (planned) will frame
 * without grpc-js.
 */
import serverInterceptors from '@grpc/grpc-js/build/src/server-interceptors.js';

/** The gRPC message prefix: a compressed flag and a 4-byte big-endian length. */
export const grpcMessagePrefixBytes = 5;

/** Views whose buffer has at least grpcMessagePrefixBytes writable bytes just before them. */
const framable = new WeakSet<Buffer>();

/**
 * Marks `message`, a view into a larger buffer the caller owns, as having
 * grpcMessagePrefixBytes bytes in front of it that may be overwritten.
 * Returns `message`.
 */
export function withFrameRoom(message: Buffer): Buffer {
  if (message.byteOffset < grpcMessagePrefixBytes) throw new Error(`grpc frames: ${message.byteOffset} bytes of room, need ${grpcMessagePrefixBytes}`);
  framable.add(message);
  return message;
}

interface GrpcJsServerCall {
  readonly handler: { serialize(value: unknown): Buffer };
  serializeMessage(value: unknown): Buffer;
}

/** grpc-js's framing, in place when the serializer left room, copied otherwise. */
export function serializeMessage(this: GrpcJsServerCall, value: unknown): Buffer {
  const message = this.handler.serialize(value);
  const byteLength = message.byteLength;
  // Response compression is not supported by grpc-js: the flag is always 0.
  if (framable.has(message)) {
    const framed = Buffer.from(message.buffer, message.byteOffset - grpcMessagePrefixBytes, byteLength + grpcMessagePrefixBytes);
    framed.writeUInt8(0, 0);
    framed.writeUInt32BE(byteLength, 1);
    return framed;
  }
  const output = Buffer.allocUnsafe(byteLength + grpcMessagePrefixBytes);
  output.writeUInt8(0, 0);
  output.writeUInt32BE(byteLength, 1);
  message.copy(output, grpcMessagePrefixBytes);
  return output;
}

let installed = false;

/** Replaces grpc-js's response framing (process-wide, once). */
export function installZeroCopyFraming(): void {
  if (installed) return;
  const prototype = (serverInterceptors as unknown as { BaseServerInterceptingCall?: { prototype: GrpcJsServerCall } }).BaseServerInterceptingCall?.prototype;
  if (prototype === undefined || typeof prototype.serializeMessage !== 'function') {
    throw new Error('grpc-js internals changed (missing BaseServerInterceptingCall.serializeMessage): see packages/server/src/api/grpc/grpc-js-frames.ts');
  }
  prototype.serializeMessage = serializeMessage;
  installed = true;
}
