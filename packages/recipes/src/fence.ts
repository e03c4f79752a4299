/**
 * Fencing tokens. A lease-based lock can be held by two processes at once
 * in effect: a holder that pauses (GC, swap, a stopped VM) past its lease's
 * TTL still believes it holds the lock while the next waiter has taken it.
 * The lock key's create revision is a token that grows with every new
 * holder; a write guarded by "the lock key still has this create revision"
 * is refused once the lock has moved on, whatever the old holder believes.
 */
import { Compare, toBuffer, type Bytes, type TxnBuilder } from '@holdfast/client';

/** Proof of holding a lock (or semaphore slot, or leadership): the key and its create revision. */
export interface Fence {
  /** The holder's key (relative to the session's client or namespace). */
  readonly key: Buffer;
  /** The key's create revision: larger for every later holder. */
  readonly token: bigint;
}

/** The compare "the lock key still has this create revision" (Go Mutex.IsOwner()). */
export function fenceCompare(fence: Fence): Compare {
  return Compare.createRevision(fence.key, '=', fence.token);
}

/**
 * Adds the fence compare to a txn: its `then` branch runs only while the
 * fence's holder still holds it. Use the same client or namespace the lock
 * was taken with.
 *
 *   const fence = await mutex.lock();
 *   const result = await guard(client.txn(), fence).then(Op.put('/config', 'v2')).commit();
 *   if (!result.succeeded) // we lost the lock: nothing was written
 */
export function guard(txn: TxnBuilder, fence: Fence): TxnBuilder {
  return txn.if(fenceCompare(fence));
}

/** Builds a Fence from a key and token received from elsewhere (e.g. another process). */
export function fence(key: Bytes, token: bigint): Fence {
  return { key: toBuffer(key), token };
}
