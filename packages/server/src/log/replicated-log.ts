/**
 * The seam between the server and consensus. The server proposes opaque
 * entry data and applies committed entries in log order; whether a group of
 * one (SoloLog) or a Raft group stands behind it does not change the server.
 *
 * Order of effects for every entry, whatever the implementation:
 *   propose -> append to the WAL -> fsync -> committed -> apply -> reply.
 */
export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  /**
   * What the proposer attached, when the entry was proposed by this process
   * (lets the applier skip decoding); undefined for replayed entries.
   */
  readonly context?: unknown;
}

export interface ReplicatedLog {
  /** Current term, for response headers. */
  readonly term: number;
  /** Index of the newest committed entry. */
  readonly committedIndex: number;
  /** Member id of the leader, 0n when there is none. */
  readonly leaderId: bigint;
  /**
   * Queues `data` for the log. Throws TooManyRequestsError when the queue is
   * full and StoppedError after stop(). The entry reaches the apply callback
   * once it is durable and committed.
   */
  propose(data: Uint8Array, context?: unknown): void;
  /** An index such that reading after applying up to it is linearizable. */
  readIndex(): Promise<number>;
  /** Stops accepting proposals and waits for in-flight ones to be applied. */
  stop(): Promise<void>;
}

/** Called with committed entries, in order, each exactly once per process. */
export type ApplyCallback = (entries: readonly LogEntry[]) => void;
