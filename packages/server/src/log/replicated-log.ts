/**
 * The seam between a member's node and consensus. The node proposes opaque
 * entry data and applies committed entries in log order; whether a group of
 * one (SoloLog) or a Raft group stands behind it does not change the node.
 *
 * Order of effects for every entry, whatever the implementation:
 *   propose -> append to the WAL -> fsync (on a quorum, when replicated)
 *   -> committed -> applyCommitted -> reply.
 *
 * Every member applies exactly the bytes the log holds. `context` is a
 * shortcut the proposing member may keep (the decoded request): it must
 * decode from `data` to the same thing, which
 * test/proposal-shortcut.property.test.ts checks.
 */

/** What an entry carries: a request to apply, or a membership change (etcd's EntryNormal / EntryConfChange). */
export type LogEntryType = 'normal' | 'confChange';

export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly type: LogEntryType;
  readonly data: Uint8Array;
  /**
   * What the proposer attached, when the entry was proposed by this process
   * (lets the applier skip decoding); undefined for replayed entries and for
   * entries another member proposed.
   */
  readonly context?: unknown;
}

/**
 * A backend image that replaces the log up to `index`: a member that fell
 * behind the leader's compacted log, or joined late, gets one.
 */
export interface LogSnapshot {
  readonly index: number;
  readonly term: number;
  /** A verified copy of the leader's backend, on this member's disk, to be installed atomically. */
  readonly backendFile: string;
}

/** What the log tells the node. Each is called on the event loop, never re-entrantly. */
export interface LogEvents {
  /** Committed entries, in log order, each exactly once per process. */
  applyCommitted(entries: readonly LogEntry[]): void;
  /** The leader or the term changed; leaderId 0n while no leader is known. */
  leaderChanged(leaderId: bigint, term: number): void;
  /** Replaces the applied state with `snapshot` before any later entry is applied. */
  installSnapshot(snapshot: LogSnapshot): Promise<void>;
  /** The log cannot go on (a failed WAL write): the member must stop taking requests. */
  fatal(error: unknown): void;
}

export interface ReplicatedLog {
  /** Current term, for response headers. */
  readonly term: number;
  /** Index of the newest committed entry. */
  readonly committedIndex: number;
  /** Member id of the leader, 0n when there is none. */
  readonly leaderId: bigint;
  /**
   * Queues `data` for the log as a normal entry. Throws TooManyRequestsError
   * when the queue is full and StoppedError after stop(). The entry reaches
   * applyCommitted once it is durable and committed.
   */
  propose(data: Uint8Array, context?: unknown): void;
  /** An index such that reading after applying up to it is linearizable. */
  readIndex(): Promise<number>;
  /** Stops accepting proposals and waits for in-flight ones to be applied. */
  stop(): Promise<void>;
}

/** How the WAL numbers entry types: etcd's raftpb.EntryType (EntryNormal = 0, EntryConfChange = 1). */
export const walEntryTypeNumbers: Readonly<Record<LogEntryType, number>> = { normal: 0, confChange: 1 };

/** The LogEntryType of a WAL entry's type number; anything else is not an entry this log wrote. */
export function logEntryTypeOf(walType: number): LogEntryType {
  if (walType === walEntryTypeNumbers.normal) return 'normal';
  if (walType === walEntryTypeNumbers.confChange) return 'confChange';
  throw new Error(`wal: entry type ${walType} is not one Holdfast writes (0 normal, 1 conf change)`);
}
