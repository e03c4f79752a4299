/**
 * A subscription to one topic: an async iterator of its messages in
 * sequence (= revision) order, from now, from a revision, from a sequence
 * number, or from a durable consumer's cursor.
 *
 * Two modes, switched as needed:
 *
 * - catching up: Range reads of at most pageSize messages from the next
 *   sequence number (the keys are ordered by it), one page when the buffer
 *   is empty. When a read finds nothing more, the topic is complete up to
 *   that read's revision R, and the subscription starts tailing.
 * - tailing: a watch of the topic's message keys from R + 1, read eagerly
 *   into the buffer while it holds fewer than highWaterMark messages.
 *
 * Backpressure: when the consumer is slow and the buffer reaches
 * highWaterMark, the subscription stops reading the watch and cancels it,
 * then goes back to catching up (by pages) once the consumer has emptied
 * the buffer. So at most highWaterMark messages plus one watch response (the
 * messages of one txn) are buffered, however far behind the consumer falls;
 * the rest stays in the store. The watch is also dropped for a page read
 * when its history was compacted or it skipped a number (neither loses a
 * message: the keys are read again from the next sequence number).
 *
 * Acknowledgement (autoAck, the default): a message is acknowledged when the
 * consumer asks for the next one, or leaves the loop. A durable consumer
 * (`consumer: name`) stores the last acknowledged sequence number at
 * c/<consumer>/<topic> every commitEveryMessages acknowledgements or
 * commitIntervalMs, and on close(); a new subscription with the same name
 * resumes after it. Messages delivered but not committed before a crash are
 * delivered again: at-least-once.
 */
import { ClientClosedError, CompactedError, Compare, FutureRevisionError, Op, onAbort, type Namespace, type Watch } from '@holdfast/client';
import { Message } from './message.js';
import { cursorKey, firstSequence, type TopicKeys } from './keys.js';

/** Where a subscription starts when it has no stored cursor. */
export type StartPosition = 'now' | 'beginning' | { readonly revision: bigint } | { readonly seq: bigint };

export interface SubscribeOptions {
  /** Start position when there is no stored cursor (default 'now'). A revision R: every message published at R or later. */
  readonly from?: StartPosition;
  /** Durable consumer name: resume after its stored cursor, and store it as messages are acknowledged. */
  readonly consumer?: string;
  /** Messages buffered before the subscription stops reading the watch (default 1,000). */
  readonly highWaterMark?: number;
  /** Messages per Range read while catching up (default 256). */
  readonly pageSize?: number;
  /** Acknowledge a message when the next one is asked for (default true); false: call ack(). */
  readonly autoAck?: boolean;
  /** Store the cursor after this many acknowledgements (default 100)... */
  readonly commitEveryMessages?: number;
  /** ...or this long after the last store (default 1,000 ms), and on close(). */
  readonly commitIntervalMs?: number;
  /** Ends the subscription: the iterator throws `signal.reason`. */
  readonly signal?: AbortSignal;
}

export const defaultHighWaterMark = 1_000;
export const defaultPageSize = 256;

export interface SubscriptionStats {
  /** Messages handed to the consumer. */
  delivered: number;
  /** Messages that were deleted (retention) before this subscription could read them. */
  skipped: bigint;
  /** Range reads while catching up. */
  pagesRead: number;
  /** Watches started for tailing. */
  watchesStarted: number;
  /** Times the watch was stopped because the buffer reached highWaterMark. */
  pauses: number;
  /** Largest number of messages buffered at once. */
  maxBuffered: number;
  /** Cursor stores. */
  commits: number;
}

interface Cursor {
  readonly seq: string;
  readonly revision?: string;
  readonly at?: number;
}

