/**
 * Consumer groups in one process against Holdfast and etcd: each message to
 * one member (no duplicate without a failure), per-member order, the claim
 * layout, a member that leaves hands its claim's rest back (no redelivery),
 * a member whose lease is revoked rejoins and its claim is taken over,
 * `from: 'now'`, and a group behind retention.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PubSub, type GroupMember, type GroupMessage } from '../src/index.js';
import { forEachServer, uniqueName } from './helpers.js';

const timeout = 90_000;

/** Runs members until `total` distinct messages were delivered; returns every delivery per member. */
async function consumeAll(members: readonly GroupMember[], total: number, timeoutMs = 30_000): Promise<GroupMessage[][]> {
  const received: GroupMessage[][] = members.map(() => []);
  const distinct = new Set<string>();
  let done = false;
  const timer = setTimeout(() => {
    done = true;
    for (const member of members) void member.close();
  }, timeoutMs);
  await Promise.all(
    members.map(async (member, index) => {
      for await (const message of member) {
        received[index]!.push(message);
        distinct.add(`${message.topic} ${message.seq}`);
        if (distinct.size >= total && !done) {
          done = true;
          // Let the others finish what they hold, then stop everyone.
          setTimeout(() => members.forEach((other) => void other.close()), 200);
        }
      }
    }),
  );
  clearTimeout(timer);
  await Promise.all(members.map((member) => member.close()));
  return received;
}

