/**
 * A ReplicatedLog backed by a Raft group (packages/raft's RawNode): the log
 * a member of a cluster runs. It turns the RawNode's Ready batches into
 * effects, in the order the Raft persistence contract requires
 * (packages/raft/README.md, "Persistence contract"):
 *
 *   1. a leader's append messages may go out at once, in parallel with its
 *      own write (its self-progress counts only after advance());
 *   2. entries and HardState are written to the WAL and fsynced;
 *   3. only then every other message (votes, vote and append responses,
 *      heartbeats) is sent: each promises state that must survive a crash;
 *   4. committed entries are applied, in order, each once;
 *   5. read states are answered; advance().
 *
 * Ready batches are handled one at a time (drive() is serialized), so a
 * second batch's messages can never overtake the first batch's write.
 * Time (ticks, read deadlines) comes from the injected Clock and peers are
 * reached through the injected PeerSender, so a whole group runs in one
 * process in tests.
 */
import { MemoryStorage, ProposalDroppedError, RawNode, decodeConfChange, type ConfState, type Entry, type HardState, type Message, type NodeId, type Ready } from '@holdfast/raft';
import type { Wal, WalReadResult } from '@holdfast/storage';
import { NoLeaderError, StoppedError, TimeoutError, TooManyRequestsError, type EtcdError } from '../../errors.js';
import type { Clock } from '../../node/clock.js';
import { requestTimeoutMs } from '../../node/proposals.js';
import { logEntryTypeOf, walEntryTypeNumbers, type LogEntry, type LogEvents, type ReplicatedLog } from '../replicated-log.js';

/** Where a member's messages to its peers go. Sending never blocks and may drop (Raft retries). */
export interface PeerSender {
  send(messages: readonly Message[]): void;
}

export interface RaftLogOptions {
  readonly id: NodeId;
  /** The Raft storage, holding what the WAL holds (a new member: bootstrapped with the initial voters). */
  readonly storage: MemoryStorage;
  readonly wal: Wal;
  readonly clock: Clock;
  /** Randomness for election timeouts (seeded in tests). */
  readonly random: () => number;
  /** etcd's --heartbeat-interval: one Raft tick. */
  readonly heartbeatIntervalMs: number;
  /** etcd's --election-timeout, a whole number of heartbeat intervals. */
  readonly electionTimeoutMs: number;
  /** The index the state machine already reflects (the backend's consistent index). */
  readonly applied: number;
  readonly events: Pick<LogEvents, 'applyCommitted' | 'leaderChanged' | 'fatal'>;
  readonly peers: PeerSender;
  /** How long a read index may take before "request timed out" (default: requestTimeoutMs). */
  readonly readIndexTimeoutMs?: number;
}

interface ReadWaiter {
  readonly deadlineMs: number;
  readonly resolve: (index: number) => void;
  readonly reject: (error: EtcdError) => void;
}

export class RaftLog implements ReplicatedLog {
  private readonly node: RawNode;
  private readonly storage: MemoryStorage;
  private readonly wal: Wal;
  private readonly clock: Clock;
  private readonly events: RaftLogOptions['events'];
  private readonly peers: PeerSender;
  private readonly readIndexTimeoutMs: number;
  /** What each locally proposed entry's proposer attached, by the entry data's identity. */
  private readonly contexts = new WeakMap<Uint8Array, unknown>();
  private readonly readWaiters = new Map<string, ReadWaiter>();
  private nextReadId = 0n;
  private leader: NodeId;
  /** The newest HardState Raft reported (term and commit without building a status). */
  private hardState: HardState;
  private driving: Promise<void> | undefined;
  private driveAgain = false;
  private stopTicking: (() => void) | undefined;
  private stopped = false;
  private failed: unknown;

  /**
   * The Raft storage of a member of a new cluster: the initial membership
   * as committed conf-change entries (every initial member writes the same
   * ones), written to `wal` and fsynced before the member says anything.
   */
  static async bootstrapStorage(wal: Wal, confState: ConfState): Promise<MemoryStorage> {
    const storage = MemoryStorage.bootstrap(confState);
    const entries = storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
    await wal.appendAndSync({ entries: entries.map(toWalEntry), hardState: toWalHardState(storage.initialState().hardState) });
    return storage;
  }

