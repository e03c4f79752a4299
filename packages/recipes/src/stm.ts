/**
 * Software transactional memory over etcd, as Go's
 * clientv3/concurrency.NewSTM: `apply` reads and writes through an Stm; its
 * writes are buffered and committed in one txn whose compares detect
 * conflicting writes by others since the reads; on conflict `apply` runs
 * again from scratch. The isolation level decides what is read and what is
 * compared:
 *
 * | level | reads | commit compares | guarantees |
 * | --- | --- | --- | --- |
 * | SerializableSnapshot (default) | all at the revision of the first read | every key read is unchanged, and no key written was changed after the first read | serializable, and no write skew on blind writes |
 * | Serializable | all at the revision of the first read | every key read is unchanged | serializable reads; blind writes unchecked |
 * | RepeatableReads | each key once, at whatever revision it is first read | every key read is unchanged | no lost updates; the reads need not be one snapshot |
 * | ReadCommitted | each key once, latest committed | none | only that reads saw committed data: concurrent read-modify-writes lose updates |
 *
 * Keys are strings, relative to the client or namespace; a missing key reads
 * as '' (as in Go).
 */
import { Compare, Op, type GetOptions, type KeyValue, type Namespace, type Operation, type TxnResult } from '@holdfast/client';
import { StmConflictError } from './errors.js';

export const Isolation = {
  SerializableSnapshot: 'serializable-snapshot',
  Serializable: 'serializable',
  RepeatableReads: 'repeatable-reads',
  ReadCommitted: 'read-committed',
} as const;
export type Isolation = (typeof Isolation)[keyof typeof Isolation];

export interface StmOptions {
  /** Default SerializableSnapshot. */
  readonly isolation?: Isolation;
  /** Keys read in one round trip before `apply` runs (Go WithPrefetch). */
  readonly prefetch?: readonly string[];
  /** Aborts between and within attempts: runStm rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
  /** Attempts before StmConflictError (default: unlimited, as Go). */
  readonly attemptsMax?: number;
}

/** What `apply` reads and writes through. */
export interface Stm {
  /**
   * The value of `key` ('' when it does not exist), adding it to the read
   * set; a value this transaction wrote reads back as written. Further keys
   * are read in the same round trip (into the read set) but not returned.
   */
  get(key: string, ...more: string[]): Promise<string>;
  /** The key-value as read (undefined when the key does not exist), adding it to the read set. */
  getKv(key: string): Promise<KeyValue | undefined>;
  /** The mod revision of `key` as read (0n when absent). */
  rev(key: string): Promise<bigint>;
  /** Buffers a write. */
  put(key: string, value: string, options?: { readonly lease?: bigint }): void;
  /** Buffers a delete. */
  del(key: string): void;
  /** Which attempt this is (1 for the first). */
  readonly attempt: number;
}

/** A key as read: its key-value (undefined when absent) and the store revision when it was read. */
interface Read {
  readonly kv: KeyValue | undefined;
  readonly revision: bigint;
}

interface Write {
  readonly value: string;
  readonly op: Operation;
}

/**
 * Runs `apply` until its writes commit without conflict; resolves with the
 * commit's txn result. An error thrown by `apply` (or by a read) aborts the
 * transaction and is rethrown; nothing is written.
 */
export async function runStm(client: Namespace, apply: (stm: Stm) => unknown, options: StmOptions = {}): Promise<TxnResult> {
  const state = new StmState(client, options.isolation ?? Isolation.SerializableSnapshot, options.signal);
  const attemptsMax = options.attemptsMax ?? Number.POSITIVE_INFINITY;
  for (let attempt = 1; ; attempt += 1) {
    options.signal?.throwIfAborted();
    if (attempt > attemptsMax) throw new StmConflictError(attemptsMax);
    state.reset(attempt);
    if (options.prefetch !== undefined && options.prefetch.length > 0) {
      const [first, ...more] = options.prefetch;
      await state.get(first!, ...more);
    }
    await apply(state);
    const committed = await state.commit();
    if (committed !== undefined) return committed;
  }
}

class StmState implements Stm {
  attempt = 0;
  private readSet = new Map<string, Read>();
  private writeSet = new Map<string, Write>();
  /** Serializable levels: read results carried over from the failed commit's else branch. */
  private prefetched = new Map<string, Read>();
  /** Serializable levels: the revision every read of this attempt is pinned to. */
  private pinnedRevision: bigint | undefined;

