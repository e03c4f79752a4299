/**
 * The history of one key: which revisions hold its versions.
 *
 * A key's life is split into generations. A generation starts with the put
 * that (re)creates the key and ends with the tombstone that deletes it; the
 * last generation is the open one (empty after a delete, until the next put).
 *
 * Worked example (etcd's, in our words). put(a)@1.0, put(a)@2.0,
 * delete(a)@3.0, put(a)@4.0, put(a)@5.0 gives
 *
 *     generations[0] { created 1.0, version 3, revisions [1.0, 2.0, 3.0(tombstone)] }
 *     generations[1] { created 4.0, version 2, revisions [4.0, 5.0] }
 *
 * get(2) = 2.0 (created 1.0, version 2); get(3) = nothing (the tombstone);
 * get(4) = 4.0 (version 1).
 *
 * Compaction at revision R keeps, per key, the newest revision <= R (so a read
 * at R still sees it) and everything after; a tombstone at or below R is
 * dropped together with its generation. compact(4) on the example leaves
 * generations[1] { revisions [4.0, 5.0] }; compact(2) leaves generations[0] as
 * [2.0, 3.0(t)] plus generations[1].
 *
 * Invariants (checked by assertInvariants, used in tests):
 * - revisions inside a generation strictly increase, and across generations;
 * - every generation but the last is non-empty and ends with its tombstone;
 * - version of a generation = number of its revisions (minus the tombstone
 *   for closed generations), counting from before compaction.
 */
import { compareRevisions, type Revision } from './revision.js';

export interface Generation {
  /** Versions put in this generation, including compacted-away ones. */
  version: number;
  /** The revision that created the key in this generation. */
  created: Revision;
  revisions: Revision[];
}

/** What get() returns: the revision to read and its bookkeeping. */
export interface KeyRevision {
  readonly modified: Revision;
  readonly created: Revision;
  readonly version: number;
}

export class KeyIndex {
  /** The key, as a latin1 string (one char per byte; sorts bytewise). */
  readonly key: string;
  /** The last revision that changed the key (put or tombstone). */
  modified: Revision = { main: 0, sub: 0 };
  generations: Generation[] = [];

  constructor(key: string) {
    this.key = key;
  }

  isEmpty(): boolean {
    return this.generations.length === 1 && this.generations[0]!.revisions.length === 0;
  }

  /** Records a put at `revision` (must be newer than every recorded one). */
  put(revision: Revision): void {
    if (compareRevisions(revision, this.modified) <= 0) {
      throw new Error(`mvcc: put of ${this.key} at ${formatRevision(revision)} not after ${formatRevision(this.modified)}`);
    }
    if (this.generations.length === 0) this.generations.push(newGeneration());
    const generation = this.generations[this.generations.length - 1]!;
    if (generation.revisions.length === 0) generation.created = revision;
    generation.revisions.push(revision);
    generation.version++;
    this.modified = revision;
  }

  /** Restores a put found in the backend at startup (created/version known). */
  restore(created: Revision, modified: Revision, version: number): void {
    if (this.generations.length !== 0) throw new Error('mvcc: restore into a non-empty key index');
    this.modified = modified;
    this.generations = [{ version, created, revisions: [modified] }];
  }

  /**
   * Records a deletion at `revision`: the tombstone closes the current
   * generation and an empty one opens. The key must exist.
   */
  tombstone(revision: Revision): void {
    if (this.generations.length === 0 || this.currentGeneration().revisions.length === 0) {
      throw new Error(`mvcc: tombstone of ${this.key}, which does not exist`);
    }
    this.put(revision);
    this.generations.push(newGeneration());
  }

  /** The revision holding the key's value at store revision `atMain`, if it existed then. */
  get(atMain: number): KeyRevision | undefined {
    const generation = this.findGeneration(atMain);
    if (generation === undefined) return undefined;
    const index = lastIndexAtOrBelow(generation.revisions, atMain);
    if (index < 0) return undefined;
    return {
      modified: generation.revisions[index]!,
      created: generation.created,
      version: generation.version - (generation.revisions.length - 1 - index),
    };
  }

  /**
   * Revisions after `afterMain` (exclusive), oldest first, with the main
   * revision >= `fromMain`: used by watchers catching up from history.
   */
  since(fromMain: number): Revision[] {
    const found: Revision[] = [];
    let lastMain = -1;
    for (const generation of this.generations) {
      for (const revision of generation.revisions) {
        if (revision.main < fromMain) continue;
        // Only the last change of the key within one main revision counts:
        // a txn that puts the same key twice is not allowed, but keep the
        // rule explicit.
        if (revision.main === lastMain) found[found.length - 1] = revision;
        else found.push(revision);
        lastMain = revision.main;
      }
    }
    return found;
  }

