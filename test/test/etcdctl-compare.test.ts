/**
 * The same etcdctl 3.4 command sequence against a fresh Holdfast and a fresh
 * real etcd must print the same thing, once what legitimately differs is
 * masked: cluster and member ids, raft index, database size, the version
 * string, timings, client URLs, and temporary paths. Revisions, the raft
 * term, values, errors, exit codes and the HashKV hash are compared as they are
 * (Holdfast stores records in etcd's byte layout, so the hash agrees).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { etcdAvailability, etcdctl, removeDirectory, startEtcd, startHoldfast, temporaryDirectory, type RunningServer } from '../src/support.js';

interface Step {
  readonly args: string[];
  readonly input?: string;
}

const txnSuccess = 'value("foo") = "bar2"\n\nput txn-ok yes\nget foo\n\nput txn-failed yes\n\n';
const txnFailure = 'mod("foo") > "1000"\nversion("zoo") = "1"\n\nput never yes\n\nput txn-else yes\nget zoo\ndel foo3\n\n';
const txnCreate = 'create("brand-new") = "0"\n\nput brand-new 1\n\n\n';

/** One big sequence: every step's output is compared. */
function steps(snapshotPath: string): Step[] {
  const many = Array.from({ length: 129 }, (_, i) => `put many-${i} x`).join('\n');
  return [
    // Before any compaction: etcd 3.4 reports compact_revision -1.
    { args: ['endpoint', 'hashkv', '-w', 'json'] },
    { args: ['put', 'foo', 'bar'] },
    { args: ['put', 'foo', 'bar2', '--prev-kv'] },
    { args: ['put', 'foo2', 'second'] },
    { args: ['put', 'foo3', 'third'] },
    { args: ['put', 'zoo', 'animal'] },
    { args: ['put', 'a/b', 'c'] },
    { args: ['get', 'foo'] },
    { args: ['get', 'foo', '-w', 'json'] },
    { args: ['get', 'foo', '-w', 'fields'] },
    { args: ['get', 'foo', '--prefix'] },
    { args: ['get', 'foo', '--prefix', '--limit', '2', '-w', 'json'] },
    { args: ['get', 'foo', '--prefix', '--keys-only'] },
    { args: ['get', 'foo', '--prefix', '--print-value-only'] },
    { args: ['get', 'foo', '--prefix', '--count-only', '-w', 'json'] },
    { args: ['get', 'foo', '--prefix', '--sort-by', 'MODIFY', '--order', 'DESCEND'] },
    { args: ['get', 'foo', '--prefix', '--sort-by', 'VALUE', '--order', 'ASCEND'] },
    { args: ['get', 'foo', '--prefix', '--sort-by', 'CREATE'] },
    { args: ['get', 'foo', '--prefix', '--sort-by', 'VERSION', '--order', 'DESCEND'] },
    { args: ['get', 'foo', '--from-key'] },
    { args: ['get', 'foo', 'foo3'] },
    { args: ['get', '', '--prefix', '-w', 'json'] },
    { args: ['get', 'foo', '--rev', '2'] },
    { args: ['get', 'foo', '--rev', '3', '-w', 'json'] },
    { args: ['get', 'foo', '--consistency', 's'] },
    { args: ['get', 'foo', '--prefix', '--min-mod-rev', '4'] },
    { args: ['get', 'foo', '--prefix', '--max-mod-rev', '4'] },
    { args: ['get', 'foo', '--prefix', '--min-create-rev', '4', '--max-create-rev', '4'] },
    { args: ['get', 'missing'] },
    { args: ['get', 'missing', '-w', 'json'] },
    { args: ['put', 'foo', '--ignore-value'] },
    { args: ['get', 'foo', '-w', 'json'] },
    { args: ['put', 'nokey', '--ignore-value'] },
    { args: ['put', 'foo', 'v', '--ignore-value'] },
    { args: ['put', 'foo', 'newval', '--ignore-lease'] },
    { args: ['put', 'leased', 'v', '--lease', '1234abcd'] },
    { args: ['put', '', 'empty-key'] },
    { args: ['txn', '-w', 'json'], input: txnSuccess },
    { args: ['txn'], input: txnFailure },
    { args: ['txn', '-w', 'json'], input: txnFailure },
    { args: ['txn'], input: txnCreate },
    { args: ['txn'], input: txnCreate },
    { args: ['txn'], input: `\n${many}\n\n\n` },
    { args: ['txn'], input: '\nput dup 1\nput dup 2\n\n\n' },
    { args: ['del', 'zoo'] },
    { args: ['del', 'zoo'] },
    { args: ['del', 'foo', '--prefix', '--prev-kv'] },
    { args: ['del', 'a', '--from-key', '-w', 'json'] },
    { args: ['get', '', '--prefix', '-w', 'json'] },
    { args: ['put', 'after', 'delete'] },
    { args: ['get', 'foo', '--rev', '5', '--prefix', '-w', 'json'] },
    { args: ['compaction', '5'] },
    { args: ['compaction', '5'] },
    { args: ['compaction', '100000'] },
    { args: ['get', 'foo', '--rev', '4'] },
    { args: ['get', 'foo', '--rev', '5', '--prefix'] },
    { args: ['get', 'foo', '--rev', '100000'] },
    { args: ['compaction', '--physical', '8'] },
    { args: ['get', '', '--prefix', '--rev', '8', '-w', 'json'] },
    { args: ['endpoint', 'status', '-w', 'json'] },
    { args: ['endpoint', 'status'] },
    { args: ['endpoint', 'health'] },
    { args: ['endpoint', 'hashkv', '-w', 'json'] },
    { args: ['member', 'list'] },
    { args: ['member', 'list', '-w', 'json'] },
    { args: ['alarm', 'list'] },
    { args: ['snapshot', 'save', snapshotPath] },
    { args: ['defrag'] },
    { args: ['get', '', '--prefix', '--keys-only'] },
  ];
}

