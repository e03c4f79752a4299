import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CompactedError,
  MAX_NODE_ID,
  MemoryStorage,
  ProposalDroppedError,
  RaftConfigError,
  RaftInvariantError,
  RawNode,
  decodeConfChange,
  encodeConfChange,
} from '../src/index.js';
import { Cluster, enc } from './cluster-helper.js';

describe('config validation', () => {
  const storage = MemoryStorage.bootstrap({ voters: [1n], learners: [] });
  const random = (): number => 0.5;
  it('rejects electionTicks <= heartbeatTicks', () => {
    assert.throws(() => new RawNode({ id: 1n, storage, random, electionTicks: 2, heartbeatTicks: 2 }), RaftConfigError);
  });
  it('rejects id 0 and non-integer bounds', () => {
    assert.throws(() => new RawNode({ id: 0n, storage, random }), RaftConfigError);
    assert.throws(() => new RawNode({ id: 1n, storage, random, maxInflightMessages: 0 }), RaftConfigError);
    assert.throws(() => new RawNode({ id: 1n, storage, random, maxSizePerMessageBytes: 1.5 }), RaftConfigError);
  });
  it('takes uint64 bigint ids only', () => {
    const wide = MemoryStorage.bootstrap({ voters: [MAX_NODE_ID], learners: [] });
    assert.equal(new RawNode({ id: MAX_NODE_ID, storage: wide, random }).id, MAX_NODE_ID);
    assert.throws(() => new RawNode({ id: MAX_NODE_ID + 1n, storage, random }), RaftConfigError);
    assert.throws(() => new RawNode({ id: -1n, storage, random }), RaftConfigError);
    // A number is refused even when small: 1 and 1n are different Map keys.
    assert.throws(() => new RawNode({ id: 1 as unknown as bigint, storage, random }), RaftConfigError);
    assert.throws(
      () => MemoryStorage.bootstrap({ voters: [1 as unknown as bigint], learners: [] }),
      RangeError,
      'a number cannot be encoded as a member id',
    );
  });
  it('rejects a network message whose sender is not a bigint id', () => {
    const node = new RawNode({ id: 1n, storage: MemoryStorage.bootstrap({ voters: [1n, 2n], learners: [] }), random });
    const heartbeat = { type: 'heartbeat' as const, from: 2 as unknown as bigint, to: 1n, term: 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
    assert.throws(() => node.step(heartbeat), RaftInvariantError);
    assert.throws(() => node.transferLeader(2 as unknown as bigint), RaftInvariantError);
  });
  it('rejects a random source outside [0, 1)', () => {
    assert.throws(() => new RawNode({ id: 1n, storage: MemoryStorage.bootstrap({ voters: [1n], learners: [] }), random: () => 1 }), RaftInvariantError);
  });
});

describe('MemoryStorage', () => {
  it('appends, truncates conflicts, snapshots and compacts', () => {
    const s = new MemoryStorage();
    const e = (index: number, term: number) => ({ index, term, type: 'normal' as const, data: enc(`${index}`) });
    s.append([e(1, 1), e(2, 1), e(3, 1)]);
    s.append([e(3, 2), e(4, 2)]);
    assert.equal(s.lastIndex(), 4);
    assert.equal(s.term(3), 2);
    s.createSnapshot(3, { voters: [1n], learners: [] }, enc('state'));
    s.compact(3);
    assert.equal(s.firstIndex(), 4);
    assert.equal(s.term(3), 2);
    assert.throws(() => s.entries(2, 4, 1000), CompactedError);
    assert.throws(() => s.compact(4), RaftInvariantError, 'cannot compact beyond the snapshot');
    assert.deepEqual(s.entries(4, 5, 1000).map((x) => x.index), [4]);
  });
});

describe('leader election', () => {
  it('elects exactly one leader and commits its empty entry everywhere', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    assert.deepEqual(c.leaders(), [1n]);
    for (const id of [1n, 2n, 3n]) {
      // Bootstrap is term 1 with the 3 membership entries; the first leader's empty entry is index 4.
      assert.equal(c.term(id), 2);
      assert.equal(c.committed(id), 4);
    }
  });

  it('elects a leader by timeout alone with a randomized timeout in [electionTicks, 2*electionTicks)', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n], randomValue: 0 });
    // Only node 2 ticks: it times out after exactly electionTicks.
    c.tick(2n, 9);
    c.stabilize();
    assert.deepEqual(c.leaders(), []);
    c.tick(2n, 1);
    c.stabilize();
    assert.deepEqual(c.leaders(), [2n]);
  });

  it('a candidate with a stale log cannot win', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.isolate(3n);
    c.propose(1n, 'a');
    c.crash(1n);
    c.heal();
    // Let the followers' leases expire without them timing out (randomValue 0.99).
    for (const id of [2n, 3n]) c.tick(id, 10);
    c.campaign(3n);
    assert.notEqual(c.raw(3n).role(), 'leader');
    c.campaign(2n);
    assert.equal(c.raw(2n).role(), 'leader');
  });

  it('a failed pre-election does not increase the term', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.isolate(3n);
    const term = c.term(3n);
    c.campaign(3n);
    assert.equal(c.raw(3n).role(), 'preCandidate');
    assert.equal(c.term(3n), term);
  });
});

