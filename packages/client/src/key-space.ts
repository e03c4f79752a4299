/**
 * A key space: the prefix a namespace puts in front of every key, and its
 * removal from keys in results. The rules are Go clientv3/namespace's:
 *
 * - a key k becomes prefix+k;
 * - a range end e becomes prefix+e, except the end "\0" (every key >= key,
 *   as used by fromKey and by the prefix of an empty key), which becomes
 *   prefixRangeEnd(prefix): the range must stop at the namespace's edge;
 * - keys in results lose the prefix; keys that do not carry it (which a
 *   server should never return) are left as they are.
 *
 * The root key space has an empty prefix and changes nothing.
 */
import { prefixRangeEnd } from '@holdfast/proto';
import { KeyValue } from './bytes.js';

export class KeySpace {
  static readonly root = new KeySpace(Buffer.alloc(0));

  private constructor(readonly prefix: Buffer) {}

  get isRoot(): boolean {
    return this.prefix.length === 0;
  }

  /** The key space of a namespace inside this one. */
  extend(prefix: Buffer): KeySpace {
    if (prefix.length === 0) return this;
    return new KeySpace(Buffer.concat([this.prefix, prefix]));
  }

  key(key: Buffer): Buffer {
    if (this.isRoot) return key;
    return Buffer.concat([this.prefix, key]);
  }

  /** The server-side range end for a caller's range end (empty: a single key). */
  rangeEnd(rangeEnd: Buffer): Buffer {
    if (this.isRoot || rangeEnd.length === 0) return rangeEnd;
    if (rangeEnd.length === 1 && rangeEnd[0] === 0) return Buffer.from(prefixRangeEnd(this.prefix));
    return Buffer.concat([this.prefix, rangeEnd]);
  }

  strip(key: Buffer): Buffer {
    if (this.isRoot || key.length < this.prefix.length) return key;
    if (!key.subarray(0, this.prefix.length).equals(this.prefix)) return key;
    return key.subarray(this.prefix.length);
  }

  /** Whether a server-side key lies inside this key space. */
  contains(key: Buffer): boolean {
    return this.isRoot || (key.length >= this.prefix.length && key.subarray(0, this.prefix.length).equals(this.prefix));
  }

  stripKeyValue(kv: KeyValue): KeyValue {
    if (this.isRoot) return kv;
    return kv.withKey(this.strip(kv.key));
  }
}
