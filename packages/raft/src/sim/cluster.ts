/**
 * A deterministic, seeded simulation of a Raft cluster in one process.
 *
 * Time is ticks. Each step every live node ticks, due messages are delivered
 * (each delivery is followed by handling that node's Ready), clients issue
 * KV operations, and faults are injected: message loss, duplication, delay
 * (hence reordering), symmetric/asymmetric/partial partitions, and crashes
 * that lose everything not persisted — including crashes in the middle of
 * handling a Ready. All randomness comes from one Prng, so a seed replays
 * exactly.
 *
 * The harness follows the persistence contract in README.md: snapshot, then
 * entries and hard state are written to the node's MemoryStorage (its
 * "disk") before messages are sent, except that a leader may send its 'app'
 * messages first; committed entries are applied after; then advance().
 */
import { ProposalDroppedError, RaftInvariantError } from '../errors.js';
import {
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  NO_NODE,
  decodeConfChange,
  formatNodeId,
  isValidNodeId,
} from '../messages.js';
import { RawNode } from '../raw-node.js';
import { MemoryStorage } from '../storage.js';
import { type CheckOutcome, type KvOperation, checkKvHistory } from './linearizability.js';
import { KvStateMachine, decodePut, encodePut } from './kv.js';
import { Prng, fnv1a, hashString, uint64NodeIds } from './prng.js';

export const SIM_ELECTION_TICKS = 10;
export const SIM_HEARTBEAT_TICKS = 2;
/** Client operations not answered within this many ticks fail (puts become maybe-applied). */
export const SIM_OP_TIMEOUT_TICKS = 40;
/** Ticks of a healed, fault-free network at the end, to let the cluster converge. */
export const SIM_QUIET_TICKS = 200;
/** Search budget of the linearizability checker per key. */
export const SIM_MAX_CHECKER_STEPS_PER_KEY = 200_000;
const MAX_DELIVERY_ROUNDS_PER_STEP = 64;

export interface SimOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  /** Disable all faults (tests of the happy path). Default true. */
  readonly faults?: boolean;
  /** Exercise membership changes (remove/re-add as learner/promote). Default true. */
  readonly membershipChanges?: boolean;
  /** Record a human-readable trace (slow; for debugging one seed). */
  readonly trace?: boolean;
  /**
   * The members' ids, one per node, ascending. Default: uint64 ids derived
   * from the seed (uint64NodeIds), spread over the whole range as etcd's are.
   * Ids only matter through their order, so any ascending list replays the
   * same run.
   */
  readonly nodeIds?: readonly NodeId[];
}

export interface Violation {
  readonly invariant: string;
  readonly details: string;
  readonly step: number;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly violation: Violation | undefined;
  readonly linearizability: CheckOutcome['result'];
  readonly stateHash: string;
  readonly stats: {
    readonly committedIndex: number;
    readonly operations: number;
    readonly leaderTerms: number;
    readonly crashes: number;
    readonly snapshotsSent: number;
    readonly confChanges: number;
  };
  readonly trace: readonly string[];
}

interface SimNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  kv: KvStateMachine;
  confState: ConfState;
  appliedIndex: number;
  /** Highest commit seen from this incarnation (must never decrease). */
  lastCommit: number;
  /** Reads whose ReadState arrived, waiting for appliedIndex to reach their index. */
  readyReads: { opId: number; index: number }[];
}

interface PendingOp {
  readonly opId: number;
  readonly client: number;
  readonly kind: 'put' | 'get';
  readonly key: string;
  readonly value: string;
  readonly nodeId: NodeId;
  readonly call: number;
  readonly deadlineStep: number;
}

interface InFlight {
  readonly deliverAt: number;
  readonly seq: number;
  readonly msg: Message;
}

class ViolationFound extends Error {
  constructor(readonly violation: Violation) {
    super(`${violation.invariant}: ${violation.details}`);
  }
}

const KEYS = ['x', 'y', 'z'];
const CLIENTS = 3;

export function runSimulation(options: SimOptions): SimResult {
  return new Simulation(options).run();
}

