/**
 * A tiny synchronous test network around RawNode, in the spirit of
 * etcd-io/raft's test `network`: messages are queued and delivered in order
 * by `stabilize`, optionally filtered, so scenario tests can stage exact
 * interleavings.
 */
import {
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type ReadState,
  MemoryStorage,
  RawNode,
  compareNodeIds,
  decodeConfChange,
} from '../src/index.js';

export interface TestNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  applied: Entry[];
  readStates: ReadState[];
  confState: ConfState;
  /** Messages this node produced (for "stops sending" assertions). */
  sent: Message[];
}

export interface ClusterOptions {
  readonly voters: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly maxSizePerMessageBytes?: number;
  readonly maxUncommittedEntriesBytes?: number;
  /** Fraction used for every node's randomized timeout (default: distinct per node, all >= 0.45). */
  readonly randomValue?: number;
}

export type MessageFilter = (m: Message) => boolean;

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  private readonly blocked = new Set<string>();
  queue: Message[] = [];

  constructor(readonly options: ClusterOptions) {
    const confState: ConfState = { voters: [...options.voters], learners: [...(options.learners ?? [])] };
    for (const id of [...options.voters, ...(options.learners ?? [])]) {
      const storage = MemoryStorage.bootstrap(confState);
      const node: TestNode = { id, storage, raw: undefined, applied: [], readStates: [], confState, sent: [] };
      this.nodes.set(id, node);
      this.start(node);
    }
    // Apply the bootstrap membership entries.
    this.handleAllReady();
  }

  /** Adds a brand-new empty node (not yet in any configuration). */
  addEmptyNode(id: NodeId): TestNode {
    const storage = new MemoryStorage();
    const node: TestNode = { id, storage, raw: undefined, applied: [], readStates: [], confState: { voters: [], learners: [] }, sent: [] };
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  private start(node: TestNode): void {
    const snap = node.storage.snapshot();
    node.confState = snap.metadata.confState;
    // Distinct per-node timeouts (18, 17, 16, ... ticks with electionTicks 10
    // for the 1st, 2nd, 3rd, ... node created) so that spontaneous elections
    // do not split votes forever. By creation order, not by id: ids are
    // uint64s with no arithmetic meaning.
    const creationRank = [...this.nodes.keys()].indexOf(node.id) + 1;
    const randomValue = this.options.randomValue ?? Math.max(0, 0.95 - creationRank * 0.1);
    node.raw = new RawNode({
      id: node.id,
      storage: node.storage,
      random: () => randomValue,
      electionTicks: this.options.electionTicks ?? 10,
      heartbeatTicks: this.options.heartbeatTicks ?? 1,
      applied: snap.metadata.index,
      ...(this.options.maxSizePerMessageBytes !== undefined ? { maxSizePerMessageBytes: this.options.maxSizePerMessageBytes } : {}),
      ...(this.options.maxUncommittedEntriesBytes !== undefined
        ? { maxUncommittedEntriesBytes: this.options.maxUncommittedEntriesBytes }
        : {}),
    });
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    const r = this.node(id).raw;
    if (r === undefined) throw new Error(`node ${id} is down`);
    return r;
  }

  crash(id: NodeId): void {
    const n = this.node(id);
    n.raw = undefined;
    // Unsent messages from a crashed node are lost with it.
    this.queue = this.queue.filter((m) => m.from !== id);
  }

  restart(id: NodeId): void {
    const n = this.node(id);
    n.applied = n.applied.filter((e) => e.index <= n.storage.snapshot().metadata.index);
    this.start(n);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  cut(a: NodeId, b: NodeId): void {
    this.blocked.add(`${a}>${b}`);
    this.blocked.add(`${b}>${a}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  /** Handles every pending Ready of one node per the persistence contract. */
  handleReady(id: NodeId): void {
    const n = this.node(id);
    while (n.raw !== undefined && n.raw.hasReady()) {
      const raw = n.raw;
      const rd = raw.ready();
      if (rd.snapshot !== undefined) {
        n.storage.applySnapshot(rd.snapshot);
        n.confState = rd.snapshot.metadata.confState;
      }
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      for (const m of rd.messages) {
        n.sent.push(m);
        this.queue.push(m);
      }
      for (const e of rd.committedEntries) {
        n.applied.push(e);
        if (e.type === 'confChange') n.confState = raw.applyConfChange(decodeConfChange(e.data));
      }
      n.readStates.push(...rd.readStates);
      raw.advance();
    }
  }

  handleAllReady(): void {
    for (const id of [...this.nodes.keys()].sort(compareNodeIds)) this.handleReady(id);
  }

  /**
   * Delivers queued messages (and whatever they cause) until quiet. Messages
   * for which `drop` returns true, or across a cut link, are discarded.
   */
  stabilize(drop?: MessageFilter, maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      this.handleAllReady();
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        if (drop?.(m)) continue;
        if (this.blocked.has(`${m.from}>${m.to}`)) continue;
        const target = this.nodes.get(m.to);
        if (target?.raw === undefined) continue;
        target.raw.step(m);
      }
    }
    throw new Error('cluster did not stabilize');
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.node(id).raw?.tick();
      this.handleReady(id);
    }
  }

  /** Ticks every live node `times` times, stabilizing after each tick. */
  tickAll(times: number, drop?: MessageFilter): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) n.raw?.tick();
      this.stabilize(drop);
    }
  }

  campaign(id: NodeId, drop?: MessageFilter): void {
    this.raw(id).campaign();
    this.stabilize(drop);
  }

  propose(id: NodeId, data: string, drop?: MessageFilter): void {
    this.raw(id).propose(enc(data));
    this.stabilize(drop);
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.raw?.role() === 'leader').map((n) => n.id);
  }

  term(id: NodeId): number {
    return this.raw(id).status().hardState.term;
  }

  committed(id: NodeId): number {
    return this.raw(id).status().hardState.commit;
  }

  /** Applied normal, non-empty entries' payloads. */
  appliedData(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.type === 'normal' && e.data.byteLength > 0)
      .map((e) => dec(e.data));
  }
}
