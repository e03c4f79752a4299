/**
 * Leader election with Go clientv3/concurrency.Election's key layout and
 * semantics, so `etcdctl elect NAME PROPOSAL` and Go programs take part in
 * the same elections:
 *
 * - a candidate's key is `<name>/<session lease id in lowercase hex>`, its
 *   value the proposal, attached to the session's lease;
 * - the leader is the key under `<name>/` with the lowest create revision;
 *   candidates wait, FIFO by create revision, for the deletion of the key
 *   just ahead of theirs;
 * - proclaim() rewrites the leader's value, resign() deletes its key, both
 *   only while that key still has the create revision we were elected with.
 *
 * Like the Mutex, a campaign that waited checks that its key (and lease)
 * still exist before declaring victory.
 */
import { CompactedError, Compare, ElectionNotLeaderError, Op, toBuffer, type Bytes, type KeyValue, type Namespace, type RequestOptions, type ResponseHeader, type TxnBuilder } from '@holdfast/client';
import { LockNotHeldError, WaitEndedError } from './errors.js';
import { fenceCompare, type Fence } from './fence.js';
import { childPrefix, joinKey, leaseIdHex } from './keys.js';
import type { Session } from './session.js';
import type { WaitOptions } from './signals.js';
import { enqueue, isFirst } from './mutex.js';
import { deleteIfCreatedAt, waitForDeletesBefore, waitForTurn } from './wait.js';

interface Leadership {
  readonly key: Buffer;
  readonly revision: bigint;
  /** False while the campaign waits for its turn. */
  elected: boolean;
}

const firstCreated = { prefix: true, sort: { target: 'createRevision', order: 'ascend' }, limit: 1 } as const;

export class Election {
  /** `<name>/`: the prefix of every candidate's key. */
  readonly prefix: Buffer;
  private leadership: Leadership | undefined;
  private lastHeader: ResponseHeader | undefined;

  constructor(
    readonly session: Session,
    name: Bytes,
  ) {
    this.prefix = childPrefix(name);
  }

  /** Our candidate key: `<name>/<lease hex>`. */
  get ownKey(): Buffer {
    return joinKey(this.prefix, leaseIdHex(this.session.leaseId));
  }

  /** Whether this object believes it leads (the lease may since have gone: guard writes with isLeader()). */
  get isLeading(): boolean {
    return this.leadership?.elected === true;
  }

  /** Our key while campaigning or leading (Go Election.Key()). */
  get key(): Buffer | undefined {
    return this.leadership?.key;
  }

  /** Its create revision while campaigning or leading (Go Election.Rev()): the fencing token once elected. */
  get revision(): bigint | undefined {
    return this.leadership?.revision;
  }

  /** The header of the last campaign, proclaim or resign response (Go Election.Header()). */
  get header(): ResponseHeader | undefined {
    return this.lastHeader;
  }

  /** Our leadership as a fence; LockNotHeldError when not leading. */
  get fence(): Fence {
    const leadership = this.leadership;
    if (leadership?.elected !== true) throw new LockNotHeldError(`leadership of ${this.prefix.toString()}`);
    return { key: leadership.key, token: leadership.revision };
  }

  /** The compare "we still lead". */
  isLeader(): Compare {
    return fenceCompare(this.fence);
  }

  /** Adds isLeader() to a txn. */
  guard(txn: TxnBuilder): TxnBuilder {
    return txn.if(this.isLeader());
  }

  /**
   * Waits until we lead with `value`. If this session is already a
   * candidate its key is reused (and its value updated). Rejects with
   * SessionExpiredError if the session's lease goes, with `signal.reason`
   * when aborted; either way our candidacy is withdrawn.
   */
  async campaign(value: Bytes, options: WaitOptions = {}): Promise<void> {
    if (this.leadership !== undefined) throw new TypeError(`this Election object is already ${this.leadership.elected ? 'leading' : 'campaigning'}; proclaim() changes the value`);
    const requestOptions = options.signal === undefined ? {} : { signal: options.signal };
    const attempt = await enqueue(this.session, this.prefix, value, requestOptions);
    const leadership: Leadership = { key: attempt.key, revision: attempt.createRevision, elected: false };
    this.leadership = leadership;
    try {
      if (attempt.existing !== undefined && !attempt.existing.value.equals(toBuffer(value))) await this.proclaim(value, requestOptions);
      if (!isFirst(attempt)) {
        await waitForTurn(
          { session: this.session, key: attempt.key, createRevision: attempt.createRevision, shared: attempt.shared },
          (signal) => waitForDeletesBefore(this.session.client, this.prefix, attempt.createRevision - 1n, signal),
          options.signal,
        );
      }
    } catch (error) {
      if (this.leadership === leadership) {
        this.leadership = undefined;
        this.session.releaseKey(attempt.key);
      }
      if (!attempt.shared) await deleteIfCreatedAt(this.session.client, attempt.key, attempt.createRevision);
      throw error;
    }
    leadership.elected = true;
    this.lastHeader = attempt.header;
  }

