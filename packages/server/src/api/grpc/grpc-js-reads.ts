/**
 * Makes grpc-js's server read request messages as etcd does: framing by
 * GrpcMessageReader (flag byte, compressed flag without an encoding,
 * truncated or missing messages, size limit; etcd's codes and texts), and
 * a deserializer's ProtoDecodeError (the strict decoders of
 * @holdfast/proto) answered with grpc-go's INTERNAL text.
 *
 * grpc-js has no hook for any of this: it treats any flag but 1 as plain,
 * ignores the flag when no grpc-encoding came, answers a truncated message
 * with UNIMPLEMENTED "Received no request message", and replaces a
 * deserializer's error with "Error deserializing request". So this file
 * replaces the three methods of grpc-js's BaseServerInterceptingCall that
 * read messages (handleDataFrame, decompressAndMaybePush, handleEndEvent)
 * with versions that keep grpc-js's queueing and flow control and change
 * only the checks and the statuses (etcd 3.4 decompresses nothing: the
 * reader refuses any grpc-encoding but identity, and grpc-encoding.ts
 * refuses such calls before grpc-js sees them). It is the one
 * place that touches grpc-js internals: installEtcdMessageReads() refuses
 * to run if a method or field it relies on has gone, and
 * packages/server/test/grpc-js-reads.test.ts drives a bare grpc-js server
 * through every path, so a grpc-js upgrade that changes them fails there.
 * Holdfast's own HTTP/2 transport (planned) will use GrpcMessageReader and
 * the strict decoders directly.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { status as GrpcStatus, type StatusObject } from '@grpc/grpc-js';
import serverInterceptors from '@grpc/grpc-js/build/src/server-interceptors.js';
import { strict } from '@holdfast/proto';
import { EtcdError, RequestUnmarshalError, TooManyOpsError, type GrpcMethodKind } from '../../errors.js';
import { GrpcMessageReader } from './grpc-message-reader.js';

/** grpc-js's read queue entry (server-interceptors.ts). */
interface ReadQueueEntry {
  type: 'COMPRESSED' | 'READABLE' | 'HALF_CLOSE';
  compressedMessage: Buffer | null;
  parsedMessage: unknown;
}

/** The members of grpc-js's BaseServerInterceptingCall this file uses. */
interface GrpcJsServerCall {
  readonly stream: ServerHttp2Stream;
  readonly handler: { readonly type: GrpcMethodKind; readonly path: string; deserialize(bytes: Buffer): unknown };
  readonly callEventTracker: { addMessageReceived(): void } | null;
  readonly maxReceiveMessageSize: number;
  readonly incomingEncoding: string;
  readonly readQueue: ReadQueueEntry[];
  checkCancelled(): boolean;
  sendStatus(status: Partial<StatusObject> & Pick<StatusObject, 'code' | 'details'>): void;
  maybePushNextMessage(): void;
  decompressMessage(message: Buffer, encoding: string): Buffer | Promise<Buffer>;
  handleDataFrame(data: Buffer): void;
  handleEndEvent(): void;
  decompressAndMaybePush(entry: ReadQueueEntry): Promise<void>;
}

const readerOf = Symbol('holdfast message reader');
type CallWithReader = GrpcJsServerCall & { [readerOf]?: GrpcMessageReader };

function reader(call: CallWithReader): GrpcMessageReader {
  return (call[readerOf] ??= new GrpcMessageReader({
    kind: call.handler.type,
    encoding: call.incomingEncoding,
    maxMessageBytes: call.maxReceiveMessageSize === -1 ? Number.MAX_SAFE_INTEGER : call.maxReceiveMessageSize,
  }));
}

function sendError(call: GrpcJsServerCall, error: EtcdError): void {
  call.sendStatus({ code: error.code, details: error.message });
}

function handleDataFrame(this: CallWithReader, data: Buffer): void {
  if (this.checkCancelled()) return;
  const messages = reader(this);
  if (messages.done) return;
  const decoded: Array<Promise<void>> = [];
  for (const compressedMessage of messages.push(data)) {
    // As grpc-js does: no more data until the handler asks for the next message.
    this.stream.pause();
    const entry: ReadQueueEntry = { type: 'COMPRESSED', compressedMessage, parsedMessage: null };
    this.readQueue.push(entry);
    decoded.push(this.decompressAndMaybePush(entry));
    this.callEventTracker?.addMessageReceived();
  }
  const failure = messages.failure;
  if (failure === undefined) return;
  if (decoded.length === 0) sendError(this, failure);
  // grpc-go hands the handler the messages before the bad one first: let it
  // take them (a turn of the event loop) before the call ends.
  else void Promise.all(decoded).then(() => setImmediate(() => sendError(this, failure)));
}

async function decompressAndMaybePush(this: CallWithReader, entry: ReadQueueEntry): Promise<void> {
  const message = entry.compressedMessage!;
  let bytes: Buffer;
  try {
    // The reader has refused every flag but 0 (1 needs an encoding, and it takes identity only): this strips the prefix.
    bytes = await this.decompressMessage(message, 'identity');
  } catch (status) {
    // grpc-js rejects with a status object (a failed or oversized decompression).
    this.sendStatus(status as StatusObject);
    return;
  }
  try {
    entry.parsedMessage = this.handler.deserialize(bytes);
  } catch (error) {
    // Nesting past the decoder's depth is only possible in a TxnRequest, and
    // etcd's validation refuses any txn that deep (see maxMessageDepth).
    if (error instanceof strict.ProtoNestingError) sendError(this, new TooManyOpsError());
    else if (error instanceof strict.ProtoDecodeError) sendError(this, new RequestUnmarshalError(this.handler.type, error));
    // Not a decoder's verdict (a bug): grpc-js's own answer, which leaks nothing.
    else this.sendStatus({ code: GrpcStatus.INTERNAL, details: 'Error deserializing request' });
    return;
  }
  entry.type = 'READABLE';
  this.maybePushNextMessage();
}

function makeHandleEndEvent(original: () => void) {
  return function handleEndEvent(this: CallWithReader): void {
    const messages = reader(this);
    if (messages.failure !== undefined) return; // Its status is sent or on its way.
    const error = messages.end();
    if (error !== undefined) sendError(this, error);
    else original.call(this);
  };
}

let installed = false;

/**
 * Installs the reads described above into grpc-js, for every server in this
 * process (idempotent). Throws if grpc-js no longer has what they rely on.
 */
export function installEtcdMessageReads(): void {
  if (installed) return;
  const prototype = (serverInterceptors as unknown as { BaseServerInterceptingCall?: { prototype: GrpcJsServerCall } }).BaseServerInterceptingCall?.prototype;
  const required = ['handleDataFrame', 'handleEndEvent', 'decompressAndMaybePush', 'decompressMessage', 'maybePushNextMessage', 'checkCancelled', 'sendStatus'] as const;
  const missing = prototype === undefined ? ['BaseServerInterceptingCall'] : required.filter((name) => typeof prototype[name] !== 'function');
  if (missing.length > 0 || prototype === undefined) {
    throw new Error(`grpc-js internals changed (missing ${missing.join(', ')}): cannot read gRPC messages as etcd does; see packages/server/src/api/grpc/grpc-js-reads.ts`);
  }
  const originalHandleEndEvent = prototype.handleEndEvent;
  prototype.handleDataFrame = handleDataFrame;
  prototype.decompressAndMaybePush = decompressAndMaybePush;
  prototype.handleEndEvent = makeHandleEndEvent(originalHandleEndEvent);
  installed = true;
}
