/**
 * get, put, del, txn and compaction (see kv-scenario.ts): etcdctl 3.4 and
 * hfctl must print the same against a fresh Holdfast and a fresh etcd.
 */
import { test } from 'node:test';
import { assertSame, compare, runScenario } from './compare.js';
import { kvScenario } from './kv-scenario.js';
import { etcdMissing, removeDirectory, startServer, temporaryDirectory, type ServerKind, type Tool } from './support.js';

const missing = await etcdMissing();

for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
  test(`kv commands: etcdctl and hfctl print the same against ${kind}`, { skip: missing ?? false, timeout: 300_000 }, async () => {
    const transcripts = {} as Record<Tool, string[]>;
    for (const tool of ['etcdctl', 'hfctl'] as const) {
      const server = await startServer(kind);
      const directory = temporaryDirectory('kv');
      try {
        transcripts[tool] = await runScenario(tool, server, directory, kvScenario);
      } finally {
        await server.stop();
        removeDirectory(directory);
      }
    }
    assertSame(`kv against ${kind}`, compare(transcripts.etcdctl, transcripts.hfctl));
  });
}
