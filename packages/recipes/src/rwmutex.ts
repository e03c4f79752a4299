/**
 * A readers-writer lock with the layout of Go's contrib/recipes RWMutex:
 * readers create `<name>/read/<unix nanos>`, writers
 * `<name>/write/<unix nanos>`, under the session's lease. A reader waits
 * until no writer key was created before its own; a writer until no key at
 * all was. So readers share, writers exclude everyone, and both queue FIFO
 * by create revision (a waiting writer holds back later readers).
 *
 * After waiting, the key must still exist under a live lease
 * (SessionExpiredError otherwise), as for Mutex.
 */
import { Compare, Op, type Bytes, type RequestOptions, type TxnBuilder } from '@holdfast/client';
import { LockNotHeldError } from './errors.js';
import { fenceCompare, type Fence } from './fence.js';
import { childPrefix, joinKey } from './keys.js';
import type { Session } from './session.js';
import type { WaitOptions } from './signals.js';
import { createUniqueKey } from './unique-key.js';
import { waitForDeletesBefore, waitForTurn } from './wait.js';

export class RWMutex {
  /** `<name>/` */
  readonly prefix: Buffer;
  private held: (Fence & { readonly mode: 'read' | 'write' }) | undefined;

  constructor(
    readonly session: Session,
    name: Bytes,
  ) {
    this.prefix = childPrefix(name);
  }

  /** 'read' or 'write' while held, undefined otherwise. */
  get mode(): 'read' | 'write' | undefined {
    return this.held?.mode;
  }

  get fence(): Fence {
    const held = this.held;
    if (held === undefined) throw new LockNotHeldError(`rwmutex ${this.prefix.toString()}`);
    return { key: held.key, token: held.token };
  }

  isOwner(): Compare {
    return fenceCompare(this.fence);
  }

  guard(txn: TxnBuilder): TxnBuilder {
    return txn.if(this.isOwner());
  }

  /** Waits for a shared (read) hold: until no writer queued before us remains. */
  rLock(options: WaitOptions = {}): Promise<Fence> {
    return this.acquire('read', joinKey(this.prefix, 'write'), options);
  }

  /** Waits for an exclusive (write) hold: until nobody queued before us remains. */
  lock(options: WaitOptions = {}): Promise<Fence> {
    return this.acquire('write', this.prefix, options);
  }

  /** Releases a read hold. */
  rUnlock(options: RequestOptions = {}): Promise<void> {
    return this.release(options);
  }

  /** Releases a write hold. */
  unlock(options: RequestOptions = {}): Promise<void> {
    return this.release(options);
  }

  private async acquire(mode: 'read' | 'write', blockers: Buffer, options: WaitOptions): Promise<Fence> {
    if (this.held !== undefined) throw new TypeError(`rwmutex ${this.prefix.toString()} is already held (${this.held.mode}) by this object`);
    this.session.throwIfInactive();
    const client = this.session.client;
    const ownPrefix = joinKey(this.prefix, mode);
    const requestOptions = options.signal === undefined ? {} : { signal: options.signal };
    const created = await createUniqueKey(client, ownPrefix, '', this.session.leaseId, requestOptions);
    await waitForTurn(
      { session: this.session, key: created.key, createRevision: created.revision },
      (signal) => waitForDeletesBefore(client, blockers, created.revision - 1n, signal),
      options.signal,
    );
    this.held = { key: created.key, token: created.revision, mode };
    return { key: created.key, token: created.revision };
  }

  private async release(options: RequestOptions): Promise<void> {
    const held = this.held;
    if (held === undefined) return;
    await this.session.client.txn().if(Compare.createRevision(held.key, '=', held.token)).then(Op.delete(held.key)).commit(options);
    this.held = undefined;
  }
}
