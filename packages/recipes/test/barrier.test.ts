import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Barrier, DoubleBarrier, TooManyClientsError } from '../src/index.js';
import { forEachServer, stillPending, uniqueName, waitUntil } from './helpers.js';

forEachServer('Barrier', (suite) => {
  test('wait returns at once when down, blocks while held, returns on release', async () => {
    const key = uniqueName('barrier');
    const barrier = new Barrier(suite.client(), key);
    await barrier.wait();
    assert.equal(await barrier.hold(), true);
    assert.equal(await barrier.hold(), false, 'already held');
    const waiters = [new Barrier(suite.newClient(), key).wait(), new Barrier(suite.client(), key).wait()];
    assert.ok(await stillPending(Promise.any(waiters), 300));
    await barrier.release();
    await Promise.all(waiters);
    // Abort.
    await barrier.hold();
    const controller = new AbortController();
    const aborted = barrier.wait({ signal: controller.signal });
    controller.abort(new Error('enough'));
    await assert.rejects(aborted, /enough/);
    await barrier.release();
  });
});

forEachServer('DoubleBarrier', (suite) => {
  test('4 participants: nobody enters until all four have, nobody leaves until all four do', async () => {
    const key = uniqueName('double');
    const barriers = await Promise.all([0, 1, 2, 3].map(async (index) => new DoubleBarrier(await suite.newSession(index % 2 === 0 ? suite.client() : suite.newClient()), key, 4)));
    const entered: number[] = [];
    const entering = barriers.slice(0, 3).map((barrier, index) => barrier.enter().then(() => entered.push(index)));
    await waitUntil(async () => (await suite.client().get(`${key}/waiters/`, { prefix: true, countOnly: true })).count === 3n, 5_000, 'three waiting');
    assert.ok(await stillPending(Promise.any(entering), 300));
    assert.deepEqual(entered, []);
    await barriers[3]!.enter();
    await Promise.all(entering);
    assert.equal(entered.length, 3);
    const { kvs } = await suite.client().get(`${key}/`, { prefix: true });
    assert.equal(kvs.filter((kv) => kv.keyString === `${key}/ready`).length, 1);
    for (const kv of kvs.filter((kv) => kv.keyString !== `${key}/ready`)) assert.match(kv.keyString, new RegExp(`^${key}/waiters/\\d{19}$`));

    const left: number[] = [];
    const leaving = barriers.slice(0, 3).map((barrier, index) => barrier.leave().then(() => left.push(index)));
    assert.ok(await stillPending(Promise.any(leaving), 500));
    assert.deepEqual(left, []);
    await barriers[3]!.leave();
    await Promise.all(leaving);
    assert.equal((await suite.client().get(`${key}/`, { prefix: true, countOnly: true })).count, 0n, 'waiters and ready removed');
  });

  test('one too many: TooManyClientsError, and its key is withdrawn', async () => {
    const key = uniqueName('double-many');
    const barriers = await Promise.all([0, 1, 2].map(async () => new DoubleBarrier(await suite.newSession(), key, 2)));
    await Promise.all([barriers[0]!.enter(), barriers[1]!.enter()]);
    await assert.rejects(barriers[2]!.enter(), (error: unknown) => error instanceof TooManyClientsError && error.found === 3);
    assert.equal((await suite.client().get(`${key}/waiters/`, { prefix: true, countOnly: true })).count, 2n);
    await Promise.all([barriers[0]!.leave(), barriers[1]!.leave()]);
  });

  test('a participant whose session ends does not block the others from leaving', async () => {
    const key = uniqueName('double-lost');
    const sessions = await Promise.all([0, 1, 2].map(() => suite.newSession(suite.newClient())));
    const barriers = sessions.map((session) => new DoubleBarrier(session, key, 3));
    await Promise.all(barriers.map((barrier) => barrier.enter()));
    const leaving = [barriers[0]!.leave(), barriers[1]!.leave()];
    assert.ok(await stillPending(Promise.any(leaving), 300));
    await sessions[2]!.close(); // revokes its lease: its waiter key goes
    await Promise.all(leaving);
  });
});
