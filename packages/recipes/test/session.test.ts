import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseLostError, LeaseNotFoundError } from '@holdfast/client';
import { Session, SessionExpiredError, SessionClosedError } from '../src/index.js';
import { forEachServer, sleep, uniqueName, waitUntil } from './helpers.js';

forEachServer('Session', (suite) => {
  test('create grants a lease kept alive; close revokes it and its keys go', async () => {
    const session = await Session.create(suite.client(), { ttlSeconds: 5 });
    assert.equal(session.ttlSeconds, 5);
    assert.ok(session.active);
    const key = uniqueName('session-key');
    await suite.client().put(key, 'v', { lease: session.leaseId });
    assert.ok((await suite.client().lease.timeToLive(session.leaseId)).ttlSeconds > 0);
    await session.close();
    assert.equal(session.active, false);
    assert.ok(session.signal.aborted);
    assert.ok(session.signal.reason instanceof SessionClosedError);
    await session.done;
    assert.equal((await suite.client().get(key)).kvs.length, 0);
    assert.equal((await suite.client().lease.timeToLive(session.leaseId)).ttlSeconds, -1);
    assert.throws(() => session.throwIfInactive(), SessionClosedError);
    await session.close(); // twice is fine
  });

  test('the lease revoked elsewhere: lost event, aborted signal, rejected done, SessionExpiredError after', async () => {
    const session = await suite.newSession(suite.newClient(), { ttlSeconds: 3 });
    const lost: LeaseLostError[] = [];
    session.on('lost', (error) => lost.push(error));
    await suite.client().lease.revoke(session.leaseId);
    await assert.rejects(session.done, LeaseLostError);
    assert.equal(lost.length, 1);
    assert.equal(lost[0]!.leaseId, session.leaseId);
    assert.ok(session.signal.aborted);
    assert.ok(session.signal.reason instanceof LeaseLostError);
    assert.equal(session.lost, lost[0]);
    assert.throws(() => session.throwIfInactive(), SessionExpiredError);
    await session.close(); // a lost session closes quietly
  });

  test('a lease of TTL 2 stays alive past its TTL; orphan() stops keepalives and keeps the lease', async () => {
    const session = await suite.newSession(undefined, { ttlSeconds: 2 });
    await sleep(3_000);
    assert.ok(session.active);
    assert.ok((await suite.client().lease.timeToLive(session.leaseId)).ttlSeconds > 0);
    session.orphan();
    assert.ok(session.signal.reason instanceof SessionClosedError);
    assert.ok((await suite.client().lease.timeToLive(session.leaseId)).ttlSeconds > 0, 'orphan does not revoke');
    await waitUntil(async () => (await suite.client().lease.timeToLive(session.leaseId)).ttlSeconds === -1, 5_000, 'the orphaned lease to expire');
  });

  test('adopting an existing lease keeps it alive; a missing one is refused', async () => {
    const lease = await suite.client().lease.grant(2);
    const session = await suite.newSession(undefined, { leaseId: lease.id });
    assert.equal(session.leaseId, lease.id);
    assert.equal(session.ttlSeconds, lease.grantedTtlSeconds);
    await sleep(3_000);
    assert.ok((await suite.client().lease.timeToLive(lease.id)).ttlSeconds > 0);
    await session.close();
    assert.equal((await suite.client().lease.timeToLive(lease.id)).ttlSeconds, -1);
    await assert.rejects(Session.create(suite.client(), { leaseId: lease.id }), LeaseNotFoundError);
  });
});
