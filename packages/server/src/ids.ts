/**
 * Member and cluster ids, computed as etcd computes them so that the same
 * flags give the same ids: a member id is the first 8 bytes (big-endian) of
 * SHA-1 over its sorted peer URLs joined, then the cluster token; a cluster
 * id is the first 8 bytes of SHA-1 over the sorted member ids, each as 8
 * big-endian bytes.
 */
import { createHash } from 'node:crypto';

export function computeMemberId(peerUrls: readonly string[], clusterToken: string): bigint {
  const hash = createHash('sha1');
  hash.update([...peerUrls].sort().join(''));
  hash.update(clusterToken);
  return hash.digest().readBigUInt64BE(0);
}

export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const hash = createHash('sha1');
  for (const id of [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(id);
    hash.update(bytes);
  }
  return hash.digest().readBigUInt64BE(0);
}

/** Lowercase hex without padding, as etcd prints ids in logs and `member list`. */
export function formatId(id: bigint): string {
  return id.toString(16);
}

/**
 * Request ids unique per member across restarts: 16 bits of the member id,
 * 40 bits of milliseconds at start, then a counter (etcd's idutil layout).
 */
export class RequestIdGenerator {
  private next: bigint;
  constructor(memberId: bigint, nowMs: number) {
    const prefix = (memberId & 0xffffn) << 48n;
    const time = (BigInt(nowMs) & 0xff_ffff_ffffn) << 8n;
    this.next = prefix | time;
  }
  generate(): bigint {
    this.next = BigInt.asUintN(64, this.next + 1n);
    return this.next;
  }
}