  /**
   * Sets the leader's value without another election. ElectionNotLeaderError
   * if we do not lead (any more). (As in Go, a candidate still waiting may
   * change its value too.)
   */
  async proclaim(value: Bytes, options: RequestOptions = {}): Promise<void> {
    const leadership = this.leadership;
    if (leadership === undefined) throw new ElectionNotLeaderError();
    const result = await this.session.client
      .txn()
      .if(Compare.createRevision(leadership.key, '=', leadership.revision))
      .then(Op.put(leadership.key, value, { lease: this.session.leaseId }))
      .commit(options);
    if (!result.succeeded) {
      this.leadership = undefined;
      this.session.releaseKey(leadership.key);
      throw new ElectionNotLeaderError();
    }
    this.lastHeader = result.header;
  }

  /** Gives up leadership (or candidacy): deletes our key if it is still the one we were elected with. */
  async resign(options: RequestOptions = {}): Promise<void> {
    const leadership = this.leadership;
    if (leadership === undefined) return;
    this.leadership = undefined;
    this.session.releaseKey(leadership.key);
    const result = await this.session.client.txn().if(Compare.createRevision(leadership.key, '=', leadership.revision)).then(Op.delete(leadership.key)).commit(options);
    this.lastHeader = result.header;
  }

  /** The current leader's key and value (undefined when nobody leads). */
  leader(options: RequestOptions = {}): Promise<KeyValue | undefined> {
    return leaderOf(this.session.client, this.prefix, options);
  }

  /** Every leader, and every value it proclaims, in order; see Election.observe. */
  observe(options: WaitOptions = {}): AsyncIterableIterator<KeyValue> {
    return observeLeaders(this.session.client, this.prefix, options.signal);
  }

  /** The leader of election `name`, without a session. */
  static leader(client: Namespace, name: Bytes, options: RequestOptions = {}): Promise<KeyValue | undefined> {
    return leaderOf(client, childPrefix(name), options);
  }

  /**
   * Follows election `name` without a session: yields the leader's key-value
   * now (or, if nobody leads, when someone does), then every value it
   * proclaims, then, when its key is deleted, the next leader as of that
   * very revision, and so on: every leader and every proclamation, in
   * revision order, none twice. (Go's Observe reads the next leader at the
   * latest revision instead, so it can miss a short-lived leader.) If the
   * history needed was compacted it continues from the latest revision. Ends
   * by throwing `signal.reason` when aborted; `break` or return() stop it.
   */
  static observe(client: Namespace, name: Bytes, options: WaitOptions = {}): AsyncIterableIterator<KeyValue> {
    return observeLeaders(client, childPrefix(name), options.signal);
  }
}

async function leaderOf(client: Namespace, prefix: Buffer, options: RequestOptions): Promise<KeyValue | undefined> {
  return (await client.get(prefix, { ...firstCreated, ...options })).kvs[0];
}

async function* observeLeaders(client: Namespace, prefix: Buffer, signal: AbortSignal | undefined): AsyncGenerator<KeyValue, void, undefined> {
  const requestOptions = signal === undefined ? {} : { signal };
  /** The revision at which to look for the next leader (undefined: the latest). */
  let atRevision: bigint | undefined;
  for (;;) {
    let leader: KeyValue | undefined;
    /** The first revision after what `leader` already reflects. */
    let followFrom: bigint;
    try {
      const current = await client.get(prefix, { ...firstCreated, ...requestOptions, ...(atRevision === undefined ? {} : { revision: atRevision }) });
      const readAt = atRevision ?? current.header.revision;
      leader = current.kvs[0];
      followFrom = readAt + 1n;
      if (leader === undefined) {
        // Nobody leads: the first key created under the prefix is the next leader.
        leader = await firstPut(client, prefix, followFrom, signal);
        followFrom = leader.modRevision + 1n;
      }
    } catch (error) {
      if (error instanceof CompactedError && atRevision !== undefined) {
        atRevision = undefined;
        continue;
      }
      throw error;
    }
    yield leader;
    // Follow the leader's key: each put is a proclamation, its deletion ends the reign.
    const watch = client.watch(leader.key, { startRevision: followFrom, ...requestOptions });
    let deletedAt: bigint | undefined;
    try {
      for await (const batch of watch) {
        for (const event of batch.events) {
          if (event.type === 'delete') {
            deletedAt = event.kv.modRevision;
            break;
          }
          yield event.kv;
        }
        if (deletedAt !== undefined) break;
      }
    } catch (error) {
      if (!(error instanceof CompactedError)) throw error;
      atRevision = undefined; // continue from the latest revision
      continue;
    } finally {
      watch.close();
    }
    if (deletedAt === undefined) {
      signal?.throwIfAborted();
      throw new WaitEndedError(`the leader of ${prefix.toString()}`);
    }
    atRevision = deletedAt;
  }
}

/** The first key put under `prefix` at or after `fromRevision`. */
async function firstPut(client: Namespace, prefix: Buffer, fromRevision: bigint, signal: AbortSignal | undefined): Promise<KeyValue> {
  const watch = client.watch(prefix, { prefix: true, startRevision: fromRevision, filters: ['noDelete'], ...(signal === undefined ? {} : { signal }) });
  for await (const batch of watch) {
    const put = batch.events.find((event) => event.type === 'put');
    if (put !== undefined) return put.kv;
  }
  signal?.throwIfAborted();
  throw new WaitEndedError(`a leader of ${prefix.toString()}`);
}