/** The sequence number of the first message published at `revision` or later. */
export async function sequenceAtRevision(space: Namespace, keys: TopicKeys, revision: bigint, signal?: AbortSignal): Promise<bigint> {
  const options = signal === undefined ? {} : { signal };
  if (revision <= 1n) return firstSequence;
  try {
    const { kvs } = await space.get(keys.head, { ...options, revision: revision - 1n });
    return (kvs[0] === undefined ? 0n : BigInt(kvs[0].valueString)) + 1n;
  } catch (error) {
    if (error instanceof FutureRevisionError) {
      const { kvs } = await space.get(keys.head, options);
      return (kvs[0] === undefined ? 0n : BigInt(kvs[0].valueString)) + 1n;
    }
    if (!(error instanceof CompactedError)) throw error;
  }
  // The head's history is compacted: binary search over the messages left (revisions grow with seq).
  const [oldest, head] = await Promise.all([space.get(keys.messagePrefix, { ...options, prefix: true, limit: 1 }), space.get(keys.head, options)]);
  const headSeq = head.kvs[0] === undefined ? 0n : BigInt(head.kvs[0].valueString);
  const oldestSeq = oldest.kvs[0] === undefined ? headSeq + 1n : (keys.sequenceOf(oldest.kvs[0].keyString) ?? headSeq + 1n);
  let low = oldestSeq;
  let high = headSeq + 1n;
  while (low < high) {
    const middle = (low + high) / 2n;
    const { kvs } = await space.get(keys.message(middle), options);
    const kv = kvs[0];
    if (kv === undefined || kv.modRevision < revision) low = middle + 1n;
    else high = middle;
  }
  return low;
}

export class Subscription implements AsyncIterableIterator<Message> {
  /** Resolves once the subscription is closed (and its cursor stored). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  readonly stats: SubscriptionStats = { delivered: 0, skipped: 0n, pagesRead: 0, watchesStarted: 0, pauses: 0, maxBuffered: 0, commits: 0 };
  private readonly buffer: Message[] = [];
  /** The next sequence number to fetch (buffered messages are below it). */
  private nextFetch: bigint;
  private mode: 'catching-up' | 'tailing' = 'catching-up';
  private watch: Watch | undefined;
  private wakeUp: (() => void) | undefined;
  private failure: { error: unknown } | undefined;
  private clientClosed = false;
  private closed = false;
  private readonly stop = new AbortController();
  private lastDelivered: Message | undefined;
  private ackedSeq: bigint;
  private ackedRevision = 0n;
  private committedSeq: bigint;
  private ackedSinceCommit = 0;
  private lastCommitAt = Date.now();
  private commitChain: Promise<void> = Promise.resolve();
  private readonly commitTimer: NodeJS.Timeout | undefined;
  private countGaps: boolean;
  private readonly startSeq: bigint;
  private readonly highWaterMark: number;
  private readonly pageSize: number;
  private readonly removeAbortListener: () => void;

  /** Resolves the start position (and the cursor), then subscribes. Use PubSub.subscribe(). */
  static async open(space: Namespace, keys: TopicKeys, options: SubscribeOptions = {}): Promise<Subscription> {
    const signal = options.signal;
    const requestOptions = signal === undefined ? {} : { signal };
    let nextFetch: bigint | undefined;
    let countGaps = true;
    let tailFrom: bigint | undefined;
    const consumerKey = options.consumer === undefined ? undefined : cursorKey(options.consumer, keys.topic);
    if (consumerKey !== undefined) {
      const { kvs } = await space.get(consumerKey, requestOptions);
      if (kvs[0] !== undefined) nextFetch = BigInt((JSON.parse(kvs[0].valueString) as Cursor).seq) + 1n;
    }
    if (nextFetch === undefined) {
      const from = options.from ?? 'now';
      if (from === 'beginning') {
        nextFetch = firstSequence;
        countGaps = false;
      } else if (from === 'now') {
        const head = await space.get(keys.head, requestOptions);
        nextFetch = (head.kvs[0] === undefined ? 0n : BigInt(head.kvs[0].valueString)) + 1n;
        tailFrom = head.header.revision + 1n;
      } else if ('seq' in from) {
        nextFetch = from.seq < firstSequence ? firstSequence : from.seq;
      } else {
        nextFetch = await sequenceAtRevision(space, keys, from.revision, signal);
      }
      if (consumerKey !== undefined) {
        // Store the starting point now, so that a restart before the first commit does not skip what comes meanwhile.
        const cursor: Cursor = { seq: (nextFetch - 1n).toString(), at: Date.now() };
        await space.txn().if(Compare.createRevision(consumerKey, '=', 0n)).then(Op.put(consumerKey, JSON.stringify(cursor))).commit(requestOptions);
      }
    }
    return new Subscription(space, keys, consumerKey, nextFetch, countGaps, tailFrom, options);
  }

