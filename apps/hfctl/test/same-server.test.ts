/**
 * Read-only commands, run by etcdctl and by hfctl against the same server:
 * nothing differs between the two runs but the tool, so the outputs must be
 * identical byte for byte (tables with their padding, protobuf with its ids,
 * member and cluster ids, db sizes, raft indexes), except "took" timings
 * and the program's own name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdMissing, run, startServer, type ServerKind } from './support.js';

const formats = ['simple', 'json', 'fields', 'protobuf', 'table'];

const readOnly: string[][] = [
  ...formats.map((format) => ['get', '', '--prefix', '-w', format]),
  ['get', 'k', '--prefix', '--sort-by', 'VALUE', '--order', 'DESCEND', '--limit', '3', '-w', 'json'],
  ['get', 'k', 'k5', '--hex'],
  ['get', 'bytes', '-w', 'fields'],
  ['get', 'bytes', '-w', 'json'],
  ['get', 'bytes'],
  ['get', 'k', '--rev', '3', '--prefix', '--keys-only'],
  ['get', 'k', '--prefix', '--print-value-only'],
  ...formats.map((format) => ['member', 'list', '-w', format]),
  ...formats.map((format) => ['endpoint', 'status', '-w', format]),
  ...formats.map((format) => ['endpoint', 'hashkv', '-w', format]),
  ...formats.map((format) => ['alarm', 'list', '-w', format]).filter((args) => !args.includes('fields')),
  ...formats.map((format) => ['txn', '-w', format]),
  ['lease', 'list'],
  ['lease', 'list', '-w', 'json'],
  ['endpoint', 'health', '-w', 'json'],
];

/** The same inputs for both tools' txn steps: reads only. */
const txnInput = 'version("k1") = "1"\nvalue("k2") != "zz"\n\nget k --prefix --limit 2\nget bytes\n\nget k9\n\n';

function normalize(text: string, tool: string): string {
  let out = text.replace(/took = \S+/g, 'took = <duration>').replace(/"took":"[^"]*"/g, '"took":"<duration>"');
  if (tool === 'hfctl') out = out.replace(/\bhfctl\b/g, 'etcdctl');
  return out;
}

const missing = await etcdMissing();

for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
  test(`read-only commands print byte for byte the same with etcdctl and hfctl against one ${kind}`, { skip: missing ?? false, timeout: 180_000 }, async () => {
    const server = await startServer(kind);
    try {
      const base = ['--endpoints', server.endpoint];
      for (let i = 0; i < 10; i++) await run('etcdctl', [...base, 'put', `k${i}`, `value-${(i * 7) % 10}`]);
      await run('etcdctl', [...base, 'put', 'bytes'], { input: 'tab\there "quoted" <html> & ünï\u0001\n' });
      const differences: string[] = [];
      let steps = 0;
      for (const args of readOnly) {
        const input = args[0] === 'txn' ? txnInput : undefined;
        const [etcdctl, hfctl] = [await run('etcdctl', [...base, ...args], input === undefined ? {} : { input }), await run('hfctl', [...base, ...args], input === undefined ? {} : { input })];
        const expected = normalize(`exit ${etcdctl.exitCode}\n${etcdctl.stdout}\n--- stderr\n${etcdctl.stderr}`, 'etcdctl');
        const actual = normalize(`exit ${hfctl.exitCode}\n${hfctl.stdout}\n--- stderr\n${hfctl.stderr}`, 'hfctl');
        steps++;
        if (actual !== expected) differences.push(`$ ${args.join(' ')}\n--- etcdctl\n${expected}\n+++ hfctl\n${actual}`);
      }
      console.log(`same ${kind}: ${steps - differences.length} of ${steps} read-only steps print the same`);
      assert.deepEqual(differences, [], `${differences.length} of ${steps} steps differ:\n${differences.join('\n')}`);
    } finally {
      await server.stop();
    }
  });
}