  /**
   * The Raft storage of a member restarting from its WAL: the last snapshot
   * (`snapshotConfState` is the membership as of it), then every entry
   * after it and the HardState. Start the RaftLog with `applied` at the
   * snapshot's index, as etcd does: Raft hands the committed entries after
   * it to the node again (conf changes rebuild the membership; the node's
   * applier skips what the backend already holds).
   */
  static restoreStorage(contents: WalReadResult, snapshotConfState: ConfState): MemoryStorage {
    const storage = new MemoryStorage();
    const marker = contents.snapshotMarker;
    if (marker.index > 0) storage.applySnapshot({ metadata: { index: marker.index, term: marker.term, confState: snapshotConfState }, data: new Uint8Array(0) });
    storage.append(contents.entries.map((entry) => ({ index: entry.index, term: entry.term, type: logEntryTypeOf(entry.type), data: entry.data })));
    storage.setHardState(contents.hardState);
    return storage;
  }

  constructor(options: RaftLogOptions) {
    const electionTicks = options.electionTimeoutMs / options.heartbeatIntervalMs;
    // etcd validates the same way: the election timeout is a whole number of ticks, more than one.
    if (!Number.isInteger(electionTicks) || electionTicks <= 1) {
      throw new RangeError(`raft log: election timeout ${options.electionTimeoutMs} ms must be a multiple (> 1) of the heartbeat interval ${options.heartbeatIntervalMs} ms`);
    }
    this.storage = options.storage;
    this.wal = options.wal;
    this.clock = options.clock;
    this.events = options.events;
    this.peers = options.peers;
    this.readIndexTimeoutMs = options.readIndexTimeoutMs ?? requestTimeoutMs;
    this.node = new RawNode({ id: options.id, storage: options.storage, random: options.random, electionTicks, heartbeatTicks: 1, applied: options.applied });
    const status = this.node.status();
    this.leader = status.softState.lead;
    this.hardState = status.hardState;
    this.stopTicking = this.clock.every(options.heartbeatIntervalMs, () => this.tick());
  }

  get term(): number {
    return this.hardState.term;
  }

  get committedIndex(): number {
    return this.hardState.commit;
  }

  get leaderId(): bigint {
    return BigInt(this.leader);
  }

  propose(data: Uint8Array, context?: unknown): void {
    this.checkUsable();
    try {
      this.node.propose(data);
    } catch (error) {
      throw toEtcdDropError(error);
    }
    if (context !== undefined) this.contexts.set(data, context);
    this.drive();
  }

  readIndex(): Promise<number> {
    this.checkUsable();
    const id = this.nextReadId++;
    const context = new Uint8Array(8);
    new DataView(context.buffer).setBigUint64(0, id);
    return new Promise<number>((resolve, reject) => {
      try {
        this.node.readIndex(context);
      } catch (error) {
        reject(toEtcdDropError(error));
        return;
      }
      this.readWaiters.set(readKey(context), { deadlineMs: this.clock.nowMs() + this.readIndexTimeoutMs, resolve, reject });
      this.drive();
    });
  }

  /** Hands a message from a peer to Raft. Messages from a stopped log are ignored. */
  receive(message: Message): void {
    if (this.stopped || this.failed !== undefined) return;
    this.node.step(message);
    this.drive();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopTicking?.();
    this.stopTicking = undefined;
    while (this.driving !== undefined) await this.driving;
    for (const waiter of this.readWaiters.values()) waiter.reject(new StoppedError());
    this.readWaiters.clear();
  }

  private checkUsable(): void {
    if (this.stopped || this.failed !== undefined) throw new StoppedError();
  }

  private tick(): void {
    if (this.stopped || this.failed !== undefined) return;
    this.node.tick();
    const now = this.clock.nowMs();
    for (const [key, waiter] of this.readWaiters) {
      if (waiter.deadlineMs > now) continue;
      this.readWaiters.delete(key);
      waiter.reject(new TimeoutError());
    }
    this.drive();
  }

