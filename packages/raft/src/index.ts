/**
 * @holdfast/raft — a pure, deterministic Raft consensus core.
 *
 * The node never performs I/O, reads clocks or draws randomness of its own.
 * The application drives it:
 *
 *   tick() / step(msg) / propose(data) / readIndex(ctx)
 *   → ready(): { snapshot, entries, hardState, messages, committedEntries, readStates, softState }
 *   1. persist the snapshot (if any), then entries and hardState — durably
 *      (fsync) when rd.mustSync;
 *   2. send messages, only after step 1 — except that while this node is
 *      leader its 'app' messages may be sent before or in parallel with
 *      step 1, because a leader counts its own entries towards commit only
 *      once advance() reports them durable;
 *   3. apply committedEntries in order (calling applyConfChange for
 *      confChange entries), serve readStates once applied >= their index;
 *   4. advance().
 *
 * Node ids are uint64 bigints, as etcd's member ids (e.g. 0x8e9e05c52164694dn);
 * NO_NODE (0n) means "nobody". Numbers are refused: 1 and 1n are different
 * Map keys. Print ids with formatNodeId (hex, as etcd does), not JSON.
 *
 * See packages/raft/README.md for the full persistence contract.
 */
export { RawNode } from './raw-node.js';
export type { Ready, Status, PeerStatus, SnapshotStatus } from './raw-node.js';
export type { RaftConfig } from './config.js';
export {
  DEFAULT_ELECTION_TICKS,
  DEFAULT_HEARTBEAT_TICKS,
  DEFAULT_MAX_SIZE_PER_MESSAGE_BYTES,
  DEFAULT_MAX_INFLIGHT_MESSAGES,
  DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES,
  DEFAULT_MAX_COMMITTED_SIZE_PER_READY_BYTES,
  DEFAULT_MAX_PENDING_READ_INDEX_REQUESTS,
} from './config.js';
export { MemoryStorage } from './storage.js';
export type { Storage, InitialState } from './storage.js';
export {
  NO_NODE,
  MAX_NODE_ID,
  compareNodeIds,
  formatNodeId,
  isValidNodeId,
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  encodeConfChange,
  decodeConfChange,
  hardStateEqual,
  isLocalMessageType,
} from './messages.js';
export type {
  NodeId,
  Entry,
  EntryType,
  HardState,
  ConfState,
  ConfChange,
  ConfChangeType,
  Snapshot,
  SnapshotMetadata,
  Message,
  MessageType,
  ReadState,
  SoftState,
  StateRole,
} from './messages.js';
export type { ProgressState } from './progress.js';
export {
  RaftInvariantError,
  RaftConfigError,
  ProposalDroppedError,
  CompactedError,
  UnavailableError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
} from './errors.js';
export type { DropReason } from './errors.js';