class Simulation {
  private readonly prng: Prng;
  private readonly faults: boolean;
  private readonly membershipChanges: boolean;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly ids: NodeId[];
  private step = 0;
  /** Logical clock for client history events; strictly increasing. */
  private eventClock = 0;
  private seq = 0;
  private inFlight: InFlight[] = [];
  /** One-way links that drop everything, keyed by linkKey(from, to). */
  private readonly blockedLinks = new Set<string>();
  private lossRate = 0;
  private duplicateRate = 0;
  private maxDelayTicks = 0;
  private crashMidReadyRate = 0;
  private snapshotEveryEntries = 0;
  /** Per node: probability of missing a tick (a slow clock), so clocks drift apart. */
  private readonly tickSkipRate = new Map<NodeId, number>();
  private keepEntriesAfterCompaction = 0;
  private readonly traceLines: string[] = [];

  // Clients and history.
  private nextOpId = 1;
  private readonly clientBusy: (number | undefined)[] = new Array<number | undefined>(CLIENTS).fill(undefined);
  private readonly pendingOps = new Map<number, PendingOp>();
  private readonly history: KvOperation[] = [];
  /** Puts whose outcome is unknown (timed out / node crashed), resolved at the end. */
  private readonly maybePuts: PendingOp[] = [];
  /** Event time at which a request id was first applied by any node. */
  private readonly firstAppliedAt = new Map<number, number>();

  // Invariant bookkeeping.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** (index:term) -> hash of the entry and the term of its predecessor (Log Matching). */
  private readonly entryByIndexTerm = new Map<string, { hash: number; prevTerm: number | undefined }>();
  /** index -> the entry applied at that index by whichever node applied it first. */
  private readonly appliedByIndex = new Map<number, { term: number; hash: number }>();
  /** index -> term of the leader that committed it, and the entry's term. */
  private readonly committedBy = new Map<number, { leaderTerm: number; entryTerm: number }>();
  private maxCommitted = 0;
  private crashes = 0;
  private snapshotsSent = 0;
  private confChanges = 0;
  private lastConfChangeStep = 0;

