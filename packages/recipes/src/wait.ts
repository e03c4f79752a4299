/**
 * Waiting in a queue of keys ordered by create revision, as Go's
 * concurrency package does (waitDelete, waitDeletes), plus what Go's Mutex
 * does since 3.5 (the lock bug Jepsen reported in etcd 3.4): once nothing is
 * ahead, check that our own key, and so the session's lease, still exists
 * before saying we hold anything.
 */
import { CompactedError, Compare, Op, onAbort, type Namespace, type ResponseHeader } from '@holdfast/client';
import { SessionExpiredError, WaitEndedError } from './errors.js';
import type { Session } from './session.js';
import { LinkedAbort } from './signals.js';

/**
 * Resolves once `key` is deleted at a revision >= `fromRevision` (at once
 * if the watch start was compacted: the caller reads the state again).
 */
export async function waitForDelete(client: Namespace, key: Buffer, fromRevision: bigint, signal: AbortSignal): Promise<void> {
  const watch = client.watch(key, { startRevision: fromRevision, filters: ['noPut'], signal });
  try {
    for await (const batch of watch) {
      if (batch.events.some((event) => event.type === 'delete')) return;
    }
  } catch (error) {
    if (error instanceof CompactedError) return;
    throw error;
  }
  signal.throwIfAborted();
  throw new WaitEndedError(`the deletion of ${key.toString()}`);
}

/**
 * Resolves once some key under `prefix` is deleted at a revision >=
 * `fromRevision` (or the watch start was compacted).
 */
export async function waitForAnyDelete(client: Namespace, prefix: Buffer, fromRevision: bigint, signal: AbortSignal): Promise<void> {
  const watch = client.watch(prefix, { prefix: true, startRevision: fromRevision, filters: ['noPut'], signal });
  try {
    for await (const batch of watch) {
      if (batch.events.some((event) => event.type === 'delete')) return;
    }
  } catch (error) {
    if (error instanceof CompactedError) return;
    throw error;
  }
  signal.throwIfAborted();
  throw new WaitEndedError(`a deletion under ${prefix.toString()}`);
}

/**
 * Go's waitDeletes: until no key under `prefix` has a create revision <=
 * `maxCreateRevision`, waits for the deletion of the newest such key (each
 * waiter watches only the one just ahead of it, so a release wakes one
 * waiter, not all).
 */
export async function waitForDeletesBefore(client: Namespace, prefix: Buffer, maxCreateRevision: bigint, signal: AbortSignal): Promise<ResponseHeader> {
  for (;;) {
    const ahead = await client.get(prefix, { prefix: true, sort: { target: 'createRevision', order: 'descend' }, limit: 1, maxCreateRevision, signal });
    const last = ahead.kvs[0];
    if (last === undefined) return ahead.header;
    await waitForDelete(client, last.key, ahead.header.revision + 1n, signal);
  }
}

/** Deletes `key` if it still has `createRevision`; true when it was deleted. Never throws. */
export async function deleteIfCreatedAt(client: Namespace, key: Buffer, createRevision: bigint, timeoutMs = 5_000): Promise<boolean> {
  try {
    const result = await client.txn().if(Compare.createRevision(key, '=', createRevision)).then(Op.delete(key)).commit({ timeoutMs });
    return result.succeeded;
  } catch {
    return false; // the key stays until the session's lease ends
  }
}

/** Our place in a queue: a key we created under the session's lease. */
export interface QueueEntry {
  readonly session: Session;
  readonly key: Buffer;
  readonly createRevision: bigint;
  /** Another object of the session uses the same key: never delete it on failure. */
  readonly shared?: boolean;
}

/**
 * Deletes `key` if it is attached to `leaseId`: after a failed or aborted
 * write that may or may not have created it. Never throws.
 */
export async function deleteIfLeased(client: Namespace, key: Buffer, leaseId: bigint, timeoutMs = 5_000): Promise<void> {
  try {
    await client.txn().if(Compare.lease(key, '=', leaseId)).then(Op.delete(key)).commit({ timeoutMs });
  } catch {
    // The key, if any, goes with the lease.
  }
}

/**
 * Waits with `waitForBlockers` until nothing is ahead of `entry`, then
 * checks that the entry still exists under the session's live lease.
 *
 * While it waits, the deletion of our own key (the lease was revoked or
 * expired) or the session ending fails the wait at once with
 * SessionExpiredError, and `signal` aborts it with `signal.reason`. On any
 * failure our key is deleted (if it is still ours) so that it blocks nobody.
 * Returns the header of the final check.
 */
export async function waitForTurn(
  entry: QueueEntry,
  waitForBlockers: (signal: AbortSignal) => Promise<unknown>,
  signal: AbortSignal | undefined,
): Promise<ResponseHeader> {
  const { session, key, createRevision } = entry;
  const client = session.client;
  const linked = new LinkedAbort(signal);
  // Every waiter of a session shares its signal: onAbort keeps that to one listener.
  const stopSessionWait = onAbort(session.signal, () => linked.abort(session.inactiveError()));
  if (session.signal.aborted) linked.abort(session.inactiveError());
  const ownKeyWatch = watchOwnKey(entry, linked);
  try {
    await waitForBlockers(linked.signal);
    return await checkStillOurs(entry, linked.signal);
  } catch (error) {
    if (entry.shared !== true) await deleteIfCreatedAt(client, key, createRevision);
    throw linked.signal.aborted ? linked.signal.reason : error;
  } finally {
    stopSessionWait();
    linked.dispose();
    ownKeyWatch.close();
  }
}

/** Aborts `linked` with SessionExpiredError when our key is deleted. */
function watchOwnKey(entry: QueueEntry, linked: LinkedAbort): { close(): void } {
  const watch = entry.session.client.watch(entry.key, { startRevision: entry.createRevision + 1n, filters: ['noPut'], signal: linked.signal });
  void (async () => {
    try {
      for await (const batch of watch) {
        const deleted = batch.events.find((event) => event.type === 'delete');
        if (deleted !== undefined) {
          linked.abort(new SessionExpiredError(entry.session.leaseId, `our key ${entry.key.toString()} was deleted at revision ${deleted.kv.modRevision} while waiting`));
          return;
        }
      }
    } catch {
      // Aborted, compacted or the client closed: the final check still catches a lost key.
    }
  })();
  return { close: () => watch.close() };
}

/**
 * The check Go's Mutex has since 3.5: our key still exists with our
 * create revision and lease, and the lease still has time left. Otherwise
 * SessionExpiredError (the caller deletes the key if it is still there).
 */
export async function checkStillOurs(entry: QueueEntry, signal: AbortSignal): Promise<ResponseHeader> {
  const { session, key, createRevision } = entry;
  const [current, lease] = await Promise.all([session.client.get(key, { signal }), session.client.lease.timeToLive(session.leaseId, { signal })]);
  const kv = current.kvs[0];
  if (kv === undefined || kv.createRevision !== createRevision || kv.lease !== session.leaseId) {
    throw new SessionExpiredError(session.leaseId, `our key ${key.toString()} is gone (its lease was revoked or expired while we waited)`);
  }
  if (lease.ttlSeconds <= 0) throw new SessionExpiredError(session.leaseId, `the lease has no time left (TTL ${lease.ttlSeconds})`);
  session.throwIfInactive();
  return current.header;
}
