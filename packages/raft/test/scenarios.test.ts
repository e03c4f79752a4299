/**
 * Scenario tests for the classic Raft failures. Each one stages the exact
 * interleaving that breaks an implementation lacking the safeguard named in
 * its title; README.md ("How the scenario tests were checked") records how
 * each was confirmed to fail with the safeguard removed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Message, type NodeId, ProposalDroppedError } from '../src/index.js';
import { Cluster, dec } from './cluster-helper.js';

/** Checks State Machine Safety across the test cluster: same entry at each applied index. */
function assertAppliedLogsAgree(c: Cluster): void {
  const byIndex = new Map<number, string>();
  for (const n of c.nodes.values()) {
    for (const e of n.applied) {
      const v = `${e.term}:${e.type}:${dec(e.data)}`;
      const prior = byIndex.get(e.index);
      if (prior !== undefined) assert.equal(v, prior, `nodes applied different entries at index ${e.index}`);
      else byIndex.set(e.index, v);
    }
  }
}

function campaignUntilLeader(c: Cluster, id: NodeId, drop?: (m: Message) => boolean): void {
  for (let i = 0; i < 3 && c.raw(id).role() !== 'leader'; i++) c.campaign(id, drop);
  assert.equal(c.raw(id).role(), 'leader', `node ${id} should have won`);
}

describe('Figure 8: a leader never commits a previous-term entry by counting replicas', () => {
  it('does not commit index 7 (term 2) although a majority holds it', () => {
    // One entry per append message, so replication of 7 and 8 can be split.
    const c = new Cluster({ voters: [1n, 2n, 3n, 4n, 5n], maxSizePerMessageBytes: 1 });
    c.campaign(1n); // term 2; bootstrap entries 1-5 and the no-op 6 commit.
    assert.equal(c.committed(1n), 6);

    // (a) S1 appends A at index 7 (term 2) and reaches only S2.
    for (const id of [3n, 4n, 5n]) c.cut(1n, id);
    c.propose(1n, 'A');
    c.crash(1n);

    // (b) S5 wins term 3 with S3, S4; its no-op (index 7, term 3) reaches nobody.
    c.heal();
    c.isolate(2n);
    for (const id of [3n, 4n, 5n]) c.tick(id, 10); // expire CheckQuorum leases only
    campaignUntilLeader(c, 5n, (m) => m.from === 5n && m.type === 'app');
    assert.equal(c.term(5n), 3);
    c.crash(5n);

    // (c) S1 restarts and wins term 4 with S2, S3; it replicates index 7
    // (term 2) to S3 but its own no-op (index 8, term 4) only to S2.
    c.restart(1n);
    c.heal();
    for (const id of [1n, 2n, 3n, 4n]) c.tick(id, 10);
    // S3 may receive index 8 only while it cannot accept it (it lacks 7 and
    // rejects, which makes S1 back up and send 7 alone).
    const dropIndex8ToS3AndAllToS4 = (m: Message): boolean =>
      m.from === 1n &&
      ((m.to === 3n &&
        m.type === 'app' &&
        m.entries.some((e) => e.index >= 8) &&
        c.node(3n).storage.lastIndex() >= 7) ||
        m.to === 4n);
    campaignUntilLeader(c, 1n, dropIndex8ToS3AndAllToS4);
    c.tickAll(3, dropIndex8ToS3AndAllToS4);
    assert.equal(c.term(1n), 4);
    assert.equal(c.node(3n).storage.term(7), 2, 'S3 holds the term-2 entry');
    assert.equal(c.raw(1n).status().progress.get(2n)?.match, 8);
    // The safeguard: index 7 is on S1, S2, S3 (a majority) but is from term 2.
    assert.ok(c.committed(1n) < 7, `S1 must not commit index 7 by counting replicas (committed ${c.committed(1n)})`);

    // (d) Why: S1 crashes, S5 returns and wins term 5 with S3, S4 (its last
    // term 3 beats S3's 2) and overwrites index 7 everywhere it can.
    c.crash(1n);
    c.restart(5n);
    c.isolate(2n);
    for (const id of [3n, 4n, 5n]) c.tick(id, 10);
    campaignUntilLeader(c, 5n);
    c.tickAll(3);
    c.heal();
    c.tickAll(3);
    assert.equal(c.node(3n).storage.term(7), 3, 'index 7 was overwritten by term 3');
    assertAppliedLogsAgree(c);
  });
});

describe('ReadIndex: no stale read from a new leader before its first commit in its term', () => {
  it('a new leader answers only after committing its empty entry', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    // S1 commits x at index 5, but nobody else learns that it is committed.
    c.propose(1n, 'x', (m) => m.from === 1n && (m.type === 'app' || m.type === 'heartbeat') && m.commit >= 5);
    assert.equal(c.committed(1n), 5);
    assert.deepEqual(c.appliedData(1n), ['x'], 'the write of x was acknowledged');
    assert.equal(c.committed(2n), 4);
    c.crash(1n);
    for (const id of [2n, 3n]) c.tick(id, 10);
    // S2 wins term 3 but its empty entry is not replicated yet.
    campaignUntilLeader(c, 2n, (m) => m.from === 2n && m.type === 'app');
    assert.equal(c.committed(2n), 4, "the new leader's commit index lags the cluster's");
    c.raw(2n).readIndex(new TextEncoder().encode('read-after-x'));
    c.tickAll(2);
    const [rs] = c.node(2n).readStates;
    assert.ok(rs !== undefined, 'the read is answered once the leader commits in its term');
    assert.ok(rs.index >= 5, `read index ${rs.index} must cover the acknowledged write at 5`);
  });
});

