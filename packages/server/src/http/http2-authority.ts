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
 * the client preface with an empty SETTINGS frame itself (grpc-go waits for
 * the server's SETTINGS before it sends a request) and removes the
 * client's ACK of it, so that nghttp2, which sends its own SETTINGS after
 * the handover, sees exactly the ACKs it expects.
 */

/** RFC 7540 3.5. */
export const http2ClientPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** An empty SETTINGS frame: a valid server preface (every setting at its default). */
export const emptySettingsFrame = Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]);

const frameHeaderBytes = 9;
const frameType = { headers: 0x1, settings: 0x4, continuation: 0x9 } as const;
const frameFlag = { ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;
/** Bytes of a HEADERS frame's priority fields (stream dependency and weight). */
const priorityFieldBytes = 5;
/** HPACK static table index of `:authority` (RFC 7541 Appendix A). */
const authorityStaticIndex = 1;
/** The largest header block collected (16 frames of the default maximum size); more is refused. */
export const maxHeaderBlockBytes = 16 * 16_384;

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

/** Where a header block fragment lies in a frame stream buffer. */
interface Fragment {
  readonly start: number;
  readonly end: number;
}

/** The fragment of a HEADERS frame (after padding length and priority fields) or a CONTINUATION frame. */
function fragmentOf(buffer: Buffer, frameStart: number, length: number, type: number, flags: number): Fragment | undefined {
  let start = frameStart + frameHeaderBytes;
  let end = start + length;
  if (type === frameType.headers) {
    if ((flags & frameFlag.padded) !== 0) {
      const padding = buffer[start]!;
      start += 1;
      end -= padding;
    }
    if ((flags & frameFlag.priority) !== 0) start += priorityFieldBytes;
  }
  return start <= end ? { start, end } : undefined;
}

/** Applies `edit` to the header block spread over `fragments` of `buffer`, writing changed bytes back in place. */
function editHeaderBlock(buffer: Buffer, fragments: readonly Fragment[], edit: (block: Buffer) => boolean): void {
  const block = Buffer.concat(fragments.map((fragment) => buffer.subarray(fragment.start, fragment.end)));
  if (!edit(block)) return;
  let offset = 0;
  for (const fragment of fragments) {
    block.copy(buffer, fragment.start, offset, offset + (fragment.end - fragment.start));
    offset += fragment.end - fragment.start;
  }
}

/**
 * Walks the complete frames at the start of `buffer` (from `offset`),
 * calling `onHeaderBlock` with each complete header block's fragments and
 * `onFrame` with each frame. Returns where the first incomplete frame (or
 * header block) begins; `tooLarge` when a header block outgrows the bound.
 */
function walkFrames(
  buffer: Buffer,
  offset: number,
  onFrame: (start: number, type: number, flags: number, length: number) => void,
  onHeaderBlock: (fragments: Fragment[]) => void,
): { consumed: number; tooLarge: boolean } {
  let position = offset;
  let blockStart = -1;
  let fragments: Fragment[] = [];
  let blockBytes = 0;
  while (position + frameHeaderBytes <= buffer.length) {
    const length = buffer.readUIntBE(position, 3);
    const type = buffer[position + 3]!;
    const flags = buffer[position + 4]!;
    if (position + frameHeaderBytes + length > buffer.length) break;
    if (type === frameType.headers || (type === frameType.continuation && blockStart >= 0)) {
      if (type === frameType.headers) {
        blockStart = position;
        fragments = [];
        blockBytes = 0;
      }
      const fragment = fragmentOf(buffer, position, length, type, flags);
      if (fragment !== undefined) {
        fragments.push(fragment);
        blockBytes += fragment.end - fragment.start;
      }
      if (blockBytes > maxHeaderBlockBytes) return { consumed: offset, tooLarge: true };
      if ((flags & frameFlag.endHeaders) !== 0) {
        onHeaderBlock(fragments);
        for (let frame = blockStart; frame <= position; ) {
          const frameLength = buffer.readUIntBE(frame, 3);
          onFrame(frame, buffer[frame + 3]!, buffer[frame + 4]!, frameLength);
          frame += frameHeaderBytes + frameLength;
        }
        blockStart = -1;
      }
    } else {
      if (blockStart >= 0) return { consumed: offset, tooLarge: true }; // RFC 7540 6.10: nothing may interleave
      onFrame(position, type, flags, length);
    }
    position += frameHeaderBytes + length;
    if (blockStart < 0) offset = position;
  }
  return { consumed: offset, tooLarge: false };
}

/**
 * Rewrites a client's byte stream (after the preface) for the life of a
 * connection: every header block's `:authority` repaired, everything else
 * passed through. Frames are passed on whole, header blocks once complete.
 */
export class RequestRewriter {
  private pending = Buffer.alloc(0);

  /** The bytes that can go on now. Throws when a header block exceeds maxHeaderBlockBytes. */
  push(chunk: Buffer): Buffer {
    const buffer = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const { consumed, tooLarge } = walkFrames(buffer, 0, () => {}, (fragments) => editHeaderBlock(buffer, fragments, repairAuthorities));
    if (tooLarge) throw new Error(`HTTP/2 header block over ${maxHeaderBlockBytes} bytes`);
    this.pending = buffer.subarray(consumed);
    return buffer.subarray(0, consumed);
  }
}

export type OpeningDecision =
  | { readonly kind: 'waiting' }
  /** Hand the socket on natively, after putting `bytes` back. */
  | { readonly kind: 'native'; readonly bytes: Buffer }
  /** Pass `bytes` (already repaired), then everything after through `rewriter`. */
  | { readonly kind: 'rewrite'; readonly bytes: Buffer; readonly rewriter: RequestRewriter }
  | { readonly kind: 'refuse'; readonly reason: string };

/**
 * The opening of an HTTP/2 connection, up to its first complete request
 * header block and the client's ACK of our empty SETTINGS (removed from the
 * bytes handed on). Fed everything the client sent, preface included.
 */
export class Http2Opening {
  private received = Buffer.alloc(0);

  push(chunk: Buffer): OpeningDecision {
    this.received = Buffer.concat([this.received, chunk]);
    return this.decide(false);
  }

  /** The client went quiet before its first request: hand on what came (ACK removed if it came). */
  idle(): OpeningDecision {
    return this.decide(true);
  }

  private decide(idle: boolean): OpeningDecision {
    const buffer = this.received;
    if (buffer.length < http2ClientPreface.length) return { kind: 'waiting' };
    let ackAt = -1;
    let firstBlock: Fragment[] | undefined;
    const { tooLarge } = walkFrames(
      buffer,
      http2ClientPreface.length,
      (start, type, flags) => {
        if (ackAt < 0 && type === frameType.settings && (flags & frameFlag.ack) !== 0) ackAt = start;
      },
      (fragments) => {
        firstBlock ??= fragments;
      },
    );
    if (tooLarge) return { kind: 'refuse', reason: `HTTP/2 header block over ${maxHeaderBlockBytes} bytes` };
    if (ackAt < 0) return idle ? { kind: 'refuse', reason: 'no SETTINGS ACK' } : { kind: 'waiting' };
    if (firstBlock === undefined && !idle) return { kind: 'waiting' };
    const withoutAck = Buffer.concat([buffer.subarray(0, ackAt), buffer.subarray(ackAt + frameHeaderBytes)]);
    if (firstBlock === undefined) return { kind: 'native', bytes: withoutAck };
    const block = Buffer.concat(firstBlock.map((fragment) => buffer.subarray(fragment.start, fragment.end)));
    const needsRepair = (authorityValues(block) ?? []).some((span) => {
      const value = stringValue(block, span);
      return value !== undefined && hasSlash(value);
    });
    if (!needsRepair) return { kind: 'native', bytes: withoutAck };
    const rewriter = new RequestRewriter();
    const preface = withoutAck.subarray(0, http2ClientPreface.length);
    return { kind: 'rewrite', bytes: Buffer.concat([preface, rewriter.push(withoutAck.subarray(http2ClientPreface.length))]), rewriter };
  }
}
