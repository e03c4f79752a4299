/**
 * get, put, del, txn and compaction (see kv-scenario.ts): etcdctl 3.4 and
 * hfctl must print the same against a fresh Holdfast and a fresh etcd; and
 * hfctl against Holdfast must print what etcdctl prints against etcd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSame, compare, transcriptsOfBothTools } from './compare.js';
import { kvScenario } from './kv-scenario.js';
import { etcdMissing, type ServerKind, type Tool } from './support.js';

const missing = await etcdMissing();

const transcriptsByKind = new Map<ServerKind, Record<Tool, string[]>>();

for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
  test(`kv commands: etcdctl and hfctl print the same against ${kind}`, { skip: missing ?? false, timeout: 300_000 }, async () => {
    const transcripts = await transcriptsOfBothTools(kind, 'kv', kvScenario);
    transcriptsByKind.set(kind, transcripts);
    assertSame(`kv against ${kind}`, compare(transcripts.etcdctl, transcripts.hfctl));
  });
}

test('kv commands: hfctl against Holdfast prints what etcdctl prints against etcd', { skip: missing ?? false }, () => {
  const onEtcd = transcriptsByKind.get('etcd');
  const onHoldfast = transcriptsByKind.get('holdfast');
  assert.ok(onEtcd !== undefined && onHoldfast !== undefined, 'both servers ran the scenario');
  assertSame('kv, hfctl against holdfast vs etcdctl against etcd', compare(onEtcd.etcdctl, onHoldfast.hfctl));
});
