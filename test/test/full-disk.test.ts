/**
 * Full disk: the WAL lives on a small tmpfs. When it fills, the write that
 * hit ENOSPC is refused, the server stops (a failed WAL write leaves the
 * page cache untrustworthy, as etcd treats it) with a clear message, and
 * once there is room again every acknowledged write is there.
 * Needs root to mount a tmpfs; skipped with the reason otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { removeDirectory, startHoldfast, temporaryDirectory } from '../src/support.js';
import { TestKvClient } from '../src/kv-client.js';

/** Room for the WAL's first segments and a few hundred writes. */
const smallFilesystemBytes = 384 * 1024;

function tryMount(directory: string): string | false {
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${smallFilesystemBytes}`, 'tmpfs', directory], { encoding: 'utf8' });
  return mounted.status === 0 ? false : `cannot mount a tmpfs here (${(mounted.stderr || mounted.error?.message || 'mount failed').trim()})`;
}

const mountPoint = temporaryDirectory('tinyfs');
const mountProblem = process.getuid?.() === 0 ? tryMount(mountPoint) : 'needs root to mount a small tmpfs';

test('a full disk under the WAL refuses writes, stops the server, and loses nothing', { skip: mountProblem, timeout: 120_000 }, async () => {
  const dataDir = temporaryDirectory('fulldisk');
  const walDir = join(mountPoint, 'wal');
  const acknowledged = new Map<string, string>();
  try {
    const server = await startHoldfast({ dataDir, extraArgs: ['--wal-dir', walDir] });
    const client = new TestKvClient(server.endpoint);
    let refusal: Error | undefined;
    for (let i = 0; i < 2000 && refusal === undefined; i++) {
      const value = `${i}-${'x'.repeat(4096)}`;
      try {
        await client.put(`key-${i}`, value);
        acknowledged.set(`key-${i}`, value);
      } catch (error) {
        refusal = error as Error;
      }
    }
    client.close();
    assert.ok(refusal !== undefined, 'the disk filled up');
    assert.ok(acknowledged.size > 10, `writes were acknowledged before that (${acknowledged.size})`);
    const exitCode = await new Promise<number | null>((resolve) => {
      if (server.process.exitCode !== null) resolve(server.process.exitCode);
      else server.process.once('exit', (code) => resolve(code));
    });
    assert.equal(exitCode, 1, 'the server stops after a failed WAL write');
    assert.match(server.output(), /no space left on device/);

    assert.equal(spawnSync('mount', ['-o', 'remount,size=16m', mountPoint]).status, 0, 'make room');
    const restarted = await startHoldfast({ dataDir, extraArgs: ['--wal-dir', walDir] });
    const reader = new TestKvClient(restarted.endpoint);
    try {
      const all = await reader.range({ key: Buffer.from('key-'), rangeEnd: Buffer.from('key.') });
      const stored = new Map(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
      for (const [key, value] of acknowledged) assert.equal(stored.get(key), value, `${key} survived`);
      assert.equal((await reader.put('after', 'room')).header!.revision > 0n, true, 'writes work again');
    } finally {
      reader.close();
      await restarted.stop();
    }
  } finally {
    spawnSync('umount', [mountPoint]);
    removeDirectory(mountPoint);
    removeDirectory(dataDir);
  }
});

if (mountProblem) removeDirectory(mountPoint);
