/**
 * The range_end that selects every key starting with `key`, as etcd's
 * clientv3 computes it for WithPrefix (GetPrefixRangeEnd): drop trailing 0xff
 * bytes, then increment the last remaining byte. If nothing remains (the key
 * is empty or all 0xff) the result is the single byte 0x00, which etcd reads
 * as "no upper bound" (every key >= key).
 *
 * Always returns a new array; `key` is never modified.
 */
export function prefixRangeEnd(key: Uint8Array): Uint8Array {
  for (let i = key.length - 1; i >= 0; i--) {
    const b = key[i]!;
    if (b < 0xff) {
      // Copy explicitly: Buffer#slice returns a view, not a copy.
      const end = new Uint8Array(i + 1);
      end.set(key.subarray(0, i + 1));
      end[i] = b + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}
