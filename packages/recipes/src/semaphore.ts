/**
 * A counting semaphore: at most `limit` sessions hold it at once. Each
 * session's key is `<name>/<lease id hex>` (the Mutex layout; a semaphore of
 * limit 1 is that Mutex), and holders are the `limit` keys with the lowest
 * create revisions. A waiter holds once fewer than `limit` keys created
 * before its own remain; since keys created later never count, the set of
 * keys ahead of a holder only shrinks, so at no revision do more than
 * `limit` sessions hold it. FIFO by create revision.
 *
 * Every participant must use the same limit (it is not stored).
 */
import { Compare, Op, type Bytes, type RequestOptions, type TxnBuilder } from '@holdfast/client';
import { LockNotHeldError } from './errors.js';
import { fenceCompare, type Fence } from './fence.js';
import { childPrefix } from './keys.js';
import { enqueue, type QueueAttempt } from './mutex.js';
import type { Session } from './session.js';
import type { WaitOptions } from './signals.js';
import { deleteIfCreatedAt, waitForAnyDelete, waitForTurn } from './wait.js';

export class Semaphore {
  /** `<name>/` */
  readonly prefix: Buffer;
  private held: Fence | undefined;

  constructor(
    readonly session: Session,
    name: Bytes,
    /** How many sessions may hold it at once. */
    readonly limit: number,
  ) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`a semaphore limit must be a positive integer, got ${limit}`);
    this.prefix = childPrefix(name);
  }

  get isHeld(): boolean {
    return this.held !== undefined;
  }

  get fence(): Fence {
    const held = this.held;
    if (held === undefined) throw new LockNotHeldError(`semaphore ${this.prefix.toString()}`);
    return held;
  }

  /** The compare "we still hold our slot". */
  isOwner(): Compare {
    return fenceCompare(this.fence);
  }

  guard(txn: TxnBuilder): TxnBuilder {
    return txn.if(this.isOwner());
  }

  /** Waits for a slot; SessionExpiredError if the lease goes meanwhile, `signal.reason` when aborted. */
  async acquire(options: WaitOptions = {}): Promise<Fence> {
    if (this.held !== undefined) return this.held;
    const requestOptions = options.signal === undefined ? {} : { signal: options.signal };
    const attempt = await enqueue(this.session, this.prefix, '', requestOptions);
    try {
      if (!(await this.hasSlot(attempt, requestOptions))) {
        await waitForTurn(
          { session: this.session, key: attempt.key, createRevision: attempt.createRevision, shared: attempt.shared },
          (signal) => this.waitForSlot(attempt, signal),
          options.signal,
        );
      }
    } catch (error) {
      this.session.releaseKey(attempt.key);
      if (!attempt.shared) await deleteIfCreatedAt(this.session.client, attempt.key, attempt.createRevision);
      throw error;
    }
    this.held = { key: attempt.key, token: attempt.createRevision };
    return this.held;
  }

  /** Takes a slot if one is free now; otherwise withdraws and returns undefined. */
  async tryAcquire(options: RequestOptions = {}): Promise<Fence | undefined> {
    if (this.held !== undefined) return this.held;
    const attempt = await enqueue(this.session, this.prefix, '', options);
    let free = false;
    try {
      free = await this.hasSlot(attempt, options);
    } finally {
      if (!free) {
        this.session.releaseKey(attempt.key);
        if (!attempt.shared) await deleteIfCreatedAt(this.session.client, attempt.key, attempt.createRevision, options.timeoutMs);
      }
    }
    if (!free) return undefined;
    this.held = { key: attempt.key, token: attempt.createRevision };
    return this.held;
  }

  /** Gives the slot back; a no-op when not held. */
  async release(options: RequestOptions = {}): Promise<void> {
    const held = this.held;
    if (held === undefined) return;
    await this.session.client.txn().if(Compare.createRevision(held.key, '=', held.token)).then(Op.delete(held.key)).commit(options);
    this.held = undefined;
    this.session.releaseKey(held.key);
  }

  /** Sessions holding or waiting, oldest first (their keys). */
  async holdersAndWaiters(options: RequestOptions = {}): Promise<Buffer[]> {
    const result = await this.session.client.get(this.prefix, { prefix: true, keysOnly: true, sort: { target: 'createRevision', order: 'ascend' }, ...options });
    return result.kvs.map((kv) => kv.key);
  }

  private async hasSlot(attempt: QueueAttempt, options: RequestOptions): Promise<boolean> {
    return (await this.keysAhead(attempt, options)).kvs.length < this.limit;
  }

  /**
   * Up to `limit` keys created before ours. (Not countOnly: etcd counts the
   * whole range before applying the create-revision filter.)
   */
  private keysAhead(attempt: QueueAttempt, options: RequestOptions) {
    return this.session.client.get(this.prefix, { prefix: true, keysOnly: true, limit: this.limit, maxCreateRevision: attempt.createRevision - 1n, ...options });
  }

  private async waitForSlot(attempt: QueueAttempt, signal: AbortSignal): Promise<void> {
    for (;;) {
      const ahead = await this.keysAhead(attempt, { signal });
      if (ahead.kvs.length < this.limit) return;
      await waitForAnyDelete(this.session.client, this.prefix, ahead.header.revision + 1n, signal);
    }
  }
}
