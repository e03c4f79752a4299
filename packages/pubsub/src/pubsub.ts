/**
 * PubSub: topics with ordered, durable messages over the etcd v3 API. See
 * README.md for the key layout and the delivery semantics.
 *
 *   const pubsub = new PubSub(client);                       // keys under pubsub/
 *   await pubsub.publish('orders', JSON.stringify(order));   // → { seq, revision, id }
 *   const subscription = await pubsub.subscribe('orders', { consumer: 'billing', from: 'beginning' });
 *   for await (const message of subscription) handle(message.json());
 *   const member = await pubsub.join('workers', ['orders']); // a consumer group member
 *   for await (const message of member) handle(message);
 */
import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import { Op, type Namespace } from '@holdfast/client';
import { PartialPublishError } from './errors.js';
import { GroupMember, type JoinOptions } from './group.js';
import { TopicKeys, cursorKey } from './keys.js';
import { encodeEnvelope, type OutgoingMessage, type Payload } from './message.js';
import { TopicWriter, type Published } from './publisher.js';
import { checkRetention, trimTopic, type RetentionPolicy, type TrimResult } from './retention.js';
import { Subscription, type SubscribeOptions } from './subscription.js';

export interface PubSubOptions {
  /** Prefix of every key (default 'pubsub/'). */
  readonly prefix?: string;
  /** Messages per publish txn (default 127: etcd's --max-txn-ops 128 minus the head put). */
  readonly maxMessagesPerTxn?: number;
  /** Longest a publish may take, retries and the ambiguity check included (default 30 s). */
  readonly publishTimeoutMs?: number;
  /** Retention this PubSub applies after publishing (per topic with a function; none by default). */
  readonly retention?: RetentionPolicy | ((topic: string) => RetentionPolicy | undefined);
  /** At most one automatic trim per topic per this interval (default 1,000 ms). */
  readonly retentionIntervalMs?: number;
}

export interface PublishOptions {
  readonly headers?: Readonly<Record<string, string>>;
}

export interface TopicInfo {
  readonly topic: string;
  /** Sequence number of the last message published (0n: none yet). */
  readonly head: bigint;
  /** Revision of the last publish (0n: none yet). */
  readonly headRevision: bigint;
  /** Oldest sequence number still stored (head + 1 when none is). */
  readonly oldest: bigint;
  /** Messages stored. */
  readonly count: bigint;
}

interface PubSubEvents {
  /** Automatic retention deleted messages. */
  trimmed: [topic: string, result: TrimResult];
  /** Automatic retention failed (it is tried again after the next publish). */
  trimFailed: [topic: string, error: unknown];
}

export const defaultPrefix = 'pubsub/';
export const defaultMaxMessagesPerTxn = 127;

export class PubSub extends EventEmitter<PubSubEvents> {
  /** The namespace every key lives in (the client's, plus the prefix). */
  readonly space: Namespace;
  private readonly writers = new Map<string, TopicWriter>();
  private readonly lastTrimAt = new Map<string, number>();
  private readonly trimming = new Set<string>();
  private readonly trimAgain = new Set<string>();
  private readonly trimTimers = new Map<string, NodeJS.Timeout>();
  private readonly open = new Set<{ close(): Promise<void>; readonly done: Promise<void> }>();
  private readonly maxMessagesPerTxn: number;

  constructor(
    client: Namespace,
    private readonly options: PubSubOptions = {},
  ) {
    super();
    this.space = client.namespace(options.prefix ?? defaultPrefix);
    this.maxMessagesPerTxn = options.maxMessagesPerTxn ?? defaultMaxMessagesPerTxn;
    if (!Number.isSafeInteger(this.maxMessagesPerTxn) || this.maxMessagesPerTxn < 1) throw new RangeError('maxMessagesPerTxn must be a positive integer');
    if (typeof options.retention === 'object') checkRetention(options.retention);
  }

  /** Publishes one message; resolves with its sequence number and revision. */
  async publish(topic: string, data: Payload, options: PublishOptions = {}): Promise<Published> {
    const [published] = await this.writer(topic).publish([this.encode({ data, ...(options.headers === undefined ? {} : { headers: options.headers }) })]);
    return published!;
  }

  /**
   * Publishes messages in order, maxMessagesPerTxn per txn: a batch that
   * fits is all-or-nothing with consecutive sequence numbers. A larger one
   * fails with PartialPublishError (saying what was stored) if a later txn fails.
   */
  async publishBatch(topic: string, messages: ReadonlyArray<Payload | OutgoingMessage>): Promise<Published[]> {
    const encoded = messages.map((message) => this.encode(typeof message === 'string' || message instanceof Uint8Array ? { data: message } : message));
    const writer = this.writer(topic);
    const published: Published[] = [];
    for (let offset = 0; offset < encoded.length; offset += this.maxMessagesPerTxn) {
      try {
        published.push(...(await writer.publish(encoded.slice(offset, offset + this.maxMessagesPerTxn))));
      } catch (error) {
        if (published.length === 0) throw error;
        throw new PartialPublishError(topic, published, { cause: error });
      }
    }
    return published;
  }