describe('log replication and commit', () => {
  it('replicates, commits and applies proposals on every node', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.propose(1n, 'a');
    c.propose(2n, 'b'); // forwarded to the leader
    for (const id of [1n, 2n, 3n]) assert.deepEqual(c.appliedData(id), ['a', 'b']);
  });

  it('does not commit without a quorum, and catches a follower up later', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.isolate(2n);
    c.isolate(3n);
    c.propose(1n, 'a');
    assert.equal(c.committed(1n), 4);
    c.heal();
    c.tickAll(2);
    for (const id of [1n, 2n, 3n]) assert.deepEqual(c.appliedData(id), ['a']);
  });

  it('a leader counts its own entry only once it is durable (advance)', () => {
    const storage = MemoryStorage.bootstrap({ voters: [1n], learners: [] });
    const node = new RawNode({ id: 1n, storage, random: () => 0.5 });
    let rd = node.ready();
    // The bootstrap membership entry is committed and must be applied first.
    assert.equal(rd.committedEntries.length, 1);
    node.applyConfChange(decodeConfChange(rd.committedEntries[0]!.data));
    node.advance();
    node.campaign();
    rd = node.ready();
    assert.equal(node.role(), 'leader');
    assert.equal(rd.entries.length, 1);
    assert.equal(rd.committedEntries.length, 0, 'not committed before it is persisted');
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    node.advance();
    rd = node.ready();
    assert.equal(rd.hardState?.commit, 2);
    assert.equal(rd.committedEntries.length, 1);
  });

  it('drops proposals beyond maxUncommittedEntriesBytes with a typed error', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n], maxUncommittedEntriesBytes: 10 });
    c.campaign(1n);
    c.isolate(1n);
    c.raw(1n).propose(new Uint8Array(8));
    assert.throws(
      () => c.raw(1n).propose(new Uint8Array(8)),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'uncommitted-limit-exceeded',
    );
  });

  it('a follower without a leader drops proposals with a typed error', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    assert.throws(
      () => c.raw(2n).propose(enc('x')),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'no-leader',
    );
  });

  it('repairs a divergent follower log', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.isolate(1n);
    // Uncommitted entries only on the old leader.
    c.raw(1n).propose(enc('lost1'));
    c.raw(1n).propose(enc('lost2'));
    c.stabilize();
    c.tick(2n, 10);
    c.tick(3n, 10);
    c.campaign(2n);
    c.propose(2n, 'kept');
    c.heal();
    c.tickAll(3);
    for (const id of [1n, 2n, 3n]) assert.deepEqual(c.appliedData(id), ['kept']);
  });
});

describe('ReadIndex', () => {
  it('answers on the leader and on followers after a quorum round', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.propose(1n, 'a');
    c.raw(1n).readIndex(enc('r1'));
    c.raw(3n).readIndex(enc('r2'));
    c.stabilize();
    assert.deepEqual(c.node(1n).readStates.map((r) => r.index), [5]);
    assert.deepEqual(c.node(3n).readStates.map((r) => r.index), [5]);
  });

  it('does not answer without a quorum', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.isolate(1n);
    c.raw(1n).readIndex(enc('r'));
    c.stabilize();
    assert.equal(c.node(1n).readStates.length, 0);
  });
});

describe('leader transfer', () => {
  it('hands leadership to a caught-up follower via timeoutNow', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.propose(1n, 'a');
    c.raw(1n).transferLeader(2n);
    c.stabilize();
    assert.deepEqual(c.leaders(), [2n]);
    assert.equal(c.term(2n), 3);
  });

  it('catches a lagging transferee up first, and refuses proposals meanwhile', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.isolate(3n);
    c.propose(1n, 'a');
    c.raw(1n).transferLeader(3n);
    c.stabilize();
    assert.throws(
      () => c.raw(1n).propose(enc('b')),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'leader-transfer-in-progress',
    );
    c.heal();
    c.tickAll(1);
    assert.deepEqual(c.leaders(), [3n]);
  });
});