  private constructor(
    private readonly space: Namespace,
    private readonly keys: TopicKeys,
    private readonly consumerKey: string | undefined,
    nextFetch: bigint,
    countGaps: boolean,
    tailFrom: bigint | undefined,
    private readonly options: SubscribeOptions,
  ) {
    this.done = new Promise<void>((resolve) => (this.resolveDone = resolve));
    this.nextFetch = nextFetch;
    this.startSeq = nextFetch;
    this.countGaps = countGaps;
    this.ackedSeq = nextFetch - 1n;
    this.committedSeq = nextFetch - 1n;
    this.highWaterMark = options.highWaterMark ?? defaultHighWaterMark;
    this.pageSize = options.pageSize ?? defaultPageSize;
    if (!Number.isSafeInteger(this.highWaterMark) || this.highWaterMark < 1) throw new RangeError('highWaterMark must be a positive integer');
    if (!Number.isSafeInteger(this.pageSize) || this.pageSize < 1) throw new RangeError('pageSize must be a positive integer');
    const signal = options.signal;
    if (signal === undefined) {
      this.removeAbortListener = () => {};
    } else {
      this.removeAbortListener = onAbort(signal, () => {
        this.failure ??= { error: signal.reason };
        this.buffer.length = 0; // an abort ends the iterator at once
        this.stopReading();
      });
    }
    if (consumerKey !== undefined) {
      const intervalMs = options.commitIntervalMs ?? 1_000;
      this.commitTimer = setInterval(() => {
        if (this.ackedSeq > this.committedSeq && Date.now() - this.lastCommitAt >= intervalMs) void this.commit().catch(() => {});
      }, Math.max(50, Math.min(intervalMs, 1_000)));
      this.commitTimer.unref();
    }
    if (tailFrom !== undefined) this.startTailing(tailFrom);
  }

  get topic(): string {
    return this.keys.topic;
  }

  /** Sequence number of the last message delivered (0n before the first one). */
  get position(): bigint {
    return this.lastDelivered?.seq ?? this.startSeq - 1n;
  }

  /** Sequence number of the last acknowledged message. */
  get acknowledged(): bigint {
    return this.ackedSeq;
  }

  /** Messages waiting in the buffer. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** 'tailing' while a watch feeds the buffer, 'catching-up' while pages are read. */
  get readingMode(): 'catching-up' | 'tailing' {
    return this.mode;
  }

  /** Acknowledges `message` and every earlier one (only needed with autoAck: false). */
  ack(message: Message): void {
    if (message.topic !== this.keys.topic) throw new TypeError(`a message of "${message.topic}" acknowledged on "${this.keys.topic}"`);
    if (message.seq <= this.ackedSeq) return;
    this.ackedSeq = message.seq;
    this.ackedRevision = message.revision;
    this.ackedSinceCommit++;
    if (this.consumerKey !== undefined && this.ackedSinceCommit >= (this.options.commitEveryMessages ?? 100)) void this.commit().catch(() => {});
  }

  /** Stores the cursor now (durable consumers; a no-op otherwise). */
  commit(): Promise<void> {
    const key = this.consumerKey;
    if (key === undefined) return Promise.resolve();
    const seq = this.ackedSeq;
    const cursor: Cursor = { seq: seq.toString(), revision: this.ackedRevision.toString(), at: Date.now() };
    this.ackedSinceCommit = 0;
    this.lastCommitAt = Date.now();
    const run = this.commitChain.then(async () => {
      if (seq <= this.committedSeq) return;
      await this.space.put(key, JSON.stringify(cursor));
      if (seq > this.committedSeq) this.committedSeq = seq;
      this.stats.commits++;
    });
    this.commitChain = run.catch(() => {}); // a failed store is retried by the next one
    return run;
  }

  async next(): Promise<IteratorResult<Message>> {
    if (this.options.autoAck !== false && this.lastDelivered !== undefined) this.ack(this.lastDelivered);
    for (;;) {
      if (this.closed) return { value: undefined, done: true };
      const message = this.buffer.shift();
      if (message !== undefined) {
        this.lastDelivered = message;
        this.stats.delivered++;
        return { value: message, done: false };
      }
      if (this.failure !== undefined) {
        const { error } = this.failure;
        await this.close();
        throw error;
      }
      if (this.clientClosed) {
        await this.close();
        return { value: undefined, done: true };
      }
      if (this.mode === 'catching-up') await this.readPage();
      else await new Promise<void>((resolve) => (this.wakeUp = resolve));
    }
  }

