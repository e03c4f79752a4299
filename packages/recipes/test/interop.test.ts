/**
 * Interoperability with Go's clientv3/concurrency through etcdctl 3.4:
 * `etcdctl lock` and our Mutex exclude each other on the same name, and
 * `etcdctl elect` and our Election see each other's leaders. Against
 * Holdfast and against etcd.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Election, Mutex, leaseIdHex } from '../src/index.js';
import { Etcdctl, checkSections } from './etcdctl.js';
import { etcdctlSkipReason, forEachServer, sleep, stillPending, uniqueName, waitUntil } from './helpers.js';

/** The critical section etcdctl runs while it holds the lock. */
const etcdctlSection = 'echo "enter $WHO $ETCD_LOCK_KEY" >> "$LOCK_LOG"; sleep 0.03; echo "exit $WHO" >> "$LOCK_LOG"';

describe('the critical-section checker', () => {
  test('finds overlapping and unfinished sections, counts complete ones', () => {
    const clean = checkSections('enter ours-1\nexit ours-1\nenter etcdctl-1 k\nexit etcdctl-1\nenter ours-2\nexit ours-2\n');
    assert.deepEqual(clean.overlaps, []);
    assert.equal(clean.sections.get('ours-1'), 1);
    assert.equal(clean.kindSwitches, 2);
    const overlapping = checkSections('enter ours-1\nenter etcdctl-1 k\nexit etcdctl-1\nexit ours-1\n');
    assert.equal(overlapping.overlaps.length, 2);
    assert.equal(checkSections('enter ours-1\n').overlaps.length, 1);
  });
});

