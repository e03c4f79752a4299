/**
 * --quota-backend-bytes: past the quota the NOSPACE alarm is raised, writes
 * fail with "etcdserver: mvcc: database space exceeded" (deletes and
 * compaction still work), until the alarm is disarmed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAvailability, etcdctl, removeDirectory, startHoldfast } from '../src/support.js';

const availability = await etcdAvailability();
const quotaBytes = 256 * 1024;

test('NOSPACE alarm past the backend quota, until disarmed', { skip: availability.available ? false : availability.reason, timeout: 120_000 }, async () => {
  const server = await startHoldfast({ extraArgs: ['--quota-backend-bytes', String(quotaBytes)] });
  try {
    const value = 'v'.repeat(16 * 1024);
    let refused = 0;
    let accepted = 0;
    for (let i = 0; i < 64 && refused === 0; i++) {
      const result = await etcdctl(server.endpoint, ['put', `key-${i}`, value]);
      if (result.exitCode === 0) accepted++;
      else {
        assert.match(result.stderr, /Error: etcdserver: mvcc: database space exceeded/);
        refused++;
      }
    }
    assert.ok(accepted > 0 && refused === 1, `writes fill the quota (accepted ${accepted})`);
    const alarms = await etcdctl(server.endpoint, ['alarm', 'list']);
    assert.match(alarms.stdout, /^memberID:\d+ alarm:NOSPACE $/m);
    const status = await etcdctl(server.endpoint, ['endpoint', 'status']);
    assert.match(status.stdout, /memberID:\d+ alarm:NOSPACE/);
    // Small writes fail too while the alarm is active; deletes do not.
    assert.match((await etcdctl(server.endpoint, ['put', 'tiny', 'x'])).stderr, /database space exceeded/);
    assert.equal((await etcdctl(server.endpoint, ['del', 'key-', '--prefix'])).exitCode, 0);
    const revision = JSON.parse((await etcdctl(server.endpoint, ['get', 'x', '-w', 'json'])).stdout).header.revision as number;
    assert.equal((await etcdctl(server.endpoint, ['compaction', '--physical', String(revision)])).exitCode, 0);
    assert.equal((await etcdctl(server.endpoint, ['defrag'])).exitCode, 0);
    assert.match((await etcdctl(server.endpoint, ['put', 'tiny', 'x'])).stderr, /database space exceeded/, 'the alarm stays until disarmed');
    const disarm = await etcdctl(server.endpoint, ['alarm', 'disarm']);
    assert.match(disarm.stdout, /alarm:NOSPACE/);
    assert.equal((await etcdctl(server.endpoint, ['alarm', 'list'])).stdout, '');
    assert.equal((await etcdctl(server.endpoint, ['put', 'tiny', 'x'])).stdout, 'OK\n');
  } finally {
    await server.stop();
    removeDirectory(server.dataDir);
  }
});