  /** Leaving the loop: the last message counts as acknowledged (autoAck), the cursor is stored, reading stops. */
  async return(): Promise<IteratorResult<Message>> {
    await this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this;
  }

  /**
   * Stops reading and stores the cursor. With autoAck, the last message
   * delivered counts as acknowledged (the consumer is done with it).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.options.autoAck !== false && this.lastDelivered !== undefined && this.failure === undefined) this.ack(this.lastDelivered);
    this.closed = true;
    this.removeAbortListener();
    if (this.commitTimer !== undefined) clearInterval(this.commitTimer);
    try {
      // Stored before the watch is cancelled: a watch cancelled before its stream opened, followed by a
      // call and client.close(), leaves a socket open for 30 s in the client (see the README).
      if (this.consumerKey !== undefined) await this.commit();
    } finally {
      this.stopReading();
      this.resolveDone();
    }
  }

  private stopReading(): void {
    this.stop.abort();
    const watch = this.watch;
    this.watch = undefined;
    watch?.close();
    this.wake();
  }

  private wake(): void {
    const wakeUp = this.wakeUp;
    this.wakeUp = undefined;
    wakeUp?.();
  }

  private push(message: Message): void {
    this.buffer.push(message);
    this.nextFetch = message.seq + 1n;
    if (this.buffer.length > this.stats.maxBuffered) this.stats.maxBuffered = this.buffer.length;
  }

  private async readPage(): Promise<void> {
    let result;
    try {
      result = await this.space.get(this.keys.message(this.nextFetch), { rangeEnd: this.keys.messageRangeEnd, limit: this.pageSize, signal: this.stop.signal });
    } catch (error) {
      if (this.stop.signal.aborted) return;
      if (error instanceof ClientClosedError) {
        this.clientClosed = true;
        return;
      }
      // Unreachable past the call deadline: try again after a pause (the consumer just waits).
      await new Promise((resolve) => setTimeout(resolve, 500));
      return;
    }
    this.stats.pagesRead++;
    for (const kv of result.kvs) {
      const seq = this.keys.sequenceOf(kv.keyString);
      if (seq === undefined || seq < this.nextFetch) continue;
      if (seq > this.nextFetch && this.countGaps) this.stats.skipped += seq - this.nextFetch;
      this.push(Message.fromKeyValue(this.keys.topic, seq, kv));
    }
    this.countGaps = true;
    if (!result.more) this.startTailing(result.header.revision + 1n);
  }

  private startTailing(fromRevision: bigint): void {
    if (this.stop.signal.aborted) return;
    const watch = this.space.watch(this.keys.messagePrefix, { prefix: true, startRevision: fromRevision, filters: ['noDelete'], signal: this.stop.signal });
    this.watch = watch;
    this.mode = 'tailing';
    this.stats.watchesStarted++;
    void this.pump(watch);
  }

  /** Back to page reads from nextFetch (the watch is cancelled). */
  private catchUp(): void {
    const watch = this.watch;
    this.watch = undefined;
    this.mode = 'catching-up';
    watch?.close();
    this.wake();
  }

  private async pump(watch: Watch): Promise<void> {
    try {
      for await (const batch of watch) {
        if (this.watch !== watch) return;
        for (const event of batch.events) {
          const seq = this.keys.sequenceOf(event.kv.keyString);
          if (seq === undefined || seq < this.nextFetch) continue;
          if (seq > this.nextFetch) {
            // A number we did not see: read the keys again from nextFetch rather than guess.
            this.catchUp();
            return;
          }
          this.push(Message.fromKeyValue(this.keys.topic, seq, event.kv));
        }
        this.wake();
        if (this.buffer.length >= this.highWaterMark) {
          // The consumer is slow: stop reading the watch; the store keeps the rest.
          this.stats.pauses++;
          this.catchUp();
          return;
        }
      }
      if (this.watch === watch && !this.stop.signal.aborted) {
        // Ended quietly without us: the client was closed.
        this.clientClosed = true;
        this.wake();
      }
    } catch (error) {
      if (this.watch !== watch || this.stop.signal.aborted) return;
      if (error instanceof CompactedError) {
        this.catchUp();
        return;
      }
      this.failure = { error };
      this.wake();
    }
  }
}
