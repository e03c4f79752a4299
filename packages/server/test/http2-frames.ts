/** Raw HTTP/2 frames for the tests that speak to a server below any HTTP/2 library. */

/** A frame: the 9-byte header (length, type, flags, stream id), then the payload. */
export function frameOf(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}
