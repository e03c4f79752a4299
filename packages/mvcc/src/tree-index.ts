/**
 * The in-memory ordered index: key -> KeyIndex, for every key with history.
 *
 * Keys are held as latin1 strings, one char per byte: JavaScript compares
 * strings by UTF-16 code units, which for chars 0..255 is exactly bytewise
 * order, and V8 stores such strings at one byte per char. Ranges are
 * half-open, [start, end), with etcd's conventions for `end`:
 *   - empty or absent: the single key `start`;
 *   - a single zero byte ("\0"): every key >= start;
 *   - otherwise every key k with start <= k < end (empty if end <= start).
 */
import sortedBtree from 'sorted-btree';
import { KeyIndex, type KeyRevision } from './key-index.js';

// sorted-btree is CommonJS whose `exports.default` is the class; from ESM
// the default import is the whole exports object.
const BTree = sortedBtree.default;
type BTreeOf<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;

/** A range in index terms: `end` undefined = single key, null = unbounded. */
export interface KeyRange {
  readonly start: string;
  readonly end: string | undefined | null;
}

export function toKeyRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyRange {
  const start = bytesToKey(key);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { start, end: undefined };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: null };
  return { start, end: bytesToKey(rangeEnd) };
}

export function bytesToKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export function keyToBytes(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

export class TreeIndex {
  private readonly tree: BTreeOf<string, KeyIndex> = new BTree<string, KeyIndex>();

  get size(): number {
    return this.tree.size;
  }

  get(key: string): KeyIndex | undefined {
    return this.tree.get(key);
  }

  /** The KeyIndex for `key`, created if missing. */
  getOrCreate(key: string): KeyIndex {
    let keyIndex = this.tree.get(key);
    if (keyIndex === undefined) {
      keyIndex = new KeyIndex(key);
      this.tree.set(key, keyIndex);
    }
    return keyIndex;
  }

  /**
   * getOrCreate for when the key is most likely new, as while a restart
   * rebuilds the index (most keys have one record): one descent of the tree
   * instead of two for a new key (set without overwrite says whether it
   * added), two for a key already there.
   */
  getOrCreateLikelyNew(key: string): KeyIndex {
    const created = new KeyIndex(key);
    return this.tree.set(key, created, false) ? created : this.tree.get(key)!;
  }

  delete(key: string): void {
    this.tree.delete(key);
  }

  /**
   * Calls `visit` for each key index in range, ascending, until it returns
   * false.
   */
  forEachInRange(range: KeyRange, visit: (keyIndex: KeyIndex) => boolean | void): void {
    if (range.end === undefined) {
      const keyIndex = this.tree.get(range.start);
      if (keyIndex !== undefined) visit(keyIndex);
      return;
    }
    if (range.end !== null && range.end <= range.start) return;
    // forRange's callback may return {break: value} to stop early.
    const stop = { break: true };
    if (range.end === null) {
      const high = this.tree.maxKey();
      if (high === undefined) return;
      this.tree.forRange(range.start, high, true, (_key, keyIndex) => (visit(keyIndex) === false ? stop : undefined));
    } else {
      this.tree.forRange(range.start, range.end, false, (_key, keyIndex) => (visit(keyIndex) === false ? stop : undefined));
    }
  }

  /**
   * Keys alive at `atMain` in range, ascending, at most `limit` (0 = all),
   * with the revision to read for each; `total` counts all of them.
   */
  rangeAt(range: KeyRange, atMain: number, limit: number): { found: Array<{ key: string; at: KeyRevision }>; total: number } {
    const found: Array<{ key: string; at: KeyRevision }> = [];
    let total = 0;
    this.forEachInRange(range, (keyIndex) => {
      const at = keyIndex.get(atMain);
      if (at === undefined) return;
      total++;
      if (limit === 0 || found.length < limit) found.push({ key: keyIndex.key, at });
    });
    return { found, total };
  }

  /** Every key index, ascending. */
  values(): IterableIterator<KeyIndex> {
    return this.tree.values();
  }
}
