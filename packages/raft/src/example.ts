/**
 * A complete, runnable example: three in-memory nodes elect a leader and
 * commit an entry, following the Ready loop and persistence contract.
 * Reproduced in README.md and run by test/example.test.ts.
 */
import {
  type Message,
  type NodeId,
  MemoryStorage,
  RawNode,
  decodeConfChange,
} from './index.js';

export function runThreeNodeExample(): { leader: NodeId; applied: Map<NodeId, string[]> } {
  // Member ids are uint64 bigints, as etcd's: 8e9e05c52164694d is the id of a
  // default single-member etcd, the other two are from etcd's `member list` docs.
  const ids: NodeId[] = [0x8e9e05c52164694dn, 0x91bc3c398fb3c146n, 0xfd422379fda50e48n];
  const confState = { voters: ids, learners: [] };
  // Deterministic "randomness" so the example always behaves the same.
  let seed = 42;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

  const storages = new Map(ids.map((id) => [id, MemoryStorage.bootstrap(confState)]));
  const nodes = new Map(ids.map((id) => [id, new RawNode({ id, storage: storages.get(id)!, random })]));
  const applied = new Map<NodeId, string[]>(ids.map((id) => [id, []]));
  let network: Message[] = [];

  /** One pass of the loop for one node: persist, send, apply, advance. */
  function handleReady(id: NodeId): void {
    const node = nodes.get(id)!;
    const storage = storages.get(id)!;
    while (node.hasReady()) {
      const rd = node.ready();
      if (rd.snapshot) storage.applySnapshot(rd.snapshot); // 1. snapshot first
      storage.append(rd.entries); // 2. then entries and hard state
      if (rd.hardState) storage.setHardState(rd.hardState);
      network.push(...rd.messages); // 3. send only after persisting
      for (const entry of rd.committedEntries) {
        // 4. apply
        if (entry.type === 'confChange') node.applyConfChange(decodeConfChange(entry.data));
        else if (entry.data.byteLength > 0) applied.get(id)!.push(new TextDecoder().decode(entry.data));
      }
      node.advance(); // 5. done
    }
  }

  for (let tick = 0; tick < 100; tick++) {
    for (const id of ids) {
      nodes.get(id)!.tick();
      handleReady(id);
    }
    // Deliver everything in flight (a perfect network).
    while (network.length > 0) {
      const batch = network;
      network = [];
      for (const m of batch) {
        nodes.get(m.to)!.step(m);
        handleReady(m.to);
      }
    }
    const leader = ids.find((id) => nodes.get(id)!.role() === 'leader');
    if (leader !== undefined && applied.get(leader)!.length === 0 && nodes.get(leader)!.status().applied > 3) {
      nodes.get(leader)!.propose(new TextEncoder().encode('hello raft'));
      handleReady(leader);
    }
  }
  const leader = ids.find((id) => nodes.get(id)!.role() === 'leader');
  if (leader === undefined) throw new Error('no leader elected');
  return { leader, applied };
}