  constructor(private readonly options: SimOptions) {
    this.prng = new Prng(options.seed);
    this.faults = options.faults ?? true;
    this.membershipChanges = (options.membershipChanges ?? true) && this.faults;
    this.ids = options.nodeIds === undefined ? uint64NodeIds(options.seed, options.nodes) : [...options.nodeIds];
    if (this.ids.length !== options.nodes) throw new RangeError(`nodeIds has ${this.ids.length} ids for ${options.nodes} nodes`);
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i]!;
      if (!isValidNodeId(id)) throw new RangeError(`nodeIds[${i}] is not a uint64 bigint id > 0: ${String(id)}`);
      if (i > 0 && id <= this.ids[i - 1]!) throw new RangeError('nodeIds must be strictly ascending');
    }
    const confState: ConfState = { voters: this.ids, learners: [] };
    for (const id of this.ids) {
      const storage = MemoryStorage.bootstrap(confState);
      const node: SimNode = {
        id,
        storage,
        raw: undefined,
        kv: new KvStateMachine(),
        confState,
        appliedIndex: 0,
        lastCommit: 0,
        readyReads: [],
      };
      this.nodes.set(id, node);
      this.start(node);
    }
    if (this.faults) {
      this.lossRate = this.prng.pick([0, 0.01, 0.05, 0.15]);
      this.duplicateRate = this.prng.pick([0, 0.02, 0.1]);
      this.maxDelayTicks = this.prng.pick([0, 1, 2, 4]);
      this.crashMidReadyRate = this.prng.pick([0, 0.002, 0.01]);
    }
    for (const id of this.ids) this.tickSkipRate.set(id, this.faults ? this.prng.pick([0, 0, 0, 0.3, 0.6]) : 0);
    this.snapshotEveryEntries = this.prng.pick([8, 20, 1000]);
    this.keepEntriesAfterCompaction = this.prng.pick([0, 2, 10]);
  }

  run(): SimResult {
    let violation: Violation | undefined;
    let linearizability: CheckOutcome['result'] = 'unchecked';
    try {
      for (this.step = 0; this.step < this.options.steps; this.step++) {
        if (this.faults) this.injectFaults();
        this.runOneStep(true);
      }
      this.quietPeriod();
      const outcome = this.checkLinearizability();
      linearizability = outcome.result;
      if (outcome.result === 'violation') {
        throw new ViolationFound({ invariant: 'linearizability', details: `key ${outcome.key}: ${outcome.detail}`, step: this.step });
      }
    } catch (e) {
      if (e instanceof ViolationFound) violation = e.violation;
      else if (e instanceof RaftInvariantError) {
        violation = { invariant: 'raft-assertion', details: e.message, step: this.step };
      } else throw e;
    }
    return {
      seed: this.options.seed,
      nodes: this.options.nodes,
      violation,
      linearizability,
      stateHash: this.stateHash(),
      stats: {
        committedIndex: this.maxCommitted,
        operations: this.history.length,
        leaderTerms: this.leaderOfTerm.size,
        crashes: this.crashes,
        snapshotsSent: this.snapshotsSent,
        confChanges: this.confChanges,
      },
      trace: this.traceLines,
    };
  }

  private trace(line: () => string): void {
    if (this.options.trace) this.traceLines.push(`[${this.step}] ${line()}`);
  }

  private violate(invariant: string, details: string): never {
    throw new ViolationFound({ invariant, details, step: this.step });
  }

  // ---- node lifecycle ----------------------------------------------------------

  private start(node: SimNode): void {
    const snap = node.storage.snapshot();
    node.kv = KvStateMachine.deserialize(snap.data);
    node.confState = snap.metadata.confState;
    node.appliedIndex = snap.metadata.index;
    node.lastCommit = 0;
    node.readyReads = [];
    node.raw = new RawNode({
      id: node.id,
      storage: node.storage,
      random: () => this.prng.next(),
      electionTicks: SIM_ELECTION_TICKS,
      heartbeatTicks: SIM_HEARTBEAT_TICKS,
      applied: snap.metadata.index,
      maxSizePerMessageBytes: 256,
      maxInflightMessages: 4,
      maxUncommittedEntriesBytes: 4096,
    });
    this.trace(() => `start n${formatNodeId(node.id)} snap=${snap.metadata.index} hs=${describeHardState(node.storage.initialState().hardState)}`);
  }

  private crash(node: SimNode, why: string): void {
    this.trace(() => `crash n${formatNodeId(node.id)} (${why})`);
    node.raw = undefined;
    node.readyReads = [];
    this.crashes++;
    // Everything in memory is gone; clients waiting on this node time out.
    for (const op of [...this.pendingOps.values()]) {
      if (op.nodeId === node.id) this.failOp(op);
    }
  }

  // ---- the step loop -----------------------------------------------------------

  private runOneStep(clientsActive: boolean): void {
    for (const id of this.ids) {
      const node = this.nodes.get(id)!;
      if (node.raw === undefined) continue;
      const skip = this.tickSkipRate.get(id)!;
      if (skip > 0 && this.prng.chance(skip)) continue;
      node.raw.tick();
      this.handleReady(node);
    }
    this.deliverDueMessages();
    if (clientsActive) this.clientsAct();
    this.expireOps();
  }

  private deliverDueMessages(): void {
    for (let round = 0; round < MAX_DELIVERY_ROUNDS_PER_STEP; round++) {
      const due: InFlight[] = [];
      const later: InFlight[] = [];
      for (const f of this.inFlight) (f.deliverAt <= this.step ? due : later).push(f);
      if (due.length === 0) return;
      this.inFlight = later;
      due.sort((a, b) => a.seq - b.seq);
      for (const f of due) this.deliver(f.msg);
    }
  }

  private deliver(m: Message): void {
    const node = this.nodes.get(m.to);
    if (node === undefined || node.raw === undefined) return;
    // Most of the time nothing is blocked; skip building the key (two bigint-to-hex conversions).
    if (this.blockedLinks.size > 0 && this.blockedLinks.has(linkKey(m.from, m.to))) return;
    this.trace(() => `deliver ${describeMessage(m)}`);
    node.raw.step(m);
    this.handleReady(node);
  }

  private send(m: Message): void {
    if (this.lossRate > 0 && this.prng.chance(this.lossRate)) return;
    const copies = this.duplicateRate > 0 && this.prng.chance(this.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.maxDelayTicks === 0 ? 0 : this.prng.int(this.maxDelayTicks + 1);
      this.inFlight.push({ deliverAt: this.step + delay, seq: this.seq++, msg: m });
    }
  }

  // ---- Ready handling per the persistence contract -----------------------------

  private handleReady(node: SimNode): void {
    for (let i = 0; i < 16; i++) {
      const raw = node.raw;
      if (raw === undefined || !raw.hasReady()) return;
      const rd = raw.ready();
      const status = raw.status();
      const term = status.hardState.term;

      if (rd.softState?.role === 'leader') this.checkNewLeader(node, term);
      if (rd.hardState !== undefined) this.checkHardState(node, rd.hardState);

      // Fault: crash while handling this Ready.
      if (this.crashMidReadyRate > 0 && this.prng.chance(this.crashMidReadyRate)) {
        const stage = this.prng.int(2);
        if (stage === 0) {
          // Before anything is durable. A leader may already have sent its
          // appends (the one exception the contract allows).
          if (raw.role() === 'leader') for (const m of rd.messages) if (m.type === 'app') this.send(m);
          this.crash(node, 'before persisting a Ready');
          return;
        }
        // After persisting, before sending or applying.
        this.persist(node, rd);
        this.crash(node, 'after persisting a Ready');
        return;
      }

      // A leader may send appends in parallel with its own write: model it by
      // sending them first.
      const leaderAppendsFirst = raw.role() === 'leader' && this.prng.chance(0.5);
      if (leaderAppendsFirst) for (const m of rd.messages) if (m.type === 'app') this.send(m);
      this.persist(node, rd);
      for (const m of rd.messages) {
        if (leaderAppendsFirst && m.type === 'app') continue;
        this.send(m);
        if (m.type === 'snap') {
          this.snapshotsSent++;
          // The transport "finished" the send; if the network drops it, the
          // leader's probe after a heartbeat response finds out.
          raw.reportSnapshot(m.to, 'finished');
        }
      }
      this.apply(node, rd.committedEntries);
      for (const rs of rd.readStates) {
        const opId = decodeReadContext(rs.context);
        if (this.pendingOps.has(opId)) node.readyReads.push({ opId, index: rs.index });
      }
      this.serveReads(node);
      raw.advance();
      this.maybeCompact(node);
    }
  }

  private persist(node: SimNode, rd: ReturnType<RawNode['ready']>): void {
    if (rd.snapshot !== undefined) {
      node.storage.applySnapshot(rd.snapshot);
      node.kv = KvStateMachine.deserialize(rd.snapshot.data);
      node.confState = rd.snapshot.metadata.confState;
      node.appliedIndex = rd.snapshot.metadata.index;
      this.trace(() => `n${formatNodeId(node.id)} installs snapshot @${rd.snapshot!.metadata.index}`);
    }
    if (rd.entries.length > 0) {
      node.storage.append(rd.entries);
      this.checkLogMatching(node, rd.entries);
    }
    if (rd.hardState !== undefined) node.storage.setHardState(rd.hardState);
  }

  private apply(node: SimNode, entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index <= node.appliedIndex) {
        this.violate('apply-order', `n${formatNodeId(node.id)} asked to apply ${e.index} but already applied ${node.appliedIndex}`);
      }
      if (e.index !== node.appliedIndex + 1) {
        this.violate('apply-order', `n${formatNodeId(node.id)} applies ${e.index} after ${node.appliedIndex}: gap`);
      }
      // State machine safety: every node applies the same entry at an index.
      const hash = entryHash(e);
      const prior = this.appliedByIndex.get(e.index);
      if (prior === undefined) {
        this.appliedByIndex.set(e.index, { term: e.term, hash });
        if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      } else if (prior.term !== e.term || prior.hash !== hash) {
        this.violate(
          'state-machine-safety',
          `n${formatNodeId(node.id)} applied index ${e.index} term ${e.term} but another node applied term ${prior.term} there`,
        );
      }
      node.appliedIndex = e.index;
      if (e.type === 'confChange') {
        const cc = decodeConfChange(e.data);
        node.confState = node.raw!.applyConfChange(cc);
        this.trace(
          () => `n${formatNodeId(node.id)} applies conf change ${cc.type} n${formatNodeId(cc.nodeId)} -> ${describeConfState(node.confState)}`,
        );
        continue;
      }
      const cmd = decodePut(e.data);
      if (cmd === undefined) continue;
      node.kv.apply(cmd);
      if (!this.firstAppliedAt.has(cmd.requestId)) this.firstAppliedAt.set(cmd.requestId, ++this.eventClock);
      const op = this.pendingOps.get(cmd.requestId);
      if (op !== undefined && op.nodeId === node.id) {
        this.completeOp(op, op.value);
      }
    }
  }

  private serveReads(node: SimNode): void {
    if (node.readyReads.length === 0) return;
    const waiting: { opId: number; index: number }[] = [];
    for (const r of node.readyReads) {
      const op = this.pendingOps.get(r.opId);
      if (op === undefined) continue;
      if (node.appliedIndex >= r.index) this.completeOp(op, node.kv.get(op.key));
      else waiting.push(r);
    }
    node.readyReads = waiting;
  }

  private maybeCompact(node: SimNode): void {
    const snapIndex = node.storage.snapshot().metadata.index;
    if (node.appliedIndex - snapIndex < this.snapshotEveryEntries) return;
    node.storage.createSnapshot(node.appliedIndex, node.confState, node.kv.serialize());
    const compactTo = node.appliedIndex - this.keepEntriesAfterCompaction;
    if (compactTo >= node.storage.firstIndex()) node.storage.compact(compactTo);
  }

  // ---- invariants ----------------------------------------------------------------

  /** Election Safety and Leader Completeness, checked when a node becomes leader. */
  private checkNewLeader(node: SimNode, term: number): void {
    const existing = this.leaderOfTerm.get(term);
    if (existing !== undefined && existing !== node.id) {
      this.violate('election-safety', `n${formatNodeId(node.id)} and n${formatNodeId(existing)} are both leader in term ${term}`);
    }
    this.leaderOfTerm.set(term, node.id);
    this.trace(() => `n${formatNodeId(node.id)} becomes leader term ${term}`);
    const log = node.raw!.inner.log;
    const first = log.firstIndex();
    const last = log.lastIndex();
    for (const [index, c] of this.committedBy) {
      if (c.leaderTerm >= term || index < first) continue;
      if (index > last) {
        this.violate(
          'leader-completeness',
          `leader n${formatNodeId(node.id)} (term ${term}) lacks index ${index} committed in term ${c.leaderTerm} (lastIndex ${last})`,
        );
      }
      const t = log.term(index);
      if (t !== c.entryTerm) {
        this.violate(
          'leader-completeness',
          `leader n${formatNodeId(node.id)} (term ${term}) has term ${t} at index ${index}, committed entry has term ${c.entryTerm}`,
        );
      }
    }
  }

  private checkHardState(node: SimNode, hs: { term: number; vote: NodeId; commit: number }): void {
    if (hs.commit < node.lastCommit) {
      this.violate('commit-monotonic', `n${formatNodeId(node.id)} commit went from ${node.lastCommit} to ${hs.commit}`);
    }
    const persisted = node.storage.initialState().hardState;
    if (hs.commit < persisted.commit) {
      this.violate('commit-monotonic', `n${formatNodeId(node.id)} durable commit would go from ${persisted.commit} to ${hs.commit}`);
    }
    if (hs.term < persisted.term) {
      this.violate('term-monotonic', `n${formatNodeId(node.id)} durable term would go from ${persisted.term} to ${hs.term}`);
    }
    if (hs.term === persisted.term && persisted.vote !== NO_NODE && hs.vote !== persisted.vote) {
      this.violate(
        'vote-once',
        `n${formatNodeId(node.id)} changed its vote in term ${hs.term} from n${formatNodeId(persisted.vote)} to n${formatNodeId(hs.vote)}`,
      );
    }
    node.lastCommit = hs.commit;
    const raw = node.raw!;
    if (raw.role() === 'leader' && hs.term === raw.status().hardState.term) {
      const log = raw.inner.log;
      for (let i = Math.max(persisted.commit, log.firstIndex() - 1) + 1; i <= hs.commit; i++) {
        if (!this.committedBy.has(i)) this.committedBy.set(i, { leaderTerm: hs.term, entryTerm: log.term(i) });
      }
    }
  }

  /**
   * Log Matching, checked incrementally: every entry ever appended anywhere
   * with a given (index, term) has the same content and the same
   * predecessor term. By induction, logs agreeing on (index, term) agree on
   * every earlier entry.
   */
  private checkLogMatching(node: SimNode, entries: readonly Entry[]): void {
    for (const e of entries) {
      let prevTerm: number | undefined;
      try {
        prevTerm = e.index === 1 ? 0 : node.storage.term(e.index - 1);
      } catch {
        prevTerm = undefined; // compacted: covered by the snapshot, which is committed state
      }
      const key = `${e.index}:${e.term}`;
      const hash = entryHash(e);
      const prior = this.entryByIndexTerm.get(key);
      if (prior === undefined) {
        this.entryByIndexTerm.set(key, { hash, prevTerm });
        continue;
      }
      if (prior.hash !== hash) {
        this.violate('log-matching', `n${formatNodeId(node.id)} has a different entry at index ${e.index} term ${e.term}`);
      }
      if (prior.prevTerm !== undefined && prevTerm !== undefined && prior.prevTerm !== prevTerm) {
        this.violate(
          'log-matching',
          `n${formatNodeId(node.id)} entry ${e.index}@${e.term} follows term ${prevTerm}, elsewhere term ${prior.prevTerm}`,
        );
      } else if (prior.prevTerm === undefined && prevTerm !== undefined) {
        this.entryByIndexTerm.set(key, { hash, prevTerm });
      }
    }
  }

  // ---- faults --------------------------------------------------------------------

  private injectFaults(): void {
    const p = this.prng;
    if (p.chance(0.01)) this.changePartitions();
    if (p.chance(0.004)) {
      const alive = this.ids.filter((id) => this.nodes.get(id)!.raw !== undefined);
      if (alive.length > 0) this.crash(this.nodes.get(p.pick(alive))!, 'random crash');
    }
    for (const id of this.ids) {
      const node = this.nodes.get(id)!;
      if (node.raw === undefined && p.chance(0.03)) this.start(node);
    }
    if (this.membershipChanges && p.chance(0.01)) this.proposeMembershipChange();
  }

  private changePartitions(): void {
    const p = this.prng;
    this.blockedLinks.clear();
    const kind = p.int(5);
    const n = this.ids.length;
    if (kind === 0) {
      this.trace(() => 'heal network');
      return;
    }
    if (kind === 1) {
      // Isolate one node completely.
      const x = p.pick(this.ids);
      for (const y of this.ids) if (y !== x) this.blockBoth(x, y);
      this.trace(() => `isolate n${formatNodeId(x)}`);
    } else if (kind === 2) {
      // Split into two random groups.
      const shuffled = p.shuffle([...this.ids]);
      const cut = 1 + p.int(n - 1);
      const a = shuffled.slice(0, cut);
      const b = shuffled.slice(cut);
      for (const x of a) for (const y of b) this.blockBoth(x, y);
      this.trace(() => `split ${a.map(formatNodeId).join(',')} | ${b.map(formatNodeId).join(',')}`);
    } else if (kind === 3) {
      // Asymmetric: some one-way links fail.
      for (const x of this.ids) for (const y of this.ids) if (x !== y && p.chance(0.3)) this.blockedLinks.add(linkKey(x, y));
      this.trace(() => `asymmetric ${[...this.blockedLinks].join(',')}`);
    } else {
      // Partial: cut the current leader (if any) from one follower only.
      const leader = this.ids.find((id) => this.nodes.get(id)!.raw?.role() === 'leader');
      const others = this.ids.filter((id) => id !== leader);
      if (leader !== undefined && others.length > 0) {
        const y = p.pick(others);
        this.blockBoth(leader, y);
        this.trace(() => `partial: cut leader n${formatNodeId(leader)} from n${formatNodeId(y)}`);
      }
    }
  }

  private blockBoth(x: NodeId, y: NodeId): void {
    this.blockedLinks.add(linkKey(x, y));
    this.blockedLinks.add(linkKey(y, x));
  }

  /**
   * Cycles one node out and back in: remove a voter, add it back as a
   * learner, promote it. Keeps at least 3 voters. A re-added node keeps its
   * old log and hard state: to Raft it is just a member that lags behind.
   */
  private proposeMembershipChange(): void {
    if (this.step - this.lastConfChangeStep < 30) return;
    const leader = this.ids.map((id) => this.nodes.get(id)!).find((n) => n.raw?.role() === 'leader');
    if (leader === undefined) return;
    const cs = leader.raw!.status().confState;
    const outside = this.ids.filter((id) => !cs.voters.includes(id) && !cs.learners.includes(id));
    let cc: { type: 'addNode' | 'addLearner' | 'removeNode'; nodeId: NodeId } | undefined;
    if (cs.learners.length > 0) cc = { type: 'addNode', nodeId: cs.learners[0]! };
    else if (outside.length > 0) cc = { type: 'addLearner', nodeId: outside[0]! };
    else if (cs.voters.length > 3) cc = { type: 'removeNode', nodeId: this.prng.pick(cs.voters) };
    if (cc === undefined) return;
    try {
      leader.raw!.proposeConfChange(cc);
      this.lastConfChangeStep = this.step;
      this.confChanges++;
      this.trace(() => `propose ${cc.type} n${formatNodeId(cc.nodeId)} at n${formatNodeId(leader.id)}`);
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
    this.handleReady(leader);
  }

  // ---- clients -------------------------------------------------------------------

  private clientsAct(): void {
    for (let c = 0; c < CLIENTS; c++) {
      if (this.clientBusy[c] !== undefined) continue;
      if (!this.prng.chance(0.3)) continue;
      const alive = this.ids.filter((id) => this.nodes.get(id)!.raw !== undefined);
      if (alive.length === 0) return;
      // Prefer a node that believes it leads, but also exercise forwarding and follower reads.
      const leaders = alive.filter((id) => this.nodes.get(id)!.raw!.role() === 'leader');
      const nodeId = leaders.length > 0 && this.prng.chance(0.6) ? this.prng.pick(leaders) : this.prng.pick(alive);
      const node = this.nodes.get(nodeId)!;
      const key = this.prng.pick(KEYS);
      const opId = this.nextOpId++;
      const kind = this.prng.chance(0.5) ? 'put' : 'get';
      const op: PendingOp = {
        opId,
        client: c,
        kind,
        key,
        value: kind === 'put' ? `v${opId}` : '',
        nodeId,
        call: ++this.eventClock,
        deadlineStep: this.step + SIM_OP_TIMEOUT_TICKS,
      };
      try {
        if (kind === 'put') node.raw!.propose(encodePut({ requestId: opId, key, value: op.value }));
        else node.raw!.readIndex(encodeReadContext(opId));
      } catch (e) {
        if (e instanceof ProposalDroppedError) continue; // definitely no effect: not recorded
        throw e;
      }
      this.pendingOps.set(opId, op);
      this.clientBusy[c] = opId;
      this.handleReady(node);
    }
  }

  private completeOp(op: PendingOp, value: string): void {
    this.pendingOps.delete(op.opId);
    this.clientBusy[op.client] = undefined;
    this.history.push({ key: op.key, kind: op.kind, value, call: op.call, ret: ++this.eventClock });
  }

  private failOp(op: PendingOp): void {
    this.pendingOps.delete(op.opId);
    this.clientBusy[op.client] = undefined;
    // A failed read has no effect; a failed put may still take effect later.
    if (op.kind === 'put') this.maybePuts.push(op);
  }

  private expireOps(): void {
    for (const op of [...this.pendingOps.values()]) if (op.deadlineStep <= this.step) this.failOp(op);
  }

  // ---- the end -------------------------------------------------------------------

  /** Heal everything, restart crashed nodes, and check the cluster converges. */
  private quietPeriod(): void {
    this.blockedLinks.clear();
    this.lossRate = 0;
    this.duplicateRate = 0;
    this.crashMidReadyRate = 0;
    for (const id of this.ids) this.tickSkipRate.set(id, 0);
    for (const node of this.nodes.values()) if (node.raw === undefined) this.start(node);
    const end = this.step + SIM_QUIET_TICKS;
    for (; this.step < end; this.step++) this.runOneStep(false);
    for (const op of [...this.pendingOps.values()]) this.failOp(op);
    // Liveness: with a healed network, some member leads and every member
    // has applied everything committed.
    const leader = this.ids.map((id) => this.nodes.get(id)!).find((n) => n.raw!.role() === 'leader');
    if (leader === undefined) this.violate('liveness', `no leader ${SIM_QUIET_TICKS} ticks after healing`);
    const cs = leader.raw!.status().confState;
    const members = [...cs.voters, ...cs.learners];
    const commit = leader.raw!.status().hardState.commit;
    for (const id of members) {
      const n = this.nodes.get(id)!;
      if (n.appliedIndex < commit) {
        this.violate('liveness', `n${formatNodeId(id)} applied ${n.appliedIndex} < leader commit ${commit} after healing`);
      }
    }
  }

  private checkLinearizability(): CheckOutcome {
    const ops = this.history.slice();
    for (const op of this.maybePuts) {
      // A put that took effect did so before any node applied it; one that no
      // node applied after convergence never took effect.
      const applied = this.firstAppliedAt.get(op.opId);
      ops.push({ key: op.key, kind: 'put', value: op.value, call: op.call, ret: applied ?? Infinity });
    }
    return checkKvHistory(ops, SIM_MAX_CHECKER_STEPS_PER_KEY);
  }

  private stateHash(): string {
    let h = 0x811c9dc5;
    for (const id of this.ids) {
      const node = this.nodes.get(id)!;
      const hs = node.storage.initialState().hardState;
      h = hashString(`${id}:${hs.term}:${hs.vote}:${hs.commit}:${node.storage.lastIndex()}:${node.appliedIndex}`, h);
      h = fnv1a(node.kv.serialize(), h);
    }
    for (const op of this.history) h = hashString(`${op.key}${op.kind}${op.value}${op.call}${op.ret}`, h);
    return h.toString(16).padStart(8, '0');
  }
}

