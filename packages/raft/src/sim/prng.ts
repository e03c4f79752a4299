import { type NodeId, compareNodeIds } from '../messages.js';

/**
 * A small deterministic PRNG (splitmix32-seeded xorshift128). Every random
 * choice in a simulation run comes from one instance, so a seed replays
 * exactly.
 */
export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next() | 1; // never all-zero
  }

  /** Next 32-bit unsigned integer (xorshift128). */
  nextUint32(): number {
    let t = this.s3;
    const s = this.s0;
    this.s3 = this.s2;
    this.s2 = this.s1;
    this.s1 = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.s0 = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.s0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from empty list');
    return items[this.int(items.length)]!;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }
}

/** FNV-1a over bytes, folded into a running 32-bit hash. */
export function fnv1a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= s.charCodeAt(i) >>> 8;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const UINT64_MASK = (1n << 64n) - 1n;
/** Draws allowed per id before giving up; a collision of two uint64 draws is ~2^-64. */
const MAX_ID_DRAWS_PER_ID = 4;

/**
 * `count` distinct uint64 ids (1..2^64-1) derived from `seed` by splitmix64,
 * in ascending order. Like etcd's hashed member ids they spread over the
 * whole range, so most exceed 2^53 (where a JS number would lose them) and
 * about half exceed 2^63. This generator is separate from the run's Prng:
 * drawing ids consumes none of the run's random choices, and because the
 * ids are sorted, node i has the i-th smallest id whatever the seed.
 */
export function uint64NodeIds(seed: number, count: number): NodeId[] {
  let state = BigInt(seed >>> 0);
  const next = (): bigint => {
    state = (state + 0x9e3779b97f4a7c15n) & UINT64_MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & UINT64_MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & UINT64_MASK;
    return z ^ (z >> 31n);
  };
  const ids = new Set<NodeId>();
  for (let draws = 0; ids.size < count; draws++) {
    if (draws >= count * MAX_ID_DRAWS_PER_ID) throw new Error(`could not draw ${count} distinct ids from seed ${seed}`);
    const id = next();
    if (id !== 0n) ids.add(id);
  }
  return [...ids].sort(compareNodeIds);
}
