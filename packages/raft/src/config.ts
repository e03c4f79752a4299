import { RaftConfigError } from './errors.js';
import { type NodeId, isValidNodeId } from './messages.js';
import type { Storage } from './storage.js';

/** Defaults chosen for an etcd-like deployment (100 ms ticks). */
export const DEFAULT_ELECTION_TICKS = 10;
export const DEFAULT_HEARTBEAT_TICKS = 1;
export const DEFAULT_MAX_SIZE_PER_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_INFLIGHT_MESSAGES = 256;
export const DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_COMMITTED_SIZE_PER_READY_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_PENDING_READ_INDEX_REQUESTS = 4096;

export interface RaftConfig {
  /** This node's id: a uint64 bigint > 0, as etcd's member ids (e.g. 0x8e9e05c52164694dn). */
  readonly id: NodeId;
  /** Durable log. Its initialState() gives term/vote/commit and membership. */
  readonly storage: Storage;
  /**
   * Random source in [0, 1), used only to randomise election timeouts. The
   * core has no other nondeterminism: the same inputs and random values
   * produce the same outputs.
   */
  readonly random: () => number;
  /** Base election timeout; each node waits a random [electionTicks, 2*electionTicks). */
  readonly electionTicks?: number;
  /** Leader heartbeat interval. Must be < electionTicks. */
  readonly heartbeatTicks?: number;
  /** The last index the application applied before (re)starting; defaults to the snapshot index. */
  readonly applied?: number;
  /** Upper bound on entry bytes in one append message (at least one entry is always sent). */
  readonly maxSizePerMessageBytes?: number;
  /** Append messages in flight to one follower in replicate state. */
  readonly maxInflightMessages?: number;
  /**
   * Leader-side bound on payload bytes appended but not yet applied; beyond
   * it proposals fail with ProposalDroppedError('uncommitted-limit-exceeded').
   */
  readonly maxUncommittedEntriesBytes?: number;
  /** Upper bound on committed entry bytes returned in one Ready (at least one entry). */
  readonly maxCommittedSizePerReadyBytes?: number;
  /** ReadIndex requests a leader queues while waiting for quorum confirmation or its first commit. */
  readonly maxPendingReadIndexRequests?: number;
  /** Followers drop proposals instead of forwarding them to the leader. */
  readonly disableProposalForwarding?: boolean;
}

export interface ValidatedConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  readonly random: () => number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly applied: number | undefined;
  readonly maxSizePerMessageBytes: number;
  readonly maxInflightMessages: number;
  readonly maxUncommittedEntriesBytes: number;
  readonly maxCommittedSizePerReadyBytes: number;
  readonly maxPendingReadIndexRequests: number;
  readonly disableProposalForwarding: boolean;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RaftConfigError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export function validateConfig(config: RaftConfig): ValidatedConfig {
  if (!isValidNodeId(config.id)) {
    // A JS number is refused too, even a small one: 1 and 1n are different
    // Map/Set keys, so a mix of the two would silently split a node in two.
    throw new RaftConfigError(
      `id must be a uint64 bigint in 1..2^64-1 (0 is reserved for "no node"), got ${String(config.id)} (${typeof config.id})`,
    );
  }
  if (typeof config.random !== 'function') throw new RaftConfigError('random must be a function returning [0, 1)');
  const electionTicks = positiveInteger('electionTicks', config.electionTicks ?? DEFAULT_ELECTION_TICKS);
  const heartbeatTicks = positiveInteger('heartbeatTicks', config.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS);
  if (electionTicks <= heartbeatTicks) {
    throw new RaftConfigError(
      `electionTicks (${electionTicks}) must be greater than heartbeatTicks (${heartbeatTicks}), ` +
        'or followers time out between heartbeats',
    );
  }
  if (config.applied !== undefined && (!Number.isSafeInteger(config.applied) || config.applied < 0)) {
    throw new RaftConfigError(`applied must be a non-negative integer, got ${config.applied}`);
  }
  return {
    id: config.id,
    storage: config.storage,
    random: config.random,
    electionTicks,
    heartbeatTicks,
    applied: config.applied,
    maxSizePerMessageBytes: positiveInteger(
      'maxSizePerMessageBytes',
      config.maxSizePerMessageBytes ?? DEFAULT_MAX_SIZE_PER_MESSAGE_BYTES,
    ),
    maxInflightMessages: positiveInteger('maxInflightMessages', config.maxInflightMessages ?? DEFAULT_MAX_INFLIGHT_MESSAGES),
    maxUncommittedEntriesBytes: positiveInteger(
      'maxUncommittedEntriesBytes',
      config.maxUncommittedEntriesBytes ?? DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES,
    ),
    maxCommittedSizePerReadyBytes: positiveInteger(
      'maxCommittedSizePerReadyBytes',
      config.maxCommittedSizePerReadyBytes ?? DEFAULT_MAX_COMMITTED_SIZE_PER_READY_BYTES,
    ),
    maxPendingReadIndexRequests: positiveInteger(
      'maxPendingReadIndexRequests',
      config.maxPendingReadIndexRequests ?? DEFAULT_MAX_PENDING_READ_INDEX_REQUESTS,
    ),
    disableProposalForwarding: config.disableProposalForwarding ?? false,
  };
}