  /** Subscribes to a topic (see Subscription and SubscribeOptions). */
  async subscribe(topic: string, options: SubscribeOptions = {}): Promise<Subscription> {
    const subscription = await Subscription.open(this.space, new TopicKeys(topic), options);
    this.track(subscription);
    return subscription;
  }

  /** Joins a consumer group on one or more topics (see GroupMember and JoinOptions). */
  async join(group: string, topics: string | readonly string[], options: JoinOptions = {}): Promise<GroupMember> {
    const member = await GroupMember.join(this.space, group, typeof topics === 'string' ? [topics] : topics, options);
    this.track(member);
    return member;
  }

  /** Applies a retention policy to a topic now (default: the PubSub's). */
  trim(topic: string, policy?: RetentionPolicy): Promise<TrimResult> {
    const chosen = policy ?? this.retentionFor(topic);
    if (chosen === undefined) throw new TypeError(`no retention policy for "${topic}"`);
    return trimTopic(this.space, new TopicKeys(topic), chosen);
  }

  async info(topic: string): Promise<TopicInfo> {
    const keys = new TopicKeys(topic);
    const result = await this.space
      .txn()
      .then(Op.get(keys.head), Op.get(keys.messagePrefix, { prefix: true, limit: 1, keysOnly: true }))
      .commit();
    const [headRead, oldestRead] = result.responses.map((response) => (response.kind === 'get' ? response.kvs : []));
    const head = headRead?.[0] === undefined ? 0n : BigInt(headRead[0].valueString);
    const oldestKey = oldestRead?.[0]?.keyString;
    const oldest = oldestKey === undefined ? head + 1n : (keys.sequenceOf(oldestKey) ?? head + 1n);
    return { topic, head, headRevision: headRead?.[0]?.modRevision ?? 0n, oldest, count: head + 1n - oldest };
  }

  /** A durable consumer's stored cursor: the last acknowledged sequence number, if any. */
  async cursor(consumer: string, topic: string): Promise<bigint | undefined> {
    const { kvs } = await this.space.get(cursorKey(consumer, topic));
    return kvs[0] === undefined ? undefined : BigInt((JSON.parse(kvs[0].valueString) as { seq: string }).seq);
  }

  /** Closes every subscription and group member made here (cursors are stored, claims handed back). The client stays open. */
  async close(): Promise<void> {
    for (const timer of this.trimTimers.values()) clearTimeout(timer);
    this.trimTimers.clear();
    await Promise.all([...this.open].map((closable) => closable.close().catch(() => {})));
    this.open.clear();
  }

  private track(closable: { close(): Promise<void>; readonly done: Promise<void> }): void {
    this.open.add(closable);
    void closable.done.then(() => this.open.delete(closable));
  }

  private encode(message: OutgoingMessage): { id: string; envelope: Buffer } {
    const id = nanoid();
    return { id, envelope: encodeEnvelope(id, Date.now(), message) };
  }

  private writer(topic: string): TopicWriter {
    let writer = this.writers.get(topic);
    if (writer === undefined) {
      writer = new TopicWriter(this.space, new TopicKeys(topic), this.maxMessagesPerTxn, this.options.publishTimeoutMs ?? 30_000, () => this.maybeTrim(topic));
      this.writers.set(topic, writer);
    }
    return writer;
  }

  private retentionFor(topic: string): RetentionPolicy | undefined {
    const retention = this.options.retention;
    return typeof retention === 'function' ? retention(topic) : retention;
  }

  /**
   * After a publish: trims the topic unless it was trimmed less than
   * retentionIntervalMs ago (then a timer trims it when the interval is
   * over) or a trim is running (then another follows it), so the last
   * publish of a burst is always followed by a trim.
   */
  private maybeTrim(topic: string): void {
    const policy = this.retentionFor(topic);
    if (policy === undefined) return;
    if (this.trimming.has(topic)) {
      this.trimAgain.add(topic);
      return;
    }
    const waitMs = (this.options.retentionIntervalMs ?? 1_000) - (Date.now() - (this.lastTrimAt.get(topic) ?? 0));
    if (waitMs > 0) {
      if (!this.trimTimers.has(topic)) {
        const timer = setTimeout(() => {
          this.trimTimers.delete(topic);
          this.maybeTrim(topic);
        }, waitMs);
        timer.unref();
        this.trimTimers.set(topic, timer);
      }
      return;
    }
    this.lastTrimAt.set(topic, Date.now());
    this.trimming.add(topic);
    trimTopic(this.space, new TopicKeys(topic), policy)
      .then(
        (result) => result.deleted > 0n && this.emit('trimmed', topic, result),
        (error: unknown) => this.emit('trimFailed', topic, error),
      )
      .finally(() => {
        this.trimming.delete(topic);
        if (this.trimAgain.delete(topic)) this.maybeTrim(topic);
      });
  }
}
