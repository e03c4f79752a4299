/**
 * Whole members, not only their Raft cores, in one process: three
 * MemberNodes (each with its own backend, WAL and MVCC store in a temporary
 * directory) over RaftLogs joined by an in-memory network. The node has no
 * transport, so this is the replica the server will run, minus gRPC.
 * Shows: ids and the initial membership as etcd derives them, a write
 * through the leader read linearizably on a follower, a watch on a
 * follower seeing it, and a follower's write settled on that follower.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Message } from '@holdfast/raft';
import { etcdserverpb } from '@holdfast/proto';
import { defaultServerConfig } from '../src/config.js';
import { computeMemberId } from '../src/ids.js';
import { systemClock } from '../src/node/clock.js';
import { recoverMember } from '../src/node/recovery.js';
import { MemberNode } from '../src/node/member-node.js';
import { RaftLog } from '../src/log/raft/raft-log.js';
import type { HistoryEvent } from '@holdfast/mvcc';

const names = ['infra0', 'infra1', 'infra2'];
// Never listened on: the network here is in memory. They only name the members (ids derive from them).
const peerUrls = names.map((_, i) => `http://127.0.0.1:${2380 + i * 10}`);

interface Running {
  readonly node: MemberNode;
  readonly log: RaftLog;
}

async function startCluster(directory: string): Promise<Running[]> {
  const byId = new Map<bigint, Running>();
  const running: Running[] = [];
  for (const [i, name] of names.entries()) {
    const config = defaultServerConfig({
      name,
      dataDir: join(directory, name),
      initialAdvertisePeerUrls: [peerUrls[i]!],
      initialCluster: names.map((member, j) => ({ name: member, peerUrl: peerUrls[j]! })),
      initialClusterToken: 'etcd-cluster-1',
      heartbeatIntervalMs: 10,
      electionTimeoutMs: 100,
    });
    const logger = pino({ level: 'silent' });
    const recovered = await recoverMember(config, logger);
    const node = new MemberNode({ config, logger, clock: systemClock, recovered, livenessStampPath: join(directory, `${name}.liveness`) });
    const voters = recovered.membership.list().map((member) => member.id);
    let seed = i + 1;
    const log = new RaftLog({
      id: recovered.membership.localId,
      storage: await RaftLog.bootstrapStorage(recovered.wal, { voters, learners: [] }),
      wal: recovered.wal,
      clock: systemClock,
      random: () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      electionTimeoutMs: config.electionTimeoutMs,
      applied: 0,
      events: { applyCommitted: (entries) => node.applyCommitted(entries), leaderChanged: (leader, term) => node.leaderChanged(leader, term), fatal: (error) => node.fail(error) },
      peers: { send: (messages: readonly Message[]) => messages.forEach((message) => setImmediate(() => byId.get(message.to)?.log.receive(message))) },
    });
    node.attachLog(log);
    const member = { node, log };
    byId.set(recovered.membership.localId, member);
    running.push(member);
  }
  return running;
}

async function eventually(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('three MemberNodes over RaftLogs: one cluster, a write on any member, read and watched on every member', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-member-cluster-'));
  const cluster = await startCluster(directory);
  try {
    // etcd's ids: the same flags give the same member ids and one cluster id everywhere.
    for (const [i, { node }] of cluster.entries()) {
      assert.equal(node.membership.localId, computeMemberId([peerUrls[i]!], 'etcd-cluster-1'));
      assert.equal(node.membership.clusterId, cluster[0]!.node.membership.clusterId);
      assert.deepEqual(node.membership.list().map((member) => member.name).sort(), names);
    }
    await eventually('a leader everyone knows', () => cluster.every(({ log }) => log.leaderId !== 0n && log.leaderId === cluster[0]!.log.leaderId));
    const leader = cluster.find(({ node }) => node.membership.localId === cluster[0]!.log.leaderId)!;
    const follower = cluster.find((member) => member !== leader)!;

    const seen: HistoryEvent[] = [];
    follower.node.watchHub.watch({ range: { start: 'greeting', end: undefined }, startRevision: 0, noPut: false, noDelete: false, sink: { writable: true, deliver: (_watcher, events) => seen.push(...events), compacted: () => {}, synced: () => {} } });

    await leader.node.propose({ put: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('greeting'), value: Buffer.from('hello') }) });
    // Linearizable on the follower: its read index comes from the leader.
    await follower.node.linearizableRead();
    assert.equal(follower.node.store.range(Buffer.from('greeting'), undefined).kvs[0]?.value.toString(), 'hello');
    await eventually('the follower\'s watcher saw the write', () => seen.length === 1);
    assert.equal(seen[0]!.kv.value.toString(), 'hello');

    // A write made on a follower reaches the leader and is answered on the follower.
    const answer = await follower.node.propose({ put: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('from-follower'), value: Buffer.from('yes'), prevKv: true }) });
    assert.ok(answer.response !== undefined && answer.error === undefined);
    await leader.node.linearizableRead();
    assert.equal(leader.node.store.range(Buffer.from('from-follower'), undefined).kvs[0]?.value.toString(), 'yes');
    // Every member holds the same state at the same revision.
    await eventually('every member applied both writes', () => cluster.every(({ node }) => node.store.currentRevision === leader.node.store.currentRevision));
    const hashes = cluster.map(({ node }) => node.store.hashByRevision(0).hash);
    assert.deepEqual(new Set(hashes).size, 1, `HashKV ${hashes.join(', ')}`);
  } finally {
    for (const { node } of cluster) await node.stop();
    rmSync(directory, { recursive: true, force: true });
  }
});
