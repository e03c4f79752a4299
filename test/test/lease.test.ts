/**
 * Lease expiry and survival, end to end:
 * - a TTL-5 lease without keepalives disappears, with its key, between 5 and
 *   6.5 s after the grant (measured by a watcher seeing the delete);
 * - 10,000 leases kept alive every TTL/3 for a minute: no keepalive answers
 *   TTL 0, and every lease and its key is still there at the end;
 * - across a kill -9: a live lease keeps at least the TTL it had left (etcd
 *   gives the full TTL plus an election timeout, so do we), while a lease
 *   that certainly expired during the downtime is revoked right after start,
 *   its key deleted in a new revision that a resuming watcher sees.
 *
 * HOLDFAST_LEASE_SOAK_SECONDS shortens the 60 s keepalive soak for local runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { etcdAvailability, removeDirectory, startEtcd, startHoldfast, type RunningServer, type StartOptions } from '../src/support.js';
import { TestKvClient, TestLeaseClient, ownConnection } from '../src/kv-client.js';
import { ResumableWatch } from '../src/resumable-watch.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const availability = await etcdAvailability();
const servers: Array<[string, (options?: StartOptions) => Promise<RunningServer>]> = [['holdfast', startHoldfast]];
if (availability.available) servers.push(['etcd', startEtcd]);

for (const [kind, start] of servers) {
  test(`${kind}: a TTL-5 lease without keepalive disappears with its key between 5 and 6.5 s`, { timeout: 30_000 }, async (t) => {
    const server = await start();
    const kv = new TestKvClient(server.endpoint);
    const leases = new TestLeaseClient(server.endpoint);
    const watch = new ResumableWatch(server.endpoint, { key: Buffer.from('ephemeral') });
    try {
      await watch.waitFor(() => watch.responses.some((response) => response.kind === 'created'));
      const granted = await leases.grant(5);
      const grantedAt = performance.now();
      assert.equal(granted.TTL, 5n);
      await kv.put('ephemeral', 'here', granted.ID);
      await watch.waitFor(() => watch.events.some(({ event }) => event.type === 1), 10_000);
      const goneAfterMs = performance.now() - grantedAt;
      t.diagnostic(`${kind}: lease and key gone ${(goneAfterMs / 1000).toFixed(2)} s after the grant`);
      assert.ok(goneAfterMs >= 5000 && goneAfterMs <= 6500, `gone after ${goneAfterMs} ms`);
      assert.equal((await leases.timeToLive(granted.ID)).TTL, -1n);
      assert.equal((await kv.range({ key: Buffer.from('ephemeral') })).count, 0n);
    } finally {
      watch.stop();
      kv.close();
      leases.close();
      await server.stop();
      removeDirectory(server.dataDir);
    }
  });
}

const soakLeaseCount = 10_000;
const soakTtlSeconds = 6;
const soakSeconds = Number(process.env.HOLDFAST_LEASE_SOAK_SECONDS ?? 60);
/** Keepalive streams the leases are spread over. */
const soakStreams = 10;

test(`holdfast: ${soakLeaseCount} leases kept alive every TTL/3 for ${soakSeconds} s: zero spurious expiry`, { timeout: (soakSeconds + 120) * 1000 }, async (t) => {
  const server = await startHoldfast();
  const kv = new TestKvClient(server.endpoint);
  const leases = new TestLeaseClient(server.endpoint);
  const client = new etcdserverpb.LeaseClient(server.endpoint, credentials.createInsecure());
  try {
    let answered = 0;
    const expired: bigint[] = [];
    const streams = Array.from({ length: soakStreams }, () => {
      const call = client.leaseKeepAlive();
      call.on('data', (response: etcdserverpb.LeaseKeepAliveResponse) => {
        answered++;
        if (response.TTL <= 0n) expired.push(response.ID);
      });
      call.on('error', () => {});
      return call;
    });
    // Keepalives for every lease granted so far go out every TTL/3 from the
    // start, so the leases granted first are kept alive while the rest are granted.
    const ids: bigint[] = [];
    const intervalMs = (soakTtlSeconds * 1000) / 3;
    let keepingAlive = true;
    let keepalivesSent = 0;
    const keepAliveLoop = (async () => {
      while (keepingAlive) {
        const started = performance.now();
        ids.forEach((ID, i) => streams[i % soakStreams]!.write({ ID }));
        keepalivesSent += ids.length;
        await sleep(Math.max(0, intervalMs - (performance.now() - started)));
      }
    })();
    for (let i = 0; i < soakLeaseCount; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, () => leases.grant(soakTtlSeconds)));
      ids.push(...batch.map((response) => response.ID));
      await kv.txn({
        success: batch.map((response, j) => ({ requestPut: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(`soak/${i + j}`), value: Buffer.from('alive'), lease: response.ID }) })),
      });
    }
    const soakStarted = performance.now();
    await sleep(soakSeconds * 1000);
    keepingAlive = false;
    await keepAliveLoop;
    const rounds = Math.round((performance.now() - soakStarted) / intervalMs);
    // Let the last round's answers arrive.
    const answerDeadline = Date.now() + 10_000;
    while (answered < keepalivesSent && Date.now() < answerDeadline) await sleep(50);
    for (const call of streams) call.end();
    const remaining = await leases.leases();
    const keys = await kv.range({ key: Buffer.from('soak/'), rangeEnd: Buffer.from('soak0'), countOnly: true });
    t.diagnostic(`holdfast: ${answered} keepalives answered (${rounds} rounds of ${soakLeaseCount} in the soak); ${remaining.leases.length} leases and ${keys.count} keys left; ${expired.length} answered TTL 0`);
    assert.deepEqual(expired, []);
    assert.equal(answered, keepalivesSent);
    assert.equal(remaining.leases.length, soakLeaseCount);
    assert.equal(keys.count, BigInt(soakLeaseCount));
  } finally {
    client.close();
    kv.close();
    leases.close();
    await server.stop();
    removeDirectory(server.dataDir);
  }
});

