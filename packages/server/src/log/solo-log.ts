/**
 * A consensus group of one: every proposal is committed as soon as it is
 * durable in the WAL. It keeps the shape a Raft group will have (terms,
 * indexes, a hard state in the WAL) so the server does not change when Raft
 * replaces it.
 *
 * Group commit: proposals queue while the previous batch is being written
 * and fsynced; each batch is one write and one fdatasync. Pipelining: the
 * next batch's write starts before the previous batch is applied, so disk
 * and CPU work overlap, while entries are still applied strictly in order.
 */
import type { Wal } from '@holdfast/storage';
import { StoppedError, TooManyRequestsError } from '../errors.js';
import { walEntryTypeNumbers, type LogEntry, type LogEvents, type ReplicatedLog } from './replicated-log.js';

export interface SoloLogOptions {
  readonly wal: Wal;
  /** The last index in the WAL (0 for a new one). */
  readonly lastIndex: number;
  /** The term to run in (the previous run's term + 1, like winning an election). */
  readonly term: number;
  readonly memberId: bigint;
  /** Where committed entries, the (one) leader and a failed WAL are reported. */
  readonly events: Pick<LogEvents, 'applyCommitted' | 'leaderChanged' | 'fatal'>;
  /** Proposals waiting for the disk before new ones are refused. */
  readonly maxPendingProposals?: number;
  /** Entries written with one fsync, at most. */
  readonly maxEntriesPerBatch?: number;
  /** Bytes written with one fsync, at most (a batch always takes one entry). */
  readonly maxBytesPerBatch?: number;
  /** Told how long each batch's WAL write and fdatasync took (metrics). */
  readonly onFsync?: (durationSeconds: number) => void;
}

/** etcd refuses proposals when 5000 entries are committed but not applied; same spirit. */
export const defaultMaxPendingProposals = 10_000;
export const defaultMaxEntriesPerBatch = 4096;
export const defaultMaxBytesPerBatch = 16 * 1024 * 1024;


interface Proposal {
  readonly data: Uint8Array;
  readonly context: unknown;
}

export class SoloLog implements ReplicatedLog {
  readonly term: number;
  readonly leaderId: bigint;
  private readonly wal: Wal;
  private readonly events: SoloLogOptions['events'];
  private readonly maxPendingProposals: number;
  private readonly maxEntriesPerBatch: number;
  private readonly maxBytesPerBatch: number;
  private readonly onFsync: ((durationSeconds: number) => void) | undefined;
  private pending: Proposal[] = [];
  private lastIndex: number;
  private committed: number;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Set while quiesce() holds writes back. */
  private quiesced: Promise<void> | undefined;
  private failed: unknown;

  /**
   * Starts a group of one after a restart: winning its "election" means the
   * new term is durable before anything is served in it, so terms never
   * repeat across runs. Like etcd, a new member boots in term 1 and leads
   * from term 2.
   */
  static async start(options: Omit<SoloLogOptions, 'term'> & { readonly previousTerm: number }): Promise<SoloLog> {
    const term = Math.max(options.previousTerm, 1) + 1;
    await options.wal.appendAndSync({ hardState: { term, vote: options.memberId, commit: options.lastIndex } });
    const log = new SoloLog({ ...options, term });
    options.events.leaderChanged(log.leaderId, term);
    return log;
  }

  constructor(options: SoloLogOptions) {
    this.wal = options.wal;
    this.lastIndex = options.lastIndex;
    this.committed = options.lastIndex;
    this.term = options.term;
    this.leaderId = options.memberId;
    this.events = options.events;
    this.maxPendingProposals = options.maxPendingProposals ?? defaultMaxPendingProposals;
    this.maxEntriesPerBatch = options.maxEntriesPerBatch ?? defaultMaxEntriesPerBatch;
    this.maxBytesPerBatch = options.maxBytesPerBatch ?? defaultMaxBytesPerBatch;
    this.onFsync = options.onFsync;
  }

  get committedIndex(): number {
    return this.committed;
  }

  propose(data: Uint8Array, context?: unknown): void {
    if (this.stopped || this.failed !== undefined) throw new StoppedError();
    if (this.pending.length >= this.maxPendingProposals) throw new TooManyRequestsError();
    this.pending.push({ data, context });
    if (this.quiesced === undefined) this.running ??= this.run();
  }

  async readIndex(): Promise<number> {
    if (this.failed !== undefined) throw new StoppedError();
    // Every acknowledged write is applied before its reply is sent, so the
    // committed index at the time of the read is enough.
    return this.committed;
  }

  /**
   * Records in the WAL that a snapshot of the state machine at `index`
   * exists, and drops WAL segments it makes unnecessary. The caller must
   * have made the state at `index` durable first.
   */
  async markSnapshot(index: number, term: number): Promise<void> {
    await this.running;
    await this.wal.saveSnapshotMarker({ index, term });
    await this.wal.releaseBefore(index);
  }

  /**
   * Runs `fn` with no entry being written or applied; proposals made
   * meanwhile wait in the queue (bounded as always) and go on after.
   */
  async quiesce<T>(fn: () => Promise<T>): Promise<T> {
    while (this.quiesced !== undefined) await this.quiesced;
    let release!: () => void;
    this.quiesced = new Promise<void>((resolve) => (release = resolve));
    try {
      while (this.running !== undefined) await this.running;
      return await fn();
    } finally {
      this.quiesced = undefined;
      release();
      if (this.pending.length > 0 && !this.stopped) this.running ??= this.run();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running !== undefined) await this.running;
  }

  /** Writes batches until the queue is empty, applying each after its fsync. */
  private async run(): Promise<void> {
    try {
      let inFlight = this.persistNextBatch();
      while (inFlight !== undefined) {
        const batch = await inFlight;
        this.committed = batch[batch.length - 1]!.index;
        // Start the next write before applying this batch: the disk works
        // while the CPU applies.
        inFlight = this.persistNextBatch();
        this.events.applyCommitted(batch);
      }
    } catch (error) {
      this.failed = error;
      this.pending = [];
      this.events.fatal(error);
    } finally {
      this.running = undefined;
    }
  }

  private persistNextBatch(): Promise<LogEntry[]> | undefined {
    if (this.pending.length === 0) return undefined;
    let count = 0;
    let bytes = 0;
    while (count < this.pending.length && count < this.maxEntriesPerBatch) {
      const size = this.pending[count]!.data.length;
      if (count > 0 && bytes + size > this.maxBytesPerBatch) break;
      bytes += size;
      count++;
    }
    const proposals = this.pending.splice(0, count);
    const entries: LogEntry[] = proposals.map((proposal) => ({
      index: ++this.lastIndex,
      term: this.term,
      type: 'normal' as const,
      data: proposal.data,
      context: proposal.context,
    }));
    const walEntries = entries.map((entry) => ({ index: entry.index, term: entry.term, type: walEntryTypeNumbers.normal, data: entry.data }));
    const started = performance.now();
    return this.wal.appendAndSync({ entries: walEntries, hardState: { term: this.term, vote: this.leaderId, commit: this.lastIndex } }).then(() => {
      this.onFsync?.((performance.now() - started) / 1000);
      return entries;
    });
  }
}
