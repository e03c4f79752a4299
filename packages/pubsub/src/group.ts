/**
 * Consumer groups: every message of the group's topics goes to one member,
 * which claims it with a transaction; a member that dies has its claims
 * taken over by the others.
 *
 * Claims. A member claims up to claimSize consecutive messages of a topic
 * at once, in one txn that also fetches them:
 *
 *   if   mod_revision(g/<group>/t/<topic>/next) == <as read>    (nobody claimed since)
 *    and create_revision(g/<group>/members/<me>) > 0            (I am still a member)
 *   then put next = end + 1,
 *        put g/<group>/t/<topic>/claims/<start> = {"member":"<me>","end":"<end>","attempt":1},
 *        get t/<topic>/m/<start> ... t/<topic>/m/<end>
 *
 * A member delivers its claim's messages in order, and when the consumer
 * asks for the message after the last one, deletes the claim (if
 * mod_revision still says it is ours) and claims again. Members hold one
 * claim at a time, so a member buffers at most claimSize messages.
 *
 * Failure. A member is a key under its session's lease (member id =
 * name + lease id, new for every session). When a member dies its lease
 * expires, its key goes, and every claim naming it is an orphan; the others
 * (woken by the watch on g/<group>/) take one over with
 *
 *   if   mod_revision(claim) == <as read> and create_revision(members/<owner>) == 0
 *    and create_revision(members/<me>) > 0
 *   then put claim = {"member":"<me>","end":…,"attempt":n+1}, get its messages
 *
 * and deliver it again, with `attempt` n + 1 (`redelivered`). That is the only
 * source of duplicates: the messages of the dead member's open claim that it
 * had processed (at most claimSize). A member whose own session is lost stops
 * delivering its claim and rejoins under a new id.
 *
 * Order. A topic's claims are taken in sequence order and a member delivers
 * each claim in order, so every member sees each topic's messages in
 * increasing sequence (= revision) order, except redelivered claims, which
 * are older than what the member saw before them.
 *
 * Acknowledgement: a message is acknowledged when the consumer asks for the
 * next one or leaves the loop; close() then hands the claim's undelivered
 * rest back (as an orphan claim), deletes the member key and revokes the
 * session.
 */
import { hostname } from 'node:os';
import { ClientClosedError, Compare, Op, onAbort, type KeyValue, type Namespace, type TxnResult, type Watch } from '@holdfast/client';
import { Session, leaseIdHex } from '@holdfast/recipes';
import { MembershipLostError } from './errors.js';
import { GroupKeys, TopicKeys, firstSequence } from './keys.js';
import { Message } from './message.js';

export interface JoinOptions {
  /** Member name; the member id is `<name>-<lease id hex>` (default: host-pid). */
  readonly name?: string;
  /** TTL of the member's session, in seconds (default 10): how long a dead member's claims wait. */
  readonly ttlSeconds?: number;
  /** Messages per claim (default 100): the most a member buffers, and the most redelivered after it dies. */
  readonly claimSize?: number;
  /**
   * Where the group starts on a topic it has never consumed (default
   * 'beginning'); 'now' is decided when the first member joins.
   */
  readonly from?: 'beginning' | 'now';
  /** Ends the member (the iterator throws `signal.reason`); close() still runs. */
  readonly signal?: AbortSignal;
}

export const defaultClaimSize = 100;
export const defaultMemberTtlSeconds = 10;

/** A message delivered to a group member. */
export class GroupMessage extends Message {
  constructor(
    message: Message,
    /** 1 for the first delivery; n + 1 when a dead member's claim was taken over n times. */
    readonly attempt: number,
    /** The claim it was delivered under: sequence numbers [start, end] of the topic. */
    readonly claim: { readonly start: bigint; readonly end: bigint },
  ) {
    super(message.topic, message.seq, message.revision, message.id, message.publishedAt, message.headers, message.data);
  }

  /** Whether another member may have processed it before (its claim was taken over). */
  get redelivered(): boolean {
    return this.attempt > 1;
  }
}