test('holdfast: after kill -9, a live lease keeps at least its remaining TTL; one that expired while down is revoked at start', { timeout: 60_000 }, async (t) => {
  let server = await startHoldfast();
  const dataDir = server.dataDir;
  const clientPort = Number(server.endpoint.split(':')[1]);
  let kv = new TestKvClient(server.endpoint);
  let leases = new TestLeaseClient(server.endpoint);
  const watch = new ResumableWatch(server.endpoint, { key: Buffer.from('r/'), rangeEnd: Buffer.from('r0') });
  try {
    const long = await leases.grant(60);
    const short = await leases.grant(3);
    await kv.put('r/long', 'x', long.ID);
    await kv.put('r/short', 'y', short.ID);
    await watch.waitFor(() => watch.events.length === 2);
    await sleep(1500);
    const remainingBefore = (await leases.timeToLive(long.ID)).TTL;
    kv.close();
    leases.close();
    await server.kill();
    // Down for longer than the short lease's TTL: nobody could have kept it alive.
    await sleep(5000);
    server = await startHoldfast({ dataDir, clientPort });
    // Measured from the moment the server accepts connections, with a client
    // on its own connection (the watcher's may still be in reconnect backoff).
    const startedAt = performance.now();
    kv = new TestKvClient(server.endpoint, ownConnection);
    leases = new TestLeaseClient(server.endpoint, ownConnection);
    const shortKeyExists = async () => {
      try {
        return (await kv.range({ key: Buffer.from('r/short') })).count > 0n;
      } catch {
        // Not connected yet.
        return true;
      }
    };
    while ((await shortKeyExists()) && performance.now() - startedAt < 10_000) await sleep(25);
    const revokedAfterMs = performance.now() - startedAt;
    // Right after the start, before waiting on the resuming watcher.
    const remainingAfter = (await leases.timeToLive(long.ID)).TTL;
    await watch.waitFor(() => watch.events.some(({ event }) => event.type === 1), 20_000);
    const deleteEvent = watch.events.find(({ event }) => event.type === 1)!.event;
    t.diagnostic(`long lease: ${remainingBefore} s left before the crash, ${remainingAfter} s after restart; short lease's key gone ${revokedAfterMs.toFixed(0)} ms after the server accepted connections`);
    assert.equal(deleteEvent.kv!.key.toString(), 'r/short');
    assert.ok(revokedAfterMs < 3000, `revoked ${revokedAfterMs} ms after start`);
    assert.ok(remainingAfter >= remainingBefore, `remaining TTL went from ${remainingBefore} to ${remainingAfter}`);
    assert.equal((await leases.timeToLive(short.ID)).TTL, -1n);
    assert.equal((await kv.range({ key: Buffer.from('r/long') })).count, 1n);
    assert.ok(watch.reconnects >= 1);
  } finally {
    watch.stop();
    kv.close();
    leases.close();
    await server.stop();
    removeDirectory(dataDir);
  }
});

test('etcd gives every lease a fresh TTL after a restart (the rule Holdfast keeps for live leases)', { skip: availability.available ? false : availability.reason, timeout: 60_000 }, async (t) => {
  let server = await startEtcd();
  const dataDir = server.dataDir;
  const clientPort = Number(server.endpoint.split(':')[1]);
  let leases = new TestLeaseClient(server.endpoint);
  try {
    const long = await leases.grant(60);
    await sleep(2500);
    const remainingBefore = (await leases.timeToLive(long.ID)).TTL;
    leases.close();
    await server.kill();
    server = await startEtcd({ dataDir, clientPort });
    leases = new TestLeaseClient(server.endpoint);
    await sleep(1000);
    const remainingAfter = (await leases.timeToLive(long.ID)).TTL;
    t.diagnostic(`etcd: ${remainingBefore} s left before the crash, ${remainingAfter} s after restart`);
    assert.ok(remainingAfter >= remainingBefore);
  } finally {
    leases.close();
    await server.stop();
    removeDirectory(dataDir);
  }
});
