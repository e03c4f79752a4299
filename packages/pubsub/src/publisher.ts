/**
 * Publishing to one topic: sequence numbers assigned by compare-and-swap on
 * the topic's head key, many messages per txn, exactly once despite
 * ambiguous failures.
 *
 * A txn publishes messages head+1 ... head+n:
 *
 *   if   mod_revision(t/<topic>/head) == <the head's mod revision we know> (0: absent)
 *   then put t/<topic>/head = head+n, put t/<topic>/m/<head+1> ... t/<topic>/m/<head+n>
 *   else get t/<topic>/head
 *
 * so every publisher's messages get consecutive, gap-free sequence numbers
 * in commit (= revision) order, and a message's key never changes. A lost
 * race costs one round trip: the else branch returns the new head and the
 * txn is sent again on top of it.
 *
 * Publishes to a topic from one PubSub are queued and sent one txn at a
 * time, each carrying as many queued publishes as fit (maxMessagesPerTxn,
 * default 127: etcd's --max-txn-ops of 128 minus the head put), so
 * concurrent publish() calls share txns. A publishBatch() of at most
 * maxMessagesPerTxn messages is one txn: all or nothing, consecutive.
 *
 * Ambiguity. A txn that failed after it was sent (connection lost, timeout)
 * may have been applied. Every message carries a unique id, so the writer
 * reads t/<topic>/m/<head+1>: if it holds our first message's id the txn
 * was applied (its revision is the key's); if not, it is sent again. After
 * such a failure the check is repeated whenever a later attempt loses the
 * race (the first attempt may have been applied late). So a message is
 * stored once, or the call fails with PublishOutcomeUnknownError if the
 * server could not be asked within publishTimeoutMs.
 */
import { ClientClosedError, Compare, EtcdError, GrpcStatus, Op, type Namespace } from '@holdfast/client';
import { PublishOutcomeUnknownError } from './errors.js';
import { decodeEnvelope } from './message.js';
import type { TopicKeys } from './keys.js';

export interface Published {
  readonly topic: string;
  readonly seq: bigint;
  /** The revision of the txn that stored it. */
  readonly revision: bigint;
  readonly id: string;
}

export interface EncodedMessage {
  readonly id: string;
  readonly envelope: Buffer;
}

interface Pending {
  readonly messages: readonly EncodedMessage[];
  readonly resolve: (published: Published[]) => void;
  readonly reject: (error: unknown) => void;
}

const ambiguousCodes = new Set<number>([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.CANCELLED, GrpcStatus.UNKNOWN, GrpcStatus.INTERNAL]);

/** Whether a failed txn may nonetheless have been applied. */
export function mayHaveBeenApplied(error: unknown): boolean {
  return error instanceof EtcdError && !(error instanceof ClientClosedError) && ambiguousCodes.has(error.code);
}

export class TopicWriter {
  /** The head as last known: sequence number and the head key's mod revision (0n: absent). */
  private head = { seq: 0n, modRevision: 0n };
  private readonly queue: Pending[] = [];
  private draining = false;

  constructor(
    private readonly space: Namespace,
    private readonly keys: TopicKeys,
    private readonly maxMessagesPerTxn: number,
    private readonly publishTimeoutMs: number,
    private readonly onCommitted: (lastSeq: bigint) => void,
  ) {}

  /** Queues messages to be published together (at most maxMessagesPerTxn). */
  publish(messages: readonly EncodedMessage[]): Promise<Published[]> {
    if (messages.length === 0) return Promise.resolve([]);
    if (messages.length > this.maxMessagesPerTxn) throw new RangeError(`at most ${this.maxMessagesPerTxn} messages per txn`);
    return new Promise<Published[]>((resolve, reject) => {
      this.queue.push({ messages, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const group: Pending[] = [];
        let count = 0;
        while (this.queue.length > 0 && count + this.queue[0]!.messages.length <= this.maxMessagesPerTxn) {
          const next = this.queue.shift()!;
          group.push(next);
          count += next.messages.length;
        }
        const messages = group.flatMap((pending) => pending.messages);
        try {
          const published = await this.commit(messages);
          let offset = 0;
          for (const pending of group) {
            pending.resolve(published.slice(offset, offset + pending.messages.length));
            offset += pending.messages.length;
          }
        } catch (error) {
          for (const pending of group) pending.reject(error);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async commit(messages: readonly EncodedMessage[]): Promise<Published[]> {
    const deadline = Date.now() + this.publishTimeoutMs;
    const ambiguousStarts: bigint[] = [];
    for (;;) {
      const first = this.head.seq + 1n;
      const last = this.head.seq + BigInt(messages.length);
      let result;
      try {
        result = await this.space
          .txn()
          .if(Compare.modRevision(this.keys.head, '=', this.head.modRevision))
          .then(Op.put(this.keys.head, last.toString()), ...messages.map((message, index) => Op.put(this.keys.message(first + BigInt(index)), message.envelope)))
          .else(Op.get(this.keys.head))
          .commit({ timeoutMs: Math.max(1_000, deadline - Date.now()) });
      } catch (error) {
        if (!mayHaveBeenApplied(error)) throw error;
        ambiguousStarts.push(first);
        const applied = await this.findApplied(messages, ambiguousStarts, deadline, error);
        if (applied !== undefined) return applied;
        continue; // not applied: the head was refreshed, send again
      }
      if (result.succeeded) {
        this.head = { seq: last, modRevision: result.header.revision };
        this.onCommitted(last);
        return messages.map((message, index) => ({ topic: this.keys.topic, seq: first + BigInt(index), revision: result.header.revision, id: message.id }));
      }
      // Lost the race (or an earlier ambiguous attempt of ours was applied after all).
      const read = result.responses[0];
      const kv = read?.kind === 'get' ? read.kvs[0] : undefined;
      this.head = kv === undefined ? { seq: 0n, modRevision: 0n } : { seq: BigInt(kv.valueString), modRevision: kv.modRevision };
      if (ambiguousStarts.length > 0) {
        const applied = await this.findApplied(messages, ambiguousStarts, deadline, undefined);
        if (applied !== undefined) return applied;
      }
    }
  }

  /**
   * Whether one of our earlier attempts (starting at `starts`) stored the
   * messages; refreshes the head either way. Retries reads until `deadline`.
   */
  private async findApplied(messages: readonly EncodedMessage[], starts: readonly bigint[], deadline: number, cause: unknown): Promise<Published[] | undefined> {
    for (;;) {
      try {
        for (const start of starts) {
          const { kvs } = await this.space.get(this.keys.message(start), { timeoutMs: Math.max(1_000, deadline - Date.now()) });
          const kv = kvs[0];
          if (kv !== undefined && decodeEnvelope(kv.value).id === messages[0]!.id) {
            await this.refreshHead(deadline);
            this.onCommitted(start + BigInt(messages.length) - 1n);
            return messages.map((message, index) => ({ topic: this.keys.topic, seq: start + BigInt(index), revision: kv.modRevision, id: message.id }));
          }
        }
        await this.refreshHead(deadline);
        return undefined;
      } catch (error) {
        if (!mayHaveBeenApplied(error) || Date.now() >= deadline) {
          throw new PublishOutcomeUnknownError(this.keys.topic, { cause: cause ?? error });
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private async refreshHead(deadline: number): Promise<void> {
    const { kvs } = await this.space.get(this.keys.head, { timeoutMs: Math.max(1_000, deadline - Date.now()) });
    const kv = kvs[0];
    this.head = kv === undefined ? { seq: 0n, modRevision: 0n } : { seq: BigInt(kv.valueString), modRevision: kv.modRevision };
  }
}
