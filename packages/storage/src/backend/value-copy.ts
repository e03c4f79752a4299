/**
 * How lmdb-js hands values out of range iteration.
 *
 * With `encoding: 'binary'` and no encoder, lmdb-js copies every value its
 * cursor reads with `Uint8Array.prototype.slice`, which builds each copy
 * through Buffer's species constructor: 2.9 s for 766,000 1 KiB values
 * against 0.46 s for `Buffer.allocUnsafe` (Node's slab pool) plus one
 * `set` (measured on this project's 2-core sandbox, Node 20). In a watch
 * catching up from revision 1 over 766,000 events that copy was 7 of 18 s
 * of server CPU (issue 12, finding 5).
 *
 * An encoder whose decode copies (lmdb-js's `decoderCopies`: an encoder
 * without `needsStableBuffer`) makes lmdb-js pass its own reusable read
 * buffer to decode() instead, valid until the next read; decode copies it
 * into pooled memory. Writes are unchanged: encode() returns the Buffer it
 * is given. Point reads through getBinary/getBinaryFast do not use it.
 */

/** lmdb-js's shared read buffer: its own `length` property is the current value's size, not the buffer's. */
type SharedReadBuffer = Uint8Array;

export const pooledValueCopies = {
  encode(value: Buffer): Buffer {
    return value;
  },
  decode(bytes: SharedReadBuffer): Buffer {
    // `length` is the value's size; set() would take the whole buffer's, so view exactly the value.
    const size = bytes.length;
    const copy = allocateValue(size);
    copy.set(size === bytes.byteLength ? bytes : bytes.subarray(0, size));
    return copy;
  },
};

/**
 * Values are carved from slabs of this size (values over half of it get
 * their own buffer). Node's own pool has 8 KiB slabs: one ArrayBuffer per
 * eight 1 KiB values, whose creation was 1.4 s of a 766,000-event catch-up.
 * A slab lives while any value carved from it does, so it stays small.
 */
export const valueSlabSizeBytes = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(valueSlabSizeBytes);
let slabOffset = 0;

function allocateValue(size: number): Buffer {
  if (size > valueSlabSizeBytes / 2) return Buffer.allocUnsafeSlow(size);
  if (slabOffset + size > valueSlabSizeBytes) {
    slab = Buffer.allocUnsafeSlow(valueSlabSizeBytes);
    slabOffset = 0;
  }
  const value = slab.subarray(slabOffset, slabOffset + size);
  // 8-byte alignment, as Node's pool keeps it.
  slabOffset += (size + 7) & ~7;
  return value;
}

/** lmdb-js options for every backend table: binary keys, binary values copied as above. */
export const binaryTableOptions = { keyEncoding: 'binary', encoding: 'binary', encoder: pooledValueCopies } as const;
