/**
 * HTTP/2 requests whose `:authority` carries a URL scheme.
 *
 * etcdctl's `--cluster` commands dial each member's client URL with the
 * whole URL as the gRPC target, so its requests say `:authority:
 * http://127.0.0.1:2379`. Go's HTTP/2 server (etcd) takes that; Node's
 * (nghttp2) checks `:authority` against RFC 3986's authority characters,
 * finds '/', and resets the stream with PROTOCOL_ERROR, and Node offers no
 * option to turn that check off.
 *
 * So the client listener looks at the first request of every HTTP/2
 * connection before handing it on (Http2Opening). A connection whose first
 * `:authority` is valid goes to grpc-js as before, natively. One with a '/'
 * in it goes through a RequestRewriter for its whole life: every header
 * block's `:authority` gets each '/' replaced by '_'. In HPACK's Huffman
 * code both are 6 bits long, so the encoded string keeps its length, frames
 * keep theirs, and the decoder's dynamic table (sized by decoded lengths)
 * stays the same size as the client's encoder believes. grpc-js does not
 * read `:authority`.
 *
 * To see the first request without waiting forever, the listener answers
 * the client preface with the server's SETTINGS frame itself (grpc-go waits for
 * the server's SETTINGS before it sends a request) and removes the
 * client's ACK of it, so that nghttp2, which sends its own SETTINGS after
 * the handover, sees exactly the ACKs it expects.
 *
 * Reading ahead of nghttp2 is bounded: frames are cut incrementally, each
 * byte parsed once (FrameReader); a frame over maxFramePayloadBytes is
 * refused at its header; an opening over maxOpeningBytes is refused
 * (GOAWAY ENHANCE_YOUR_CALM); the listener gives it openingTimeoutMs.
 */

