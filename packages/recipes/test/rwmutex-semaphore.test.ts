import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mutex, RWMutex, Semaphore, SessionExpiredError } from '../src/index.js';
import { forEachServer, sleep, stillPending, uniqueName, waitUntil } from './helpers.js';

forEachServer('RWMutex', (suite) => {
  test('keys <name>/read/<nanos> and <name>/write/<nanos> under the lease; readers share', async () => {
    const name = uniqueName('rw-share');
    const readers = await Promise.all([0, 1, 2].map(async () => new RWMutex(await suite.newSession(), name)));
    const fences = await Promise.all(readers.map((reader) => reader.rLock({ signal: AbortSignal.timeout(5_000) })));
    const { kvs } = await suite.client().get(`${name}/`, { prefix: true });
    assert.equal(kvs.length, 3);
    for (const kv of kvs) assert.match(kv.keyString, new RegExp(`^${name}/read/\\d{19}$`));
    assert.deepEqual(kvs.map((kv) => kv.lease).sort(), readers.map((reader) => reader.session.leaseId).sort());
    assert.deepEqual(fences.map((fence) => fence.token).sort(), kvs.map((kv) => kv.createRevision).sort());
    for (const reader of readers) assert.equal(reader.mode, 'read');
    await Promise.all(readers.map((reader) => reader.rUnlock()));
    assert.equal((await suite.client().get(`${name}/`, { prefix: true })).kvs.length, 0);
  });

  test('a writer waits for readers, excludes readers and writers, and a queued writer holds back later readers', async () => {
    const name = uniqueName('rw-exclude');
    const [r1, w1, r2, w2] = await Promise.all([0, 1, 2, 3].map(async () => new RWMutex(await suite.newSession(suite.newClient()), name)));
    await r1!.rLock();
    const writer = w1!.lock();
    await waitUntil(async () => (await suite.client().get(`${name}/write/`, { prefix: true, countOnly: true })).count === 1n, 5_000, 'writer queued');
    const lateReader = r2!.rLock();
    await waitUntil(async () => (await suite.client().get(`${name}/read/`, { prefix: true, countOnly: true })).count === 2n, 5_000, 'late reader queued');
    assert.ok(await stillPending(writer, 200), 'the writer waits for the reader');
    assert.ok(await stillPending(lateReader, 50), 'a reader queued after a writer waits for it');
    await r1!.rUnlock();
    await writer;
    assert.equal(w1!.mode, 'write');
    assert.ok(await stillPending(lateReader, 200), 'no reader while a writer holds');
    const secondWriter = w2!.lock();
    await w1!.unlock();
    await lateReader;
    assert.ok(await stillPending(secondWriter, 200), 'the second writer waits for the reader ahead of it');
    await r2!.rUnlock();
    await secondWriter;
    await w2!.unlock();
  });

  test('stress: 6 sessions, random reads and writes: a writer is always alone, readers overlap', async () => {
    const name = uniqueName('rw-stress');
    const clients = [suite.client(), suite.newClient(), suite.newClient()];
    let readers = 0;
    let writers = 0;
    let maxReaders = 0;
    const violations: string[] = [];
    let operations = 0;
    await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (index) => {
        const rw = new RWMutex(await suite.newSession(clients[index % 3]), name);
        for (let round = 0; round < 8; round += 1) {
          const write = (index + round) % 3 === 0;
          if (write) {
            await rw.lock();
            writers += 1;
            if (writers > 1 || readers > 0) violations.push(`writer with ${writers - 1} writers and ${readers} readers`);
            await sleep(5);
            writers -= 1;
            await rw.unlock();
          } else {
            await rw.rLock();
            readers += 1;
            maxReaders = Math.max(maxReaders, readers);
            if (writers > 0) violations.push(`reader with ${writers} writers`);
            await sleep(15);
            readers -= 1;
            await rw.rUnlock();
          }
          operations += 1;
        }
      }),
    );
    assert.equal(operations, 48);
    assert.deepEqual(violations, []);
    assert.ok(maxReaders >= 2, `readers never overlapped (max ${maxReaders})`);
  });

  test('the lease revoked while waiting: SessionExpiredError and the key is gone', async () => {
    const name = uniqueName('rw-lost');
    const holder = new RWMutex(await suite.newSession(), name);
    await holder.lock();
    const session = await suite.newSession(suite.newClient());
    const waiter = new RWMutex(session, name);
    const waiting = waiter.rLock();
    await waitUntil(async () => (await suite.client().get(`${name}/read/`, { prefix: true, countOnly: true })).count === 1n, 5_000, 'reader queued');
    // Awaited from before the revoke, which the waiter may hear of first.
    const refused = assert.rejects(waiting, SessionExpiredError);
    await suite.client().lease.revoke(session.leaseId);
    await refused;
    assert.equal((await suite.client().get(`${name}/read/`, { prefix: true, countOnly: true })).count, 0n);
    await holder.unlock();
  });
});

