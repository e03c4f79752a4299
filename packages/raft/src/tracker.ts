import { assert } from './errors.js';
import { type ConfState, type NodeId, compareNodeIds, formatNodeId, isValidNodeId } from './messages.js';
import { Progress } from './progress.js';
import { type VoteResult, majority, majorityCommittedIndex, voteResult } from './quorum.js';

/**
 * Membership plus the leader's per-peer Progress and the current election's
 * votes.
 *
 * Invariant: voters and learners are disjoint, and progress has exactly one
 * entry per member (this node included).
 */
export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(private readonly maxInflightMessages: number) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(compareNodeIds), learners: [...this.learners].sort(compareNodeIds) };
  }

  /** Replaces the membership (from a snapshot or at startup). */
  restore(cs: ConfState, nextIndex: number): void {
    for (const id of [...cs.voters, ...cs.learners]) {
      // A number here would be a different Map key from the bigint in messages.
      assert(isValidNodeId(id), () => `confState member ${String(id)} (${typeof id}) is not a uint64 bigint id`);
    }
    this.voters = new Set(cs.voters);
    this.learners = new Set(cs.learners);
    this.progress.clear();
    for (const id of this.voters) this.progress.set(id, new Progress(nextIndex, this.maxInflightMessages, false));
    for (const id of this.learners) {
      assert(!this.voters.has(id), () => `node ${formatNodeId(id)} is both voter and learner`);
      this.progress.set(id, new Progress(nextIndex, this.maxInflightMessages, true));
    }
  }

  isMember(id: NodeId): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  addVoter(id: NodeId, nextIndex: number): void {
    if (this.voters.has(id)) return;
    if (this.learners.delete(id)) {
      // Promotion keeps the learner's replication progress.
      this.progress.get(id)!.isLearner = false;
    } else {
      const pr = new Progress(nextIndex, this.maxInflightMessages, false);
      // A new member is given a full election timeout before CheckQuorum counts it as inactive.
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
    this.voters.add(id);
  }

  addLearner(id: NodeId, nextIndex: number): void {
    if (this.isMember(id)) return;
    const pr = new Progress(nextIndex, this.maxInflightMessages, true);
    pr.recentActive = true;
    this.progress.set(id, pr);
    this.learners.add(id);
  }

  remove(id: NodeId): void {
    this.voters.delete(id);
    this.learners.delete(id);
    this.progress.delete(id);
  }

  committedIndex(): number {
    return majorityCommittedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  /** Did a quorum of voters communicate since the last check? */
  quorumActive(selfId: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === selfId || this.progress.get(id)?.recentActive) active++;
    }
    return active >= majority(this.voters.size);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteResult {
    return voteResult(this.voters, this.votes);
  }
}
