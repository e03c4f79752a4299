/**
 * RaftLog, three members in one process: real WALs in temporary
 * directories, messages carried by an in-memory network. Checks that the
 * log replicates in one order everywhere, forwards a follower's proposal,
 * answers read indexes, and keeps the persistence order: no append or vote
 * response leaves a member before what it promises is fsynced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message, NodeId } from '@holdfast/raft';
import { Wal, type WalBatch } from '@holdfast/storage';
import { RaftLog } from '../src/log/raft/raft-log.js';
import type { LogEntry } from '../src/log/replicated-log.js';
import { systemClock } from '../src/node/clock.js';

interface Member {
  readonly id: NodeId;
  readonly log: RaftLog;
  readonly wal: Wal;
  readonly applied: LogEntry[];
  /** What this member's WAL holds on disk: the last fsynced entry index and HardState. */
  readonly durable: { index: number; term: number; vote: bigint };
}

interface Group {
  readonly directory: string;
  readonly members: Map<NodeId, Member>;
  /** Stops every member; the WALs stay unless `remove`. */
  stop(options?: { remove?: boolean }): Promise<void>;
}

/** Starts `ids` as a new group, or (`restartIn`) restarts it from the WALs in that directory. */
async function startGroup(ids: NodeId[], violations: string[], restartIn?: string): Promise<Group> {
  const directory = restartIn ?? mkdtempSync(join(tmpdir(), 'holdfast-raft-log-'));
  const walDirectory = (id: NodeId) => join(directory, id.toString(16));
  const members = new Map<NodeId, Member>();
  // A seeded generator: the same elections every run.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const id of ids) {
    const opened = restartIn === undefined ? undefined : await Wal.open(walDirectory(id));
    const wal = opened?.wal ?? (await Wal.create(walDirectory(id)));
    const durable = { index: opened?.entries[opened.entries.length - 1]?.index ?? 0, term: opened?.hardState.term ?? 0, vote: opened?.hardState.vote ?? 0n };
    // The WAL as the log sees it, noting what is durable once each fsync returns.
    const recordingWal = {
      appendAndSync: async (batch: WalBatch) => {
        await wal.appendAndSync(batch);
        const last = batch.entries?.[batch.entries.length - 1];
        if (last !== undefined) durable.index = last.index;
        if (batch.hardState !== undefined) Object.assign(durable, { term: batch.hardState.term, vote: batch.hardState.vote });
      },
      append: (entries: WalBatch['entries'], hardState: WalBatch['hardState']) => wal.append(entries ?? [], hardState),
    } as unknown as Wal;
    const applied: LogEntry[] = [];
    const log: RaftLog = new RaftLog({
      id,
      storage: opened === undefined ? await RaftLog.bootstrapStorage(recordingWal, { voters: ids, learners: [] }) : RaftLog.restoreStorage(opened, { voters: ids, learners: [] }),
      wal: recordingWal,
      clock: systemClock,
      random,
      heartbeatIntervalMs: 10,
      electionTimeoutMs: 100,
      applied: opened?.snapshotMarker.index ?? 0,
      events: { applyCommitted: (entries) => applied.push(...entries), leaderChanged: () => {}, fatal: (error) => violations.push(`fatal on ${id}: ${String(error)}`) },
      peers: {
        send: (messages: readonly Message[]) => {
          for (const message of messages) {
            // The persistence contract, checked at the moment of sending.
            if (message.type === 'appResp' && !message.reject && message.index > durable.index) violations.push(`${id} acknowledged index ${message.index} with ${durable.index} durable`);
            if (message.type === 'voteResp' && !message.reject && (durable.vote !== message.to || durable.term < message.term)) violations.push(`${id} granted a vote in term ${message.term} before persisting it`);
            setImmediate(() => members.get(message.to)?.log.receive(message));
          }
        },
      },
    });
    members.set(id, { id, log, wal, applied, durable });
  }
  return {
    directory,
    members,
    stop: async ({ remove = true } = {}) => {
      for (const member of members.values()) await member.log.stop();
      for (const member of members.values()) await member.wal.close();
      if (remove) rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function eventually(what: string, condition: () => boolean, timeoutMs = 10_000, state: () => unknown = () => ''): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what} ${JSON.stringify(state())}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const dataOf = (entries: readonly LogEntry[]) => entries.filter((entry) => entry.type === 'normal' && entry.data.length > 0).map((entry) => Buffer.from(entry.data).toString());

test('three members: one leader, every proposal applied everywhere in one order, a follower\'s forwarded', async () => {
  const violations: string[] = [];
  const group = await startGroup([0x8e9e05c52164694dn, 0x91bc3c398fb3c146n, 0xfd422379fda50e48n], violations);
  try {
    const members = [...group.members.values()];
    await eventually('a leader', () => members.every((member) => member.log.leaderId !== 0n && member.log.leaderId === members[0]!.log.leaderId));
    assert.deepEqual(violations, [], 'nothing went wrong during the election');
    const leader = group.members.get(members[0]!.log.leaderId)!;
    const follower = members.find((member) => member !== leader)!;
    const context = { mine: true };
    for (let i = 0; i < 50; i++) leader.log.propose(Buffer.from(`leader-${i}`), i === 0 ? context : undefined);
    for (let i = 0; i < 50; i++) follower.log.propose(Buffer.from(`follower-${i}`));
    await eventually('100 entries applied on every member', () => members.every((member) => dataOf(member.applied).length === 100), 10_000, () =>
      members.map((member) => ({ id: member.id, applied: dataOf(member.applied).length, leader: String(member.log.leaderId), violations })),
    );
    const order = dataOf(leader.applied);
    for (const member of members) assert.deepEqual(dataOf(member.applied), order, `member ${member.id} applied the leader's order`);
    assert.deepEqual(order.filter((data) => data.startsWith('leader-')), Array.from({ length: 50 }, (_, i) => `leader-${i}`));
    assert.deepEqual(order.filter((data) => data.startsWith('follower-')), Array.from({ length: 50 }, (_, i) => `follower-${i}`));
    // Indexes are consecutive, each applied once.
    for (const member of members) assert.deepEqual(member.applied.map((entry) => entry.index), Array.from({ length: member.applied.length }, (_, i) => i + 1));
    // The proposer's context comes back on the proposer only.
    assert.equal(leader.applied.find((entry) => Buffer.from(entry.data).toString() === 'leader-0')?.context, context);
    assert.equal(follower.applied.find((entry) => Buffer.from(entry.data).toString() === 'leader-0')?.context, undefined);
    // A read index on a follower is at least everything committed so far.
    const index = await follower.log.readIndex();
    assert.ok(index >= leader.applied[leader.applied.length - 1]!.index, `read index ${index}`);
    assert.deepEqual(violations, []);
  } finally {
    await group.stop();
  }
});

test('the persistence check can fail: a WAL that acknowledges before it syncs is caught', async () => {
  const violations: string[] = [];
  const group = await startGroup([0x8e9e05c52164694dn, 0x91bc3c398fb3c146n, 0xfd422379fda50e48n], violations);
  try {
    // Pretend member 3's disk forgets: its durable record never advances.
    const three = [...group.members.values()][2]!;
    Object.defineProperty(three.durable, 'index', { get: () => 0, set: () => {} });
    const members = [...group.members.values()];
    await eventually('a leader', () => members.every((member) => member.log.leaderId !== 0n && member.log.leaderId === members[0]!.log.leaderId));
    const leader = group.members.get(members[0]!.log.leaderId)!;
    leader.log.propose(Buffer.from('x'));
    await eventually('a violation is seen', () => violations.some((violation) => violation.startsWith(`${three.id} acknowledged`)));
  } finally {
    await group.stop();
  }
});

test('a group restarted from its WALs applies the same log again, elects a leader and goes on', async () => {
  const ids = [0x8e9e05c52164694dn, 0x91bc3c398fb3c146n, 0xfd422379fda50e48n];
  const violations: string[] = [];
  const first = await startGroup(ids, violations);
  let restarted: Group | undefined;
  try {
    const members = [...first.members.values()];
    await eventually('a leader', () => members.every((member) => member.log.leaderId !== 0n && member.log.leaderId === members[0]!.log.leaderId));
    const leader = first.members.get(members[0]!.log.leaderId)!;
    for (let i = 0; i < 30; i++) leader.log.propose(Buffer.from(`before-${i}`));
    await eventually('30 entries applied everywhere', () => members.every((member) => dataOf(member.applied).length === 30));
    const before = dataOf(leader.applied);
    await first.stop({ remove: false });

    restarted = await startGroup(ids, violations, first.directory);
    const again = [...restarted.members.values()];
    // Everything committed before is handed to the node again, in the same order.
    await eventually('the old log applied again', () => again.every((member) => dataOf(member.applied).length >= 30));
    for (const member of again) assert.deepEqual(dataOf(member.applied).slice(0, 30), before);
    await eventually('a leader after the restart', () => again.every((member) => member.log.leaderId !== 0n && member.log.leaderId === again[0]!.log.leaderId));
    const newLeader = restarted.members.get(again[0]!.log.leaderId)!;
    assert.ok(newLeader.log.term > leader.log.term, `term ${newLeader.log.term} after ${leader.log.term}`);
    newLeader.log.propose(Buffer.from('after'));
    await eventually('the new entry applied everywhere', () => again.every((member) => dataOf(member.applied).includes('after')));
    for (const member of again) assert.deepEqual(dataOf(member.applied), [...before, 'after']);
    assert.deepEqual(violations, []);
  } finally {
    await (restarted ?? first).stop();
  }
});