export interface GroupStats {
  /** New claims taken. */
  claims: number;
  /** Orphaned claims taken over. */
  takeovers: number;
  /** Claims finished and deleted. */
  acknowledged: number;
  /** Claims that were no longer ours when we finished them (taken over: our deliveries were duplicates). */
  lostClaims: number;
  /** Claim txns that lost a race. */
  conflicts: number;
  delivered: number;
  redelivered: number;
  /** New sessions after a lost one. */
  rejoins: number;
}

interface ClaimValue {
  readonly member: string;
  readonly end: string;
  readonly attempt: number;
  /** Handed back undelivered by a member that left (close()): taking it over is not a redelivery. */
  readonly released?: boolean;
}

interface HeldClaim {
  readonly topic: TopicKeys;
  readonly key: string;
  readonly start: bigint;
  readonly end: bigint;
  readonly attempt: number;
  /** mod_revision of the claim key as we wrote it. */
  readonly modRevision: bigint;
  readonly messages: GroupMessage[];
  /** Index of the next message to deliver. */
  index: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class GroupMember implements AsyncIterableIterator<GroupMessage> {
  readonly stats: GroupStats = { claims: 0, takeovers: 0, acknowledged: 0, lostClaims: 0, conflicts: 0, delivered: 0, redelivered: 0, rejoins: 0 };
  private readonly keys: GroupKeys;
  private readonly topics: TopicKeys[];
  private session!: Session;
  private id = '';
  private claim: HeldClaim | undefined;
  private roundRobin = 0;
  private generation = 0;
  private wakeUp: (() => void) | undefined;
  private membershipLost = false;
  private closing: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;
  private readonly stop = new AbortController();
  /** Stops waiting on the caller's signal (once the member has left). */
  private stopAbortWait: () => void = () => {};
  private readonly watches: Watch[] = [];
  private readonly claimSize: number;
  private readonly left: Promise<void>;
  private resolveLeft!: () => void;

  /** Joins `group` to consume `topics`. Use PubSub.join(). */
  static async join(space: Namespace, group: string, topics: readonly string[], options: JoinOptions = {}): Promise<GroupMember> {
    if (topics.length === 0) throw new TypeError('a group member needs at least one topic');
    const member = new GroupMember(space, group, topics, options);
    try {
      await member.startWatches();
      await member.newSession();
      if (options.from === 'now') await member.startAtHeads();
    } catch (error) {
      await member.close().catch(() => {});
      throw error;
    }
    return member;
  }

  private constructor(
    private readonly space: Namespace,
    group: string,
    topics: readonly string[],
    private readonly options: JoinOptions,
  ) {
    this.left = new Promise<void>((resolve) => (this.resolveLeft = resolve));
    this.keys = new GroupKeys(group);
    this.topics = [...new Set(topics)].map((topic) => new TopicKeys(topic));
    this.claimSize = options.claimSize ?? defaultClaimSize;
    if (!Number.isSafeInteger(this.claimSize) || this.claimSize < 1) throw new RangeError('claimSize must be a positive integer');
    const signal = options.signal;
    if (signal !== undefined) {
      this.stopAbortWait = onAbort(signal, () => {
        this.failure ??= { error: signal.reason };
        this.wake();
      });
    }
  }

  get group(): string {
    return this.keys.group;
  }

  /** The current member id (`<name>-<lease id hex>`; a new one after a rejoin). */
  get memberId(): string {
    return this.id;
  }

  async next(): Promise<IteratorResult<GroupMessage>> {
    for (;;) {
      if (this.closing !== undefined) return { value: undefined, done: true };
      if (this.failure !== undefined) {
        const { error } = this.failure;
        await this.close();
        throw error;
      }
      if (this.membershipLost) {
        // Our claims are (or will be) taken over: drop the open one and join again.
        this.claim = undefined;
        await this.rejoin();
        continue;
      }
      const held = this.claim;
      if (held !== undefined && held.index < held.messages.length) {
        const message = held.messages[held.index++]!;
        this.stats.delivered++;
        if (message.redelivered) this.stats.redelivered++;
        return { value: message, done: false };
      }
      if (held !== undefined) {
        // Every message of the claim was delivered and the consumer came back: it is done.
        await this.finishClaim(held);
        this.claim = undefined;
        continue;
      }
      const generation = this.generation;
      let claimed: HeldClaim | undefined;
      try {
        claimed = await this.acquire();
      } catch (error) {
        if (this.closing !== undefined || this.stop.signal.aborted) continue;
        if (error instanceof MembershipLostError) {
          this.membershipLost = true;
          continue;
        }
        if (error instanceof ClientClosedError) {
          this.failure ??= { error };
          continue;
        }
        await sleep(200); // transient: the server is unreachable past the call deadline
        continue;
      }
      if (claimed !== undefined) {
        this.claim = claimed;
        continue;
      }
      // Nothing to claim: wait for a publish, a claim change or a member leaving.
      if (this.generation === generation) await new Promise<void>((resolve) => (this.wakeUp = resolve));
    }
  }

  /** Leaving the loop: the last message counts as acknowledged; see close(). */
  async return(): Promise<IteratorResult<GroupMessage>> {
    await this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<GroupMessage> {
    return this;
  }

  /**
   * Leaves the group: the open claim's undelivered messages are handed back
   * (an orphan claim another member takes at once), the member key deleted
   * and the session revoked.
   */
  close(): Promise<void> {
    this.closing ??= this.leave();
    return this.closing;
  }

  /** Resolves once the member has left (see close()). */
  get done(): Promise<void> {
    return this.left;
  }

  private async leave(): Promise<void> {
    try {
      await this.leaveGroup();
    } finally {
      this.resolveLeft();
    }
  }

  private async leaveGroup(): Promise<void> {
    this.stopAbortWait();
    this.stop.abort();
    for (const watch of this.watches) watch.close();
    this.wake();
    const held = this.claim;
    this.claim = undefined;
    const session = this.session as Session | undefined;
    if (session === undefined) return;
    try {
      if (held !== undefined && session.active) await this.release(held);
    } catch {
      // The claim stays ours until our lease goes; then it is an orphan anyway.
    }
    try {
      await session.close({ timeoutMs: 5_000 });
    } catch {
      // Unreachable: the lease expires by itself.
    }
  }

  private wake(): void {
    const wakeUp = this.wakeUp;
    this.wakeUp = undefined;
    wakeUp?.();
  }

  private async newSession(): Promise<void> {
    const ttlSeconds = this.options.ttlSeconds ?? defaultMemberTtlSeconds;
    const session = await Session.create(this.space, { ttlSeconds, signal: this.stop.signal });
    const id = `${this.options.name ?? `${hostname()}-${process.pid}`}-${leaseIdHex(session.leaseId)}`;
    await this.space.put(this.keys.member(id), JSON.stringify({ name: this.options.name ?? null, host: hostname(), pid: process.pid, since: Date.now() }), { lease: session.leaseId });
    this.session = session;
    this.id = id;
    this.membershipLost = false;
    session.on('lost', () => {
      if (this.session !== session) return;
      this.membershipLost = true;
      this.wake();
    });
  }

  private async rejoin(): Promise<void> {
    this.session.orphan();
    for (;;) {
      if (this.closing !== undefined || this.stop.signal.aborted) return;
      try {
        await this.newSession();
        this.stats.rejoins++;
        return;
      } catch (error) {
        if (error instanceof ClientClosedError) {
          this.failure ??= { error };
          return;
        }
        await sleep(500);
      }
    }
  }

  /** Watches that wake an idle member: each topic's head, and the group's keys (members, claims, positions). */
  private async startWatches(): Promise<void> {
    const targets: Array<{ key: string; prefix: boolean }> = [{ key: this.keys.base, prefix: true }, ...this.topics.map((topic) => ({ key: topic.head, prefix: false }))];
    await Promise.all(targets.map((target) => this.watchForChanges(target.key, target.prefix)));
  }

  private async watchForChanges(key: string, prefix: boolean): Promise<void> {
    const watch = this.space.watch(key, { prefix, signal: this.stop.signal });
    this.watches.push(watch);
    void (async () => {
      try {
        for await (const batch of watch) {
          if (batch.events.length === 0) continue;
          this.generation++;
          this.wake();
        }
      } catch {
        if (this.stop.signal.aborted) return;
        // Compacted while reconnecting, or another failure: look again, and watch again from now.
        this.generation++;
        this.wake();
        await sleep(200);
        if (!this.stop.signal.aborted) await this.watchForChanges(key, prefix).catch(() => {});
      }
    })();
    await watch.created;
  }

  /** from: 'now': where the group has no position on a topic yet, it starts after the current head (first member wins). */
  private async startAtHeads(): Promise<void> {
    for (const topic of this.topics) {
      const nextKey = this.keys.next(topic.topic);
      const { kvs } = await this.space.get(topic.head, { signal: this.stop.signal });
      const head = kvs[0] === undefined ? 0n : BigInt(kvs[0].valueString);
      await this.space.txn().if(Compare.createRevision(nextKey, '=', 0n)).then(Op.put(nextKey, (head + 1n).toString())).commit({ signal: this.stop.signal });
    }
  }

  /** Tries every topic once, round-robin; undefined when nothing can be claimed now. */
  private async acquire(): Promise<HeldClaim | undefined> {
    for (let offset = 0; offset < this.topics.length; offset++) {
      const index = (this.roundRobin + offset) % this.topics.length;
      const claim = await this.tryTopic(this.topics[index]!);
      if (claim !== undefined) {
        this.roundRobin = (index + 1) % this.topics.length;
        return claim;
      }
    }
    return undefined;
  }

  private async tryTopic(topic: TopicKeys): Promise<HeldClaim | undefined> {
    for (let attempt = 0; attempt < 16; attempt++) {
      if (this.stop.signal.aborted || this.membershipLost) return undefined;
      const state = await this.space
        .txn()
        .then(
          Op.get(topic.head),
          Op.get(topic.messagePrefix, { prefix: true, limit: 1, keysOnly: true }),
          Op.get(this.keys.topicPrefix(topic.topic), { prefix: true }),
          Op.get(this.keys.membersPrefix, { prefix: true, keysOnly: true }),
        )
        .commit({ signal: this.stop.signal });
      const [headRead, oldestRead, groupRead, membersRead] = state.responses.map((response) => (response.kind === 'get' ? response.kvs : []));
      const head = headRead?.[0] === undefined ? 0n : BigInt(headRead[0].valueString);
      const oldestKey = oldestRead?.[0]?.keyString;
      const oldest = oldestKey === undefined ? head + 1n : (topic.sequenceOf(oldestKey) ?? firstSequence);
      const members = new Set((membersRead ?? []).map((kv) => decodeURIComponent(kv.keyString.slice(this.keys.membersPrefix.length))));
      if (!members.has(this.id)) throw new MembershipLostError(`member ${this.id} of group "${this.keys.group}" is gone`);
      const nextKey = this.keys.next(topic.topic);
      const claimsPrefix = this.keys.claimsPrefix(topic.topic);
      let nextKv: KeyValue | undefined;
      const orphans: Array<{ kv: KeyValue; start: bigint; value: ClaimValue }> = [];
      for (const kv of groupRead ?? []) {
        const key = kv.keyString;
        if (key === nextKey) nextKv = kv;
        else if (key.startsWith(claimsPrefix)) {
          const value = JSON.parse(kv.valueString) as ClaimValue;
          if (value.member !== this.id && !members.has(value.member)) orphans.push({ kv, start: BigInt(key.slice(claimsPrefix.length)), value });
        }
      }
      // 1. A dead member's claim, oldest first.
      orphans.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      for (const orphan of orphans) {
        const taken = await this.takeOver(topic, orphan.kv, orphan.start, orphan.value);
        if (taken !== undefined) return taken;
      }
      // 2. New messages.
      if (nextKv === undefined && this.options.from === 'now') {
        // The group starts here on this topic: record it (first member wins).
        await this.space.txn().if(Compare.createRevision(nextKey, '=', 0n)).then(Op.put(nextKey, (head + 1n).toString())).commit({ signal: this.stop.signal });
        continue;
      }
      const next = nextKv === undefined ? firstSequence : BigInt(nextKv.valueString);
      const start = next > oldest ? next : oldest; // messages below the oldest were deleted by retention
      if (start > head) return undefined;
      const end = start + BigInt(this.claimSize) - 1n < head ? start + BigInt(this.claimSize) - 1n : head;
      const claimKey = this.keys.claim(topic.topic, start);
      const value: ClaimValue = { member: this.id, end: end.toString(), attempt: 1 };
      const result = await this.space
        .txn()
        .if(Compare.modRevision(nextKey, '=', nextKv?.modRevision ?? 0n), Compare.createRevision(this.keys.member(this.id), '>', 0n))
        .then(Op.put(nextKey, (end + 1n).toString()), Op.put(claimKey, JSON.stringify(value)), Op.get(topic.message(start), { rangeEnd: topic.message(end + 1n) }))
        .commit({ signal: this.stop.signal });
      if (result.succeeded) {
        this.stats.claims++;
        return this.held(topic, claimKey, start, end, 1, result);
      }
      this.stats.conflicts++;
    }
    return undefined;
  }

  private async takeOver(topic: TopicKeys, kv: KeyValue, start: bigint, value: ClaimValue): Promise<HeldClaim | undefined> {
    const end = BigInt(value.end);
    const attempt = value.released === true ? value.attempt : value.attempt + 1;
    const result = await this.space
      .txn()
      .if(
        Compare.modRevision(kv.key, '=', kv.modRevision),
        Compare.createRevision(this.keys.member(value.member), '=', 0n),
        Compare.createRevision(this.keys.member(this.id), '>', 0n),
      )
      .then(Op.put(kv.key, JSON.stringify({ member: this.id, end: value.end, attempt } satisfies ClaimValue)), Op.get(topic.message(start), { rangeEnd: topic.message(end + 1n) }))
      .commit({ signal: this.stop.signal });
    if (!result.succeeded) {
      this.stats.conflicts++;
      return undefined;
    }
    this.stats.takeovers++;
    return this.held(topic, kv.keyString, start, end, attempt, result);
  }

  private held(topic: TopicKeys, key: string, start: bigint, end: bigint, attempt: number, result: TxnResult): HeldClaim {
    const read = result.responses[result.responses.length - 1];
    const kvs = read?.kind === 'get' ? read.kvs : [];
    const messages: GroupMessage[] = [];
    for (const kv of kvs) {
      const seq = topic.sequenceOf(kv.keyString);
      if (seq === undefined) continue;
      messages.push(new GroupMessage(Message.fromKeyValue(topic.topic, seq, kv), attempt, { start, end }));
    }
    return { topic, key, start, end, attempt, modRevision: result.header.revision, messages, index: 0 };
  }

  /** Deletes a finished claim if it is still ours; retried until done or our membership is gone. */
  private async finishClaim(held: HeldClaim): Promise<void> {
    for (;;) {
      try {
        const result = await this.space.txn().if(Compare.modRevision(held.key, '=', held.modRevision)).then(Op.delete(held.key)).commit({ signal: this.stop.signal });
        if (result.succeeded) this.stats.acknowledged++;
        else this.stats.lostClaims++;
        return;
      } catch (error) {
        if (this.stop.signal.aborted || this.membershipLost || error instanceof ClientClosedError) return;
        await sleep(200);
      }
    }
  }

  /** Hands the undelivered rest of a claim back as an orphan (member ""), or deletes it when all was delivered. */
  private async release(held: HeldClaim): Promise<void> {
    const rest = held.messages[held.index];
    if (rest === undefined) {
      await this.space.txn().if(Compare.modRevision(held.key, '=', held.modRevision)).then(Op.delete(held.key)).commit();
      this.stats.acknowledged++;
      return;
    }
    const restKey = this.keys.claim(held.topic.topic, rest.seq);
    const orphan: ClaimValue = { member: '', end: held.end.toString(), attempt: held.attempt, released: true };
    const operations = restKey === held.key ? [Op.put(restKey, JSON.stringify(orphan))] : [Op.delete(held.key), Op.put(restKey, JSON.stringify(orphan))];
    await this.space.txn().if(Compare.modRevision(held.key, '=', held.modRevision)).then(...operations).commit();
  }
}
