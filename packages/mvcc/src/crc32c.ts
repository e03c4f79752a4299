/**
 * CRC-32C (Castagnoli), the checksum etcd's HashKV uses. Node's zlib.crc32
 * is the IEEE polynomial, so this one is ours: table-driven, slicing by one.
 */
const castagnoliPolynomialReversed = 0x82f63b78;

const table = (() => {
  const entries = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ castagnoliPolynomialReversed : crc >>> 1;
    entries[byte] = crc >>> 0;
  }
  return entries;
})();

/** A running CRC-32C: update() with chunks, then digest(). */
export class Crc32c {
  private state = 0xffffffff;

  update(bytes: Uint8Array): this {
    let crc = this.state;
    for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
    this.state = crc;
    return this;
  }

  digest(): number {
    return (this.state ^ 0xffffffff) >>> 0;
  }
}