function entryHash(e: Entry): number {
  return fnv1a(e.data, hashString(e.type));
}

function encodeReadContext(opId: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, opId);
  return out;
}

function decodeReadContext(context: Uint8Array): number {
  if (context.byteLength !== 8) return -1;
  return new DataView(context.buffer, context.byteOffset, 8).getFloat64(0);
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${formatNodeId(from)}>${formatNodeId(to)}`;
}

/** Ids in hex, as etcd logs member ids (bigints cannot go through JSON.stringify). */
function describeHardState(hs: HardState): string {
  return `term=${hs.term} vote=${hs.vote === NO_NODE ? '-' : formatNodeId(hs.vote)} commit=${hs.commit}`;
}

function describeConfState(cs: ConfState): string {
  return `voters=[${cs.voters.map(formatNodeId).join(',')}] learners=[${cs.learners.map(formatNodeId).join(',')}]`;
}

export function describeMessage(m: Message): string {
  const parts = [`${m.type} ${formatNodeId(m.from)}->${formatNodeId(m.to)} t${m.term}`];
  if (m.type === 'app') parts.push(`prev=${m.index}@${m.logTerm} n=${m.entries.length} commit=${m.commit}`);
  if (m.type === 'appResp') parts.push(`idx=${m.index}${m.reject ? ` reject hint=${m.rejectHint}@${m.logTerm}` : ''}`);
  if (m.type === 'vote' || m.type === 'preVote') parts.push(`last=${m.index}@${m.logTerm}`);
  if (m.type.endsWith('Resp') && m.reject) parts.push('reject');
  if (m.type === 'snap') parts.push(`snap=${m.snapshot?.metadata.index}`);
  return parts.join(' ');
}
