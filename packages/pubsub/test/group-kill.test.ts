/**
 * 100,000 messages through a consumer group of 4 member processes, against
 * Holdfast and etcd, with one member SIGKILLed in the middle of a claim:
 *
 * - none lost: every sequence number of every topic was processed;
 * - duplicates only around the kill: exactly the messages the killed member
 *   had processed from its open claim were processed again, once, by the
 *   member that took the claim over (attempt 2); nothing else twice;
 * - order: every member processed each topic's first deliveries in
 *   increasing sequence order, each claim in order, and sequence order is
 *   revision order.
 *
 * The parent publishes (4 topics x 25,000, 127 messages per txn, the topics
 * in parallel) while the members consume; each member appends a line per
 * message to its log with a synchronous write, which survives SIGKILL. The
 * counts and rates are printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { PubSub } from '../src/index.js';
import { forEachServer, sleep, uniqueName, waitUntil } from './helpers.js';

const memberScript = fileURLToPath(new URL('./fixtures/group-member.js', import.meta.url));
const topicCount = 4;
const messagesPerTopic = 25_000;
const totalMessages = topicCount * messagesPerTopic;
const memberCount = 4;
const claimSize = 250;
const ttlSeconds = 3;
/** The victim pauses (mid-claim) after processing this many messages, then is killed. */
const victimPauseAfter = 8_120;

interface MemberProcess {
  readonly index: number;
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exited: Promise<void>;
  memberId: string;
  count: number;
  paused?: { count: number; topic: string; seq: bigint; claimStart: bigint; claimEnd: bigint };
}

interface LogLine {
  readonly member: number;
  readonly topic: string;
  readonly seq: number;
  readonly revision: bigint;
  readonly attempt: number;
  readonly claimStart: number;
  readonly at: number | undefined;
}

function readLog(member: number, path: string): LogLine[] {
  if (!existsSync(path)) return [];
  const lines: LogLine[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.length === 0) continue;
    const [topic, seq, revision, attempt, claimStart, at] = line.split(' ');
    lines.push({ member, topic: topic!, seq: Number(seq), revision: BigInt(revision!), attempt: Number(attempt), claimStart: Number(claimStart), at: at === undefined ? undefined : Number(at) });
  }
  return lines;
}

