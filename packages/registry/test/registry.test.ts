/**
 * Registry and Discovery against Holdfast and etcd: layout and lease, the
 * cache and its events, pick helpers, re-registration after the key is
 * deleted or the lease revoked elsewhere, metadata updates, a slow event
 * consumer, and a resync after the history was compacted during a network
 * cut.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, type DiscoveryEvent, type RegisteredInfo } from '../src/index.js';
import { TcpProxy, describeWarnings, forEachServer, sleep, uniqueService, waitUntil, warningsDuring } from './helpers.js';

const timeout = 60_000;

/** Collects a discovery's events in the background. */
function collect<M>(iterable: AsyncIterable<DiscoveryEvent<M>>): { events: DiscoveryEvent<M>[]; outcome: Promise<unknown> } {
  const events: DiscoveryEvent<M>[] = [];
  const outcome = (async () => {
    for await (const event of iterable) events.push(event);
  })().then(
    () => 'ended',
    (error: unknown) => error,
  );
  return { events, outcome };
}

const summary = (events: readonly DiscoveryEvent[]): string[] => events.map((event) => `${event.type} ${event.instance.id}`);

forEachServer('registry', (suite) => {
  test('many waitFor() callers at once: each resolves, no listener warning, none left waiting', { timeout }, async () => {
    const client = suite.client();
    const registry = new Registry(client, { ttlSeconds: 5 });
    const service = uniqueService('waiters');
    const discovery = await registry.discover(service);
    // Far above EventEmitter's ten listeners per event.
    const waiterCount = 40;
    try {
      const warnings = await warningsDuring(async () => {
        const waiting = Array.from({ length: waiterCount }, (_, i) => discovery.waitFor((list) => list.length >= 1 + (i % 2), { timeoutMs: 10_000 }));
        await registry.register(service, { address: '127.0.0.1:7101' });
        await registry.register(service, { address: '127.0.0.1:7102' });
        const results = await Promise.all(waiting);
        assert.ok(results.every((list, i) => list.length >= 1 + (i % 2)));
      });
      assert.equal(warnings.length, 0, describeWarnings(warnings));
      assert.equal(discovery.listenerCount('change'), 0);
    } finally {
      discovery.close();
      await registry.close();
    }
  });

  test('register: Go key layout, value and lease; discover sees it; close removes it at once', { timeout }, async () => {
    const client = suite.client();
    const registry = new Registry(client, { ttlSeconds: 5 });
    const service = uniqueService('basic');
    try {
      const registration = await registry.register(service, { address: '127.0.0.1:7001', metadata: { zone: 'a' } });
      const { kvs } = await client.get(`${service}/127.0.0.1:7001`);
      assert.equal(kvs.length, 1);
      assert.equal(kvs[0]!.valueString, '{"Op":0,"Addr":"127.0.0.1:7001","Metadata":{"zone":"a"}}');
      assert.equal(kvs[0]!.lease, registration.leaseId);
      const ttl = await client.lease.timeToLive(registration.leaseId!);
      assert.equal(ttl.grantedTtlSeconds, 5);

      const discovery = await registry.discover<{ zone: string }>(service);
      assert.deepEqual(
        discovery.instances().map((instance) => [instance.service, instance.id, instance.address, instance.metadata, instance.leaseId]),
        [[service, '127.0.0.1:7001', '127.0.0.1:7001', { zone: 'a' }, registration.leaseId]],
      );
      const seen = collect(discovery.events({ initial: false }));
      const started = Date.now();
      await registration.close();
      await waitUntil(() => discovery.size === 0, 5_000, 'the instance to go');
      assert.ok(Date.now() - started < 2_000, 'a deregistered instance goes at once, not after its TTL');
      await waitUntil(() => seen.events.length === 1, 5_000, 'the removed event');
      assert.deepEqual(summary(seen.events), ['removed 127.0.0.1:7001']);
      assert.equal((await client.lease.timeToLive(registration.leaseId ?? ttl.id)).ttlSeconds, -1, 'the lease is revoked');
    } finally {
      await registry.close();
    }
  });

  test('events: added, updated, removed in order; initial snapshot; round-robin and random picks', { timeout }, async () => {
    const registry = new Registry(suite.client(), { ttlSeconds: 5 });
    const service = uniqueService('events');
    try {
      const a = await registry.register(service, { address: '127.0.0.1:7101' });
      const discovery = await registry.discover(service);
      const withInitial = collect(discovery.events());
      const b = await registry.register(service, { address: '127.0.0.1:7102', id: 'b-instance', metadata: { weight: 1 } });
      await b.update({ weight: 2 });
      await a.close();
      await waitUntil(() => withInitial.events.length === 4, 10_000, 'four events');
      assert.deepEqual(summary(withInitial.events), ['added 127.0.0.1:7101', 'added b-instance', 'updated b-instance', 'removed 127.0.0.1:7101']);
      const updated = withInitial.events[2]!;
      assert.deepEqual(updated.previous?.metadata, { weight: 1 });
      assert.deepEqual(updated.instance.metadata, { weight: 2 });
      assert.equal(updated.instance.address, '127.0.0.1:7102');
      const revisions = withInitial.events.slice(1).map((event) => event.revision);
      assert.deepEqual([...revisions].sort((x, y) => (x < y ? -1 : 1)), revisions, 'revision order');

      const c = await registry.register(service, { address: '127.0.0.1:7103' });
      await discovery.waitFor((list) => list.length === 2, { timeoutMs: 5_000 });
      const ids = discovery.instances().map((instance) => instance.id);
      assert.deepEqual(ids, ['127.0.0.1:7103', 'b-instance']);
      const picks = Array.from({ length: 6 }, () => discovery.pick()!.id);
      assert.deepEqual(picks, [...ids, ...ids, ...ids], 'round-robin cycles in key order');
      const randoms = new Set(Array.from({ length: 64 }, () => discovery.pick('random')!.id));
      assert.deepEqual([...randoms].sort(), ids);
      assert.equal(discovery.get('b-instance')?.address, '127.0.0.1:7102');
      await c.close();
      await b.close();
      await discovery.waitFor((list) => list.length === 0, { timeoutMs: 5_000 });
      assert.equal(discovery.pick(), undefined);
    } finally {
      await registry.close();
    }
  });

  test('a key deleted by someone else is put back on the same lease', { timeout }, async () => {
    const client = suite.client();
    const registry = new Registry(client, { ttlSeconds: 5 });
    const service = uniqueService('deleted');
    try {
      const registration = await registry.register(service, { address: '127.0.0.1:7201' });
      const leaseId = registration.leaseId;
      const registered: RegisteredInfo[] = [];
      registration.on('registered', (info) => registered.push(info));
      await client.delete(registration.key);
      await waitUntil(() => registered.length === 1, 5_000, 're-registration');
      assert.equal(registered[0]!.reason, 'key-deleted');
      assert.equal(registered[0]!.leaseId, leaseId);
      const { kvs } = await client.get(registration.key);
      assert.equal(kvs[0]?.lease, leaseId);
    } finally {
      await registry.close();
    }
  });

  test('a lease revoked elsewhere: lost, then registered again under a new lease', { timeout }, async () => {
    const client = suite.client();
    const registry = new Registry(client, { ttlSeconds: 3 });
    const service = uniqueService('revoked');
    try {
      const registration = await registry.register(service, { address: '127.0.0.1:7301' });
      const discovery = await registry.discover(service);
      const seen = collect(discovery.events({ initial: false }));
      const oldLease = registration.leaseId!;
      const lost: Error[] = [];
      const registered: RegisteredInfo[] = [];
      registration.on('lost', (error) => lost.push(error));
      registration.on('registered', (info) => registered.push(info));
      const revokedAt = Date.now();
      await client.lease.revoke(oldLease);
      await waitUntil(() => registered.length === 1, 10_000, 're-registration');
      const backAfterMs = Date.now() - revokedAt;
      assert.equal(lost.length, 1);
      assert.equal(registered[0]!.reason, 'lease-lost');
      assert.notEqual(registered[0]!.leaseId, oldLease);
      // The keepalive learns of the revoke at its next round (TTL/3), then a grant and a put.
      assert.ok(backAfterMs < 3_000, `back after ${backAfterMs} ms`);
      await waitUntil(() => discovery.get('127.0.0.1:7301')?.leaseId === registered[0]!.leaseId, 5_000, 'the new lease in the cache');
      assert.deepEqual(summary(seen.events), ['removed 127.0.0.1:7301', 'added 127.0.0.1:7301']);
      assert.equal(registration.registrationCount, 2);
    } finally {
      await registry.close();
    }
  });

  test('a consumer that does not read gets one event per key, never an unbounded backlog', { timeout }, async () => {
    const registry = new Registry(suite.client(), { ttlSeconds: 5 });
    const service = uniqueService('slow');
    try {
      const discovery = await registry.discover(service);
      const events = discovery.events();
      const steady = await registry.register(service, { address: '127.0.0.1:7401', metadata: 0 });
      for (let n = 1; n <= 30; n++) await steady.update(n);
      const flapping = await registry.register(service, { address: '127.0.0.1:7402' });
      await flapping.close();
      await waitUntil(() => discovery.get('127.0.0.1:7401')?.metadata === 30 && discovery.size === 1, 5_000, 'the last update');
      const first = await events.next();
      assert.equal(first.done, false);
      assert.equal(first.value.type, 'added');
      assert.equal(first.value.instance.metadata, 30, 'the added event carries the latest value');
      // The instance that came and went while we were not reading is not reported at all.
      const pending = events.next();
      const nothing = await Promise.race([pending.then(() => 'event'), sleep(300).then(() => 'nothing')]);
      assert.equal(nothing, 'nothing');
      await steady.update(31);
      const next = await pending;
      assert.equal(next.done, false);
      assert.equal(next.value.type, 'updated');
      assert.equal(next.value.previous?.metadata, 30);
      assert.equal(next.value.instance.metadata, 31);
      await events.return?.();
    } finally {
      await registry.close();
    }
  });

  test('history compacted during a network cut: the cache is read again and the difference reported', { timeout }, async () => {
    const direct = suite.client();
    const proxy = await TcpProxy.start(suite.server().clientPort);
    const viaProxy = suite.newClient(proxy.endpoint);
    const writer = new Registry(direct, { ttlSeconds: 5 });
    const reader = new Registry(viaProxy);
    const service = uniqueService('compacted');
    try {
      const a = await writer.register(service, { address: '127.0.0.1:7501' });
      const discovery = await reader.discover(service);
      const seen = collect(discovery.events({ initial: false }));
      let resyncs = 0;
      discovery.on('resync', () => resyncs++);
      proxy.cut();
      await a.close();
      await writer.register(service, { address: '127.0.0.1:7502' });
      const latest = await direct.get('x');
      await direct.compact(latest.header.revision);
      proxy.restore();
      await discovery.waitFor((list) => list.length === 1 && list[0]!.id === '127.0.0.1:7502', { timeoutMs: 15_000 });
      assert.equal(resyncs, 1);
      await waitUntil(() => seen.events.length === 2, 5_000, 'two events');
      assert.deepEqual(summary(seen.events).sort(), ['added 127.0.0.1:7502', 'removed 127.0.0.1:7501']);
    } finally {
      await writer.close();
      await reader.close();
      await proxy.close();
    }
  });

  test('register() with an aborted signal or a closed registry fails; bad names are refused', { timeout }, async () => {
    const registry = new Registry(suite.client());
    const controller = new AbortController();
    controller.abort(new Error('not now'));
    await assert.rejects(registry.register(uniqueService('abort'), { address: '127.0.0.1:1' }, { signal: controller.signal }), /not now/);
    await assert.rejects(registry.register('', { address: '127.0.0.1:1' }), /non-empty/);
    await assert.rejects(registry.register('svc/', { address: '127.0.0.1:1' }), /must not end with/);
    await assert.rejects(registry.register('svc', { address: '' }), /address/);
    await registry.close();
    await assert.rejects(registry.register('svc', { address: '127.0.0.1:1' }), /closed/);
  });
});
