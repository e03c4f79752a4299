import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Op, type KeyValue } from '@holdfast/client';
import { Election, ElectionNotLeaderError, LockNotHeldError, SessionExpiredError } from '../src/index.js';
import { forEachServer, sleep, stillPending, uniqueName, waitUntil } from './helpers.js';

forEachServer('Election', (suite) => {
  test('campaign, leader, proclaim, resign; keys <name>/<lease hex> with the proposal as value', async () => {
    const name = uniqueName('basic');
    const session = await suite.newSession();
    const election = new Election(session, name);
    assert.equal(await election.leader(), undefined);
    assert.equal(await Election.leader(suite.client(), name), undefined);
    assert.throws(() => election.fence, LockNotHeldError);
    await election.campaign('first');
    assert.ok(election.isLeading);
    const key = `${name}/${session.leaseId.toString(16)}`;
    assert.equal(election.key?.toString(), key);
    const leader = await Election.leader(suite.client(), name);
    assert.equal(leader?.keyString, key);
    assert.equal(leader?.valueString, 'first');
    assert.equal(leader?.lease, session.leaseId);
    assert.equal(leader?.createRevision, election.revision);
    await election.proclaim('second');
    assert.equal((await election.leader())?.valueString, 'second');
    assert.equal((await election.leader())?.createRevision, election.revision, 'proclaim keeps the key');
    assert.ok((await election.guard(suite.client().txn()).then(Op.put(`${name}-data`, 'x')).commit()).succeeded);
    await election.resign();
    assert.equal(election.isLeading, false);
    assert.equal(await election.leader(), undefined);
    await assert.rejects(election.proclaim('third'), ElectionNotLeaderError);
  });

  test('candidates wait in order; resign hands leadership to the next', async () => {
    const name = uniqueName('queue');
    const elections = await Promise.all([0, 1, 2].map(async () => new Election(await suite.newSession(suite.newClient()), name)));
    await elections[0]!.campaign('a');
    const b = elections[1]!.campaign('b');
    await waitUntil(async () => (await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count === 2n, 5_000, 'b queued');
    const c = elections[2]!.campaign('c');
    await waitUntil(async () => (await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count === 3n, 5_000, 'c queued');
    assert.ok(await stillPending(b, 200));
    assert.equal(elections[1]!.isLeading, false);
    await elections[0]!.resign();
    await b;
    assert.ok(await stillPending(c, 200));
    assert.equal((await elections[2]!.leader())?.valueString, 'b');
    await elections[1]!.resign();
    await c;
    assert.equal((await elections[0]!.leader())?.valueString, 'c');
    await elections[2]!.resign();
  });

  test('observe sees every leader change and proclamation in order, even a reign shorter than its reading', async () => {
    const name = uniqueName('observe');
    const controller = new AbortController();
    const seen: KeyValue[] = [];
    // Starts with nobody leading.
    const iterator = Election.observe(suite.newClient(), name, { signal: controller.signal });
    const firstValue = iterator.next();
    const [a, b, c, d] = await Promise.all([0, 1, 2, 3].map(async () => new Election(await suite.newSession(suite.newClient()), name)));
    await a!.campaign('a1');
    seen.push((await firstValue).value as KeyValue);
    // Everything below happens while the observer does not read: Go's Observe would
    // read the leader at the latest revision afterwards and miss b and c.
    await a!.proclaim('a2');
    const bWins = b!.campaign('b1');
    await waitUntil(async () => (await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count === 2n, 5_000, 'b queued');
    await a!.resign();
    await bWins;
    await b!.proclaim('b2');
    const cWins = c!.campaign('c1');
    await waitUntil(async () => (await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count === 2n, 5_000, 'c queued');
    await b!.resign();
    await cWins;
    await c!.resign();
    await d!.campaign('d1');
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) break;
      seen.push(next.value);
      if (next.value.valueString === 'd1') break;
    }
    assert.deepEqual(
      seen.map((kv) => kv.valueString),
      ['a1', 'a2', 'b1', 'b2', 'c1', 'd1'],
    );
    // Revisions strictly increase.
    for (let index = 1; index < seen.length; index += 1) assert.ok(seen[index]!.modRevision > seen[index - 1]!.modRevision);
    assert.equal(seen[0]!.keyString, a!.ownKey.toString());
    assert.equal(seen[5]!.keyString, d!.ownKey.toString());
    // Aborting ends the iterator with the reason.
    const pending = iterator.next();
    controller.abort(new Error('stop observing'));
    await assert.rejects(pending, /stop observing/);
    await d!.resign();
  });

  test('observe through an Election object, and break ends it', async () => {
    const name = uniqueName('observe-break');
    const election = new Election(await suite.newSession(), name);
    await election.campaign('only');
    for await (const kv of election.observe()) {
      assert.equal(kv.valueString, 'only');
      break;
    }
    await election.resign();
  });

  test('a second Election of the same session reuses the key and proclaims its value (as Go)', async () => {
    const name = uniqueName('same-session');
    const session = await suite.newSession();
    const first = new Election(session, name);
    await first.campaign('one');
    const second = new Election(session, name);
    await second.campaign('two');
    assert.equal(second.revision, first.revision);
    assert.equal((await first.leader())?.valueString, 'two');
    await second.resign();
    assert.equal(await first.leader(), undefined);
  });

  test('the lease revoked while campaigning: SessionExpiredError; abort withdraws the candidacy', async () => {
    const name = uniqueName('lost');
    const leader = new Election(await suite.newSession(), name);
    await leader.campaign('leader');
    const session = await suite.newSession(suite.newClient());
    const candidate = new Election(session, name);
    const campaigning = candidate.campaign('candidate');
    await waitUntil(async () => (await suite.client().get(candidate.ownKey)).kvs.length === 1, 5_000, 'candidate queued');
    // Awaited from before the revoke, which the campaign may hear of first.
    const refused = assert.rejects(campaigning, SessionExpiredError);
    await suite.client().lease.revoke(session.leaseId);
    await refused;
    assert.equal(candidate.isLeading, false);

    const other = new Election(await suite.newSession(), name);
    const controller = new AbortController();
    const aborted = other.campaign('other', { signal: controller.signal });
    await waitUntil(async () => (await suite.client().get(other.ownKey)).kvs.length === 1, 5_000, 'other queued');
    controller.abort(new Error('no more'));
    await assert.rejects(aborted, /no more/);
    assert.equal((await suite.client().get(other.ownKey)).kvs.length, 0);
    assert.equal((await suite.client().get(`${name}/`, { prefix: true, countOnly: true })).count, 1n);
    await leader.resign();
  });

  test('a leader whose lease went can no longer proclaim', async () => {
    const name = uniqueName('deposed');
    const session = await suite.newSession(suite.newClient());
    const election = new Election(session, name);
    await election.campaign('x');
    await suite.client().lease.revoke(session.leaseId);
    await sleep(50);
    await assert.rejects(election.proclaim('y'), ElectionNotLeaderError);
    assert.equal(election.isLeading, false);
  });
});
