import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Op, abortWaiterCount } from '@holdfast/client';
import { Mutex, SessionExpiredError, SessionClosedError, LockNotHeldError, guard } from '../src/index.js';
import { checkStillOurs, waitForTurn } from '../src/wait.js';
import { describeWarnings, forEachServer, uniqueName, stillPending, sleep, waitUntil, warningsDuring } from './helpers.js';

forEachServer('Mutex', (suite) => {
  test('the key is <name>/<lease id hex>, empty, attached to the lease; the fence is its create revision', async () => {
    const session = await suite.newSession();
    const name = uniqueName('layout');
    const mutex = new Mutex(session, name);
    const fence = await mutex.lock();
    const expectedKey = `${name}/${session.leaseId.toString(16)}`;
    assert.equal(fence.key.toString(), expectedKey);
    const { kvs } = await suite.client().get(expectedKey);
    assert.equal(kvs.length, 1);
    assert.equal(kvs[0]!.valueString, '');
    assert.equal(kvs[0]!.lease, session.leaseId);
    assert.equal(kvs[0]!.createRevision, fence.token);
    assert.equal(mutex.fencingToken, fence.token);
    assert.ok(mutex.isHeld);
    await mutex.unlock();
    assert.equal((await suite.client().get(expectedKey)).kvs.length, 0);
    assert.equal(mutex.isHeld, false);
    assert.throws(() => mutex.fence, LockNotHeldError);
  });

  test('mutual exclusion: 6 sessions on 3 clients, 8 rounds each, never two inside', async () => {
    const name = uniqueName('exclusion');
    const clients = [suite.client(), suite.newClient(), suite.newClient()];
    const sessions = await Promise.all([0, 1, 2, 3, 4, 5].map((index) => suite.newSession(clients[index % 3])));
    let inside = 0;
    let maxInside = 0;
    let sections = 0;
    const tokens: bigint[] = [];
    await Promise.all(
      sessions.map(async (session) => {
        const mutex = new Mutex(session, name);
        for (let round = 0; round < 8; round += 1) {
          const fence = await mutex.lock();
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          tokens.push(fence.token);
          await sleep(3);
          sections += 1;
          inside -= 1;
          await mutex.unlock();
        }
      }),
    );
    assert.equal(sections, 48);
    assert.equal(maxInside, 1, 'two holders were inside at once');
    // Fencing tokens grow with every new holder.
    for (let index = 1; index < tokens.length; index += 1) assert.ok(tokens[index]! > tokens[index - 1]!, `token ${tokens[index]} after ${tokens[index - 1]}`);
  });

  test('30 locks waiting at once on one session: no listener warning, and the session signal keeps no waiter after', async () => {
    const waitingLocks = 30; // far above Node's 10 listeners per signal
    const names = Array.from({ length: waitingLocks }, (_, index) => uniqueName(`many-waiters-${index}`));
    const holderSession = await suite.newSession();
    const waiterSession = await suite.newSession();
    const warnings = await warningsDuring(async () => {
      const held = names.map((name) => new Mutex(holderSession, name));
      for (const mutex of held) await mutex.lock();
      const waiting = names.map((name) => new Mutex(waiterSession, name).lock().then(() => name));
      await sleep(300);
      assert.equal(abortWaiterCount(waiterSession.signal), waitingLocks, 'every waiter waits on the session signal');
      for (const mutex of held) await mutex.unlock();
      assert.deepEqual((await Promise.all(waiting)).sort(), [...names].sort());
    });
    assert.equal(warnings.length, 0, describeWarnings(warnings));
    assert.equal(abortWaiterCount(waiterSession.signal), 0);
  });

  test('FIFO: waiters get the lock in the order they queued (by create revision)', async () => {
    const name = uniqueName('fifo');
    const holder = new Mutex(await suite.newSession(), name);
    await holder.lock();
    const order: number[] = [];
    const waits: Promise<void>[] = [];
    for (let index = 0; index < 5; index += 1) {
      const mutex = new Mutex(await suite.newSession(index % 2 === 0 ? suite.client() : suite.newClient()), name);
      waits.push(
        mutex.lock().then(async () => {
          order.push(index);
          await sleep(5);
          await mutex.unlock();
        }),
      );
      // Queue strictly one after the other.
      await waitUntil(async () => (await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count === BigInt(index + 2), 5_000, `waiter ${index} queued`);
    }
    await sleep(100);
    assert.deepEqual(order, [], 'nobody may get the lock while it is held');
    await holder.unlock();
    await Promise.all(waits);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
  });

  test('tryLock: undefined while held elsewhere, without leaving a key; the lock once free', async () => {
    const name = uniqueName('trylock');
    const a = new Mutex(await suite.newSession(), name);
    const bSession = await suite.newSession();
    const b = new Mutex(bSession, name);
    assert.ok(await a.tryLock());
    assert.equal(await b.tryLock(), undefined);
    const { kvs } = await suite.client().get(`${name}/`, { prefix: true });
    assert.deepEqual(
      kvs.map((kv) => kv.keyString),
      [a.key!.toString()],
      'only the holder has a key',
    );
    await a.unlock();
    const fence = await b.tryLock();
    assert.ok(fence);
    assert.equal(fence.key.toString(), `${name}/${bSession.leaseId.toString(16)}`);
    await b.unlock();
  });

  test('a second lock() by the same session shares its key (as Go), and a held mutex returns its fence', async () => {
    const name = uniqueName('reentrant');
    const session = await suite.newSession();
    const first = new Mutex(session, name);
    const fence = await first.lock();
    assert.deepEqual(await first.lock(), fence);
    const second = new Mutex(session, name);
    const again = await second.lock();
    assert.equal(again.token, fence.token);
    await second.unlock();
    assert.equal((await suite.client().get(`${name}/`, { prefix: true })).kvs.length, 0);
  });

  test('guarded writes: the old holder whose lease went cannot write once the lock moved on', async () => {
    const name = uniqueName('fence');
    const oldSession = await suite.newSession();
    const oldHolder = new Mutex(oldSession, name);
    const newHolder = new Mutex(await suite.newSession(suite.newClient()), name);
    const oldFence = await oldHolder.lock();
    const written = await guard(suite.client().txn(), oldFence).then(Op.put(`${name}-data`, 'old holder 1')).commit();
    assert.ok(written.succeeded);
    const waiting = newHolder.lock();
    assert.ok(await stillPending(waiting, 200));
    // The old holder "pauses" past its lease: the lease is revoked behind its back.
    await suite.client().lease.revoke(oldSession.leaseId);
    const newFence = await waiting;
    assert.ok(newFence.token > oldFence.token);
    // The old holder still believes it holds the lock; its guarded write is refused.
    assert.ok(oldHolder.isHeld);
    const late = await oldHolder.guard(suite.client().txn()).then(Op.put(`${name}-data`, 'old holder 2')).commit();
    assert.equal(late.succeeded, false);
    const current = await newHolder.guard(suite.client().txn()).then(Op.put(`${name}-data`, 'new holder')).commit();
    assert.ok(current.succeeded);
    assert.equal((await suite.client().get(`${name}-data`)).kvs[0]!.valueString, 'new holder');
    await newHolder.unlock();
  });

  test('the lease revoked while waiting: SessionExpiredError at once, the holder undisturbed', async () => {
    const name = uniqueName('lost-waiting');
    const holder = new Mutex(await suite.newSession(), name);
    await holder.lock();
    const waiterSession = await suite.newSession(suite.newClient());
    const waiter = new Mutex(waiterSession, name);
    const waiting = waiter.lock();
    await waitUntil(async () => (await suite.client().get(waiter.ownKey)).kvs.length === 1, 5_000, 'the waiter queued');
    const started = Date.now();
    // Awaited from before the revoke: the waiter may hear of it (its watch)
    // before the revoke's own reply arrives, and a rejection nobody awaits
    // yet would count as unhandled.
    const refused = assert.rejects(waiting, (error: unknown) => {
      assert.ok(error instanceof SessionExpiredError, `got ${String(error)}`);
      assert.equal(error.leaseId, waiterSession.leaseId);
      return true;
    });
    await suite.client().lease.revoke(waiterSession.leaseId);
    await refused;
    assert.ok(Date.now() - started < 3_000, 'the waiter noticed within 3 s, without waiting for the holder');
    assert.equal(waiter.isHeld, false);
    assert.equal((await suite.client().get(waiter.ownKey)).kvs.length, 0);
    // The holder still holds, and a later lock on a live session works.
    assert.ok((await holder.isOwner(), (await suite.client().txn().if(holder.isOwner()).commit()).succeeded));
    await holder.unlock();
    const next = new Mutex(await suite.newSession(), name);
    assert.ok(await next.tryLock());
    await next.unlock();
  });

  test('the lease gone just as the turn comes: the re-check after waiting fails with SessionExpiredError', async () => {
    const name = uniqueName('recheck');
    const session = await suite.newSession(suite.newClient());
    const mutex = new Mutex(session, name);
    const fence = await mutex.lock();
    // Simulate a waiter whose predecessors vanished at the same moment as its lease:
    // the blockers' wait "returns" right after the lease is revoked.
    const attempt = waitForTurn(
      { session, key: fence.key, createRevision: fence.token },
      async () => {
        await suite.client().lease.revoke(session.leaseId);
      },
      undefined,
    );
    await assert.rejects(attempt, SessionExpiredError);
    // And the check on its own, for a key that is gone.
    await assert.rejects(checkStillOurs({ session, key: fence.key, createRevision: fence.token }, new AbortController().signal), SessionExpiredError);
  });

  test('the re-check refuses a key whose lease has no time left and deletes it', async () => {
    // A lease kept alive locally but reported with TTL <= 0 cannot be arranged on a server;
    // what can: the key is present but the session is no longer provably alive (lost locally).
    const name = uniqueName('recheck-lost');
    const client = suite.newClient();
    const session = await suite.newSession(client);
    const holder = new Mutex(await suite.newSession(), name);
    await holder.lock();
    const waiter = new Mutex(session, name);
    const waiting = waiter.lock();
    await waitUntil(async () => (await suite.client().get(waiter.ownKey)).kvs.length === 1, 5_000, 'the waiter queued');
    session.orphan(); // keepalives stop: the session is over, the key (and lease) still there
    await assert.rejects(waiting, SessionClosedError);
    assert.equal((await suite.client().get(waiter.ownKey)).kvs.length, 0, 'the waiter removed its key');
    await holder.unlock();
  });

  test('abort while waiting: rejects with the reason and leaves the queue', async () => {
    const name = uniqueName('abort');
    const holder = new Mutex(await suite.newSession(), name);
    await holder.lock();
    const waiter = new Mutex(await suite.newSession(), name);
    const controller = new AbortController();
    const waiting = waiter.lock({ signal: controller.signal });
    await waitUntil(async () => (await suite.client().get(waiter.ownKey)).kvs.length === 1, 5_000, 'the waiter queued');
    const reason = new Error('gave up');
    controller.abort(reason);
    await assert.rejects(waiting, (error) => error === reason);
    assert.equal((await suite.client().get(waiter.ownKey)).kvs.length, 0);
    await holder.unlock();
    // Nobody stale blocks the next one.
    const next = new Mutex(await suite.newSession(), name);
    assert.ok(await next.tryLock());
    await next.unlock();
    // A timeout signal works the same.
    await holder.lock();
    await assert.rejects(waiter.lock({ signal: AbortSignal.timeout(200) }), (error: unknown) => error instanceof DOMException && error.name === 'TimeoutError');
    await holder.unlock();
  });

  test('lock with a lease revoked before the session noticed: SessionExpiredError, no key', async () => {
    const name = uniqueName('revoked-before');
    const session = await suite.newSession(suite.newClient(), { ttlSeconds: 30 });
    await suite.client().lease.revoke(session.leaseId);
    const mutex = new Mutex(session, name);
    await assert.rejects(mutex.lock(), SessionExpiredError);
    assert.equal((await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count, 0n);
  });

  test('lock on a closed session fails at once with SessionClosedError', async () => {
    const session = await suite.newSession();
    await session.close();
    await assert.rejects(new Mutex(session, uniqueName('closed')).lock(), SessionClosedError);
  });

  test('in a namespace, keys are relative to it', async () => {
    const ns = suite.client().namespace(`${uniqueName('ns')}/`);
    const session = await suite.newSession(undefined, {});
    const nsSession = await (await import('../src/index.js')).Session.create(ns, { ttlSeconds: 10 });
    try {
      const mutex = new Mutex(nsSession, 'lock');
      const fence = await mutex.lock();
      assert.equal(fence.key.toString(), `lock/${nsSession.leaseId.toString(16)}`);
      const outside = new Mutex(session, `${ns.prefix.toString()}lock`);
      assert.equal(await outside.tryLock(), undefined, 'the same lock seen from outside the namespace');
      await mutex.unlock();
      assert.ok(await outside.tryLock());
      await outside.unlock();
    } finally {
      await nsSession.close();
    }
  });
});
