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
 * As in Go, every Mutex of one session on one name shares one key: a second
 * lock() by the same session returns at once, and one unlock() releases it
 * for both. Use one session per concurrent holder.
 */
import { Compare, LeaseNotFoundError, Op, type Bytes, type KeyValue, type RequestOptions, type ResponseHeader, type TxnBuilder } from '@holdfast/client';
import { LockNotHeldError, SessionExpiredError } from './errors.js';
import { fenceCompare, type Fence } from './fence.js';
import { childPrefix, joinKey, leaseIdHex } from './keys.js';
import type { Session } from './session.js';
import type { WaitOptions } from './signals.js';
import { deleteIfCreatedAt, deleteIfLeased, waitForDeletesBefore, waitForTurn } from './wait.js';

interface Held {
  readonly key: Buffer;
  readonly token: bigint;
  readonly header: ResponseHeader;
}

/** The outcome of the enqueuing txn (Go tryAcquire). */
export interface QueueAttempt {
  readonly key: Buffer;
  readonly createRevision: bigint;
  /** Whether this attempt created the key (false: the session already had it). */
  readonly created: boolean;
  /** Whether another object of this session already used the key. */
  readonly shared: boolean;
  /** The key as it was when it already existed (created false). */
  readonly existing: KeyValue | undefined;
  /** The oldest key under the prefix. */
  readonly first: KeyValue | undefined;
  readonly header: ResponseHeader;
}

const firstCreated = { prefix: true, sort: { target: 'createRevision', order: 'ascend' }, limit: 1 } as const;

/**
 * Go's tryAcquire: put `<prefix><lease hex>` under the session's lease unless
 * it exists (then read it), and read the oldest key under the prefix, in one
 * txn. After a failure that may have left the key behind, removes it (unless
 * another object of the session uses it). Retains the key in the session.
 */
export async function enqueue(session: Session, prefix: Buffer, value: Bytes, options: RequestOptions): Promise<QueueAttempt> {
  session.throwIfInactive();
  const client = session.client;
  const key = joinKey(prefix, leaseIdHex(session.leaseId));
  const shared = session.usesKey(key);
  let result;
  try {
    result = await client
      .txn()
      .if(Compare.createRevision(key, '=', 0n))
      .then(Op.put(key, value, { lease: session.leaseId }), Op.get(prefix, firstCreated))
      .else(Op.get(key), Op.get(prefix, firstCreated))
      .commit(options);
  } catch (error) {
    if (error instanceof LeaseNotFoundError) throw new SessionExpiredError(session.leaseId, 'the lease no longer exists', { cause: error });
    if (!shared) await deleteIfLeased(client, key, session.leaseId);
    throw error;
  }
  const [mine, oldest] = result.responses;
  if (mine === undefined || oldest?.kind !== 'get') throw new TypeError('unexpected enqueue txn response');
  let createRevision = result.header.revision;
  const existing = !result.succeeded && mine.kind === 'get' ? mine.kvs[0] : undefined;
  if (!result.succeeded) {
    if (existing === undefined) throw new TypeError('enqueue txn: our key vanished between compare and read');
    createRevision = existing.createRevision;
  }
  session.retainKey(key);
  return { key, createRevision, created: result.succeeded, shared, existing, first: oldest.kvs[0], header: result.header };
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

  /** This session's key under the prefix: `<name>/<lease hex>`. */
  get ownKey(): Buffer {
    return joinKey(this.prefix, leaseIdHex(this.session.leaseId));
  }

  /** Whether this object believes it holds the lock (the lease may since have gone: use the fence). */
  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /** The lock key while held (Go Mutex.Key()). */
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
    if (this.held !== undefined) return this.fence;
    const attempt = await enqueue(this.session, this.prefix, '', options);
    if (isFirst(attempt)) return this.hold(attempt, attempt.header);
    let header: ResponseHeader;
    try {
      header = await waitForTurn(
        { session: this.session, key: attempt.key, createRevision: attempt.createRevision, shared: attempt.shared },
        (signal) => waitForDeletesBefore(this.session.client, this.prefix, attempt.createRevision - 1n, signal),
        options.signal,
      );
    } catch (error) {
      this.session.releaseKey(attempt.key);
      throw error;
    }
    return this.hold(attempt, header);
  }

  /**
   * Takes the lock if nobody else holds it; otherwise gives up our place at
   * once and returns undefined.
   */
  async tryLock(options: RequestOptions = {}): Promise<Fence | undefined> {
    if (this.held !== undefined) return this.fence;
    const attempt = await enqueue(this.session, this.prefix, '', options);
    if (isFirst(attempt)) return this.hold(attempt, attempt.header);
    this.session.releaseKey(attempt.key);
    if (!attempt.shared) await deleteIfCreatedAt(this.session.client, attempt.key, attempt.createRevision, options.timeoutMs);
    return undefined;
  }

  /** Releases the lock (deletes our key if it still has the create revision we hold); a no-op when not held. */
  async unlock(options: RequestOptions = {}): Promise<void> {
    const held = this.held;
    if (held === undefined) return;
    await this.session.client.txn().if(Compare.createRevision(held.key, '=', held.token)).then(Op.delete(held.key)).commit(options);
    this.held = undefined;
    this.session.releaseKey(held.key);
  }

  private hold(attempt: QueueAttempt, header: ResponseHeader): Fence {
    this.held = { key: attempt.key, token: attempt.createRevision, header };
    return { key: attempt.key, token: attempt.createRevision };
  }
}

/** Whether the attempt's key is the oldest under the prefix (or the prefix is empty). */
export function isFirst(attempt: QueueAttempt): boolean {
  return attempt.first === undefined || attempt.first.createRevision === attempt.createRevision;
}