forEachServer('consumer group of 4 processes, one SIGKILLed', (suite) => {
  test(`${totalMessages} messages: none lost, duplicates only from the killed member's claim, order kept`, { timeout: 180_000 }, async (t) => {
    const group = uniqueName('workers');
    const topics = Array.from({ length: topicCount }, (_, index) => uniqueName(`orders-${index}`));
    const directory = mkdtempSync(join(tmpdir(), 'holdfast-pubsub-group-'));
    const members: MemberProcess[] = [];
    const pubsub = new PubSub(suite.client());
    const started = performance.now();
    try {
      for (let index = 0; index < memberCount; index++) {
        const logPath = join(directory, `member-${index}.log`);
        const args = [suite.server().endpoint, group, topics.join(','), logPath, String(claimSize), String(ttlSeconds), String(index === 1 ? victimPauseAfter : 0)];
        const child = fork(memberScript, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        const member: MemberProcess = { index, child, logPath, exited, memberId: '', count: 0 };
        child.on('message', (message: { type: string; memberId?: string; count?: number; topic?: string; seq?: string; claimStart?: string; claimEnd?: string }) => {
          if (message.type === 'joined') member.memberId = message.memberId ?? '';
          if (message.type === 'progress' || message.type === 'done') member.count = message.count ?? member.count;
          if (message.type === 'paused') {
            member.paused = { count: message.count!, topic: message.topic!, seq: BigInt(message.seq!), claimStart: BigInt(message.claimStart!), claimEnd: BigInt(message.claimEnd!) };
          }
        });
        members.push(member);
      }
      await waitUntil(() => members.every((member) => member.memberId !== ''), 20_000, 'every member to join');

      // Publish while they consume: the topics in parallel, 127 messages per txn.
      const publishStarted = performance.now();
      const batch = 127;
      await Promise.all(
        topics.map(async (topic, topicIndex) => {
          for (let offset = 0; offset < messagesPerTopic; offset += batch) {
            const size = Math.min(batch, messagesPerTopic - offset);
            await pubsub.publishBatch(topic, Array.from({ length: size }, (_, index) => JSON.stringify({ topic: topicIndex, n: offset + index + 1 })));
          }
        }),
      );
      const publishMs = performance.now() - publishStarted;

      // The victim pauses mid-claim once it has processed victimPauseAfter messages: kill it there.
      const victim = members[1]!;
      await waitUntil(() => victim.paused !== undefined, 60_000, 'the victim to pause mid-claim');
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await victim.exited;

      // Wait until every message was processed somewhere and no claim is left open.
      const survivors = members.filter((member) => member !== victim);
      let unique = 0;
      const deadline = Date.now() + 120_000;
      for (;;) {
        const seen = new Set<string>();
        for (const member of members) for (const line of readLog(member.index, member.logPath)) seen.add(`${line.topic} ${line.seq}`);
        unique = seen.size;
        if (unique >= totalMessages) {
          const claims = await pubsub.space.get(`g/${encodeURIComponent(group)}/t/`, { prefix: true, keysOnly: true });
          if (claims.kvs.every((kv) => !kv.keyString.includes('/claims/'))) break;
        }
        if (Date.now() > deadline) throw new Error(`only ${unique} of ${totalMessages} messages processed after 120 s`);
        await sleep(250);
      }
      const consumedMs = performance.now() - publishStarted;
      for (const member of survivors) member.child.send({ type: 'stop' });
      await Promise.all(survivors.map((member) => Promise.race([member.exited, sleep(15_000)])));

      // Verify.
      const logs = members.map((member) => readLog(member.index, member.logPath));
      const all = logs.flat();
      const deliveries = new Map<string, LogLine[]>();
      for (const line of all) {
        const key = `${line.topic} ${line.seq}`;
        const list = deliveries.get(key) ?? [];
        list.push(line);
        deliveries.set(key, list);
      }
      // None lost.
      for (const topic of topics) {
        for (let seq = 1; seq <= messagesPerTopic; seq++) assert.ok(deliveries.has(`${topic} ${seq}`), `${topic} #${seq} was never processed`);
      }
      assert.equal(deliveries.size, totalMessages);

      // Duplicates: exactly the victim's processed part of its open claim, each once more, by a survivor, as attempt 2.
      const paused = victim.paused!;
      const victimOpenClaim = logs[victim.index]!.filter((line) => line.topic === paused.topic && line.claimStart === Number(paused.claimStart));
      const expectedDuplicates = new Set(victimOpenClaim.map((line) => `${line.topic} ${line.seq}`));
      const duplicates = [...deliveries].filter(([, list]) => list.length > 1);
      assert.ok(expectedDuplicates.size > 0 && expectedDuplicates.size < claimSize, `the victim was mid-claim: ${expectedDuplicates.size} processed of its claim`);
      assert.deepEqual(new Set(duplicates.map(([key]) => key)), expectedDuplicates, 'duplicates are exactly the killed member\'s processed part of its open claim');
      for (const [key, list] of duplicates) {
        assert.equal(list.length, 2, `${key} processed ${list.length} times`);
        const [first, second] = list[0]!.member === victim.index ? [list[0]!, list[1]!] : [list[1]!, list[0]!];
        assert.equal(first.member, victim.index);
        assert.equal(first.attempt, 1);
        assert.notEqual(second.member, victim.index);
        assert.equal(second.attempt, 2, `${key}: the takeover is a redelivery`);
      }
      // The whole claim was taken over: its unprocessed rest too, as attempt 2, once.
      for (let seq = Number(paused.claimStart); seq <= Number(paused.claimEnd); seq++) {
        const list = deliveries.get(`${paused.topic} ${seq}`)!;
        assert.ok(list.some((line) => line.attempt === 2 && line.member !== victim.index), `${paused.topic} #${seq} redelivered after the kill`);
      }
      const redeliveredAt = all.filter((line) => line.at !== undefined).map((line) => line.at!);
      const takeoverAfterMs = Math.min(...redeliveredAt) - killedAt;
      assert.ok(all.every((line) => line.attempt === 1 || (line.topic === paused.topic && line.claimStart === Number(paused.claimStart))), 'only the killed claim was ever redelivered');

      // Order: per member and topic, first deliveries in increasing sequence; each claim in order; revision follows sequence.
      for (const log of logs) {
        for (const topic of topics) {
          const firsts = log.filter((line) => line.topic === topic && line.attempt === 1).map((line) => line.seq);
          for (let i = 1; i < firsts.length; i++) assert.ok(firsts[i]! > firsts[i - 1]!, `member order on ${topic}: ${firsts[i - 1]} then ${firsts[i]}`);
          const byClaim = new Map<number, number[]>();
          for (const line of log.filter((entry) => entry.topic === topic)) byClaim.set(line.claimStart, [...(byClaim.get(line.claimStart) ?? []), line.seq]);
          for (const [start, seqs] of byClaim) seqs.forEach((seq, index) => assert.equal(seq, start + index, `claim ${topic}@${start} in order`));
        }
      }
      for (const topic of topics) {
        let previous = 0n;
        for (let seq = 1; seq <= messagesPerTopic; seq++) {
          const revision = deliveries.get(`${topic} ${seq}`)![0]!.revision;
          assert.ok(revision >= previous, `${topic}: #${seq} at revision ${revision} after ${previous}`);
          previous = revision;
        }
      }

      const totalMs = performance.now() - started;
      const perMember = logs.map((log) => log.length);
      const report =
        `[${suite.kind}] ${totalMessages} messages, ${memberCount} member processes (claims of ${claimSize}, TTL ${ttlSeconds} s): ` +
        `published in ${Math.round(publishMs)} ms (${Math.round(totalMessages / (publishMs / 1_000))} msg/s); ` +
        `all processed ${Math.round(consumedMs)} ms after publishing began (${Math.round(totalMessages / (consumedMs / 1_000))} msg/s, including the ${ttlSeconds} s takeover wait); ` +
        `per member ${perMember.join('/')}; victim killed after ${paused.count} messages, mid-claim ${paused.topic.replace(/-\d+-\d+$/, '')}@${paused.claimStart}; ` +
        `duplicates ${duplicates.length} (all from that claim); takeover ${takeoverAfterMs} ms after the kill; total ${Math.round(totalMs)} ms`;
      t.diagnostic(report);
      console.log(`pubsub group: ${report}`);
      assert.ok(totalMs < 90_000, `took ${Math.round(totalMs)} ms`);
    } finally {
      for (const member of members) member.child.kill('SIGKILL');
      await Promise.all(members.map((member) => member.exited));
      await pubsub.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