  /**
   * Drops history at or below `atMain` that no read at or after `atMain`
   * can see, adding every revision that stays readable at `atMain` to
   * `available` (keyed by main revision then sub; the store deletes the rest
   * from the backend). Returns true if nothing is left (drop the key).
   */
  compact(atMain: number, available: Set<string>): boolean {
    const [generationIndex, revisionIndex] = this.compactionPoint(atMain, available, true);
    let firstKept = generationIndex;
    const generation = this.generations[generationIndex]!;
    if (generation.revisions.length > 0) {
      if (revisionIndex !== -1) generation.revisions = generation.revisions.slice(revisionIndex);
      // A closed generation reduced to its tombstone is gone entirely from
      // the index. The tombstone's record stays in the backend when it is at
      // exactly atMain: a watcher may resume from the compaction revision and
      // must get that revision whole, deletes included (etcd-io/etcd#17780).
      // The next compaction removes it. HashKV leaves it out (see keep()).
      if (generation.revisions.length === 1 && generationIndex !== this.generations.length - 1) {
        const tombstone = generation.revisions[0]!;
        if (tombstone.main !== atMain) available.delete(revisionKey(tombstone));
        firstKept++;
      }
    }
    this.generations = this.generations.slice(firstKept);
    return this.isEmpty();
  }

  /**
   * Adds to `available` what compact(atMain) would keep, without changing
   * anything (HashKV hashes exactly what compaction would leave).
   */
  keep(atMain: number, available: Set<string>): void {
    if (this.isEmpty()) return;
    const [generationIndex, revisionIndex] = this.compactionPoint(atMain, available);
    const generation = this.generations[generationIndex]!;
    if (generation.revisions.length > 0 && revisionIndex === generation.revisions.length - 1 && generationIndex !== this.generations.length - 1) {
      available.delete(revisionKey(generation.revisions[revisionIndex]!));
    }
  }

  /** Throws if a structural invariant is broken (see the file comment). */
  assertInvariants(): void {
    let previous: Revision = { main: 0, sub: -1 };
    this.generations.forEach((generation, index) => {
      const isLast = index === this.generations.length - 1;
      if (!isLast && generation.revisions.length === 0) throw new Error(`mvcc: ${this.key}: empty closed generation ${index}`);
      for (const revision of generation.revisions) {
        if (compareRevisions(revision, previous) <= 0) throw new Error(`mvcc: ${this.key}: revisions out of order`);
        previous = revision;
      }
      if (generation.revisions.length > 0 && compareRevisions(generation.created, generation.revisions[0]!) > 0) {
        throw new Error(`mvcc: ${this.key}: generation created after its first revision`);
      }
    });
  }

  private currentGeneration(): Generation {
    return this.generations[this.generations.length - 1]!;
  }

  /** The generation that holds the key's state at `atMain`, if the key existed then. */
  private findGeneration(atMain: number): Generation | undefined {
    const lastIndex = this.generations.length - 1;
    for (let index = lastIndex; index >= 0; index--) {
      const generation = this.generations[index]!;
      if (generation.revisions.length === 0) continue;
      // A closed generation whose tombstone is at or before atMain: deleted then.
      if (index !== lastIndex && generation.revisions[generation.revisions.length - 1]!.main <= atMain) return undefined;
      if (generation.revisions[0]!.main <= atMain) return generation;
    }
    return undefined;
  }

  /**
   * Finds where compaction at `atMain` cuts: the first generation that is
   * still alive after atMain or contains it, and inside it the index of the
   * newest revision <= atMain (-1 if none). That revision goes to `available`.
   */
  private compactionPoint(atMain: number, available: Set<string>, keepTombstoneAtMain = false): [number, number] {
    let generationIndex = 0;
    while (generationIndex < this.generations.length - 1) {
      const generation = this.generations[generationIndex]!;
      const tombstone = generation.revisions[generation.revisions.length - 1]!;
      if (tombstone.main > atMain) break;
      // A generation deleted at exactly atMain leaves the index, but its
      // tombstone's record stays for watchers resuming at atMain (see compact()).
      if (keepTombstoneAtMain && tombstone.main === atMain) available.add(revisionKey(tombstone));
      generationIndex++;
    }
    const generation = this.generations[generationIndex]!;
    const revisionIndex = lastIndexAtOrBelow(generation.revisions, atMain);
    if (revisionIndex >= 0) available.add(revisionKey(generation.revisions[revisionIndex]!));
    return [generationIndex, revisionIndex];
  }
}

/** A compact string form of a revision, for sets of revisions. */
export function revisionKey(revision: Revision): string {
  return `${revision.main}.${revision.sub}`;
}

export function formatRevision(revision: Revision): string {
  return `${revision.main}.${revision.sub}`;
}

function newGeneration(): Generation {
  return { version: 0, created: { main: 0, sub: 0 }, revisions: [] };
}

/** Index of the last revision with main <= atMain, or -1. Binary search. */
function lastIndexAtOrBelow(revisions: Revision[], atMain: number): number {
  let low = 0;
  let high = revisions.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (revisions[middle]!.main <= atMain) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}