forEachServer('interop with etcdctl', (suite) => {
  const skip = etcdctlSkipReason;

  test('etcdctl lock NAME -- <cmd> racing our Mutex: critical sections never overlap', { skip, timeout: 120_000 }, async () => {
    const name = uniqueName('race');
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-recipes-interop-'));
    const log = join(dir, 'sections.log');
    writeFileSync(log, '');
    const etcdctlRuns = 12;
    const ourRuns = 15;
    try {
      const etcdctlLoop = async (who: string): Promise<void> => {
        for (let run = 0; run < etcdctlRuns; run += 1) {
          const etcdctl = new Etcdctl(suite.server().endpoint, ['lock', name, '--', 'sh', '-c', etcdctlSection], { WHO: who, LOCK_LOG: log });
          try {
            const code = await etcdctl.exited;
            assert.equal(code, 0, `etcdctl lock failed: ${etcdctl.stderr}`);
          } finally {
            etcdctl.kill();
          }
        }
      };
      const ourLoop = async (who: string): Promise<void> => {
        const session = await suite.newSession(suite.newClient());
        const mutex = new Mutex(session, name);
        for (let run = 0; run < ourRuns; run += 1) {
          const fence = await mutex.lock({ signal: AbortSignal.timeout(60_000) });
          appendFileSync(log, `enter ${who} ${fence.key.toString()}\n`);
          await sleep(30);
          appendFileSync(log, `exit ${who}\n`);
          await mutex.unlock();
          await sleep(Math.random() * 40);
        }
      };
      await Promise.all([etcdctlLoop('etcdctl-a'), etcdctlLoop('etcdctl-b'), ourLoop('ours-a'), ourLoop('ours-b')]);
      const text = readFileSync(log, 'utf8');
      const report = checkSections(text);
      assert.deepEqual(report.overlaps, [], `overlapping critical sections:\n${text}`);
      assert.equal(report.sections.get('etcdctl-a'), etcdctlRuns);
      assert.equal(report.sections.get('etcdctl-b'), etcdctlRuns);
      assert.equal(report.sections.get('ours-a'), ourRuns);
      assert.equal(report.sections.get('ours-b'), ourRuns);
      // The two kinds really competed (the holder changed kind many times).
      assert.ok(report.kindSwitches >= 5, `only ${report.kindSwitches} switches between etcdctl and ours:\n${text}`);
      // etcdctl's lock key is <name>/<lease hex>, the layout ours uses.
      const etcdctlKeys = text.split('\n').filter((line) => line.startsWith('enter etcdctl')).map((line) => line.split(' ')[2]);
      for (const key of etcdctlKeys) assert.match(key ?? '', new RegExp(`^${name}/[0-9a-f]+$`));
      console.log(`[${suite.kind}] ${report.sections.size} participants, ${2 * etcdctlRuns} etcdctl and ${2 * ourRuns} ours sections, ${report.kindSwitches} switches, ${report.overlaps.length} overlaps`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('etcdctl lock holds: our tryLock fails and lock waits until etcdctl lets go', { skip, timeout: 60_000 }, async () => {
    const name = uniqueName('held-by-etcdctl');
    const etcdctl = new Etcdctl(suite.server().endpoint, ['lock', name]);
    try {
      const [key] = await etcdctl.waitForLines(1, 15_000); // etcdctl prints the key (and value) once it holds
      assert.match(key!, new RegExp(`^${name}/[0-9a-f]+$`));
      // Go names the key after its lease exactly as we do.
      const etcdctlLease = (await suite.client().get(key!)).kvs[0]!.lease;
      assert.equal(`${name}/${leaseIdHex(etcdctlLease)}`, key);
      const mutex = new Mutex(await suite.newSession(), name);
      assert.equal(await mutex.tryLock(), undefined);
      const waiting = mutex.lock({ signal: AbortSignal.timeout(30_000) });
      assert.ok(await stillPending(waiting, 500), 'our lock must wait while etcdctl holds it');
      assert.equal(await etcdctl.terminate(), 0); // SIGTERM: etcdctl unlocks
      const fence = await waiting;
      const etcdctlRevision = (await suite.client().get(key!, { revision: fence.token - 1n })).kvs[0]?.createRevision;
      assert.ok(etcdctlRevision !== undefined && fence.token > etcdctlRevision);
      await mutex.unlock();
    } finally {
      etcdctl.kill();
    }
  });

  test('our Mutex holds: etcdctl lock waits until we unlock', { skip, timeout: 60_000 }, async () => {
    const name = uniqueName('held-by-us');
    const mutex = new Mutex(await suite.newSession(), name);
    await mutex.lock();
    const etcdctl = new Etcdctl(suite.server().endpoint, ['lock', name, '--', 'sh', '-c', 'echo got it']);
    try {
      await waitUntil(async () => (await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count === 2n, 15_000, 'etcdctl queued');
      await sleep(300);
      assert.equal(etcdctl.stdout, '', 'etcdctl must not run its command while we hold the lock');
      assert.ok(etcdctl.running);
      await mutex.unlock();
      assert.equal(await etcdctl.exited, 0);
      assert.equal(etcdctl.stdout.trim(), 'got it');
    } finally {
      etcdctl.kill();
    }
  });

  test('etcdctl elect sees our leader; after we resign etcdctl wins and we see its proposal', { skip, timeout: 60_000 }, async () => {
    const name = uniqueName('elect');
    const session = await suite.newSession();
    const election = new Election(session, name);
    const observer = new AbortController();
    const observed: string[] = [];
    const observing = (async () => {
      for await (const kv of Election.observe(suite.newClient(), name, { signal: observer.signal })) observed.push(kv.valueString);
    })().catch((error: unknown) => {
      if (!observer.signal.aborted) throw error;
    });
    await election.campaign('ours');
    const ourKey = `${name}/${session.leaseId.toString(16)}`;
    assert.equal(election.key?.toString(), ourKey);

    const candidate = new Etcdctl(suite.server().endpoint, ['elect', name, 'etcdctl-proposal']);
    const listener = new Etcdctl(suite.server().endpoint, ['elect', '-l', name]);
    try {
      // etcdctl elect -l prints the leader's key and value: ours.
      assert.deepEqual((await listener.waitForLines(2, 15_000)).slice(0, 2), [ourKey, 'ours']);
      await waitUntil(async () => (await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count === 2n, 15_000, 'etcdctl campaigning');
      await sleep(200);
      assert.equal(candidate.stdout, '', 'etcdctl must not win while we lead');
      await election.proclaim('ours, proclaimed');
      assert.deepEqual((await listener.waitForLines(4, 15_000)).slice(2, 4), [ourKey, 'ours, proclaimed']);

      await election.resign();
      const [theirKey, theirValue] = await candidate.waitForLines(2, 15_000);
      assert.match(theirKey!, new RegExp(`^${name}/[0-9a-f]+$`));
      assert.equal(theirValue, 'etcdctl-proposal');
      const leader = await election.leader();
      assert.equal(leader?.keyString, theirKey);
      assert.equal(leader?.valueString, 'etcdctl-proposal');
      assert.deepEqual((await listener.waitForLines(6, 15_000)).slice(4, 6), [theirKey, 'etcdctl-proposal']);

      // We campaign again behind etcdctl; when it resigns (SIGTERM) we win.
      const campaigning = election.campaign('ours again', { signal: AbortSignal.timeout(30_000) });
      assert.ok(await stillPending(campaigning, 300));
      assert.equal(await candidate.terminate(), 0);
      await campaigning;
      assert.deepEqual((await listener.waitForLines(8, 15_000)).slice(6, 8), [ourKey, 'ours again']);
      await waitUntil(() => observed.length >= 4, 10_000, 'our observer to see four values');
      assert.deepEqual(observed, ['ours', 'ours, proclaimed', 'etcdctl-proposal', 'ours again']);
      await election.resign();
    } finally {
      candidate.kill();
      await listener.terminate();
      listener.kill();
      observer.abort();
      await observing;
    }
  });
});
