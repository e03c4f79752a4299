/**
 * copyTo (the Snapshot RPC's copy) holds commits while lmdb copies the
 * file: lmdb-js's forked lmdb damages its freelist when commits go on under
 * a long-lived reader (see Backend.defragment). Writes made meanwhile stay
 * pending and readable, reach lmdb once the copy ends, and are not in the
 * copy; flushed() waits for them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../src/index.js';
import { findFreelistDamage } from '../src/backend/freelist-check.js';

const key = (i: number) => Buffer.from(`key-${String(i).padStart(6, '0')}`);

test('copyTo holds commits for the copy; writes meanwhile are readable, committed after, and not in the copy', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'holdfast-copy-'));
  try {
    const backend = Backend.open({ directory: join(parent, 'db') });
    const value = Buffer.alloc(1024, 'v');
    // Enough data that the copy takes a while (several MiB).
    for (let batch = 0; batch < 20; batch++) backend.write(() => {
      for (let i = batch * 500; i < (batch + 1) * 500; i++) backend.table('key').put(key(i), value);
    });
    backend.commit();
    const copying = backend.copyTo(join(parent, 'copy'));
    backend.write(() => backend.table('key').put(key(999_999), Buffer.from('during')));
    backend.commit(); // held: the copy is running
    assert.equal(backend.pendingChangeCount, 1, 'the write made during the copy is held');
    assert.equal(backend.table('key').get(key(999_999))?.toString(), 'during', 'and readable');
    const flushed = backend.flushed();
    const path = await copying;
    await flushed;
    assert.equal(backend.pendingChangeCount, 0, 'committed once the copy ended');
    const copy = Backend.open({ directory: join(parent, 'copy') });
    try {
      assert.equal(copy.table('key').count(), 10_000, 'the copy holds what was committed before it');
      assert.equal(copy.table('key').get(key(999_999)), undefined, 'and nothing written during it');
    } finally {
      await copy.close();
    }
    assert.equal(path, join(parent, 'copy', 'data.mdb'));
    await backend.close();
    assert.equal(findFreelistDamage(join(parent, 'db', 'data.mdb')), undefined, 'the live file is sound');
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
