/**
 * Maintenance, Cluster, Auth, Lock and Election against Holdfast and etcd.
 * Auth, Lock, Election and membership changes are skipped on Holdfast, with
 * the reason, while it answers UNIMPLEMENTED for them (later issues bring
 * them); on etcd they always run.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  AuthFailedError,
  BadLeaderTransfereeError,
  Client,
  DeadlineExceededError,
  LearnerNotReadyError,
  MemberNotFoundError,
  PermissionDeniedError,
  UserEmptyError,
  type Lease,
} from '../src/index.js';
import { forEachServer, sleep, testClientOptions, unimplementedReason, type ServerKind, type notYetOnHoldfast } from './helpers.js';

const timeout = 60_000;

/** Skips on Holdfast when it does not serve `service` yet; on etcd an UNIMPLEMENTED fails the test. */
async function skipIfUnimplemented(t: TestContext, kind: ServerKind, service: (typeof notYetOnHoldfast)[number], probe: () => Promise<unknown>): Promise<boolean> {
  const reason = await unimplementedReason(kind, service, probe);
  if (reason !== undefined) t.skip(reason);
  return reason !== undefined;
}

forEachServer('maintenance and cluster', (suite) => {
  test('status, health, hashKv, alarms, defragment', { timeout }, async () => {
    const client = suite.client();
    await client.put('m/k', 'v');
    const status = await client.maintenance.status();
    assert.match(status.version, /^3\.\d+\.\d+$/);
    assert.ok(status.dbSizeBytes > 0n && status.dbSizeInUseBytes > 0n);
    assert.equal(status.leader, status.header.memberId, 'a single member leads itself');
    assert.ok(status.raftIndex > 0n && status.raftTerm > 0n);
    assert.equal(await client.maintenance.health(), true);
    const first = await client.maintenance.hashKv();
    const second = await client.maintenance.hashKv(first.header.revision);
    assert.equal(second.hash, first.hash, 'same revision, same hash');
    await client.put('m/k', 'changed');
    assert.notEqual((await client.maintenance.hashKv()).hash, first.hash);
    assert.deepEqual(await client.maintenance.alarms(), []);
    await client.maintenance.defragment();
    const targeted = await client.maintenance.status({ endpoint: suite.server().endpoint });
    assert.equal(targeted.header.memberId, status.header.memberId);
    await assert.rejects(client.maintenance.status({ endpoint: '127.0.0.1:1' }), TypeError);
    await assert.rejects(client.maintenance.moveLeader(12_345n), BadLeaderTransfereeError);
  });

  test('snapshot streams the backend, ending with its sha256 as etcd writes it', { timeout }, async () => {
    const client = suite.client();
    const chunks: Buffer[] = [];
    for await (const chunk of client.maintenance.snapshot()) chunks.push(chunk);
    const snapshot = Buffer.concat(chunks);
    assert.ok(snapshot.length > 32);
    const body = snapshot.subarray(0, snapshot.length - 32);
    assert.deepEqual(createHash('sha256').update(body).digest(), snapshot.subarray(snapshot.length - 32));
  });

  test('memberList; add, update, promote and remove a learner', { timeout }, async (t) => {
    const client = suite.client();
    const { header, members } = await client.cluster.memberList({ linearizable: true });
    assert.equal(members.length, 1);
    assert.equal(members[0]?.id, header.memberId);
    assert.deepEqual(members[0]?.clientUrls, [`http://${suite.server().endpoint}`]);
    if (await skipIfUnimplemented(t, suite.kind, 'membership changes', () => client.cluster.memberRemove(12_345n).catch((error: unknown) => {
      if (error instanceof MemberNotFoundError) return;
      throw error;
    }))) return;
    await assert.rejects(client.cluster.memberRemove(12_345n), MemberNotFoundError);
    const added = await client.cluster.memberAdd(['http://127.0.0.1:1'], { learner: true });
    const learner = added.member!;
    assert.equal(learner.isLearner, true);
    assert.ok(learner.id > 0n);
    await assert.rejects(client.cluster.memberPromote(learner.id), LearnerNotReadyError);
    const updated = await client.cluster.memberUpdate(learner.id, ['http://127.0.0.1:2']);
    assert.deepEqual(updated.members.find((member) => member.id === learner.id)?.peerUrls, ['http://127.0.0.1:2']);
    const removed = await client.cluster.memberRemove(learner.id);
    assert.deepEqual(
      removed.members.map((member) => member.id),
      [header.memberId],
    );
  });
});

