/**
 * Durability: under a concurrent write load the server is killed with
 * SIGKILL; after restart every acknowledged write is there with the revision
 * it was acknowledged at, and revisions continue past the newest one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDirectory, startHoldfast, temporaryDirectory } from '../src/support.js';
import { TestKvClient } from '../src/kv-client.js';

interface Acknowledged {
  readonly key: string;
  readonly value: string;
  readonly revision: bigint;
}

/** Concurrent writers; each writes its own keys in sequence. */
const writerCount = 16;
/** How long the load runs before the kill. */
const loadDurationMs = 1_500;
const crashRounds = 2;

test('every acknowledged write survives kill -9, and revisions continue', { timeout: 120_000 }, async () => {
  const dataDir = temporaryDirectory('crash');
  const acknowledged: Acknowledged[] = [];
  try {
    for (let round = 0; round < crashRounds; round++) {
      const server = await startHoldfast({ dataDir });
      const client = new TestKvClient(server.endpoint);
      let stopLoad = false;
      const writers = Array.from({ length: writerCount }, async (_, writer) => {
        for (let sequence = 0; !stopLoad; sequence++) {
          const key = `round${round}/writer${writer}/${sequence}`;
          const value = `value-${round}-${writer}-${sequence}`;
          try {
            const response = await client.put(key, value);
            acknowledged.push({ key, value, revision: response.header!.revision });
          } catch {
            return; // The server is gone: nothing after this was acknowledged.
          }
        }
      });
      await new Promise((resolve) => setTimeout(resolve, loadDurationMs));
      await server.kill();
      stopLoad = true;
      await Promise.all(writers);
      client.close();
    }
    assert.ok(acknowledged.length > 100, `the load should have acknowledged writes (got ${acknowledged.length})`);

    const server = await startHoldfast({ dataDir });
    const client = new TestKvClient(server.endpoint);
    try {
      const all = await client.range({ key: Buffer.from('round'), rangeEnd: Buffer.from('rounf') });
      const stored = new Map(all.kvs.map((kv) => [kv.key.toString(), kv]));
      const missing = acknowledged.filter((write) => stored.get(write.key)?.value.toString() !== write.value);
      assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged writes lost`);
      for (const write of acknowledged) assert.equal(stored.get(write.key)!.modRevision, write.revision, `revision of ${write.key}`);
      const newest = acknowledged.reduce((max, write) => (write.revision > max ? write.revision : max), 0n);
      assert.ok(all.header!.revision >= newest, 'the store revision never goes back');
      const next = await client.put('after-crash', 'x');
      assert.ok(next.header!.revision > newest, 'revisions continue after the newest acknowledged one');
    } finally {
      client.close();
      await server.stop();
    }
  } finally {
    removeDirectory(dataDir);
  }
});
