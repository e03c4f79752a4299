/**
 * Typed errors raised by the Raft core.
 *
 * Two families: `RaftInvariantError` means the library (or the application
 * violating the persistence contract) broke an invariant and the node must not
 * continue; every other error is an expected, recoverable condition the caller
 * is meant to handle (retry a dropped proposal, send a snapshot instead of
 * compacted entries, ...).
 */

/** Thrown when an internal invariant does not hold. Never catch and continue. */
export class RaftInvariantError extends Error {
  override readonly name = 'RaftInvariantError';
}

/**
 * Asserts an invariant. The message is built lazily when given as a function so
 * that hot paths do not pay for string formatting.
 */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new RaftInvariantError(typeof message === 'function' ? message() : message);
  }
}

/**
 * Indexes and terms are JS numbers; they are exact only up to 2^53 - 1.
 * A log that reaches that size is far beyond any realistic lifetime, but we
 * refuse to silently lose precision.
 */
export function assertSafeIndex(value: number, what: string): void {
  assert(Number.isSafeInteger(value) && value >= 0, () => `${what} must be a non-negative safe integer, got ${value}`);
}

/** Thrown at construction when a configuration is invalid. */
export class RaftConfigError extends Error {
  override readonly name = 'RaftConfigError';
}

export type DropReason =
  /** No leader is known, so the request cannot be forwarded. */
  | 'no-leader'
  /** This node is a follower and proposal forwarding is disabled. */
  | 'forwarding-disabled'
  /** Accepting it would exceed `maxUncommittedEntriesBytes`. */
  | 'uncommitted-limit-exceeded'
  /** A configuration change is still pending (proposed but not yet applied). */
  | 'conf-change-pending'
  /** The leader is transferring leadership and refuses new proposals. */
  | 'leader-transfer-in-progress'
  /** This node is not (or no longer) a member of the configuration. */
  | 'not-a-member'
  /** Too many ReadIndex requests are already waiting (`maxPendingReadIndexRequests`). */
  | 'read-index-limit-exceeded'
  /** The conf change is invalid against the current configuration. */
  | 'invalid-conf-change';

/**
 * A proposal, conf change or ReadIndex request issued on this node was not
 * accepted. Nothing was appended to the log, so the caller may safely retry.
 */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError';
  constructor(readonly reason: DropReason, detail?: string) {
    super(`proposal dropped: ${reason}${detail ? ` (${detail})` : ''}`);
  }
}

/** The requested index is older than the storage's first index (compacted into a snapshot). */
export class CompactedError extends Error {
  override readonly name = 'CompactedError';
  constructor(readonly index: number) {
    super(`requested index ${index} is unavailable due to compaction`);
  }
}

/** The requested index is beyond the storage's last index. */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
  constructor(readonly index: number) {
    super(`requested index ${index} is unavailable`);
  }
}

/** An older snapshot than the one already held was supplied. */
export class SnapshotOutOfDateError extends Error {
  override readonly name = 'SnapshotOutOfDateError';
}

/**
 * The storage cannot produce a snapshot right now (e.g. one is being built).
 * The leader will retry later.
 */
export class SnapshotTemporarilyUnavailableError extends Error {
  override readonly name = 'SnapshotTemporarilyUnavailableError';
}
