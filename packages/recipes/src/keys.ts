/**
 * Key layouts shared with Go's clientv3/concurrency and contrib/recipes.
 */
import { performance } from 'node:perf_hooks';
import { toBuffer, type Bytes } from '@holdfast/client';

const slash = Buffer.from('/');

/**
 * A lease id as Go's fmt "%x" prints an int64: lowercase hex, a minus sign
 * for negative ids. Go's Mutex and Election name their keys
 * `<name>/<this>`, so this must match it exactly for etcdctl and Go
 * programs to see our keys as peers.
 */
export function leaseIdHex(leaseId: bigint): string {
  return leaseId < 0n ? `-${(-leaseId).toString(16)}` : leaseId.toString(16);
}

/** `name` + "/": the prefix under which Go's recipes keep one key per participant. */
export function childPrefix(name: Bytes): Buffer {
  return Buffer.concat([toBuffer(name), slash]);
}

/** `<prefix><suffix>` as bytes. */
export function joinKey(prefix: Buffer, suffix: string): Buffer {
  return Buffer.concat([prefix, Buffer.from(suffix, 'utf8')]);
}

let lastUnixNanos = 0n;

/**
 * Nanoseconds since the epoch, strictly increasing within this process:
 * what Go's recipes use (time.Now().UnixNano()) to name unique keys. Keys
 * from other processes may still collide; callers create them with a
 * "version = 0" compare and try again.
 */
export function unixNanos(): bigint {
  const now = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1_000_000));
  lastUnixNanos = now > lastUnixNanos ? now : lastUnixNanos + 1n;
  return lastUnixNanos;
}