forEachServer(
  'auth',
  (suite) => {
    test('enable auth, users, roles, permissions; tokens on calls and streams; automatic login', { timeout }, async (t) => {
      const client = suite.client();
      if (await skipIfUnimplemented(t, suite.kind, 'Auth', () => client.auth.userList())) return;
      await client.auth.userAdd('root', 'root-password');
      await client.auth.userGrantRole('root', 'root');
      await client.auth.userAdd('alice', 'alice-password');
      await client.auth.roleAdd('reader');
      await client.auth.roleGrantPermission('reader', { type: 'read', key: 'pub/', prefix: true });
      await client.auth.userGrantRole('alice', 'reader');
      assert.deepEqual(await client.auth.userGet('alice'), ['reader']);
      assert.deepEqual(await client.auth.roleGet('reader'), [{ type: 'read', key: Buffer.from('pub/'), rangeEnd: Buffer.from('pub0') }]);
      assert.deepEqual((await client.auth.userList()).sort(), ['alice', 'root']);
      assert.ok((await client.auth.roleList()).includes('reader'));
      await client.put('pub/news', 'hello');
      await client.auth.authEnable();
      try {
        await assert.rejects(client.put('pub/news', 'anonymous'), UserEmptyError);
        await assert.rejects(client.auth.authenticate('root', 'wrong'), AuthFailedError);
        const token = await client.auth.authenticate('root', 'root-password');
        assert.ok(token.length > 0);
        await client.put('pub/news', 'by root');

        // A client that logs in by itself, and again when its token expires (--auth-token-ttl 1 on etcd).
        const alice = new Client({ ...testClientOptions, endpoints: [suite.server().endpoint], auth: { username: 'alice', password: 'alice-password' } });
        try {
          assert.equal((await alice.get('pub/news')).kvs[0]?.valueString, 'by root');
          await assert.rejects(alice.put('pub/news', 'by alice'), PermissionDeniedError);
          const watch = alice.watch('pub/', { prefix: true });
          await watch.created;
          watch.close();
          await sleep(2_500);
          assert.equal((await alice.get('pub/news')).kvs[0]?.valueString, 'by root', 'logged in again after the token expired');
        } finally {
          alice.close();
        }
        // Wrong credentials fail at once: logging in is not retried past the server's refusal.
        const mallory = new Client({ ...testClientOptions, endpoints: [suite.server().endpoint], auth: { username: 'alice', password: 'wrong' } });
        try {
          const startedMs = Date.now();
          await assert.rejects(mallory.get('pub/news'), AuthFailedError);
          assert.ok(Date.now() - startedMs < 3_000, `took ${Date.now() - startedMs} ms`);
        } finally {
          mallory.close();
        }
        await client.auth.authenticate('root', 'root-password');
      } finally {
        await client.auth.authDisable();
        client.auth.logout();
      }
      await client.put('pub/news', 'anonymous again');
    });
  },
  { extraArgsByKind: { etcd: ['--auth-token-ttl', '1'] } },
);

forEachServer('lock and election', (suite) => {
  test('lock excludes a second owner until unlock', { timeout }, async (t) => {
    const client = suite.client();
    if (await skipIfUnimplemented(t, suite.kind, 'Lock', () => client.lock.unlock('probe/never-locked'))) return;
    const leases: Lease[] = [await client.lease.grant(30), await client.lease.grant(30)];
    try {
      const held = await client.lock.lock('locks/a', leases[0]!.id);
      assert.equal(held.key.toString(), `locks/a/${leases[0]!.id.toString(16)}`);
      await assert.rejects(client.lock.lock('locks/a', leases[1]!.id, { timeoutMs: 500 }), DeadlineExceededError);
      const second = client.lock.lock('locks/a', leases[1]!.id);
      await sleep(100);
      await client.lock.unlock(held.key);
      const next = await second;
      assert.equal(next.key.toString(), `locks/a/${leases[1]!.id.toString(16)}`);
    } finally {
      for (const lease of leases) await lease.close();
    }
  });

  test('election: campaign, leader, proclaim, observe, resign', { timeout }, async (t) => {
    const client = suite.client();
    if (await skipIfUnimplemented(t, suite.kind, 'Election', () => client.election.leader('probe/election'))) return;
    const lease = await client.lease.grant(30);
    try {
      assert.equal(await client.election.leader('elections/e'), undefined);
      const leader = await client.election.campaign('elections/e', lease.id, 'first');
      assert.equal(leader.name.toString(), 'elections/e');
      assert.equal(leader.lease, lease.id);
      assert.equal((await client.election.leader('elections/e'))?.valueString, 'first');
      const controller = new AbortController();
      const observed: string[] = [];
      const observing = (async () => {
        for await (const kv of client.election.observe('elections/e', { signal: controller.signal })) {
          observed.push(kv.valueString);
          if (observed.length === 2) controller.abort(new Error('seen enough'));
        }
      })().catch((error: unknown) => error);
      await sleep(200);
      await client.election.proclaim(leader, 'second');
      const ended = await observing;
      assert.ok(ended instanceof Error && ended.message === 'seen enough');
      assert.deepEqual(observed, ['first', 'second']);
      await client.election.resign(leader);
      assert.equal(await client.election.leader('elections/e'), undefined);
    } finally {
      await lease.close();
    }
  });
});
