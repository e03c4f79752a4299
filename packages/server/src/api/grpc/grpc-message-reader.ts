/**
 * Splits a gRPC request stream into messages and refuses bad framing as
 * etcd 3.4 (grpc-go 1.33) does, with its codes and texts (errors.ts).
 *
 * A message is a 5-byte prefix (a flag byte: 0 plain, 1 compressed; a
 * 4-byte big-endian length) and that many bytes. grpc-go checks the length
 * against the receive limit as soon as the prefix is in, and the flag once
 * the whole message is in: a flag other than 0 or 1, or 1 with no (or the
 * identity) grpc-encoding, fails the call. A stream that ends inside a
 * message is "unexpected EOF"; a unary or server-streaming call whose
 * stream ends before its one message is "EOF". Those calls read exactly one
 * message: whatever follows it is never read, so it cannot fail the call.
 *
 * Transport-independent (chunks in, frames out); grpc-js-reads.ts plugs it
 * into grpc-js.
 */
import {
  CompressedIdentityError,
  DecompressorMissingError,
  MessageTooLargeError,
  NoRequestMessageError,
  PayloadFormatError,
  TruncatedMessageError,
  type EtcdError,
  type GrpcMethodKind,
} from '../../errors.js';

/** Bytes before each message: the flag and the length. */
export const messagePrefixBytes = 5;

/**
 * The grpc-encoding values etcd 3.4 reads: identity (empty is identity too).
 * grpc-go decompresses only with a registered compressor and etcd 3.4
 * registers none, so gzip and deflate are refused like any other (see
 * grpc-encoding.ts), although grpc-js could decompress them.
 */
export const acceptedEncodings: ReadonlySet<string> = new Set(['identity', '']);

export interface GrpcMessageReaderOptions {
  readonly kind: GrpcMethodKind;
  /** The request's grpc-encoding header; 'identity' when absent. */
  readonly encoding: string;
  /** Longest message accepted, in bytes (etcd: --max-request-bytes plus its gRPC overhead). */
  readonly maxMessageBytes: number;
}

export class GrpcMessageReader {
  private readonly kind: GrpcMethodKind;
  private readonly encoding: string;
  private readonly maxMessageBytes: number;
  private readonly prefix = Buffer.alloc(messagePrefixBytes);
  private prefixFilledBytes = 0;
  /** Chunks of the current message's body (after its prefix), and how many bytes it still needs. */
  private body: Buffer[] = [];
  private bodyMissingBytes = 0;
  private messagesRead = 0;
  /** No more messages will be read: the call's one message is in, or the call failed. */
  private finished = false;
  private failedWith: EtcdError | undefined;

  constructor(options: GrpcMessageReaderOptions) {
    this.kind = options.kind;
    // grpc-go treats an empty grpc-encoding as identity.
    this.encoding = options.encoding === '' ? 'identity' : options.encoding;
    this.maxMessageBytes = options.maxMessageBytes;
  }

  /** Whether the call takes exactly one request message. */
  get singleMessage(): boolean {
    return this.kind === 'unary' || this.kind === 'serverStream';
  }

  /** Whether the reader has stopped (after the call's one message, or an error). */
  get done(): boolean {
    return this.finished;
  }

  /** The error the call must end with, once push() or end() has found one. */
  get failure(): EtcdError | undefined {
    return this.failedWith;
  }

  /**
   * The whole messages `chunk` completes, each with its 5-byte prefix. When
   * the chunk breaks a rule, the messages before the break are returned,
   * {@link failure} says how the call must end, and the reader is done.
   */
  push(chunk: Buffer): Buffer[] {
    const messages: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length && !this.finished) {
      if (this.prefixFilledBytes < messagePrefixBytes) {
        const taken = Math.min(messagePrefixBytes - this.prefixFilledBytes, chunk.length - offset);
        chunk.copy(this.prefix, this.prefixFilledBytes, offset, offset + taken);
        this.prefixFilledBytes += taken;
        offset += taken;
        if (this.prefixFilledBytes < messagePrefixBytes) break;
        const lengthBytes = this.prefix.readUInt32BE(1);
        if (lengthBytes > this.maxMessageBytes) {
          this.fail(new MessageTooLargeError(lengthBytes, this.maxMessageBytes));
          break;
        }
        this.bodyMissingBytes = lengthBytes;
      } else {
        const taken = Math.min(this.bodyMissingBytes, chunk.length - offset);
        this.body.push(chunk.subarray(offset, offset + taken));
        this.bodyMissingBytes -= taken;
        offset += taken;
      }
      if (this.bodyMissingBytes === 0) {
        const message = this.completeMessage();
        if (message !== undefined) messages.push(message);
      }
    }
    return messages;
  }

  /** The error the call must end with now that its request stream has ended, if any. */
  end(): EtcdError | undefined {
    if (this.finished) return undefined;
    this.finished = true;
    if (this.prefixFilledBytes > 0) this.failedWith = new TruncatedMessageError(this.kind);
    else if (this.singleMessage && this.messagesRead === 0) this.failedWith = new NoRequestMessageError();
    // grpc-go refuses an unknown encoding when the call starts, before anything else.
    this.failedWith = this.unsupportedEncoding() ?? this.failedWith;
    return this.failedWith;
  }

  /** The message now complete, or undefined when it breaks a rule (then the reader has failed). */
  private completeMessage(): Buffer | undefined {
    const message = Buffer.concat([this.prefix, ...this.body]);
    this.prefixFilledBytes = 0;
    this.body = [];
    this.messagesRead++;
    if (this.singleMessage) this.finished = true;
    const flag = message[0]!;
    // grpc-go refuses an unknown encoding when the call starts, so before any flag.
    let error = this.unsupportedEncoding();
    if (error === undefined && flag > 1) error = new PayloadFormatError(flag);
    if (error === undefined && flag === 1 && this.encoding === 'identity') error = new CompressedIdentityError();
    if (error === undefined) return message;
    this.fail(error);
    return undefined;
  }

  /** grpc-go refuses a call whose grpc-encoding it has no decompressor for, whatever its messages' flags. */
  private unsupportedEncoding(): EtcdError | undefined {
    return acceptedEncodings.has(this.encoding) ? undefined : new DecompressorMissingError(this.encoding);
  }

  private fail(error: EtcdError): void {
    this.finished = true;
    this.failedWith = error;
  }
}
