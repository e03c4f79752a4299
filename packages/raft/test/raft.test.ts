import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CompactedError,
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
  const storage = MemoryStorage.bootstrap({ voters: [1], learners: [] });
  const random = (): number => 0.5;
  it('rejects electionTicks <= heartbeatTicks', () => {
    assert.throws(() => new RawNode({ id: 1, storage, random, electionTicks: 2, heartbeatTicks: 2 }), RaftConfigError);
  });
  it('rejects id 0 and non-integer bounds', () => {
    assert.throws(() => new RawNode({ id: 0, storage, random }), RaftConfigError);
    assert.throws(() => new RawNode({ id: 1, storage, random, maxInflightMessages: 0 }), RaftConfigError);
    assert.throws(() => new RawNode({ id: 1, storage, random, maxSizePerMessageBytes: 1.5 }), RaftConfigError);
  });
  it('rejects a random source outside [0, 1)', () => {
    assert.throws(() => new RawNode({ id: 1, storage: MemoryStorage.bootstrap({ voters: [1], learners: [] }), random: () => 1 }), RaftInvariantError);
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
    s.createSnapshot(3, { voters: [1], learners: [] }, enc('state'));
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
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    assert.deepEqual(c.leaders(), [1]);
    for (const id of [1, 2, 3]) {
      // Bootstrap is term 1 with the 3 membership entries; the first leader's empty entry is index 4.
      assert.equal(c.term(id), 2);
      assert.equal(c.committed(id), 4);
    }
  });

  it('elects a leader by timeout alone with a randomized timeout in [electionTicks, 2*electionTicks)', () => {
    const c = new Cluster({ voters: [1, 2, 3], randomValue: 0 });
    // Only node 2 ticks: it times out after exactly electionTicks.
    c.tick(2, 9);
    c.stabilize();
    assert.deepEqual(c.leaders(), []);
    c.tick(2, 1);
    c.stabilize();
    assert.deepEqual(c.leaders(), [2]);
  });

  it('a candidate with a stale log cannot win', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(3);
    c.propose(1, 'a');
    c.crash(1);
    c.heal();
    // Let the followers' leases expire without them timing out (randomValue 0.99).
    for (const id of [2, 3]) c.tick(id, 10);
    c.campaign(3);
    assert.notEqual(c.raw(3).role(), 'leader');
    c.campaign(2);
    assert.equal(c.raw(2).role(), 'leader');
  });

  it('a failed pre-election does not increase the term', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(3);
    const term = c.term(3);
    c.campaign(3);
    assert.equal(c.raw(3).role(), 'preCandidate');
    assert.equal(c.term(3), term);
  });
});

describe('log replication and commit', () => {
  it('replicates, commits and applies proposals on every node', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    c.propose(2, 'b'); // forwarded to the leader
    for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['a', 'b']);
  });

  it('does not commit without a quorum, and catches a follower up later', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(2);
    c.isolate(3);
    c.propose(1, 'a');
    assert.equal(c.committed(1), 4);
    c.heal();
    c.tickAll(2);
    for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['a']);
  });

  it('a leader counts its own entry only once it is durable (advance)', () => {
    const storage = MemoryStorage.bootstrap({ voters: [1], learners: [] });
    const node = new RawNode({ id: 1, storage, random: () => 0.5 });
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
    const c = new Cluster({ voters: [1, 2, 3], maxUncommittedEntriesBytes: 10 });
    c.campaign(1);
    c.isolate(1);
    c.raw(1).propose(new Uint8Array(8));
    assert.throws(
      () => c.raw(1).propose(new Uint8Array(8)),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'uncommitted-limit-exceeded',
    );
  });

  it('a follower without a leader drops proposals with a typed error', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    assert.throws(
      () => c.raw(2).propose(enc('x')),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'no-leader',
    );
  });

  it('repairs a divergent follower log', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(1);
    // Uncommitted entries only on the old leader.
    c.raw(1).propose(enc('lost1'));
    c.raw(1).propose(enc('lost2'));
    c.stabilize();
    c.tick(2, 10);
    c.tick(3, 10);
    c.campaign(2);
    c.propose(2, 'kept');
    c.heal();
    c.tickAll(3);
    for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['kept']);
  });
});

describe('ReadIndex', () => {
  it('answers on the leader and on followers after a quorum round', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    c.raw(1).readIndex(enc('r1'));
    c.raw(3).readIndex(enc('r2'));
    c.stabilize();
    assert.deepEqual(c.node(1).readStates.map((r) => r.index), [5]);
    assert.deepEqual(c.node(3).readStates.map((r) => r.index), [5]);
  });

  it('does not answer without a quorum', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(1);
    c.raw(1).readIndex(enc('r'));
    c.stabilize();
    assert.equal(c.node(1).readStates.length, 0);
  });
});

describe('leader transfer', () => {
  it('hands leadership to a caught-up follower via timeoutNow', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    c.raw(1).transferLeader(2);
    c.stabilize();
    assert.deepEqual(c.leaders(), [2]);
    assert.equal(c.term(2), 3);
  });

  it('catches a lagging transferee up first, and refuses proposals meanwhile', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(3);
    c.propose(1, 'a');
    c.raw(1).transferLeader(3);
    c.stabilize();
    assert.throws(
      () => c.raw(1).propose(enc('b')),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'leader-transfer-in-progress',
    );
    c.heal();
    c.tickAll(1);
    assert.deepEqual(c.leaders(), [3]);
  });
});

describe('membership: learners and single-server changes', () => {
  it('adds a learner that replicates but does not vote, then promotes it', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.addEmptyNode(4);
    c.raw(1).proposeConfChange({ type: 'addLearner', nodeId: 4 });
    c.stabilize();
    c.propose(1, 'a');
    c.tickAll(2);
    assert.deepEqual(c.appliedData(4), ['a']);
    assert.deepEqual(c.raw(1).status().confState, { voters: [1, 2, 3], learners: [4] });
    // A learner never campaigns.
    c.tick(4, 50);
    c.stabilize();
    assert.deepEqual(c.leaders(), [1]);
    // With 2 of 3 voters down, the learner does not make a quorum.
    c.isolate(2);
    c.isolate(3);
    c.raw(1).propose(enc('b'));
    c.stabilize();
    assert.equal(c.appliedData(1).length, 1);
    c.heal();
    c.tickAll(2);
    c.raw(1).proposeConfChange({ type: 'addNode', nodeId: 4 });
    c.stabilize();
    assert.deepEqual(c.raw(4).status().confState, { voters: [1, 2, 3, 4], learners: [] });
  });

  it('encodes conf changes round-trip', () => {
    const cc = { type: 'removeNode' as const, nodeId: 7, context: enc('ctx') };
    assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  });
});

describe('snapshots', () => {
  it('restarts from a snapshot plus log', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.campaign(1);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    const s = c.node(2).storage;
    // Entries 5..9 hold v0..v4. Snapshot at 7 (after v2), keep entry 7 in the log.
    s.createSnapshot(7, c.node(2).confState, enc('sm@7'));
    s.compact(6);
    c.crash(2);
    c.restart(2);
    c.stabilize();
    assert.equal(c.raw(2).status().applied, 9);
    assert.deepEqual(c.appliedData(2), ['v0', 'v1', 'v2', 'v3', 'v4']);
    assert.deepEqual(c.raw(2).status().confState, { voters: [1, 2, 3], learners: [] });
  });
});