  constructor(
    private readonly client: Namespace,
    private readonly isolation: Isolation,
    private readonly signal: AbortSignal | undefined,
  ) {}

  private get serializable(): boolean {
    return this.isolation === Isolation.SerializableSnapshot || this.isolation === Isolation.Serializable;
  }

  reset(attempt: number): void {
    this.attempt = attempt;
    this.readSet = new Map();
    this.writeSet = new Map();
  }

  async get(key: string, ...more: string[]): Promise<string> {
    const written = this.writeSet.get(key);
    if (written !== undefined) return written.value;
    const read = await this.fetch([key, ...more]);
    return read.kv?.valueString ?? '';
  }

  async getKv(key: string): Promise<KeyValue | undefined> {
    return (await this.fetch([key])).kv;
  }

  async rev(key: string): Promise<bigint> {
    return (await this.fetch([key])).kv?.modRevision ?? 0n;
  }

  put(key: string, value: string, options: { readonly lease?: bigint } = {}): void {
    this.writeSet.set(key, { value, op: Op.put(key, value, options.lease === undefined ? {} : { lease: options.lease }) });
  }

  del(key: string): void {
    this.writeSet.set(key, { value: '', op: Op.delete(key) });
  }

  /** Reads the keys not read yet in one round trip; returns the first key's result. */
  private async fetch(keys: readonly string[]): Promise<Read> {
    const firstRead = this.readSet.size === 0;
    if (this.serializable) {
      for (const key of keys) {
        const carried = this.prefetched.get(key);
        if (carried !== undefined) {
          this.prefetched.delete(key);
          this.readSet.set(key, carried);
        }
      }
    }
    const missing = [...new Set(keys.filter((key) => !this.readSet.has(key)))];
    if (missing.length > 0) {
      const getOptions: GetOptions = { serializable: true, ...(this.pinnedRevision === undefined ? {} : { revision: this.pinnedRevision }) };
      const result = await this.client
        .txn()
        .then(...missing.map((key) => Op.get(key, getOptions)))
        .commit(this.signal === undefined ? {} : { signal: this.signal });
      // A txn reads at one revision: its header's (sub-responses need not carry one).
      missing.forEach((key, index) => {
        const response = result.responses[index];
        if (response?.kind !== 'get') throw new TypeError('STM read: unexpected txn response');
        this.readSet.set(key, { kv: response.kvs[0], revision: result.header.revision });
      });
    }
    const first = this.readSet.get(keys[0]!)!;
    // The first read of an attempt fixes the revision of all the others.
    if (this.serializable && firstRead) this.pinnedRevision = first.revision;
    return first;
  }

  private conflicts(): Compare[] {
    if (this.isolation === Isolation.ReadCommitted) return [];
    const compares = [...this.readSet].map(([key, read]) => Compare.modRevision(key, '=', read.kv?.modRevision ?? 0n));
    if (this.isolation === Isolation.SerializableSnapshot) {
      // No key we write may have changed since the first read (Go: modRevision < firstRevision + 1).
      let firstRevision: bigint | undefined;
      for (const read of this.readSet.values()) if (firstRevision === undefined || read.revision < firstRevision) firstRevision = read.revision;
      const bound = (firstRevision ?? 0x7ffffffffffffffen) + 1n;
      for (const key of this.writeSet.keys()) compares.push(Compare.modRevision(key, '<', bound));
    }
    return compares;
  }

  /** The commit txn's result when it applied, undefined on conflict. */
  async commit(): Promise<TxnResult | undefined> {
    const readKeys = [...this.readSet.keys()];
    const txn = this.client
      .txn()
      .if(...this.conflicts())
      .then(...[...this.writeSet.values()].map((write) => write.op));
    // Serializable levels fetch the read set again in the else branch: the next attempt starts from it.
    if (this.serializable) txn.else(...readKeys.map((key) => Op.get(key)));
    const result = await txn.commit(this.signal === undefined ? {} : { signal: this.signal });
    if (result.succeeded) return result;
    if (this.serializable) {
      this.prefetched = new Map();
      readKeys.forEach((key, index) => {
        const response = result.responses[index];
        if (response?.kind === 'get') this.prefetched.set(key, { kv: response.kvs[0], revision: result.header.revision });
      });
      this.pinnedRevision = undefined;
    }
    return undefined;
  }
}