/** Masks what legitimately differs between two servers. */
function normalize(text: string, server: RunningServer, snapshotPath: string): string {
  return text
    .replaceAll(server.endpoint, '<endpoint>')
    .replaceAll(snapshotPath, '<snapshot>')
    .replace(/"(cluster_id|member_id|leader|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse|ID)":\d+/g, '"$1":<n>')
    .replace(/^"(ClusterID|MemberID)" : \d+$/gm, '"$1" : <n>')
    .replace(/"version":"[^"]*"/g, '"version":"<version>"')
    // Ids print as %x: a leading zero digit is dropped, so 13 to 16 digits.
    .replace(/\b[0-9a-f]{13,16}\b/g, '<id>')
    .replace(/\| *\d+(\.\d+)? [kMG]?B *\|/g, '| <size> |')
    .replace(/\| +3\.4\.\d+ +\|/g, '| <version> |')
    .replace(/took = [^\s]+/g, 'took = <duration>')
    .replace(/http:\/\/(localhost|127\.0\.0\.1):\d+/g, 'http://<host>')
    // zap log lines printed by etcdctl (snapshot save): keep the message only.
    .replace(/^\{"level":"([a-z]+)".*"msg":"([^"]*)".*\}$/gm, 'log $1: $2')
    .replace(/^<endpoint>, <id>, [\d.]+, \d+(?:\.\d+)? [kMG]?B, true, false, (\d+), \d+, \d+, $/gm, '<endpoint>, <id>, <version>, <size>, true, false, $1, <index>, <applied>, ')
    .replace(/\| +true +\| +false +\| +(\d+) +\| +\d+ +\| +\d+ +\|/g, '| true | false | $1 | <index> | <applied> |');
}

async function runSequence(server: RunningServer, snapshotPath: string): Promise<string[]> {
  const transcript: string[] = [];
  for (const step of steps(snapshotPath)) {
    const result = await etcdctl(server.endpoint, step.args, step.input);
    const stderr = result.stderr
      .split('\n')
      // Client-side retry warnings carry timestamps and client ids; the error line that follows says it all.
      .filter((line) => !line.includes('retry_interceptor.go'))
      .join('\n');
    transcript.push(
      normalize(`$ etcdctl ${step.args.join(' ')}\nexit ${result.exitCode}\n${result.stdout}${stderr}`, server, snapshotPath),
    );
  }
  return transcript;
}

const availability = await etcdAvailability();

test('etcdctl 3.4 prints the same against Holdfast as against etcd', { skip: availability.available ? false : availability.reason, timeout: 180_000 }, async () => {
  const workDirectory = temporaryDirectory('compare');
  const transcripts: Record<string, string[]> = {};
  try {
    for (const start of [startEtcd, startHoldfast]) {
      const server = await start();
      try {
        transcripts[server.kind] = await runSequence(server, join(workDirectory, `${server.kind}.snapshot`));
      } finally {
        await server.stop();
        removeDirectory(server.dataDir);
      }
    }
  } finally {
    removeDirectory(workDirectory);
  }
  const etcd = transcripts.etcd!;
  const holdfast = transcripts.holdfast!;
  assert.equal(holdfast.length, etcd.length);
  const differences = etcd.flatMap((expected, i) => (holdfast[i] === expected ? [] : [`--- etcd\n${expected}\n+++ holdfast\n${holdfast[i]}`]));
  assert.deepEqual(differences, [], `${differences.length} of ${etcd.length} steps differ:\n${differences.join('\n')}`);
});
