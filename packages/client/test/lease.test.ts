/**
 * Leases against Holdfast and etcd: 64-bit ids, keepalive, loss detection,
 * revoke on close.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { LeaseExistsError, LeaseLostError, LeaseNotFoundError } from '../src/index.js';
import { forEachServer, sleep, waitUntil } from './helpers.js';

const timeout = 90_000;

forEachServer('lease', (suite) => {
  test('a client-chosen lease id above 2^53 survives grant, put, get, timeToLive and leases exactly', { timeout }, async () => {
    const client = suite.client();
    const id = 0x7fffffffffffffffn;
    assert.notEqual(BigInt(Number(id)), id, 'a JavaScript number could not carry this id');
    const lease = await client.lease.grant(30, { id });
    try {
      assert.equal(lease.id, id);
      assert.equal(lease.grantedTtlSeconds, 30);
      await client.put('lease/precise', 'v', { lease: id });
      assert.equal((await client.get('lease/precise')).kvs[0]?.lease, id);
      const ttl = await lease.timeToLive({ keys: true });
      assert.equal(ttl.id, id);
      assert.ok(ttl.ttlSeconds > 0 && ttl.ttlSeconds <= 30);
      assert.deepEqual(
        ttl.keys.map((key) => key.toString()),
        ['lease/precise'],
      );
      assert.ok((await client.lease.leases()).includes(id));
      await assert.rejects(client.lease.grant(30, { id }), LeaseExistsError);
    } finally {
      await lease.close();
    }
    assert.equal((await client.get('lease/precise')).count, 0n, 'revoking deleted the attached key');
    assert.equal((await client.lease.timeToLive(id)).ttlSeconds, -1);
    await assert.rejects(client.lease.revoke(id), LeaseNotFoundError);
  });

  test('keepAlive keeps a TTL-3 lease alive for 10 s', { timeout }, async () => {
    const client = suite.client();
    const lease = await client.lease.grant(3);
    const keepAlive = lease.keepAlive();
    let renewals = 0;
    let lost: LeaseLostError | undefined;
    keepAlive.on('renewed', () => renewals++);
    keepAlive.on('lost', (error) => (lost = error));
    await client.put('lease/kept', 'v', { lease: lease.id });
    await sleep(10_000);
    assert.equal(lost, undefined, `lost: ${lost?.message}`);
    assert.ok(renewals >= 8, `only ${renewals} renewals in 10 s at TTL/3`);
    const ttl = await lease.timeToLive();
    assert.ok(ttl.ttlSeconds > 0, `TTL ${ttl.ttlSeconds}`);
    assert.equal((await client.get('lease/kept')).count, 1n);
    await lease.close();
    await keepAlive.done;
    assert.equal((await client.get('lease/kept')).count, 0n);
  });

  test('a lease revoked elsewhere is lost at the next keepalive (the server answers TTL 0)', { timeout }, async () => {
    const client = suite.client();
    const lease = await client.lease.grant(6);
    const keepAlive = lease.keepAlive();
    await new Promise((resolve) => keepAlive.once('renewed', resolve));
    await client.lease.revoke(lease.id);
    const revokedAtMs = performance.now();
    await assert.rejects(keepAlive.done, (error: unknown) => {
      assert.ok(error instanceof LeaseLostError);
      assert.equal(error.reason, 'not-found');
      assert.equal(error.leaseId, lease.id);
      return true;
    });
    // The next keepalive is due within TTL/3.
    assert.ok(performance.now() - revokedAtMs < 2_000 + 1_000);
    assert.equal(keepAlive.active, false);
  });

  test('killing the server: lost fires within TTL + 1 s, not before the lease could have expired', { timeout }, async () => {
    const client = suite.client();
    const ttlSeconds = 3;
    const lease = await client.lease.grant(ttlSeconds);
    const keepAlive = lease.keepAlive();
    let renewals = 0;
    keepAlive.on('renewed', () => renewals++);
    await waitUntil(() => renewals >= 2, 10_000, 'two renewals');
    const lostAt = new Promise<number>((resolve) => keepAlive.once('lost', () => resolve(performance.now())));
    const killedAtMs = performance.now();
    await suite.server().kill();
    try {
      const elapsedMs = (await lostAt) - killedAtMs;
      assert.ok(elapsedMs <= ttlSeconds * 1_000 + 1_000, `lost ${elapsedMs} ms after the kill`);
      // The last confirmed keepalive was sent at most TTL/3 (plus scheduling) before the kill.
      assert.ok(elapsedMs >= ((ttlSeconds * 2) / 3) * 1_000 - 300, `lost only ${elapsedMs} ms after the kill: too early`);
      assert.equal(keepAlive.lost?.reason, 'expired');
      await assert.rejects(keepAlive.done, LeaseLostError);
    } finally {
      await suite.server().restart();
    }
  });
});