forEachServer('Semaphore', (suite) => {
  test('never more than N holders: limit 3, 8 sessions, 5 rounds each', async () => {
    const name = uniqueName('sem');
    const clients = [suite.client(), suite.newClient(), suite.newClient()];
    let inside = 0;
    let maxInside = 0;
    let rounds = 0;
    await Promise.all(
      [0, 1, 2, 3, 4, 5, 6, 7].map(async (index) => {
        const semaphore = new Semaphore(await suite.newSession(clients[index % 3]), name, 3);
        for (let round = 0; round < 5; round += 1) {
          await semaphore.acquire({ signal: AbortSignal.timeout(30_000) });
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          await sleep(10);
          inside -= 1;
          rounds += 1;
          await semaphore.release();
        }
      }),
    );
    assert.equal(rounds, 40);
    assert.ok(maxInside <= 3, `${maxInside} holders at once`);
    assert.equal(maxInside, 3, 'the semaphore never let 3 in at once');
    assert.equal((await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count, 0n);
  });

  test('tryAcquire when full returns undefined and leaves no key; waiters in order', async () => {
    const name = uniqueName('sem-try');
    const sems = await Promise.all([0, 1, 2, 3].map(async () => new Semaphore(await suite.newSession(), name, 2)));
    assert.ok(await sems[0]!.tryAcquire());
    assert.ok(await sems[1]!.tryAcquire());
    assert.equal(await sems[2]!.tryAcquire(), undefined);
    assert.equal((await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count, 2n);
    const third = sems[2]!.acquire();
    await waitUntil(async () => (await sems[0]!.holdersAndWaiters()).length === 3, 5_000, 'third queued');
    const fourth = sems[3]!.acquire();
    await waitUntil(async () => (await sems[0]!.holdersAndWaiters()).length === 4, 5_000, 'fourth queued');
    assert.ok(await stillPending(third, 200));
    await sems[1]!.release();
    await third;
    assert.ok(await stillPending(fourth, 200), 'the fourth waits: two hold');
    await sems[0]!.release();
    await fourth;
    await sems[2]!.release();
    await sems[3]!.release();
    assert.throws(() => new Semaphore(sems[0]!.session, name, 0), RangeError);
  });

  test('a semaphore of limit 1 and a Mutex on the same name exclude each other', async () => {
    const name = uniqueName('sem-mutex');
    const mutex = new Mutex(await suite.newSession(), name);
    const semaphore = new Semaphore(await suite.newSession(), name, 1);
    await mutex.lock();
    assert.equal(await semaphore.tryAcquire(), undefined);
    const acquiring = semaphore.acquire();
    assert.ok(await stillPending(acquiring, 200));
    await mutex.unlock();
    await acquiring;
    assert.equal(await mutex.tryLock(), undefined);
    await semaphore.release();
    assert.ok(await mutex.tryLock());
    await mutex.unlock();
  });

  test('the lease revoked while waiting: SessionExpiredError', async () => {
    const name = uniqueName('sem-lost');
    const holder = new Semaphore(await suite.newSession(), name, 1);
    await holder.acquire();
    const session = await suite.newSession(suite.newClient());
    const waiting = new Semaphore(session, name, 1).acquire();
    await waitUntil(async () => (await holder.holdersAndWaiters()).length === 2, 5_000, 'waiter queued');
    // Awaited from before the revoke, which the waiter may hear of first.
    const refused = assert.rejects(waiting, SessionExpiredError);
    await suite.client().lease.revoke(session.leaseId);
    await refused;
    await holder.release();
  });
});
