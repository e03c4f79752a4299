/**
 * Which watchers want an event on a given key.
 *
 * Keys are latin1 strings (one char per byte, as the MVCC index spells
 * them), so string order is byte order. Three shapes of watched range, each
 * found in its own structure:
 *
 * - one key: a map from key to watchers, one lookup per event;
 * - a prefix (range end = the prefix with its last byte incremented, what
 *   `--prefix` sends; "from \0 onwards" is the empty prefix): a map from
 *   prefix to watchers, looked up once for each prefix length in use;
 * - any other range: a list checked one by one. Clients rarely make these
 *   (etcdctl and the Go client only make the other two), so a linear scan
 *   costs nothing in practice and needs no interval tree.
 */

/** A watched range: end undefined = the single key `start`; null = every key >= `start`. */
export interface WatchRange {
  readonly start: string;
  readonly end: string | null | undefined;
}

export class WatcherIndex<W> {
  private readonly single = new Map<string, Set<W>>();
  private readonly prefixes = new Map<string, Set<W>>();
  /** Prefix lengths in use, with how many prefixes have each. */
  private readonly prefixLengths = new Map<number, number>();
  private readonly others = new Map<W, WatchRange>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(watcher: W, range: WatchRange): void {
    this.count++;
    if (range.end === undefined) {
      addTo(this.single, range.start, watcher);
      return;
    }
    const prefix = prefixOf(range);
    if (prefix === undefined) {
      this.others.set(watcher, range);
      return;
    }
    if (addTo(this.prefixes, prefix, watcher)) this.prefixLengths.set(prefix.length, (this.prefixLengths.get(prefix.length) ?? 0) + 1);
  }

  delete(watcher: W, range: WatchRange): void {
    if (range.end === undefined) {
      if (removeFrom(this.single, range.start, watcher) !== undefined) this.count--;
      return;
    }
    const prefix = prefixOf(range);
    if (prefix === undefined) {
      if (this.others.delete(watcher)) this.count--;
      return;
    }
    const emptied = removeFrom(this.prefixes, prefix, watcher);
    if (emptied === undefined) return;
    this.count--;
    if (emptied) {
      const remaining = (this.prefixLengths.get(prefix.length) ?? 1) - 1;
      if (remaining === 0) this.prefixLengths.delete(prefix.length);
      else this.prefixLengths.set(prefix.length, remaining);
    }
  }

  /** Calls `visit` once for every watcher whose range holds `key`. */
  forEachMatching(key: string, visit: (watcher: W) => void): void {
    const exact = this.single.get(key);
    if (exact !== undefined) for (const watcher of exact) visit(watcher);
    for (const length of this.prefixLengths.keys()) {
      if (length > key.length) continue;
      const watchers = this.prefixes.get(length === key.length ? key : key.slice(0, length));
      if (watchers !== undefined) for (const watcher of watchers) visit(watcher);
    }
    for (const [watcher, range] of this.others) {
      if (key >= range.start && (range.end === null || key < range.end!)) visit(watcher);
    }
  }
}

/** The prefix a range covers exactly, if it is one. */
function prefixOf(range: WatchRange): string | undefined {
  if (range.end === null) {
    // Every key from the smallest one: the empty prefix.
    return range.start === '' || range.start === '\x00' ? '' : undefined;
  }
  if (range.end === undefined) return undefined;
  return prefixRangeEndOf(range.start) === range.end ? range.start : undefined;
}

/**
 * etcd's prefix range end: the prefix with trailing 0xff bytes dropped and
 * the last remaining byte incremented; null (no end) if all bytes are 0xff.
 */
export function prefixRangeEndOf(prefix: string): string | null {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 0xff) end--;
  if (end === 0) return null;
  return prefix.slice(0, end - 1) + String.fromCharCode(prefix.charCodeAt(end - 1) + 1);
}

function addTo<W>(map: Map<string, Set<W>>, key: string, watcher: W): boolean {
  let set = map.get(key);
  const created = set === undefined;
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(watcher);
  return created;
}

/** Removes; returns whether the set emptied, or undefined if the watcher was not there. */
function removeFrom<W>(map: Map<string, Set<W>>, key: string, watcher: W): boolean | undefined {
  const set = map.get(key);
  if (set === undefined || !set.delete(watcher)) return undefined;
  if (set.size > 0) return false;
  map.delete(key);
  return true;
}