forEachServer('consumer groups', (suite) => {
  test('three members, two topics: every message exactly once, each member in sequence order', { timeout }, async () => {
    const publisher = new PubSub(suite.client());
    const group = uniqueName('g');
    const topics = [uniqueName('a'), uniqueName('b')];
    const members = await Promise.all([0, 1, 2].map(async (index) => new PubSub(suite.newClient()).join(group, topics, { name: `m${index}`, claimSize: 50, ttlSeconds: 5 })));
    const publishing = Promise.all(
      topics.map(async (topic) => {
        for (let round = 0; round < 12; round++) await publisher.publishBatch(topic, Array.from({ length: 125 }, (_, index) => `${round}-${index}`));
      }),
    );
    const received = await consumeAll(members, 3_000);
    await publishing;
    const all = received.flat();
    assert.equal(all.length, 3_000, 'no duplicates without a failure');
    assert.equal(new Set(all.map((message) => `${message.topic} ${message.seq}`)).size, 3_000);
    for (const [index, messages] of received.entries()) {
      assert.ok(messages.length > 0, `member ${index} got messages`);
      for (const topic of topics) {
        const seqs = messages.filter((message) => message.topic === topic).map((message) => message.seq);
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `member ${index} order on ${topic}`);
      }
      assert.ok(messages.every((message) => message.attempt === 1 && !message.redelivered));
    }
    const stats = members.map((member) => member.stats);
    assert.equal(stats.reduce((sum, s) => sum + s.claims, 0), stats.reduce((sum, s) => sum + s.acknowledged, 0));
    assert.equal(stats.reduce((sum, s) => sum + s.takeovers + s.lostClaims, 0), 0);
    // Nothing left open.
    const left = await publisher.space.get(`g/${encodeURIComponent(group)}/`, { prefix: true });
    assert.deepEqual(
      left.kvs.map((kv) => kv.keyString.replace(/^g\/[^/]+\//, '')).sort(),
      topics.map((topic) => `t/${encodeURIComponent(topic)}/next`).sort(),
    );
  });

  test('claim and member keys as documented', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const group = uniqueName('layout');
    const topic = uniqueName('t');
    await pubsub.publishBatch(topic, ['a', 'b', 'c', 'd', 'e']);
    const member = await pubsub.join(group, topic, { name: 'worker', claimSize: 3, ttlSeconds: 5 });
    const first = await member.next();
    assert.equal(first.done, false);
    assert.deepEqual(first.value.claim, { start: 1n, end: 3n });
    const base = `g/${encodeURIComponent(group)}/`;
    const keys = await pubsub.space.get(base, { prefix: true });
    const byKey = new Map(keys.kvs.map((kv) => [kv.keyString.slice(base.length), kv]));
    const memberKey = `members/${encodeURIComponent(member.memberId)}`;
    assert.match(member.memberId, /^worker-[0-9a-f]+$/);
    assert.ok(byKey.get(memberKey)!.lease > 0n, 'the member key is under the session lease');
    assert.equal(byKey.get(`t/${encodeURIComponent(topic)}/next`)!.valueString, '4');
    assert.deepEqual(JSON.parse(byKey.get(`t/${encodeURIComponent(topic)}/claims/00000000000000000001`)!.valueString), { member: member.memberId, end: '3', attempt: 1 });
    await member.close();
    assert.equal((await pubsub.space.get(base + memberKey)).kvs.length, 0, 'close() removes the member');
  });

  test('a member that leaves mid-claim hands the rest back: the next member gets it at once, not as a redelivery', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const group = uniqueName('leave');
    const topic = uniqueName('t');
    await pubsub.publishBatch(topic, Array.from({ length: 100 }, (_, index) => `m${index + 1}`));
    const leaving = await pubsub.join(group, topic, { name: 'leaving', claimSize: 100, ttlSeconds: 30 });
    const seen: GroupMessage[] = [];
    for await (const message of leaving) {
      seen.push(message);
      if (seen.length === 10) break; // the 10th counts as processed
    }
    const staying = await new PubSub(suite.newClient()).join(group, topic, { name: 'staying', claimSize: 100, ttlSeconds: 30 });
    const rest: GroupMessage[] = [];
    const started = Date.now();
    for await (const message of staying) {
      rest.push(message);
      if (rest.length === 90) break;
    }
    assert.ok(Date.now() - started < 5_000, 'no waiting for a TTL');
    assert.deepEqual(
      rest.map((message) => message.seq),
      Array.from({ length: 90 }, (_, index) => BigInt(index + 11)),
    );
    assert.ok(rest.every((message) => message.attempt === 1), 'handed back undelivered: not a redelivery');
    assert.equal(staying.stats.takeovers, 1);
  });

  test('a member whose lease is revoked: its open claim is taken over and redelivered; it rejoins under a new id', { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const group = uniqueName('revoked');
    const topic = uniqueName('t');
    await pubsub.publishBatch(topic, Array.from({ length: 40 }, (_, index) => `m${index + 1}`));
    const unlucky = await new PubSub(suite.newClient()).join(group, topic, { name: 'unlucky', claimSize: 20, ttlSeconds: 5 });
    const firstId = unlucky.memberId;
    const byUnlucky: GroupMessage[] = [];
    for (let i = 0; i < 5; i++) byUnlucky.push((await unlucky.next()).value as GroupMessage);
    const lease = BigInt(`0x${firstId.slice(firstId.lastIndexOf('-') + 1)}`);
    await suite.client().lease.revoke(lease);

    // Another member finds the claim orphaned (its owner's key went with the lease) and takes it over.
    const other = await new PubSub(suite.newClient()).join(group, topic, { name: 'other', claimSize: 20, ttlSeconds: 5 });
    const takenOver = (await other.next()).value as GroupMessage;
    assert.equal(takenOver.seq, 1n);
    assert.equal(takenOver.attempt, 2);
    assert.equal(takenOver.redelivered, true);
    assert.equal(other.stats.takeovers, 1);

    // The unlucky member delivers the rest of its claim (it cannot know yet), finds the claim gone when it
    // finishes it, and rejoins under a new id for its next claim.
    for (let i = 0; i < 16; i++) byUnlucky.push((await unlucky.next()).value as GroupMessage);
    assert.deepEqual(
      byUnlucky.map((message) => message.seq),
      Array.from({ length: 21 }, (_, index) => BigInt(index + 1)),
    );
    assert.equal(unlucky.stats.lostClaims, 1);
    assert.equal(unlucky.stats.rejoins, 1);
    assert.notEqual(unlucky.memberId, firstId);
    assert.equal(byUnlucky[20]!.attempt, 1, 'a new claim, under the new id');

    const received = await consumeAll([other], 19);
    const byOther = [takenOver, ...received[0]!];
    assert.deepEqual(
      byOther.map((message) => [message.seq, message.attempt]),
      Array.from({ length: 20 }, (_, index) => [BigInt(index + 1), 2]),
      'the whole orphaned claim, redelivered in order',
    );
    await unlucky.close();
  });

  test("from: 'now' starts a new group at the head; a group behind retention starts at the oldest kept", { timeout }, async () => {
    const pubsub = new PubSub(suite.client());
    const topic = uniqueName('t');
    await pubsub.publishBatch(topic, ['old1', 'old2']);
    const fresh = await pubsub.join(uniqueName('now'), topic, { from: 'now', ttlSeconds: 5 });
    const pending = fresh.next();
    await pubsub.publish(topic, 'new1');
    const result = await pending;
    assert.equal(result.done, false);
    assert.equal(result.value.text, 'new1');
    await fresh.close();

    await pubsub.publishBatch(topic, Array.from({ length: 20 }, (_, index) => `x${index}`));
    await pubsub.trim(topic, { maxMessages: 5 });
    const behind = await pubsub.join(uniqueName('behind'), topic, { ttlSeconds: 5, claimSize: 100 });
    const first = await behind.next();
    assert.equal(first.done, false);
    assert.equal(first.value.seq, 19n, 'the oldest message kept');
    await behind.close();
  });
});
