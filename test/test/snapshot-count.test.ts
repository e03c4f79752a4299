/**
 * Every --snapshot-count applied entries the server records a snapshot in
 * the WAL (after the backend is on disk); a restart replays only what came
 * after, and loses nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { HoldfastServer, defaultServerConfig } from '@holdfast/server';
import { Wal } from '@holdfast/storage';
import { removeDirectory, temporaryDirectory } from '../src/support.js';
import { TestKvClient } from '../src/kv-client.js';

const snapshotCount = 50;
const writes = 180;

test('snapshots every --snapshot-count entries; restart replays only the tail', { timeout: 60_000 }, async () => {
  const dataDir = temporaryDirectory('snapcount');
  const config = defaultServerConfig({
    dataDir,
    listenClientUrls: ['http://127.0.0.1:0'],
    advertiseClientUrls: ['http://127.0.0.1:0'],
    snapshotCount,
  });
  const logger = pino({ level: 'silent' });
  try {
    let server = await HoldfastServer.start(config, { logger });
    let client = new TestKvClient(server.clientUrls[0]!.replace('http://', ''));
    for (let i = 0; i < writes; i++) await client.put(`key-${i}`, `value-${i}`);
    client.close();
    await server.stop();

    const opened = await Wal.open(join(dataDir, 'member', 'wal'), { logger: { warn: () => {} } });
    const marker = opened.snapshotMarker.index;
    await opened.wal.close();
    assert.ok(marker >= writes - snapshotCount, `a snapshot near the end of the log (marker at ${marker})`);
    assert.ok(opened.entries.length <= snapshotCount + 1, `only the entries after it remain to replay (${opened.entries.length})`);

    server = await HoldfastServer.start(config, { logger });
    client = new TestKvClient(server.clientUrls[0]!.replace('http://', ''));
    const all = await client.range({ key: Buffer.from('key-'), rangeEnd: Buffer.from('key.') });
    assert.equal(all.count, BigInt(writes));
    client.close();
    await server.stop();
  } finally {
    removeDirectory(dataDir);
  }
});