/** RFC 7540 3.5. */
export const http2ClientPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** An empty SETTINGS frame: a valid server preface (every setting at its default). */
export const emptySettingsFrame = Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]);
const frameHeaderBytes = 9;
const frameType = { headers: 0x1, settings: 0x4, goaway: 0x7, continuation: 0x9 } as const;
const frameFlag = { ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;
/** Bytes of a HEADERS frame's priority fields (stream dependency and weight). */
const priorityFieldBytes = 5;
/** HPACK static table index of `:authority` (RFC 7541 Appendix A). */
const authorityStaticIndex = 1;
/** The largest header block collected (16 frames of the default maximum size); more is refused. */
export const maxHeaderBlockBytes = 16 * 16_384;
/**
 * The largest frame payload a client may send: SETTINGS_MAX_FRAME_SIZE at
 * its default (RFC 7540 6.5.2), which both our SETTINGS and Node's
 * (grpc-js changes no frame size) leave in force. Larger is a connection
 * error (FRAME_SIZE_ERROR), refused at the frame's header.
 */
export const maxFramePayloadBytes = 16_384;
/**
 * The most an HTTP/2 connection may send before its opening is complete
 * (first request's header block and the ACK of our SETTINGS); more is
 * refused with GOAWAY ENHANCE_YOUR_CALM. A real client sends a few hundred
 * bytes of SETTINGS, WINDOW_UPDATE and PING, then a header block that
 * nghttp2 would refuse past 64 KiB anyway (its SETTINGS_MAX_HEADER_LIST_SIZE,
 * 65,535 decoded bytes; gRPC's headers are text, which HPACK does not
 * lengthen). Before it reads our SETTINGS (so before its ACK) grpc-go sends
 * nothing; Node's and Go's HTTP/2 clients open at most 100 streams (their
 * assumed peer limit) and send at most 65,535 bytes of DATA (the initial
 * window): about 70 KiB with gRPC's HPACK-indexed headers. 96 KiB holds
 * either, and is what a hostile client can make the listener hold per
 * connection (plus one socket read).
 */
export const maxOpeningBytes = 96 * 1024;
/** SETTINGS_MAX_CONCURRENT_STREAMS (RFC 7540 6.5.2). */
const settingsMaxConcurrentStreams = 0x3;
const settingBytes = 6;

/**
 * The server's preface the listener sends: SETTINGS with
 * MAX_CONCURRENT_STREAMS `maxConcurrentStreams` (as grpc-go sends it, 2^32 -
 * 1 included), or empty for 0 (grpc-go's "no bound", which it leaves out).
 * nghttp2's own SETTINGS, sent after the handover, are empty and leave it in
 * force; the streams past it are refused by http2-sessions.ts, not nghttp2
 * (which would end the whole connection with PROTOCOL_ERROR, where grpc-go
 * refuses the one stream).
 */
export function serverSettingsFrame(maxConcurrentStreams: number): Buffer {
  if (maxConcurrentStreams === 0) return emptySettingsFrame;
  const settings = Buffer.alloc(frameHeaderBytes + settingBytes);
  settings.writeUIntBE(settingBytes, 0, 3);
  settings[3] = frameType.settings;
  settings.writeUInt16BE(settingsMaxConcurrentStreams, frameHeaderBytes);
  settings.writeUInt32BE(maxConcurrentStreams, frameHeaderBytes + 2);
  return settings;
}

// ---- HPACK Huffman code (RFC 7541 Appendix B) ----

/**
 * Code length in bits of each octet 0..255, in order (the EOS symbol, 256,
 * is 30 bits). RFC 7541's code is canonical: codes follow from the lengths
 * alone, assigned in order of (length, symbol).
 */
const huffmanCodeLengths = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const huffmanMaxCodeBits = 30;

/** Canonical decoding tables: per length, the first code and the symbols with that length in order. */
const huffmanByLength = (() => {
  const symbolsByLength: number[][] = Array.from({ length: huffmanMaxCodeBits + 1 }, () => []);
  huffmanCodeLengths.forEach((bits, symbol) => symbolsByLength[bits]!.push(symbol));
  const firstCode: number[] = new Array<number>(huffmanMaxCodeBits + 1).fill(0);
  const codes: number[] = new Array<number>(huffmanCodeLengths.length).fill(0);
  let code = 0;
  for (let bits = 1; bits <= huffmanMaxCodeBits; bits++) {
    code <<= 1;
    firstCode[bits] = code;
    for (const symbol of symbolsByLength[bits]!) codes[symbol] = code++;
  }
  return { symbolsByLength, firstCode, codes };
})();

/** Decodes an HPACK Huffman string; undefined when it is not valid. */
export function huffmanDecode(encoded: Uint8Array): Buffer | undefined {
  const out: number[] = [];
  let code = 0;
  let bits = 0;
  for (const byte of encoded) {
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      bits++;
      const index = code - huffmanByLength.firstCode[bits]!;
      const symbols = huffmanByLength.symbolsByLength[bits]!;
      if (index >= 0 && index < symbols.length) {
        const symbol = symbols[index]!;
        if (symbol === 256) return undefined; // EOS inside a string
        out.push(symbol);
        code = 0;
        bits = 0;
      } else if (bits >= huffmanMaxCodeBits) {
        return undefined;
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (the EOS code's prefix).
  if (bits > 7 || code !== (1 << bits) - 1) return undefined;
  return Buffer.from(out);
}

/** Encodes octets with the HPACK Huffman code (padded with ones). */
export function huffmanEncode(plain: Uint8Array): Buffer {
  const out: number[] = [];
  let pending = 0;
  let pendingBits = 0;
  for (const symbol of plain) {
    const bits = huffmanCodeLengths[symbol]!;
    let code = huffmanByLength.codes[symbol]!;
    // Emit in pieces of at most 8 bits so the accumulator stays small.
    for (let left = bits; left > 0; ) {
      const take = Math.min(left, 8);
      const piece = (code >>> (left - take)) & ((1 << take) - 1);
      pending = (pending << take) | piece;
      pendingBits += take;
      left -= take;
      code &= (1 << left) - 1;
      while (pendingBits >= 8) {
        out.push((pending >> (pendingBits - 8)) & 0xff);
        pendingBits -= 8;
        pending &= (1 << pendingBits) - 1;
      }
    }
  }
  if (pendingBits > 0) out.push(((pending << (8 - pendingBits)) | ((1 << (8 - pendingBits)) - 1)) & 0xff);
  return Buffer.from(out);
}

// ---- header blocks ----

/** An HPACK integer with an N-bit prefix (RFC 7541 5.1); undefined when cut short. */
function readInteger(block: Uint8Array, offset: number, prefixBits: number): { value: number; next: number } | undefined {
  const mask = (1 << prefixBits) - 1;
  if (offset >= block.length) return undefined;
  let value = block[offset]! & mask;
  let next = offset + 1;
  if (value < mask) return { value, next };
  for (let shift = 0; ; shift += 7) {
    if (next >= block.length || shift > 28) return undefined;
    const byte = block[next++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next };
  }
}

/** Where a string literal's octets lie in a block. */
interface StringSpan {
  readonly start: number;
  readonly end: number;
  readonly huffman: boolean;
}

function readString(block: Uint8Array, offset: number): StringSpan | undefined {
  if (offset >= block.length) return undefined;
  const huffman = (block[offset]! & 0x80) !== 0;
  const length = readInteger(block, offset, 7);
  if (length === undefined || length.next + length.value > block.length) return undefined;
  return { start: length.next, end: length.next + length.value, huffman };
}

function stringValue(block: Uint8Array, span: StringSpan): Buffer | undefined {
  const raw = block.subarray(span.start, span.end);
  return span.huffman ? huffmanDecode(raw) : Buffer.from(raw);
}

/**
 * The `:authority` values a header block sets literally (a static-table
 * name reference or the literal name); indexed references to a dynamic
 * entry need nothing, since the entry holds what was rewritten. Undefined
 * when the block cannot be parsed (it is then passed on untouched, and
 * nghttp2 answers it as it would have).
 */
export function authorityValues(block: Uint8Array): StringSpan[] | undefined {
  const spans: StringSpan[] = [];
  let offset = 0;
  while (offset < block.length) {
    const first = block[offset]!;
    if ((first & 0x80) !== 0) {
      const index = readInteger(block, offset, 7); // indexed field
      if (index === undefined) return undefined;
      offset = index.next;
      continue;
    }
    if ((first & 0xe0) === 0x20) {
      const size = readInteger(block, offset, 5); // dynamic table size update
      if (size === undefined) return undefined;
      offset = size.next;
      continue;
    }
    // Literal field: with incremental indexing (6-bit name index) or without / never indexed (4 bits).
    const nameIndex = readInteger(block, offset, (first & 0xc0) === 0x40 ? 6 : 4);
    if (nameIndex === undefined) return undefined;
    offset = nameIndex.next;
    let isAuthority = nameIndex.value === authorityStaticIndex;
    if (nameIndex.value === 0) {
      const name = readString(block, offset);
      if (name === undefined) return undefined;
      isAuthority = stringValue(block, name)?.toString('latin1') === ':authority';
      offset = name.end;
    }
    const value = readString(block, offset);
    if (value === undefined) return undefined;
    if (isAuthority) spans.push(value);
    offset = value.end;
  }
  return spans;
}

const slash = 0x2f;
const underscore = 0x5f;

/** Whether a value would be refused by nghttp2 for the reason we repair: a '/' in it. */
export function hasSlash(value: Uint8Array): boolean {
  return value.includes(slash);
}

/**
 * Replaces '/' with '_' in every literal `:authority` of a block, in place,
 * keeping every string's encoded length (see the file comment). Returns
 * whether anything changed.
 */
export function repairAuthorities(block: Buffer): boolean {
  let changed = false;
  for (const span of authorityValues(block) ?? []) {
    const value = stringValue(block, span);
    if (value === undefined || !hasSlash(value)) continue;
    const repaired = Buffer.from(value.map((byte) => (byte === slash ? underscore : byte)));
    const encoded = span.huffman ? huffmanEncode(repaired) : repaired;
    if (encoded.length !== span.end - span.start) continue; // cannot happen: '/' and '_' are both 6 bits
    encoded.copy(block, span.start);
    changed = true;
  }
  return changed;
}

// ---- frames ----

/** GOAWAY error codes (RFC 7540 7) a connection is refused with. */
export const http2ErrorCode = { protocolError: 0x1, settingsTimeout: 0x4, frameSizeError: 0x6, enhanceYourCalm: 0xb } as const;

/** A connection the listener ends with a GOAWAY carrying `errorCode`. */
export class Http2ConnectionError extends Error {
  override name = 'Http2ConnectionError';
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** A GOAWAY frame: last stream 0 (no request was processed), with `errorCode`. */
export function goawayFrame(errorCode: number): Buffer {
  const goaway = Buffer.alloc(frameHeaderBytes + 8);
  goaway.writeUIntBE(8, 0, 3);
  goaway[3] = frameType.goaway;
  goaway.writeUInt32BE(errorCode, frameHeaderBytes + 4);
  return goaway;
}

function payloadLength(buffer: Buffer, frameStart: number): number {
  const length = buffer.readUIntBE(frameStart, 3);
  if (length > maxFramePayloadBytes) {
    throw new Http2ConnectionError(http2ErrorCode.frameSizeError, `HTTP/2 frame of ${length} bytes, over SETTINGS_MAX_FRAME_SIZE ${maxFramePayloadBytes}`);
  }
  return length;
}

/**
 * Cuts a stream of frames into whole frames, incrementally: the state is one
 * frame header and the one frame being read, so every byte is looked at
 * once however the stream is split, and nothing is ever re-parsed. A frame
 * over maxFramePayloadBytes is refused at its header, before its payload.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(frameHeaderBytes);
  private headerFill = 0;
  /** The frame being read (header and payload) once its header is in. */
  private frame: Buffer | undefined;
  private frameFill = 0;

  /**
   * Reads `chunk` from `offset`, calling `onFrame` with each whole frame (a
   * view of `chunk` when the frame lies in it, else its own copy). Stops after
   * a frame for which `onFrame` returns true, returning the offset after it;
   * otherwise returns chunk.length. Throws Http2ConnectionError for a frame
   * over maxFramePayloadBytes.
   */
  read(chunk: Buffer, offset: number, onFrame: (frame: Buffer) => boolean): number {
    let position = offset;
    while (position < chunk.length) {
      if (this.frame === undefined) {
        if (this.headerFill === 0 && chunk.length - position >= frameHeaderBytes) {
          const end = position + frameHeaderBytes + payloadLength(chunk, position);
          if (end <= chunk.length) {
            const whole = chunk.subarray(position, end);
            position = end;
            if (onFrame(whole)) return position;
            continue;
          }
        }
        const headerBytes = Math.min(frameHeaderBytes - this.headerFill, chunk.length - position);
        chunk.copy(this.header, this.headerFill, position, position + headerBytes);
        this.headerFill += headerBytes;
        position += headerBytes;
        if (this.headerFill < frameHeaderBytes) return position;
        this.headerFill = 0;
        this.frame = Buffer.allocUnsafe(frameHeaderBytes + payloadLength(this.header, 0));
        this.header.copy(this.frame);
        this.frameFill = frameHeaderBytes;
      }
      const payloadBytes = Math.min(this.frame.length - this.frameFill, chunk.length - position);
      chunk.copy(this.frame, this.frameFill, position, position + payloadBytes);
      this.frameFill += payloadBytes;
      position += payloadBytes;
      if (this.frameFill < this.frame.length) return position;
      const whole = this.frame;
      this.frame = undefined;
      if (onFrame(whole)) return position;
    }
    return position;
  }

  /** The bytes of a frame begun and not finished (empty when none). */
  partial(): Buffer {
    if (this.frame !== undefined) return this.frame.subarray(0, this.frameFill);
    return Buffer.from(this.header.subarray(0, this.headerFill));
  }
}

/** The header block fragment of a HEADERS (padding and priority fields skipped) or CONTINUATION frame; undefined when malformed. */
function fragmentOf(frame: Buffer): Buffer | undefined {
  const type = frame[3]!;
  const flags = frame[4]!;
  let start = frameHeaderBytes;
  let end = frame.length;
  if (type === frameType.headers) {
    if ((flags & frameFlag.padded) !== 0) {
      if (start >= end) return undefined;
      end -= frame[start]!;
      start += 1;
    }
    if ((flags & frameFlag.priority) !== 0) start += priorityFieldBytes;
  }
  return start <= end ? frame.subarray(start, end) : undefined;
}

/** The header block spread over `frames`, or undefined when a frame is malformed (then nghttp2 answers it as it would have). */
function headerBlockOf(frames: readonly Buffer[]): { block: Buffer; fragments: Buffer[] } | undefined {
  const fragments = frames.map(fragmentOf);
  if (fragments.some((fragment) => fragment === undefined)) return undefined;
  return { block: Buffer.concat(fragments as Buffer[]), fragments: fragments as Buffer[] };
}

/** Repairs the `:authority` of the header block spread over `frames`, writing the changed bytes back into the frames. */
function repairHeaderBlock(frames: readonly Buffer[]): void {
  const parsed = headerBlockOf(frames);
  if (parsed === undefined || !repairAuthorities(parsed.block)) return;
  let offset = 0;
  for (const fragment of parsed.fragments) {
    parsed.block.copy(fragment, 0, offset, offset + fragment.length);
    offset += fragment.length;
  }
}

/** Whether the header block spread over `frames` has a literal `:authority` with a '/'. */
function headerBlockNeedsRepair(frames: readonly Buffer[]): boolean {
  const parsed = headerBlockOf(frames);
  if (parsed === undefined) return false;
  return (authorityValues(parsed.block) ?? []).some((span) => {
    const value = stringValue(parsed.block, span);
    return value !== undefined && hasSlash(value);
  });
}

/**
 * Groups frames into header blocks (a HEADERS frame and its CONTINUATIONs,
 * RFC 7540 6.10), holding at most maxHeaderBlockBytes of one block.
 */
class HeaderBlocks {
  private frames: Buffer[] = [];
  private bytes = 0;

  /** Whether a block is begun and not complete. */
  get collecting(): boolean {
    return this.frames.length > 0;
  }

  /**
   * 'other' for a frame outside any block, 'collecting' while a block is
   * incomplete, its frames once END_HEADERS came. Throws Http2ConnectionError
   * for a frame inside a block that is no CONTINUATION, or a block over the bound.
   */
  take(frame: Buffer): 'other' | 'collecting' | Buffer[] {
    const type = frame[3]!;
    const isBlockFrame = type === frameType.headers || (type === frameType.continuation && this.collecting);
    if (!isBlockFrame) {
      if (this.collecting) throw new Http2ConnectionError(http2ErrorCode.protocolError, 'HTTP/2 frame inside a header block');
      return 'other';
    }
    if (type === frameType.headers && this.collecting) throw new Http2ConnectionError(http2ErrorCode.protocolError, 'HTTP/2 HEADERS inside a header block');
    this.frames.push(frame);
    this.bytes += frame.length - frameHeaderBytes;
    if (this.bytes > maxHeaderBlockBytes) throw new Http2ConnectionError(http2ErrorCode.enhanceYourCalm, `HTTP/2 header block over ${maxHeaderBlockBytes} bytes`);
    if ((frame[4]! & frameFlag.endHeaders) === 0) return 'collecting';
    const block = this.frames;
    this.frames = [];
    this.bytes = 0;
    return block;
  }
}

/**
 * Rewrites a client's byte stream (after the preface) for the life of a
 * connection: every header block's `:authority` repaired, everything else
 * passed through. Frames go on whole, header blocks once complete; nothing
 * is held but the frame being read and one header block.
 */
export class RequestRewriter {
  private readonly reader = new FrameReader();
  private readonly blocks = new HeaderBlocks();

  /** The bytes that can go on now. Throws Http2ConnectionError (see FrameReader and HeaderBlocks). */
  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    this.reader.read(chunk, 0, (frame) => {
      const taken = this.blocks.take(frame);
      if (taken === 'other') out.push(frame);
      else if (taken !== 'collecting') {
        repairHeaderBlock(taken);
        out.push(...taken);
      }
      return false;
    });
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

export type OpeningDecision =
  | { readonly kind: 'waiting' }
  /** Hand the socket on natively, after putting `bytes` back. */
  | { readonly kind: 'native'; readonly bytes: Buffer }
  /** Pass `bytes` (already repaired), then everything after through `rewriter`. */
  | { readonly kind: 'rewrite'; readonly bytes: Buffer; readonly rewriter: RequestRewriter }
  /** Close the connection: with a GOAWAY of `errorCode` when there is one (the preface came). */
  | { readonly kind: 'refuse'; readonly reason: string; readonly errorCode?: number };

/**
 * The opening of an HTTP/2 connection, up to its first complete request
 * header block and the client's ACK of our SETTINGS (removed from the
 * bytes handed on). Fed everything the client sent, preface included.
 *
 * Bounded: it holds what it read until it decides, at most maxOpeningBytes
 * (then the connection is refused: GOAWAY ENHANCE_YOUR_CALM), and parses
 * each byte once (FrameReader), so a client that sends frames and no
 * request costs a fixed amount of memory and time per byte. The listener
 * bounds its time (openingTimeoutMs, then expired()).
 */
export class Http2Opening {
  private readonly preface = Buffer.alloc(http2ClientPreface.length);
  private prefaceFill = 0;
  private readonly reader = new FrameReader();
  private readonly blocks = new HeaderBlocks();
  /** The frames read so far, in order, but the ACK of our SETTINGS. */
  private readonly kept: Buffer[] = [];
  private receivedBytes = 0;
  private ackRemoved = false;
  private firstBlock: Buffer[] | undefined;

  push(chunk: Buffer): OpeningDecision {
    this.receivedBytes += chunk.length;
    try {
      let offset = 0;
      if (this.prefaceFill < this.preface.length) {
        offset = Math.min(this.preface.length - this.prefaceFill, chunk.length);
        chunk.copy(this.preface, this.prefaceFill, 0, offset);
        this.prefaceFill += offset;
        if (this.prefaceFill < this.preface.length) return { kind: 'waiting' };
        if (!this.preface.equals(http2ClientPreface)) return { kind: 'refuse', reason: 'not the HTTP/2 client preface' };
      }
      const stop = this.reader.read(chunk, offset, (frame) => this.take(frame));
      if (this.complete) return this.handOn(chunk.subarray(stop));
    } catch (error) {
      if (error instanceof Http2ConnectionError) return { kind: 'refuse', reason: error.message, errorCode: error.errorCode };
      throw error;
    }
    if (this.receivedBytes > maxOpeningBytes) {
      return { kind: 'refuse', reason: `${this.receivedBytes} bytes before the first request, over ${maxOpeningBytes}`, errorCode: http2ErrorCode.enhanceYourCalm };
    }
    return { kind: 'waiting' };
  }

  /**
   * The opening took openingTimeoutMs: a client that ACKed our SETTINGS and
   * sent no request yet (a channel dialled ahead of its calls) is handed on
   * with what came; one that never ACKed is refused (SETTINGS_TIMEOUT, RFC
   * 7540 6.5.3).
   */
  expired(): OpeningDecision {
    if (this.prefaceFill < this.preface.length) return { kind: 'refuse', reason: 'no HTTP/2 preface in time' };
    if (!this.ackRemoved) return { kind: 'refuse', reason: 'no SETTINGS ACK in time', errorCode: http2ErrorCode.settingsTimeout };
    return this.handOn(Buffer.alloc(0));
  }

  private get complete(): boolean {
    return this.ackRemoved && this.firstBlock !== undefined;
  }

  /** Keeps a frame (or drops it: the first SETTINGS ACK); true once the opening is complete. */
  private take(frame: Buffer): boolean {
    const taken = this.firstBlock === undefined ? this.blocks.take(frame) : 'other';
    if (taken === 'other' && !this.ackRemoved && frame[3] === frameType.settings && (frame[4]! & frameFlag.ack) !== 0) {
      this.ackRemoved = true;
      return this.complete;
    }
    this.kept.push(frame);
    if (taken !== 'other' && taken !== 'collecting') this.firstBlock = taken;
    return this.complete;
  }

  /** Hands on what was read, then `rest` (the unread tail of the last chunk). */
  private handOn(rest: Buffer): OpeningDecision {
    const frames = Buffer.concat([...this.kept, this.reader.partial(), rest]);
    // A first block still incomplete (only on expiry) goes through the rewriter too: it may need repair.
    const needsRepair = this.firstBlock === undefined ? this.blocks.collecting : headerBlockNeedsRepair(this.firstBlock);
    if (!needsRepair) return { kind: 'native', bytes: Buffer.concat([http2ClientPreface, frames]) };
    const rewriter = new RequestRewriter();
    try {
      return { kind: 'rewrite', bytes: Buffer.concat([http2ClientPreface, rewriter.push(frames)]), rewriter };
    } catch (error) {
      if (error instanceof Http2ConnectionError) return { kind: 'refuse', reason: error.message, errorCode: error.errorCode };
      throw error;
    }
  }
}
