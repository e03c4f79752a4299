/**
 * Leases: TTL-bound sessions that keys can be attached to.
 *
 * Two kinds of state live here, and the split is what keeps a cluster in
 * agreement:
 *
 * - Replicated state, changed only by applying log entries (grant, revoke,
 *   and the puts and deletes that attach and detach keys), so it is the same
 *   on every member and survives restarts: the leases with their granted TTL
 *   (the backend's `lease` table) and the keys attached to each.
 * - Primary state, kept only by the member that decides expiry (the leader;
 *   in single-node mode, this server): each lease's deadline on the
 *   monotonic clock. Keepalives move deadlines without touching the log.
 *   When a deadline passes, the primary proposes a LeaseRevoke entry, and
 *   every member deletes the keys when it applies that entry.
 *
 * Invariant: a key is in the key set of lease L exactly when its newest
 * version is live and carries lease L (`keyLease` is the reverse map).
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Backend, BackendTable } from '@holdfast/storage';
import { bytesToKey, keyToBytes, openRecord, sealRecord, type Change, type WriteTransaction } from '@holdfast/mvcc';
import { EtcdError, LeaseExistsError, LeaseNotFoundError, LeaseTtlTooLargeError } from '../errors.js';
import { ExpiryQueue } from './expiry-queue.js';

/** etcd's MaxLeaseTTL: larger grants are refused. */
export const maxLeaseTtlSeconds = 9_000_000_000;
/**
 * etcd's leaseRevokeRate: at most this many expired leases are revoked per
 * second, so that a mass expiry cannot flood the log.
 */
export const leaseRevokeRatePerSecond = 1000;
/** How often the primary looks for expired leases (etcd: every 500 ms). */
export const expiryCheckIntervalMs = 500;
/** An expired lease whose revoke has not been applied is proposed again after this long. */
export const revokeRetryIntervalMs = 3_000;

export { LeaseExistsError, LeaseTtlTooLargeError };

/** A monotonic millisecond clock; injected so expiry can be tested without waiting. */
export interface MonotonicClock {
  nowMs(): number;
}

export const systemMonotonicClock: MonotonicClock = { nowMs: () => performance.now() };

export interface Lease {
  readonly id: bigint;
  /** Granted TTL (raised to the minimum TTL at grant time). */
  readonly ttlSeconds: number;
  /** Keys (latin1 strings, as the MVCC index spells them) attached to this lease. */
  readonly keys: Set<string>;
  /** Primary state: when the lease expires unless kept alive. */
  deadlineMs: number;
  /** Primary state: when the expiry queue looks at this lease next. */
  nextCheckMs: number;
}

export interface LessorOptions {
  readonly backend: Backend;
  readonly clock?: MonotonicClock;
  /** Grants below this TTL get this TTL (etcd: 1.5 election timeouts, rounded up to seconds). */
  readonly minTtlSeconds: number;
}

/** Bytes of a stored lease record before its checksum: the TTL, u64 big-endian. */
const leaseRecordBytes = 8;

export class Lessor {
  private readonly table: BackendTable;
  private readonly clock: MonotonicClock;
  readonly minTtlSeconds: number;
  private readonly leases = new Map<bigint, Lease>();
  /** Reverse of the key sets: which lease each leased key is attached to. */
  private readonly keyLease = new Map<string, bigint>();
  private readonly expiryQueue = new ExpiryQueue();
  private readonly location: string;

  constructor(options: LessorOptions) {
    this.table = options.backend.table('lease');
    this.clock = options.clock ?? systemMonotonicClock;
    this.minTtlSeconds = options.minTtlSeconds;
    this.location = `${options.backend.directory}/data.mdb`;
  }

  /**
   * Loads the leases from the backend and attaches the keys the MVCC store
   * found carrying them. Every lease starts with its full TTL; promote()
   * sets real deadlines.
   */
  restore(attachments: ReadonlyMap<string, bigint>, warn: (message: string) => void): void {
    const now = this.clock.nowMs();
    for (const { key, value } of this.table.range()) {
      const record = openRecord(key, value, this.location);
      if (key.length !== 8 || record.length !== leaseRecordBytes) throw new EtcdError(GrpcStatus.DATA_LOSS, `lease: malformed record (key ${key.toString('hex')}) in ${this.location}`);
      const id = key.readBigInt64BE(0);
      const ttlSeconds = Number(Buffer.from(record).readBigUInt64BE(0));
      this.leases.set(id, { id, ttlSeconds, keys: new Set(), deadlineMs: now + ttlSeconds * 1000, nextCheckMs: now + ttlSeconds * 1000 });
    }
    for (const [key, id] of attachments) {
      const lease = this.leases.get(id);
      if (lease === undefined) {
        // Revoke deletes keys and the lease in one transaction, so this
        // means damage; the key stays, unattached, and the operator is told.
        warn(`lease: key ${JSON.stringify(key)} carries lease ${id.toString(16)}, which does not exist`);
        continue;
      }
      lease.keys.add(key);
      this.keyLease.set(key, id);
    }
  }

  get size(): number {
    return this.leases.size;
  }

  exists(id: bigint): boolean {
    return this.leases.has(id);
  }

  get(id: bigint): Lease | undefined {
    return this.leases.get(id);
  }

