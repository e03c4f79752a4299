/**
 * A distributed mutex with Go clientv3/concurrency.Mutex's key layout and
 * protocol, so Go programs, `etcdctl lock` and this exclude each other on
 * the same name:
 *
 * - the waiter's key is `<name>/<session lease id in lowercase hex>`, with
 *   an empty value, attached to the session's lease;
 * - one txn: if that key's create revision is 0, put it and read the oldest
 *   key under `<name>/` (by create revision), else read our key and the
 *   oldest;
 * - the holder is the key with the lowest create revision; everyone else
 *   waits for the deletion of the newest key created before theirs, then
 *   looks again (FIFO by create revision);
 * - after waiting, the key must still be ours under a live lease (the fix
 *   for the Jepsen finding), else SessionExpiredError and no lock.
 *
 * One Mutex object tracks one holding; as in Go, a session that locks the
 * same name twice shares one key (the second lock() returns at once, and
 * one unlock() releases both).
 */
import { Compare, Op, type Bytes, type KeyValue, type RequestOptions, type ResponseHeader, type TxnBuilder } from '@holdfast/client';
import { LockNotHeldError } from './errors.js';
import { fenceCompare, type Fence } from './fence.js';
import { childPrefix, joinKey, leaseIdHex } from './keys.js';
import type { Session } from './session.js';
import type { WaitOptions } from './signals.js';
import { deleteIfCreatedAt, waitForDeletesBefore, waitForTurn } from './wait.js';

interface Held {
  readonly key: Buffer;
  readonly token: bigint;
  readonly header: ResponseHeader;
}

interface Attempt {
  readonly key: Buffer;
  readonly createRevision: bigint;
  /** Whether this attempt created the key (false: the session already had it). */
  readonly created: boolean;
  readonly owner: KeyValue | undefined;
  readonly header: ResponseHeader;
}

export class Mutex {
  /** `<name>/`: the prefix of every waiter's key. */
  readonly prefix: Buffer;
  private held: Held | undefined;

  constructor(
    readonly session: Session,
    name: Bytes,
  ) {
    this.prefix = childPrefix(name);
  }

  /** Our key under the prefix: `<name>/<lease hex>`. */
  get ownKey(): Buffer {
    return joinKey(this.prefix, leaseIdHex(this.session.leaseId));
  }

  /** Whether this object believes it holds the lock (the lease may since have gone: use the fence). */
  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /** The lock key while held. */
  get key(): Buffer | undefined {
    return this.held?.key;
  }

  /** The header of the response that proved the lock ours (Go Mutex.Header(); etcdctl's ETCD_LOCK_REV is its revision). */
  get header(): ResponseHeader | undefined {
    return this.held?.header;
  }

  /** The fencing token (the lock key's create revision) while held. */
  get fencingToken(): bigint | undefined {
    return this.held?.token;
  }

  /** The fence of the current holding; LockNotHeldError when not held. */
  get fence(): Fence {
    const held = this.held;
    if (held === undefined) throw new LockNotHeldError(`mutex ${this.prefix.toString()}`);
    return { key: held.key, token: held.token };
  }

  /** The compare "we still hold it" (Go Mutex.IsOwner()). */
  isOwner(): Compare {
    return fenceCompare(this.fence);
  }

  /** Adds isOwner() to a txn, whose `then` branch then runs only while we hold the lock. */
  guard(txn: TxnBuilder): TxnBuilder {
    return txn.if(this.isOwner());
  }

  /**
   * Waits until the lock is ours; returns its fence. Rejects with
   * SessionExpiredError if the session's lease goes while waiting (or
   * before), with `signal.reason` when aborted; in both cases our place in
   * the queue is given up.
   */
  async lock(options: WaitOptions = {}): Promise<Fence> {
    const attempt = await this.enqueue(options);
    if (this.isOwnerIn(attempt)) return this.hold(attempt, attempt.header);
    const header = await waitForTurn(
      { session: this.session, key: attempt.key, createRevision: attempt.createRevision },
      (signal) => waitForDeletesBefore(this.session.client, this.prefix, attempt.createRevision - 1n, signal),
      options.signal,
    );
    return this.hold(attempt, header);
  }

  /**
   * Takes the lock if nobody holds it (or this session already does);
   * otherwise gives up our place at once and returns undefined.
   */
  async tryLock(options: RequestOptions = {}): Promise<Fence | undefined> {
    const attempt = await this.enqueue(options);
    if (this.isOwnerIn(attempt)) return this.hold(attempt, attempt.header);
    // Someone else holds it. Remove the key only if this attempt created it:
    // an existing one is this session's place in the queue taken elsewhere.
    if (attempt.created) await this.session.client.txn().if(Compare.createRevision(attempt.key, '=', attempt.createRevision)).then(Op.delete(attempt.key)).commit(options);
    return undefined;
  }

  /** Releases the lock (deletes our key, if it is still the one we hold); a no-op when not held. */
  async unlock(options: RequestOptions = {}): Promise<void> {
    const held = this.held;
    if (held === undefined) return;
    await this.session.client.txn().if(Compare.createRevision(held.key, '=', held.token)).then(Op.delete(held.key)).commit(options);
    this.held = undefined;
  }

  private isOwnerIn(attempt: Attempt): boolean {
    return attempt.owner === undefined || attempt.owner.createRevision === attempt.createRevision;
  }

  private hold(attempt: Attempt, header: ResponseHeader): Fence {
    this.held = { key: attempt.key, token: attempt.createRevision, header };
    return { key: attempt.key, token: attempt.createRevision };
  }

  /** Go's tryAcquire: put our key unless it exists, and read the oldest key, in one txn. */
  private async enqueue(options: RequestOptions): Promise<Attempt> {
    this.session.throwIfInactive();
    const client = this.session.client;
    const key = this.ownKey;
    const getOwner = Op.get(this.prefix, { prefix: true, sort: { target: 'createRevision', order: 'ascend' }, limit: 1 });
    let result;
    try {
      result = await client
        .txn()
        .if(Compare.createRevision(key, '=', 0n))
        .then(Op.put(key, '', { lease: this.session.leaseId }), getOwner)
        .else(Op.get(key), getOwner)
        .commit(options);
    } catch (error) {
      // The txn may have been applied before the failure (or the abort):
      // leave no key behind that would block the queue until the lease ends.
      if (options.signal?.aborted === true) await removeAfterAbort(client, key);
      throw error;
    }
    const [first, second] = result.responses;
    if (second?.kind !== 'get' || first === undefined) throw new TypeError('unexpected lock txn response');
    let createRevision = result.header.revision;
    if (!result.succeeded) {
      const existing = first.kind === 'get' ? first.kvs[0] : undefined;
      if (existing === undefined) throw new TypeError('lock txn: our key vanished between compare and read');
      createRevision = existing.createRevision;
    }
    return { key, createRevision, created: result.succeeded, owner: second.kvs[0], header: result.header };
  }
}

/**
 * After an aborted enqueue we do not know whether our put was applied; a key
 * of ours that this Mutex does not hold is removed (best effort).
 */
async function removeAfterAbort(client: Session['client'], key: Buffer): Promise<void> {
  try {
    const current = await client.get(key, { timeoutMs: 5_000 });
    const kv = current.kvs[0];
    if (kv !== undefined) await deleteIfCreatedAt(client, key, kv.createRevision);
  } catch {
    // The key, if any, goes with the session's lease.
  }
}