describe('membership: learners and single-server changes', () => {
  it('adds a learner that replicates but does not vote, then promotes it', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.addEmptyNode(4n);
    c.raw(1n).proposeConfChange({ type: 'addLearner', nodeId: 4n });
    c.stabilize();
    c.propose(1n, 'a');
    c.tickAll(2);
    assert.deepEqual(c.appliedData(4n), ['a']);
    assert.deepEqual(c.raw(1n).status().confState, { voters: [1n, 2n, 3n], learners: [4n] });
    // A learner never campaigns.
    c.tick(4n, 50);
    c.stabilize();
    assert.deepEqual(c.leaders(), [1n]);
    // With 2 of 3 voters down, the learner does not make a quorum.
    c.isolate(2n);
    c.isolate(3n);
    c.raw(1n).propose(enc('b'));
    c.stabilize();
    assert.equal(c.appliedData(1n).length, 1);
    c.heal();
    c.tickAll(2);
    c.raw(1n).proposeConfChange({ type: 'addNode', nodeId: 4n });
    c.stabilize();
    assert.deepEqual(c.raw(4n).status().confState, { voters: [1n, 2n, 3n, 4n], learners: [] });
  });

  it('encodes conf changes round-trip, with ids over the whole uint64 range', () => {
    // 2^53 + 1 is the first id a float64 cannot hold; MAX_NODE_ID has the top bit set.
    for (const nodeId of [7n, 2n ** 53n + 1n, 0x8e9e05c52164694dn, MAX_NODE_ID]) {
      const cc = { type: 'removeNode' as const, nodeId, context: enc('ctx') };
      assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
    }
    // The layout is [type:u8][nodeId:u64 big-endian][context].
    assert.deepEqual(
      [...encodeConfChange({ type: 'addLearner', nodeId: 0x8e9e05c52164694dn })],
      [0x01, 0x8e, 0x9e, 0x05, 0xc5, 0x21, 0x64, 0x69, 0x4d],
    );
    for (const nodeId of [0n, MAX_NODE_ID + 1n, -1n]) {
      assert.throws(() => encodeConfChange({ type: 'addNode', nodeId }), RangeError, `${nodeId} is not a member id`);
    }
    assert.throws(() => decodeConfChange(new Uint8Array(9)), RangeError, 'node id 0 is "no node"');
  });

  it('works with ids that a JS number cannot tell apart, and sorts them by value', () => {
    // 2^53 and 2^53 + 1 are the same float64; as strings, '10' < '9'.
    const ids = [MAX_NODE_ID, 2n ** 53n + 1n, 9n, 2n ** 53n, 10n];
    const c = new Cluster({ voters: ids });
    c.campaign(2n ** 53n + 1n);
    assert.deepEqual(c.leaders(), [2n ** 53n + 1n]);
    c.propose(2n ** 53n, 'wide');
    for (const id of ids) assert.deepEqual(c.appliedData(id), ['wide']);
    const sorted = [9n, 10n, 2n ** 53n, 2n ** 53n + 1n, MAX_NODE_ID];
    assert.deepEqual(c.raw(MAX_NODE_ID).status().confState, { voters: sorted, learners: [] });
    assert.deepEqual([...c.raw(2n ** 53n + 1n).status().progress.keys()].sort((a, b) => (a < b ? -1 : 1)), sorted);
    c.raw(2n ** 53n + 1n).proposeConfChange({ type: 'removeNode', nodeId: 2n ** 53n });
    c.tickAll(2);
    assert.deepEqual(c.raw(MAX_NODE_ID).status().confState.voters, [9n, 10n, 2n ** 53n + 1n, MAX_NODE_ID]);
  });
});

describe('snapshots', () => {
  it('restarts from a snapshot plus log', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    for (let i = 0; i < 5; i++) c.propose(1n, `v${i}`);
    const s = c.node(2n).storage;
    // Entries 5..9 hold v0..v4. Snapshot at 7 (after v2), keep entry 7 in the log.
    s.createSnapshot(7, c.node(2n).confState, enc('sm@7'));
    s.compact(6);
    c.crash(2n);
    c.restart(2n);
    c.stabilize();
    assert.equal(c.raw(2n).status().applied, 9);
    assert.deepEqual(c.appliedData(2n), ['v0', 'v1', 'v2', 'v3', 'v4']);
    assert.deepEqual(c.raw(2n).status().confState, { voters: [1n, 2n, 3n], learners: [] });
  });
});
