import { type ValidatedConfig } from './config.js';
import {
  CompactedError,
  ProposalDroppedError,
  SnapshotTemporarilyUnavailableError,
  assert,
  assertSafeIndex,
  type DropReason,
} from './errors.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  type StateRole,
  NO_NODE,
  compareNodeIds,
  decodeConfChange,
  makeMessage,
  payloadSizeBytes,
} from './messages.js';
import { voteResult } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadOnlyQueue } from './read-only.js';
import { ProgressTracker } from './tracker.js';

type CampaignKind = 'preElection' | 'election' | 'transfer';

/**
 * The Raft state machine. Pure: it reacts to tick() and step() by mutating
 * itself and queueing outgoing messages; it never does I/O, never reads a
 * clock, and draws randomness only from the injected source.
 *
 * Applications use RawNode, which wraps this class with Ready/advance.
 *
 * Always on: PreVote (§9.6 of Ongaro's thesis) and CheckQuorum (§6.2). With
 * both, a node partitioned from the leader cannot disrupt the cluster when it
 * returns, and a leader that lost its quorum steps down.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NO_NODE;
  lead: NodeId = NO_NODE;
  role: StateRole = 'follower';
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;

  /** Outgoing messages, drained by RawNode.ready(). */
  msgs: Message[] = [];
  /** ReadIndex results for requests issued on this node, drained by ready(). */
  readStates: ReadState[] = [];

  private readonly config: ValidatedConfig;
  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  // Invariant: electionTicks <= randomizedElectionTicks < 2 * electionTicks.
  private randomizedElectionTicks = 0;
  /** Leader: the node we are handing leadership to, or NO_NODE. */
  leadTransferee: NodeId = NO_NODE;
  /**
   * Leader: a conf change may be proposed only once `applied >= pendingConfIndex`.
   * This is what keeps at most one membership change in flight.
   */
  pendingConfIndex = 0;
  /** Leader: payload bytes appended but not yet applied (bounded by maxUncommittedEntriesBytes). */
  uncommittedSizeBytes = 0;
  private readonly readOnly = new ReadOnlyQueue();
  /** Leader: ReadIndex requests that arrived before the first commit of this term. */
  private pendingReadIndexMessages: Message[] = [];

  constructor(config: ValidatedConfig) {
    this.config = config;
    this.id = config.id;
    this.log = new RaftLog(config.storage, config.maxCommittedSizePerReadyBytes);
    this.tracker = new ProgressTracker(config.maxInflightMessages);
    const { hardState, confState } = config.storage.initialState();
    this.tracker.restore(confState, this.log.lastIndex() + 1);
    if (hardState.term !== 0 || hardState.vote !== NO_NODE || hardState.commit !== 0) {
      this.loadHardState(hardState);
    }
    if (config.applied !== undefined && config.applied > 0) {
      this.log.appliedTo(config.applied);
    }
    this.becomeFollower(this.term, NO_NODE);
  }

  // ---- public-ish accessors --------------------------------------------------

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  /** A voter in the current configuration; only voters campaign. */
  promotable(): boolean {
    return this.tracker.voters.has(this.id);
  }

  // ---- role transitions ------------------------------------------------------

  private loadHardState(hs: HardState): void {
    assertSafeIndex(hs.term, 'hardState.term');
    assert(
      hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      () => `hardState.commit ${hs.commit} out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
    );
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, () => `term must not decrease: ${this.term} -> ${term}`);
      assertSafeIndex(term, 'term');
      this.term = term;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NO_NODE;
    this.tracker.resetVotes();
    const lastIndex = this.log.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      pr.becomeProbe();
      pr.match = 0;
      pr.next = lastIndex + 1;
      pr.recentActive = false;
      if (id === this.id) {
        // Our own entries count towards commit only once durable: the leader
        // may send appends before its own write completes (see README).
        pr.match = this.log.lastPersistedIndex();
        pr.recentActive = true;
      }
    }
    this.pendingConfIndex = 0;
    this.uncommittedSizeBytes = 0;
    this.readOnly.clear();
    this.pendingReadIndexMessages = [];
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.config.random();
    assert(r >= 0 && r < 1, () => `random() must return [0, 1), got ${r}`);
    const et = this.config.electionTicks;
    this.randomizedElectionTicks = et + Math.floor(r * et);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition leader -> preCandidate');
    // PreVote does not change term or vote: a failed pre-election leaves no trace.
    this.tracker.resetVotes();
    this.role = 'preCandidate';
    this.lead = NO_NODE;
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition leader -> candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', () => `invalid transition ${this.role} -> leader`);
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.tracker.progress.get(this.id)?.becomeReplicate();
    // An empty entry of our term: committing it commits every earlier entry
    // (Figure 8), and it is what ReadIndex waits for.
    const appended = this.appendEntries([{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }]);
    assert(appended, 'the empty leader entry is never dropped');
    // A new leader may not know whether an unapplied conf change sits in its
    // log, so it proposes none until everything up to its own first entry is
    // applied. This is the fix for the single-server change bug (Ongaro,
    // raft-dev 2015): a conf change must follow a commit in the current term.
    this.pendingConfIndex = this.log.lastIndex();
  }

  // ---- ticking ---------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsedTicks++;
    if (this.promotable() && this.electionElapsedTicks >= this.randomizedElectionTicks) {
      this.electionElapsedTicks = 0;
      this.step(makeMessage({ type: 'hup', from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.config.electionTicks) {
      this.electionElapsedTicks = 0;
      this.step(makeMessage({ type: 'checkQuorum', from: this.id }));
      // A transfer that did not complete within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NO_NODE) this.leadTransferee = NO_NODE;
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsedTicks >= this.config.heartbeatTicks) {
      this.heartbeatElapsedTicks = 0;
      this.step(makeMessage({ type: 'beat', from: this.id }));
    }
  }

  // ---- sending ---------------------------------------------------------------

  private send(fields: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
    // A forwarded transferLeader keeps its `from` (the transferee).
    const m = makeMessage({ ...fields, from: fields.from ?? this.id });
    if (m.type === 'vote' || m.type === 'voteResp' || m.type === 'preVote' || m.type === 'preVoteResp') {
      // Vote messages carry the term they are about (which for PreVote is our
      // term + 1), so the caller must set it.
      assert(m.term !== 0, () => `term should be set when sending ${m.type}`);
    } else if (m.type === 'prop' || m.type === 'readIndex' || m.type === 'transferLeader') {
      // Forwarded requests carry no term: they are handled like local ones.
    } else {
      assert(fields.term === undefined, () => `term should not be set when sending ${m.type}`);
      (m as { term: number }).term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends an append (or snapshot) to `to` if its progress allows. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let entries: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      entries = this.log.entriesFrom(pr.next, this.config.maxSizePerMessageBytes);
    } catch (e) {
      if (e instanceof CompactedError) return this.sendSnapshot(to);
      throw e;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed });
    const last = entries[entries.length - 1];
    pr.sentEntries(entries.length, last === undefined ? prevIndex : last.index);
    return true;
  }

  private sendSnapshot(to: NodeId): boolean {
    const pr = this.tracker.progress.get(to)!;
    // Snapshots are expensive; do not send them to a peer that may be down.
    if (!pr.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch (e) {
      if (e instanceof SnapshotTemporarilyUnavailableError) return false;
      throw e;
    }
    assert(snapshot.metadata.index > 0, 'need a non-empty snapshot');
    pr.becomeSnapshot(snapshot.metadata.index);
    this.send({ type: 'snap', to, snapshot });
    return true;
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private bcastAppend(): void {
    for (const id of this.tracker.progress.keys()) {
      if (id !== this.id) this.sendAppend(id);
    }
  }

  private bcastHeartbeat(context?: Uint8Array): void {
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit beyond what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send(context === undefined ? { type: 'heartbeat', to: id, commit } : { type: 'heartbeat', to: id, commit, context });
    }
  }

  // ---- log manipulation ------------------------------------------------------

  /** Appends entries at our term. Returns false if the uncommitted bound would be exceeded. */
  private appendEntries(entries: Entry[]): boolean {
    let index = this.log.lastIndex();
    const stamped = entries.map((e) => ({ ...e, term: this.term, index: ++index }));
    const size = payloadSizeBytes(stamped);
    // Always admit one proposal when nothing is outstanding, however large, so
    // that progress is possible; empty entries (leader no-op) are always admitted.
    if (this.uncommittedSizeBytes > 0 && size > 0 && this.uncommittedSizeBytes + size > this.config.maxUncommittedEntriesBytes) {
      return false;
    }
    this.uncommittedSizeBytes += size;
    this.log.append(stamped);
    return true;
  }

  /** Called for entries the application applied, to release uncommitted budget. */
  reduceUncommittedSize(entries: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    const size = payloadSizeBytes(entries);
    // Entries of a previous leadership may be counted here: saturate at 0.
    this.uncommittedSizeBytes = Math.max(0, this.uncommittedSizeBytes - size);
  }

  private maybeCommit(): boolean {
    const committed = this.log.maybeCommit(this.tracker.committedIndex(), this.term);
    if (committed && this.committedEntryInCurrentTerm()) this.releasePendingReadIndexMessages();
    return committed;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  /** Called after the application durably persisted entries up to `index`. */
  onPersisted(index: number, term: number): void {
    this.log.stableTo(index, term);
    if (this.role !== 'leader') return;
    const self = this.tracker.progress.get(this.id);
    // Only count entries we still hold at that term (a newer leader may have
    // replaced them between ready() and advance()).
    if (self !== undefined && this.log.matchTerm(index, term) && self.maybeUpdate(index)) {
      if (this.maybeCommit()) this.bcastAppend();
    }
  }

  // ---- step ------------------------------------------------------------------

  step(m: Message): void {
    if (m.term === 0) {
      // Local message (or a forwarded prop/readIndex/transferLeader).
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const inLease = this.lead !== NO_NODE && this.electionElapsedTicks < this.config.electionTicks;
        if (inLease && !m.leaderTransfer) {
          // CheckQuorum lease: we heard from a live leader within the minimum
          // election timeout, so this candidate is probably partitioned from
          // it. Ignore it without adopting its term, or it could depose a
          // healthy leader.
          return;
        }
      }
      if (m.type === 'preVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // We bump our term when the pre-election is won, not now.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE);
      }
    } else if (m.term < this.term) {
      if (m.type === 'app' || m.type === 'heartbeat') {
        // A stale leader (e.g. one that was partitioned while we advanced our
        // term). Under CheckQuorum we will not adopt its term via votes, so
        // tell it ours to make it step down.
        this.send({ type: 'appResp', to: m.from });
      } else if (m.type === 'preVote') {
        // Reject so the pre-candidate learns our term.
        this.send({ type: 'preVoteResp', to: m.from, term: this.term, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'hup':
        this.hup(m.leaderTransfer ? 'transfer' : 'preElection');
        return;
      case 'vote':
      case 'preVote': {
        // We may vote again for the node we already voted for (retransmits),
        // freely when we have no vote and no leader this term, and always in a
        // pre-vote for a future term (it binds us to nothing).
        const canVote =
          this.vote === m.from ||
          (this.vote === NO_NODE && this.lead === NO_NODE) ||
          (m.type === 'preVote' && m.term > this.term);
        const respType: MessageType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // Grant with the term of the request: for PreVote that is term+1,
          // which the pre-candidate recognises as a grant for its election.
          this.send({ type: respType, to: m.from, term: m.term });
          if (m.type === 'vote') {
            this.electionElapsedTicks = 0;
            this.vote = m.from;
          }
        } else {
          this.send({ type: respType, to: m.from, term: this.term, reject: true });
        }
        return;
      }
      default:
        switch (this.role) {
          case 'leader':
            this.stepLeader(m);
            return;
          case 'candidate':
          case 'preCandidate':
            this.stepCandidate(m);
            return;
          case 'follower':
            this.stepFollower(m);
            return;
        }
    }
  }

  private hup(kind: CampaignKind): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // A node that has not applied a committed conf change does not yet know
    // the configuration it would lead; it must not campaign until it does.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(kind);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    if (lo > this.log.committed) return false;
    const entries = this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    return entries.some((e) => e.type === 'confChange');
  }

  private campaign(kind: CampaignKind): void {
    let voteType: MessageType;
    let term: number;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteType = 'preVote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // Single voter: won immediately.
      if (kind === 'preElection') this.campaign('election');
      else this.becomeLeaderAndAnnounce();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    // In ascending id order, so the messages (and a simulation) do not depend on Set insertion order.
    for (const id of [...this.tracker.voters].sort(compareNodeIds)) {
      if (id === this.id) continue;
      this.send({
        type: voteType,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
        ...(kind === 'transfer' ? { leaderTransfer: true } : {}),
      });
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.tracker.recordVote(id, granted);
    return this.tracker.tallyVotes();
  }

  private becomeLeaderAndAnnounce(): void {
    this.becomeLeader();
    this.bcastAppend();
  }

  private dropRequest(m: Message, reason: DropReason, detail?: string): void {
    // Requests issued on this node surface as a typed error; requests
    // forwarded from a peer are dropped silently (the peer times out).
    if (m.from === this.id || m.from === NO_NODE) throw new ProposalDroppedError(reason, detail);
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'beat':
        this.bcastHeartbeat(this.readOnly.lastPendingContext());
        return;
      case 'checkQuorum':
        if (!this.tracker.quorumActive(this.id)) {
          // We cannot reach a quorum: stop serving (and stop accepting
          // proposals that could never commit) so a reachable majority can
          // elect a leader without contending with us.
          this.becomeFollower(this.term, NO_NODE);
        }
        for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case 'prop':
        this.leaderPropose(m);
        return;
      case 'readIndex':
        this.leaderReadIndex(m);
        return;
      default:
        break;
    }

    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return; // Not a member (e.g. just removed).
    switch (m.type) {
      case 'appResp': {
        pr.recentActive = true;
        if (m.reject) {
          let nextProbeIndex = m.rejectHint;
          if (m.logTerm > 0) nextProbeIndex = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, nextProbeIndex)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return;
        }
        const wasPaused = pr.isPaused();
        if (!pr.maybeUpdate(m.index)) return;
        if (pr.state === 'probe') {
          pr.becomeReplicate();
        } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
          pr.becomeProbe();
          pr.becomeReplicate();
        } else if (pr.state === 'replicate') {
          pr.inflights.freeLE(m.index);
        }
        if (this.maybeCommit()) {
          this.bcastAppend();
        } else if (wasPaused) {
          this.sendAppend(m.from);
        }
        // Stream more while the window allows.
        while (this.role === 'leader' && this.maybeSendAppend(m.from, false)) {
          // keep sending
        }
        if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
          this.send({ type: 'timeoutNow', to: m.from });
        }
        return;
      }
      case 'heartbeatResp': {
        pr.recentActive = true;
        pr.probeSent = false;
        // Appends or their acks may have been lost while the window was full;
        // free a slot so replication cannot stall forever.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context === undefined) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (acks === undefined) return;
        const votes = new Map<NodeId, boolean>();
        for (const id of acks) votes.set(id, true);
        if (voteResult(this.tracker.voters, votes) !== 'won') return;
        for (const read of this.readOnly.advance(m.context)) {
          this.respondToReadIndex(read.from, read.index, read.context);
        }
        return;
      }
      case 'snapStatus':
        if (pr.state !== 'snapshot') return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before probing again: if the snapshot
        // failed the peer is likely unreachable right now.
        pr.probeSent = true;
        return;
      case 'unreachable':
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      case 'transferLeader': {
        if (pr.isLearner) return;
        const transferee = m.from;
        if (this.leadTransferee === transferee || transferee === this.id) return;
        this.leadTransferee = transferee;
        this.electionElapsedTicks = 0;
        if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: transferee });
        else this.sendAppend(transferee);
        return;
      }
      default:
        return;
    }
  }

  private leaderPropose(m: Message): void {
    assert(m.entries.length > 0, 'proposal without entries');
    if (!this.tracker.progress.has(this.id)) return this.dropRequest(m, 'not-a-member');
    if (this.leadTransferee !== NO_NODE) return this.dropRequest(m, 'leader-transfer-in-progress');
    let confIndex = 0;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (e.type !== 'confChange') continue;
      // Invariant: at most one conf change is appended but not yet applied.
      if (this.pendingConfIndex > this.log.applied || confIndex !== 0) {
        return this.dropRequest(
          m,
          'conf-change-pending',
          `pendingConfIndex ${this.pendingConfIndex} > applied ${this.log.applied}`,
        );
      }
      const problem = this.validateConfChange(decodeConfChange(e.data));
      if (problem !== undefined) return this.dropRequest(m, 'invalid-conf-change', problem);
      confIndex = this.log.lastIndex() + i + 1;
    }
    if (!this.appendEntries(m.entries.slice())) return this.dropRequest(m, 'uncommitted-limit-exceeded');
    if (confIndex !== 0) this.pendingConfIndex = confIndex;
    this.bcastAppend();
  }

  private validateConfChange(cc: ConfChange): string | undefined {
    if (cc.type === 'removeNode' && this.tracker.voters.has(cc.nodeId) && this.tracker.voters.size === 1) {
      return 'cannot remove the last voter';
    }
    if (cc.type === 'addLearner' && this.tracker.voters.has(cc.nodeId)) {
      return 'demoting a voter to learner is not supported';
    }
    return undefined;
  }

  private leaderReadIndex(m: Message): void {
    const context = m.context ?? new Uint8Array(0);
    // A new leader's commit index may lag the true commit index until it
    // commits an entry of its own term; answering earlier could serve a
    // stale read. Queue until then.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadIndexMessages.length >= this.config.maxPendingReadIndexRequests) {
        return this.dropRequest(m, 'read-index-limit-exceeded');
      }
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.confirmReadIndex(m.from === NO_NODE ? this.id : m.from, context);
  }

  private confirmReadIndex(from: NodeId, context: Uint8Array): void {
    const index = this.log.committed;
    if (this.tracker.voters.size === 1 && this.tracker.voters.has(this.id)) {
      this.respondToReadIndex(from, index, context);
      return;
    }
    if (this.readOnly.size() >= this.config.maxPendingReadIndexRequests) {
      if (from === this.id) throw new ProposalDroppedError('read-index-limit-exceeded');
      return;
    }
    // Confirm we are still leader: a quorum must answer a heartbeat sent
    // after the request arrived.
    if (!this.readOnly.add(index, from, context)) return;
    this.readOnly.recvAck(this.id, context);
    this.bcastHeartbeat(context);
  }

  private releasePendingReadIndexMessages(): void {
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) {
      this.confirmReadIndex(m.from === NO_NODE ? this.id : m.from, m.context ?? new Uint8Array(0));
    }
  }

  private respondToReadIndex(from: NodeId, index: number, context: Uint8Array): void {
    if (from === this.id || from === NO_NODE) this.readStates.push({ index, context });
    else this.send({ type: 'readIndexResp', to: from, index, context });
  }

  private stepCandidate(m: Message): void {
    const myRespType: MessageType = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'prop':
        return this.dropRequest(m, 'no-leader');
      case 'readIndex':
        return this.dropRequest(m, 'no-leader');
      case 'app':
        this.becomeFollower(m.term, m.from); // A leader exists for this term.
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'voteResp':
      case 'preVoteResp': {
        if (m.type !== myRespType) return;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') this.campaign('election');
          else this.becomeLeaderAndAnnounce();
        } else if (result === 'lost') {
          // A preVoteResp rejection with a higher term was handled in step().
          this.becomeFollower(this.term, NO_NODE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'prop':
        if (this.lead === NO_NODE) return this.dropRequest(m, 'no-leader');
        if (this.config.disableProposalForwarding) return this.dropRequest(m, 'forwarding-disabled');
        this.send({ type: 'prop', to: this.lead, entries: m.entries });
        return;
      case 'app':
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'transferLeader':
        if (this.lead === NO_NODE) return;
        this.send({ type: 'transferLeader', to: this.lead, from: m.from });
        return;
      case 'timeoutNow':
        // Only a voter may take over; the leader checked we are caught up.
        this.hup('transfer');
        return;
      case 'readIndex':
        if (this.lead === NO_NODE) return this.dropRequest(m, 'no-leader');
        this.send({ type: 'readIndex', to: this.lead, ...(m.context ? { context: m.context } : {}) });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(0) });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      // Everything up to committed already matches the leader.
      this.send({ type: 'appResp', to: m.from, index: this.log.committed });
      return;
    }
    const lastNewIndex = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNewIndex !== undefined) {
      this.send({ type: 'appResp', to: m.from, index: lastNewIndex });
      return;
    }
    // Mismatch at m.index. Hint the largest index that may still match: at
    // most our last index, skipping back over entries from terms newer than
    // the leader's entry at m.index (they cannot match).
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send(m.context ? { type: 'heartbeatResp', to: m.from, context: m.context } : { type: 'heartbeatResp', to: m.from });
  }

  private handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (snapshot === undefined) return;
    if (this.restore(snapshot)) {
      this.send({ type: 'appResp', to: m.from, index: this.log.lastIndex() });
    } else {
      this.send({ type: 'appResp', to: m.from, index: this.log.committed });
    }
  }

  /** Installs a snapshot from the leader. Returns false if it brings nothing new. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    assert(this.role === 'follower', () => `restore called in role ${this.role}`);
    if (this.log.matchTerm(index, term)) {
      // We already hold the entry: by Log Matching our prefix equals the
      // snapshot's, so just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.tracker.restore(confState, this.log.lastIndex() + 1);
    return true;
  }

  // ---- membership ------------------------------------------------------------

  /**
   * Applies a committed conf change. Membership takes effect when applied
   * (not when appended, unlike the dissertation): every node switches
   * configuration at the same log position.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const next = this.log.lastIndex() + 1;
    switch (cc.type) {
      case 'addNode':
        this.tracker.addVoter(cc.nodeId, next);
        break;
      case 'addLearner':
        // Demotion is refused at proposal time; ignoring it here keeps every
        // node deterministic if one slips through (e.g. proposed by an older leader).
        if (!this.tracker.voters.has(cc.nodeId)) this.tracker.addLearner(cc.nodeId, next);
        break;
      case 'removeNode':
        // Never remove the last voter: the cluster could not make progress.
        if (!(this.tracker.voters.has(cc.nodeId) && this.tracker.voters.size === 1)) this.tracker.remove(cc.nodeId);
        break;
    }
    if (this.role === 'leader') {
      if (!this.tracker.voters.has(this.id)) {
        // Removed (or never a voter): tell followers the latest commit index
        // once more, then stop leading; the remaining voters elect a leader.
        this.bcastAppend();
        this.becomeFollower(this.term, NO_NODE);
      } else {
        if (this.leadTransferee !== NO_NODE && !this.tracker.voters.has(this.leadTransferee)) {
          this.leadTransferee = NO_NODE;
        }
        // The quorum changed: entries may now be committed. Broadcast either
        // way so that new members start receiving the log.
        this.maybeCommit();
        this.bcastAppend();
      }
    }
    return this.tracker.confState();
  }
}

