/**
 * Barriers with the semantics (and key layout) of Go's contrib/recipes.
 *
 * Barrier: one key. hold() creates it (no lease: it stays until released),
 * release() deletes it, wait() blocks while it exists. (Go's Wait waits for
 * a put and then a delete after the revision it read, which can block
 * forever when the key was put before; this waits for the key's deletion.)
 *
 * DoubleBarrier: `count` participants enter together and leave together.
 * Each enter() creates `<key>/waiters/<unix nanos>` under the session's
 * lease; the participant that makes it `count` puts `<key>/ready`, which
 * releases the others. leave() waits until every participant has left: the
 * lowest waiter waits for the others' keys to go, the others delete theirs
 * and wait for the lowest's; the last one out deletes `ready`. A participant
 * whose session ends is removed with its lease, so the others can go on.
 */
import { CompactedError, Compare, Op, onAbort, toBuffer, type Bytes, type KeyValue, type Namespace, type RequestOptions } from '@holdfast/client';
import { TooManyClientsError, WaitEndedError } from './errors.js';
import { joinKey } from './keys.js';
import type { Session } from './session.js';
import { LinkedAbort, type WaitOptions } from './signals.js';
import { createUniqueKey, type CreatedKey } from './unique-key.js';
import { deleteIfCreatedAt, waitForDelete } from './wait.js';

export class Barrier {
  readonly key: Buffer;

  constructor(
    readonly client: Namespace,
    key: Bytes,
  ) {
    this.key = toBuffer(key);
  }

  /** Raises the barrier; false if it was already up. */
  async hold(options: RequestOptions = {}): Promise<boolean> {
    const result = await this.client.txn().if(Compare.version(this.key, '=', 0n)).then(Op.put(this.key, '')).commit(options);
    return result.succeeded;
  }

  /** Lowers the barrier: every wait() returns. */
  async release(options: RequestOptions = {}): Promise<void> {
    await this.client.delete(this.key, options);
  }

  /** Resolves once the barrier is down (at once if it is). */
  async wait(options: WaitOptions = {}): Promise<void> {
    const signal = options.signal ?? new AbortController().signal;
    for (;;) {
      const current = await this.client.get(this.key, { signal });
      if (current.kvs.length === 0) return;
      await waitForDelete(this.client, this.key, current.header.revision + 1n, signal);
    }
  }
}

export class DoubleBarrier {
  readonly key: Buffer;
  private readonly waitersPrefix: Buffer;
  private readonly readyKey: Buffer;
  private mine: CreatedKey | undefined;

  constructor(
    readonly session: Session,
    key: Bytes,
    /** How many participants enter and leave together. */
    readonly count: number,
  ) {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`a double barrier count must be a positive integer, got ${count}`);
    this.key = toBuffer(key);
    this.waitersPrefix = joinKey(this.key, '/waiters');
    this.readyKey = joinKey(this.key, '/ready');
  }

  /** Our waiter key after enter(). */
  get ownKey(): Buffer | undefined {
    return this.mine?.key;
  }

  /**
   * Waits until `count` participants have entered. TooManyClientsError if
   * more than `count` are in (our key is withdrawn); SessionExpiredError if
   * the session ends while waiting; `signal.reason` when aborted.
   */
  async enter(options: WaitOptions = {}): Promise<void> {
    if (this.mine !== undefined) throw new TypeError('this DoubleBarrier object has already entered');
    this.session.throwIfInactive();
    const client = this.session.client;
    const requestOptions = options.signal === undefined ? {} : { signal: options.signal };
    const mine = await createUniqueKey(client, this.waitersPrefix, '', this.session.leaseId, requestOptions);
    try {
      await withSession(this.session, options.signal, async (signal) => {
        const waiters = await client.get(joinKey(this.waitersPrefix, '/'), { prefix: true, keysOnly: true, signal });
        if (waiters.kvs.length > this.count) throw new TooManyClientsError(this.count, waiters.kvs.length);
        if (waiters.kvs.length === this.count) {
          await client.put(this.readyKey, '', { signal });
          return;
        }
        await waitForPut(client, this.readyKey, mine.revision, signal);
      });
    } catch (error) {
      await deleteIfCreatedAt(client, mine.key, mine.revision);
      throw error;
    }
    this.mine = mine;
  }

  /**
   * Waits until every participant has left (called leave(), or lost its
   * session). SessionExpiredError if our session ends while waiting.
   */
  async leave(options: WaitOptions = {}): Promise<void> {
    const mine = this.mine;
    if (mine === undefined) throw new TypeError('leave() before enter()');
    const client = this.session.client;
    await withSession(this.session, options.signal, async (signal) => {
      for (;;) {
        const waiters = await client.get(joinKey(this.waitersPrefix, '/'), { prefix: true, keysOnly: true, signal });
        const kvs = waiters.kvs;
        if (kvs.length === 0) break;
        const byRevision = (a: KeyValue, b: KeyValue): number => (a.modRevision < b.modRevision ? -1 : a.modRevision > b.modRevision ? 1 : 0);
        const sorted = [...kvs].sort(byRevision);
        const lowest = sorted[0]!;
        const highest = sorted[sorted.length - 1]!;
        if (kvs.length === 1) {
          // The last one here (ourselves, normally): finish up.
          await client.delete(this.readyKey, { signal });
          await deleteIfCreatedAt(client, mine.key, mine.revision);
          break;
        }
        if (lowest.key.equals(mine.key)) {
          // The lowest waits for the others, highest first.
          await waitForDelete(client, highest.key, waiters.header.revision + 1n, signal);
        } else {
          await client.txn().if(Compare.createRevision(mine.key, '=', mine.revision)).then(Op.delete(mine.key)).commit({ signal });
          await waitForDelete(client, lowest.key, waiters.header.revision + 1n, signal);
        }
      }
    });
    this.mine = undefined;
  }
}

/** Runs `body` with a signal aborted by `signal` or by the session ending (then SessionExpired/ClosedError). */
async function withSession<T>(session: Session, signal: AbortSignal | undefined, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const linked = new LinkedAbort(signal);
  // Every waiter of a session shares its signal: onAbort keeps that to one listener.
  const stopSessionWait = onAbort(session.signal, () => linked.abort(session.inactiveError()));
  if (session.signal.aborted) linked.abort(session.inactiveError());
  try {
    return await body(linked.signal);
  } catch (error) {
    throw linked.signal.aborted ? linked.signal.reason : error;
  } finally {
    stopSessionWait();
    linked.dispose();
  }
}

/** Resolves once `key` is put at a revision >= `fromRevision`. */
async function waitForPut(client: Namespace, key: Buffer, fromRevision: bigint, signal: AbortSignal): Promise<void> {
  for (;;) {
    const watch = client.watch(key, { startRevision: fromRevision, filters: ['noDelete'], signal });
    try {
      for await (const batch of watch) {
        if (batch.events.some((event) => event.type === 'put')) return;
      }
    } catch (error) {
      if (!(error instanceof CompactedError)) throw error;
      // History is gone: the key existing now means it was put since.
      const current = await client.get(key, { signal });
      if (current.kvs.length > 0) return;
      fromRevision = current.header.revision + 1n;
      continue;
    }
    signal.throwIfAborted();
    throw new WaitEndedError(`a put of ${key.toString()}`);
  }
}