  /** Handles Ready batches until there are none; one loop at a time. */
  private drive(): void {
    if (this.driving !== undefined) {
      this.driveAgain = true;
      return;
    }
    this.driveAgain = false;
    // Cleared in a later microtask, so never before it is set (the loop may finish at once).
    this.driving = this.handleReadies().finally(() => {
      this.driving = undefined;
      if (this.driveAgain) this.drive();
    });
  }

  private async handleReadies(): Promise<void> {
    try {
      while (this.node.hasReady() && this.failed === undefined) await this.handle(this.node.ready());
    } catch (error) {
      this.fail(error);
    }
  }

  private async handle(ready: Ready): Promise<void> {
    if (ready.snapshot !== undefined) throw new Error('raft log: installing a snapshot from the leader is not supported yet');
    if (ready.softState !== undefined && ready.softState.lead !== this.leader) {
      this.leader = ready.softState.lead;
      this.events.leaderChanged(BigInt(this.leader), ready.hardState?.term ?? this.hardState.term);
    }
    const isLeader = ready.softState?.role === 'leader' || this.node.role() === 'leader';
    // 1. A leader's appends go out before its own write.
    const early = isLeader ? ready.messages.filter((message) => message.type === 'app') : [];
    const late = isLeader ? ready.messages.filter((message) => message.type !== 'app') : ready.messages;
    if (early.length > 0) this.peers.send(early);
    // 2. Durable before anything else is sent.
    if (ready.entries.length > 0 || ready.hardState !== undefined) {
      this.storage.append(ready.entries);
      if (ready.hardState !== undefined) this.storage.setHardState(ready.hardState);
      const batch = { entries: ready.entries.map(toWalEntry), hardState: ready.hardState === undefined ? undefined : toWalHardState(ready.hardState) };
      if (ready.mustSync) await this.wal.appendAndSync(batch);
      else await this.wal.append(batch.entries, batch.hardState);
      // The term and commit index this log reports are ones on disk.
      if (ready.hardState !== undefined) this.hardState = ready.hardState;
    }
    // 3. Now the promises those messages make are kept.
    if (late.length > 0) this.peers.send(late);
    // 4. Apply, in order.
    if (ready.committedEntries.length > 0) {
      const entries: LogEntry[] = [];
      for (const entry of ready.committedEntries) {
        if (entry.type === 'confChange') this.node.applyConfChange(decodeConfChange(entry.data));
        entries.push({ index: entry.index, term: entry.term, type: entry.type, data: entry.data, context: this.contexts.get(entry.data) });
      }
      this.events.applyCommitted(entries);
    }
    // 5. Reads: the index a linearizable read must wait for.
    for (const state of ready.readStates) {
      const key = readKey(state.context);
      const waiter = this.readWaiters.get(key);
      if (waiter === undefined) continue;
      this.readWaiters.delete(key);
      waiter.resolve(state.index);
    }
    this.node.advance();
  }

  private fail(error: unknown): void {
    if (this.failed !== undefined) return;
    this.failed = error;
    this.stopTicking?.();
    for (const waiter of this.readWaiters.values()) waiter.reject(new StoppedError());
    this.readWaiters.clear();
    this.events.fatal(error);
  }
}

function readKey(context: Uint8Array): string {
  return Buffer.from(context.buffer, context.byteOffset, context.byteLength).toString('hex');
}

function toWalEntry(entry: Entry): { index: number; term: number; type: number; data: Uint8Array } {
  return { index: entry.index, term: entry.term, type: walEntryTypeNumbers[entry.type], data: entry.data };
}

function toWalHardState(state: HardState): { term: number; vote: bigint; commit: number } {
  return { term: state.term, vote: state.vote, commit: state.commit };
}

/** etcd's answer to a request Raft would not take. */
function toEtcdDropError(error: unknown): unknown {
  if (!(error instanceof ProposalDroppedError)) return error;
  switch (error.reason) {
    case 'no-leader':
      return new NoLeaderError();
    case 'uncommitted-limit-exceeded':
    case 'read-index-limit-exceeded':
      return new TooManyRequestsError();
    default:
      return error;
  }
}
