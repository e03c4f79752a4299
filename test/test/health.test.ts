/**
 * /health against real etcd 3.4 while a NOSPACE alarm is active and after
 * it is disarmed: the same status, type and body for /health,
 * ?exclude=NOSPACE and ?serializable=true (which 3.4 ignores: an alarm makes
 * it false either way); etcd 3.6's /livez and /readyz on Holdfast (etcd 3.4
 * answers 404 there): alive and ready through the alarm, since neither
 * looks at NOSPACE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAvailability, etcdctl, removeDirectory, startEtcd, startHoldfast, type RunningServer } from '../src/support.js';

const availability = await etcdAvailability();
const quotaBytes = 256 * 1024;

async function answer(server: RunningServer, path: string): Promise<string> {
  const response = await fetch(`http://${server.endpoint}${path}`);
  return `${path} ${response.status} ${response.headers.get('content-type')} ${JSON.stringify(await response.text())}`;
}

async function fillQuota(server: RunningServer): Promise<void> {
  const value = 'v'.repeat(16 * 1024);
  for (let i = 0; i < 256; i++) {
    const result = await etcdctl(server.endpoint, ['put', `key-${i}`, value]);
    if (result.exitCode !== 0) {
      assert.match(result.stderr, /database space exceeded/);
      return;
    }
  }
  assert.fail('the quota was never reached');
}

const healthPaths = ['/health', '/health?exclude=NOSPACE', '/health?serializable=true', '/health?exclude=CORRUPT'];

test('/health follows alarms as etcd 3.4\'s does; /livez and /readyz', { skip: availability.available ? false : availability.reason, timeout: 120_000 }, async () => {
  const transcripts: Record<string, string[]> = {};
  for (const start of [startEtcd, startHoldfast]) {
    const server = await start({ extraArgs: ['--quota-backend-bytes', String(quotaBytes)] });
    const transcript: string[] = [];
    try {
      for (const path of healthPaths) transcript.push(`healthy: ${await answer(server, path)}`);
      await fillQuota(server);
      for (const path of healthPaths) transcript.push(`NOSPACE: ${await answer(server, path)}`);
      if (server.kind === 'holdfast') {
        for (const path of ['/livez', '/readyz', '/readyz?verbose', '/readyz/data_corruption', '/livez?exclude=serializable_read&verbose']) {
          const response = await fetch(`http://${server.endpoint}${path}`);
          assert.equal(response.status, 200, path);
          const body = await response.text();
          assert.ok(body.endsWith('ok\n'), `${path}: ${body}`);
          if (path === '/readyz?verbose') assert.equal(body, '[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n');
          if (path.startsWith('/livez?exclude')) assert.equal(body, 'ok\n');
        }
      }
      assert.equal((await etcdctl(server.endpoint, ['alarm', 'disarm'])).exitCode, 0);
      for (const path of healthPaths) transcript.push(`disarmed: ${await answer(server, path)}`);
    } finally {
      await server.stop();
      removeDirectory(server.dataDir);
    }
    transcripts[server.kind] = transcript;
  }
  assert.deepEqual(transcripts.holdfast, transcripts.etcd);
  assert.ok(transcripts.etcd!.some((line) => line.startsWith('NOSPACE: /health 503')), 'the alarm made etcd unhealthy');
  assert.ok(transcripts.etcd!.some((line) => line.startsWith('NOSPACE: /health?exclude=NOSPACE 200')), 'excluding it made etcd healthy');
});