describe('PreVote + CheckQuorum', () => {
  it('a node partitioned from the leader only does not disrupt the cluster', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    const term = c.term(1n);
    c.cut(1n, 3n); // S2 still talks to both
    c.tickAll(60);
    assert.deepEqual(c.leaders(), [1n], 'S1 stays leader during the partial partition');
    assert.equal(c.term(1n), term);
    assert.equal(c.term(2n), term);
    c.heal();
    c.tickAll(20);
    assert.deepEqual(c.leaders(), [1n], 'S1 stays leader after the partition heals');
    for (const id of [1n, 2n, 3n]) assert.equal(c.term(id), term, `node ${id} term unchanged`);
    c.propose(1n, 'after');
    c.tickAll(2);
    for (const id of [1n, 2n, 3n]) assert.deepEqual(c.appliedData(id), ['after']);
  });

  it('a leader that lost its quorum steps down within two election timeouts', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.isolate(1n);
    // The first check after isolation may still count the acks from before it.
    c.tick(1n, 20);
    assert.equal(c.raw(1n).role(), 'follower');
    assert.throws(() => c.raw(1n).propose(new Uint8Array([1])), ProposalDroppedError);
  });
});

describe('Single-server membership changes: at most one pending (Ongaro 2015)', () => {
  it('refuses a second conf change while one is uncommitted', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.addEmptyNode(4n);
    c.addEmptyNode(5n);
    const noAppends = (m: Message): boolean => m.type === 'app';
    c.raw(1n).proposeConfChange({ type: 'addNode', nodeId: 4n });
    c.stabilize(noAppends);
    assert.throws(
      () => c.raw(1n).proposeConfChange({ type: 'addNode', nodeId: 5n }),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'conf-change-pending',
    );
    c.tickAll(2);
    c.raw(1n).proposeConfChange({ type: 'addNode', nodeId: 5n });
    c.tickAll(2);
    assert.deepEqual(c.raw(1n).status().confState.voters, [1n, 2n, 3n, 4n, 5n]);
  });

  it('a new leader proposes no conf change before committing an entry of its term', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.addEmptyNode(4n);
    // Hand leadership to S2, whose empty entry is then held back.
    c.raw(1n).transferLeader(2n);
    c.stabilize((m) => m.from === 2n && m.type === 'app');
    assert.equal(c.raw(2n).role(), 'leader');
    assert.throws(
      () => c.raw(2n).proposeConfChange({ type: 'addLearner', nodeId: 4n }),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'conf-change-pending',
    );
    c.tickAll(2);
    c.raw(2n).proposeConfChange({ type: 'addLearner', nodeId: 4n });
    c.tickAll(3);
    assert.deepEqual(c.raw(4n).status().confState, { voters: [1n, 2n, 3n], learners: [4n] });
  });
});

describe('Removed leader', () => {
  it('steps down once it applies its own removal and stops sending', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.raw(1n).proposeConfChange({ type: 'removeNode', nodeId: 1n });
    c.stabilize();
    assert.equal(c.raw(1n).role(), 'follower');
    c.node(1n).sent = [];
    c.tickAll(40);
    const sentByRemoved = c.node(1n).sent.filter((m) => m.type === 'app' || m.type === 'heartbeat' || m.type === 'vote' || m.type === 'preVote');
    assert.deepEqual(sentByRemoved, [], 'the removed node sends no appends, heartbeats or votes');
    const leaders = c.leaders();
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0], 1n);
    c.propose(leaders[0]!, 'without-1');
    for (const id of [2n, 3n]) assert.deepEqual(c.appliedData(id), ['without-1']);
  });
});

describe('Follower behind compaction', () => {
  it('is caught up by a snapshot', () => {
    const c = new Cluster({ voters: [1n, 2n, 3n] });
    c.campaign(1n);
    c.isolate(3n);
    for (let i = 0; i < 10; i++) c.propose(1n, `v${i}`);
    // Every live node snapshots and compacts everything it applied.
    for (const id of [1n, 2n]) {
      const n = c.node(id);
      const applied = c.raw(id).status().applied;
      n.storage.createSnapshot(applied, n.confState, new TextEncoder().encode(`state@${applied}`));
      n.storage.compact(applied);
    }
    assert.ok(c.node(1n).storage.firstIndex() > c.node(3n).storage.lastIndex() + 1, 'S3 needs compacted entries');
    c.heal();
    c.tickAll(3);
    const leaderSnap = c.node(1n).storage.snapshot().metadata.index;
    assert.equal(c.node(3n).storage.snapshot().metadata.index, leaderSnap, 'S3 installed the snapshot');
    assert.equal(c.raw(3n).status().applied, c.raw(1n).status().applied);
    c.propose(1n, 'after-snapshot');
    c.tickAll(2);
    assert.deepEqual(c.appliedData(3n).slice(-1), ['after-snapshot']);
    assert.deepEqual(c.raw(3n).status().confState, { voters: [1n, 2n, 3n], learners: [] });
  });
});
