import { type RaftConfig, validateConfig } from './config.js';
import { RaftInvariantError, assert } from './errors.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  type StateRole,
  NO_NODE,
  encodeConfChange,
  formatNodeId,
  hardStateEqual,
  isValidNodeId,
  isLocalMessageType,
  makeMessage,
} from './messages.js';
import type { ProgressState } from './progress.js';
import { Raft } from './raft.js';

/**
 * Everything the application must do, in order, before calling advance().
 * See the persistence contract in README.md:
 *
 *  1. If `snapshot` is set: persist it and load it into the state machine.
 *  2. Persist `entries` (append; they may overwrite a conflicting suffix) and
 *     `hardState` if set. Durably (fsync) when `mustSync`.
 *  3. Send `messages`. Only after step 2 completed — except that while this
 *     node is leader (`softState`/status role 'leader'), messages of type
 *     'app' may be sent before or in parallel with step 2 (the leader counts
 *     its own entries towards commit only once advance() says they are durable).
 *  4. Apply `committedEntries` in order (they may include entries from step 2,
 *     which is why step 2 comes first). For confChange entries call
 *     applyConfChange().
 *  5. Serve `readStates` once the state machine has applied up to their index.
 *  6. Call advance().
 */
export interface Ready {
  /** Set when lead or role changed since the previous Ready. */
  readonly softState?: SoftState;
  /** Set when term, vote or commit changed since the previous Ready. */
  readonly hardState?: HardState;
  readonly readStates: readonly ReadState[];
  /** Entries to append to durable storage. */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader, to persist and apply. */
  readonly snapshot?: Snapshot;
  /** Committed entries to apply to the state machine. */
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  /** hardState term/vote or entries changed: the write must be fsynced before sending. */
  readonly mustSync: boolean;
}

export type SnapshotStatus = 'finished' | 'failure';

export interface PeerStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly lastIndex: number;
  readonly confState: ConfState;
  /** Leader only: replication progress per member. */
  readonly progress: ReadonlyMap<NodeId, PeerStatus>;
  readonly leadTransferee: NodeId;
}

const NETWORK_TERMLESS_TYPES = new Set(['prop', 'readIndex', 'transferLeader']);

/**
 * Ids handed to the API must be uint64 bigints; a number (even 2 for 2n)
 * would match no member and the call would do nothing without a word.
 */
function assertNodeIdArgument(id: NodeId, name: string): void {
  if (!isValidNodeId(id)) {
    throw new RaftInvariantError(`${name} must be a uint64 bigint node id > 0, got ${String(id)} (${typeof id})`);
  }
}