  /** Lease ids, ascending. */
  ids(): bigint[] {
    return [...this.leases.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // ---- replicated state: called while applying log entries, inside Backend.write() ----

  /** Applies a LeaseGrant entry. */
  grant(id: bigint, requestedTtlSeconds: number): Lease {
    if (id === 0n) throw new LeaseNotFoundError();
    if (requestedTtlSeconds > maxLeaseTtlSeconds) throw new LeaseTtlTooLargeError();
    if (this.leases.has(id)) throw new LeaseExistsError();
    const ttlSeconds = Math.max(requestedTtlSeconds, this.minTtlSeconds);
    const deadlineMs = this.clock.nowMs() + ttlSeconds * 1000;
    const lease: Lease = { id, ttlSeconds, keys: new Set(), deadlineMs, nextCheckMs: deadlineMs };
    this.leases.set(id, lease);
    this.table.put(leaseKey(id), sealLease(id, ttlSeconds));
    this.expiryQueue.push(id, deadlineMs);
    return lease;
  }

  /**
   * Applies a LeaseRevoke entry: deletes every attached key in `txn` (one
   * revision, keys in sorted order as etcd does so that every member writes
   * the same history) and the lease record.
   */
  revoke(id: bigint, txn: WriteTransaction): void {
    const lease = this.leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError();
    for (const key of [...lease.keys].sort()) txn.deleteRange(keyToBytes(key), undefined);
    this.leases.delete(id);
    this.table.delete(leaseKey(id));
  }

  /**
   * Keeps attachments in step with a write transaction's changes (puts and
   * deletes, in order). Called for every write transaction, including revoke.
   */
  trackChanges(changes: readonly Change[]): void {
    for (const change of changes) {
      const key = bytesToKey(change.kv.key);
      const attachedTo = change.kind === 'put' ? change.kv.lease : 0n;
      const previous = this.keyLease.get(key);
      if (previous === attachedTo) continue;
      if (previous !== undefined) this.leases.get(previous)?.keys.delete(key);
      if (attachedTo === 0n) {
        this.keyLease.delete(key);
        continue;
      }
      const lease = this.leases.get(attachedTo);
      // The applier checked the lease exists before the put.
      if (lease === undefined) throw new Error(`lease: put of ${JSON.stringify(key)} with lease ${attachedTo.toString(16)} that does not exist`);
      lease.keys.add(key);
      this.keyLease.set(key, attachedTo);
    }
  }

  // ---- primary state: expiry ----

  /**
   * Becoming primary (at start): every lease gets a fresh deadline of its
   * TTL plus `extendMs` (etcd extends by an election timeout, so clients
   * have time to find the new primary). `expiredWhileDown` picks leases to
   * expire at once instead.
   */
  promote(extendMs: number, expiredWhileDown: (lease: Lease) => boolean = () => false): void {
    const now = this.clock.nowMs();
    this.expiryQueue.clear();
    for (const lease of this.leases.values()) {
      lease.deadlineMs = expiredWhileDown(lease) ? now : now + lease.ttlSeconds * 1000 + extendMs;
      lease.nextCheckMs = lease.deadlineMs;
      this.expiryQueue.push(lease.id, lease.nextCheckMs);
    }
  }

  /**
   * A keepalive: the lease's deadline moves to now + TTL. Returns the TTL.
   * An expired lease stays expired (its revoke is on the way).
   */
  renew(id: bigint): number {
    const lease = this.leases.get(id);
    const now = this.clock.nowMs();
    if (lease === undefined || lease.deadlineMs <= now) throw new LeaseNotFoundError();
    lease.deadlineMs = now + lease.ttlSeconds * 1000;
    lease.nextCheckMs = lease.deadlineMs;
    this.expiryQueue.push(id, lease.nextCheckMs);
    this.expiryQueue.compactIfSparse(this.leases.size, (leaseId) => this.leases.get(leaseId)?.nextCheckMs);
    return lease.ttlSeconds;
  }

  /** Milliseconds until the lease expires (<= 0 once expired). */
  remainingMs(lease: Lease): number {
    return lease.deadlineMs - this.clock.nowMs();
  }

  /**
   * Leases past their deadline, at most `limit`, oldest deadline first.
   * Each returned lease is not returned again for revokeRetryIntervalMs,
   * so a revoke in flight is not proposed twice (but is retried if lost).
   */
  takeExpired(limit: number): Lease[] {
    const now = this.clock.nowMs();
    const expired: Lease[] = [];
    while (expired.length < limit) {
      const item = this.expiryQueue.peek();
      if (item === undefined || item.atMs > now) break;
      this.expiryQueue.pop();
      const lease = this.leases.get(item.id);
      // Stale queue entries (renewed or revoked since) are skipped.
      if (lease === undefined || lease.nextCheckMs !== item.atMs) continue;
      if (lease.deadlineMs > now) {
        lease.nextCheckMs = lease.deadlineMs;
        this.expiryQueue.push(lease.id, lease.nextCheckMs);
        continue;
      }
      lease.nextCheckMs = now + revokeRetryIntervalMs;
      this.expiryQueue.push(lease.id, lease.nextCheckMs);
      expired.push(lease);
    }
    return expired;
  }
}

function leaseKey(id: bigint): Buffer {
  const key = Buffer.allocUnsafe(8);
  key.writeBigInt64BE(id);
  return key;
}

function sealLease(id: bigint, ttlSeconds: number): Buffer {
  const record = Buffer.allocUnsafe(leaseRecordBytes);
  record.writeBigUInt64BE(BigInt(ttlSeconds));
  return sealRecord(leaseKey(id), record);
}