/**
 * A Raft node driven by the application: feed it ticks, messages and
 * requests; collect Ready batches; call advance() after handling each one.
 *
 * Not thread-safe and not reentrant; every method is synchronous and pure
 * apart from reading `config.storage` and `config.random`.
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private pendingReady: Ready | undefined = undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(validateConfig(config));
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** Advances logical time by one tick (elections, heartbeats, CheckQuorum). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (still subject to PreVote). */
  campaign(): void {
    this.raft.step(makeMessage({ type: 'hup', from: this.raft.id }));
  }

  /** Proposes data to be appended. Throws ProposalDroppedError if it cannot be. */
  propose(data: Uint8Array): void {
    this.raft.step(
      makeMessage({ type: 'prop', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'normal', data }] }),
    );
  }

  /**
   * Proposes a single-server membership change. At most one may be pending:
   * throws ProposalDroppedError('conf-change-pending') until the previous one
   * is applied. After it commits, call applyConfChange on every node.
   */
  proposeConfChange(cc: ConfChange): void {
    const data = encodeConfChange(cc);
    this.raft.step(
      makeMessage({ type: 'prop', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'confChange', data }] }),
    );
  }

  /** Applies a committed confChange entry's change; returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    assertNodeIdArgument(cc.nodeId, 'cc.nodeId');
    return this.raft.applyConfChange(cc);
  }

  /** Delivers a message received from a peer. */
  step(m: Message): void {
    if (isLocalMessageType(m.type)) {
      throw new RaftInvariantError(`cannot step local message type ${m.type} from the network`);
    }
    // A decoder must produce bigint ids: a number `from` would match no
    // member (1 !== 1n) and the message would be silently ignored.
    if (!isValidNodeId(m.from)) {
      throw new RaftInvariantError(`message ${m.type} has no valid sender: ${String(m.from)} (${typeof m.from})`);
    }
    if (m.term === 0 && !NETWORK_TERMLESS_TYPES.has(m.type)) {
      throw new RaftInvariantError(`message ${m.type} from ${formatNodeId(m.from)} has no term`);
    }
    this.raft.step(m);
  }

  /**
   * Requests a linearizable read point. The result arrives as a ReadState in
   * a later Ready carrying the same `context`, which must be unique per
   * request. Throws ProposalDroppedError if there is no leader to ask.
   */
  readIndex(context: Uint8Array): void {
    this.raft.step(makeMessage({ type: 'readIndex', from: NO_NODE, context }));
  }

  /** Asks the leader to hand leadership to `transferee` (a caught-up voter). */
  transferLeader(transferee: NodeId): void {
    assertNodeIdArgument(transferee, 'transferee');
    this.raft.step(makeMessage({ type: 'transferLeader', from: transferee }));
  }

  /** The transport failed to deliver to `id`: leader slows down replication to it. */
  reportUnreachable(id: NodeId): void {
    assertNodeIdArgument(id, 'id');
    this.raft.step(makeMessage({ type: 'unreachable', from: id }));
  }

  /** Outcome of sending a snapshot the leader asked for; required to leave snapshot state. */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    assertNodeIdArgument(id, 'id');
    this.raft.step(makeMessage({ type: 'snapStatus', from: id, reject: status === 'failure' }));
  }

  hasReady(): boolean {
    if (this.pendingReady !== undefined) return false;
    const r = this.raft;
    const soft = r.softState();
    return (
      soft.lead !== this.prevSoftState.lead ||
      soft.role !== this.prevSoftState.role ||
      !hardStateEqual(r.hardState(), this.prevHardState) ||
      r.log.unstable.entries.length > 0 ||
      r.log.hasPendingSnapshot() ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.hasNextCommittedEntries()
    );
  }

  /**
   * Collects what the application must persist, send and apply. Call
   * advance() before the next ready(); in between, tick/step/propose are
   * allowed and their effects appear in the next Ready.
   */
  ready(): Ready {
    assert(this.pendingReady === undefined, 'ready() called again before advance()');
    const r = this.raft;
    const soft = r.softState();
    const hard = r.hardState();
    const softChanged = soft.lead !== this.prevSoftState.lead || soft.role !== this.prevSoftState.role;
    const hardChanged = !hardStateEqual(hard, this.prevHardState);
    const entries = r.log.unstableEntries();
    const snapshot = r.log.unstable.snapshot;
    const rd: Ready = {
      ...(softChanged ? { softState: soft } : {}),
      ...(hardChanged ? { hardState: hard } : {}),
      readStates: r.readStates,
      entries,
      ...(snapshot !== undefined ? { snapshot } : {}),
      committedEntries: r.log.nextCommittedEntries(),
      messages: r.msgs,
      mustSync:
        entries.length > 0 || hard.term !== this.prevHardState.term || hard.vote !== this.prevHardState.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.prevSoftState = soft;
    this.pendingReady = rd;
    return rd;
  }

  /** Tells the node the last Ready was fully handled (persisted, sent, applied). */
  advance(): void {
    const rd = this.pendingReady;
    assert(rd !== undefined, 'advance() called without a pending ready()');
    this.pendingReady = undefined;
    const r = this.raft;
    if (rd.hardState !== undefined) this.prevHardState = rd.hardState;
    if (rd.snapshot !== undefined) {
      r.log.stableSnapTo(rd.snapshot.metadata.index);
      r.log.appliedTo(rd.snapshot.metadata.index);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) r.onPersisted(lastEntry.index, lastEntry.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      r.log.appliedTo(lastCommitted.index);
      r.reduceUncommittedSize(rd.committedEntries);
    }
    // Invariant: applied <= committed <= lastIndex.
    assert(
      r.log.applied <= r.log.committed && r.log.committed <= r.log.lastIndex(),
      () => `applied ${r.log.applied} <= committed ${r.log.committed} <= lastIndex ${r.log.lastIndex()} violated`,
    );
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, PeerStatus>();
    if (r.role === 'leader') {
      for (const [id, pr] of r.tracker.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
        });
      }
    }
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      confState: r.tracker.confState(),
      progress,
      leadTransferee: r.leadTransferee,
    };
  }

  /** Convenience: this node's role. */
  role(): StateRole {
    return this.raft.role;
  }

  /**
   * Test and simulation hook: read-only access to the state machine for
   * invariant checking. Servers should use status().
   */
  get inner(): Raft {
    return this.raft;
  }
}
