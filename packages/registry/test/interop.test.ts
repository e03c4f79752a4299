/**
 * Interoperability with Go's client/v3/naming/endpoints, through etcdctl
 * against Holdfast and etcd: what Go's endpoints.Manager.AddEndpoint writes
 * (a put with a lease of {"Op":0,"Addr":...,"Metadata":...}) is discovered,
 * and what we register reads, byte for byte, as what Go writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, decodeEndpoint, encodeEndpoint, goJson, type DiscoveryEvent } from '../src/index.js';
import { etcdctl, etcdctlSkipReason, forEachServer, uniqueService, waitUntil } from './helpers.js';

const timeout = 60_000;

/** The lease id etcdctl prints in "lease 694d7a2c9e1a1b0c granted with TTL(30s)". */
function grantedLease(output: string): string {
  const match = /lease ([0-9a-f]+) granted/.exec(output);
  if (match === null) throw new Error(`unexpected etcdctl output: ${output}`);
  return match[1]!;
}

test('Go encoding/json details: field order, sorted map keys, HTML-safe escapes, null metadata', () => {
  assert.equal(encodeEndpoint('10.0.0.1:80', undefined), '{"Op":0,"Addr":"10.0.0.1:80","Metadata":null}');
  assert.equal(encodeEndpoint('10.0.0.1:80', { z: 1, a: { y: [1, 'b'], b: true } }), '{"Op":0,"Addr":"10.0.0.1:80","Metadata":{"a":{"b":true,"y":[1,"b"]},"z":1}}');
  assert.equal(goJson('<a&b>\u2028'), '"\\u003ca\\u0026b\\u003e\\u2028"');
  assert.deepEqual(decodeEndpoint('{"Op":0,"Addr":"h:1","Metadata":null}'), { op: 0, address: 'h:1', metadata: null });
  assert.deepEqual(decodeEndpoint('{"Addr":"h:1"}'), { op: 0, address: 'h:1', metadata: null });
  assert.deepEqual(decodeEndpoint('{"Op":1,"Addr":"h:1"}'), { op: 1, address: 'h:1', metadata: null });
  assert.equal(decodeEndpoint('{"Op":0,"Addr":"","Metadata":null}'), undefined, 'Go: empty Addr and nil Metadata is invalid');
  assert.equal(decodeEndpoint('not json'), undefined);
  assert.equal(decodeEndpoint('[1]'), undefined);
  assert.equal(decodeEndpoint('{"Op":"add","Addr":"h:1"}'), undefined);
});

forEachServer('Go naming/endpoints interop (etcdctl)', (suite) => {
  test('instances written as Go writes them are discovered; revoking their lease removes them', { timeout, skip: etcdctlSkipReason }, async () => {
    const endpoint = suite.server().endpoint;
    const service = uniqueService('from-go');
    const registry = new Registry(suite.client());
    try {
      const lease = grantedLease(await etcdctl(endpoint, ['lease', 'grant', '30']));
      // Exactly what endpoints.Manager.AddEndpoint(ctx, service+"/"+addr, Endpoint{Addr: addr}, WithLease(id)) writes.
      await etcdctl(endpoint, ['put', `--lease=${lease}`, `${service}/127.0.0.1:9001`, '{"Op":0,"Addr":"127.0.0.1:9001","Metadata":null}']);
      await etcdctl(endpoint, ['put', `--lease=${lease}`, `${service}/127.0.0.1:9002`, '{"Op":0,"Addr":"127.0.0.1:9002","Metadata":{"version":"v2","weight":3}}']);
      // Go skips values it cannot unmarshal; so do we.
      await etcdctl(endpoint, ['put', `${service}/garbage`, 'not an endpoint']);
      const discovery = await registry.discover(service);
      assert.deepEqual(
        discovery.instances().map((instance) => [instance.id, instance.address, instance.metadata, instance.leaseId]),
        // etcdctl prints the lease as %016x: compared as a number, not as text.
        [
          ['127.0.0.1:9001', '127.0.0.1:9001', null, BigInt(`0x${lease}`)],
          ['127.0.0.1:9002', '127.0.0.1:9002', { version: 'v2', weight: 3 }, BigInt(`0x${lease}`)],
        ],
      );
      const removed: string[] = [];
      discovery.on('change', (event: DiscoveryEvent) => event.type === 'removed' && removed.push(event.instance.address));
      // Go's DeleteEndpoint deletes the key; a lease revoke deletes every key under it.
      await etcdctl(endpoint, ['del', `${service}/127.0.0.1:9002`]);
      await waitUntil(() => removed.length === 1, 5_000, 'the deleted endpoint');
      await etcdctl(endpoint, ['lease', 'revoke', lease]);
      await waitUntil(() => removed.length === 2, 5_000, 'the revoked endpoint');
      assert.deepEqual(removed, ['127.0.0.1:9002', '127.0.0.1:9001']);
      assert.equal(discovery.size, 0);
      await etcdctl(endpoint, ['del', `${service}/garbage`]);
    } finally {
      await registry.close();
    }
  });

  test('what we register reads with etcdctl as Go writes it, under our lease', { timeout, skip: etcdctlSkipReason }, async () => {
    const endpoint = suite.server().endpoint;
    const service = uniqueService('to-go');
    const registry = new Registry(suite.client(), { ttlSeconds: 20 });
    try {
      const registration = await registry.register(service, { address: '127.0.0.1:9101', metadata: { zone: 'eu<1>', replicas: 2, app: 'A&B' } });
      const output = await etcdctl(endpoint, ['get', `${service}/`, '--prefix']);
      assert.equal(output, `${service}/127.0.0.1:9101\n{"Op":0,"Addr":"127.0.0.1:9101","Metadata":{"app":"A\\u0026B","replicas":2,"zone":"eu\\u003c1\\u003e"}}\n`);
      const json = JSON.parse(await etcdctl(endpoint, ['get', `${service}/127.0.0.1:9101`, '-w', 'json'])) as { kvs: Array<{ lease: number | string }> };
      // etcdctl prints the lease as a JSON number, which may exceed 2^53: compare the text.
      const leaseText = /"lease":(\d+)/.exec(await etcdctl(endpoint, ['get', `${service}/127.0.0.1:9101`, '-w', 'json']))?.[1];
      assert.equal(json.kvs.length, 1);
      assert.equal(leaseText, registration.leaseId!.toString());
      const ttl = await etcdctl(endpoint, ['lease', 'timetolive', registration.leaseId!.toString(16), '--keys']);
      assert.match(ttl, new RegExp(`granted with TTL\\(20s\\).*attached keys\\(\\[${service.replace(/[/.]/g, '\\$&')}/127\\.0\\.0\\.1:9101\\]\\)`));
      // A Go-style endpoint and ours side by side in one discovery.
      await etcdctl(endpoint, ['put', `${service}/127.0.0.1:9102`, '{"Op":0,"Addr":"127.0.0.1:9102","Metadata":null}']);
      const discovery = await registry.discover(service);
      assert.deepEqual(
        discovery.instances().map((instance) => instance.address),
        ['127.0.0.1:9101', '127.0.0.1:9102'],
      );
      await registration.close();
      assert.equal(await etcdctl(endpoint, ['get', `${service}/127.0.0.1:9101`]), '', 'deregistered: the key is gone');
      await etcdctl(endpoint, ['del', `${service}/127.0.0.1:9102`]);
    } finally {
      await registry.close();
    }
  });
});
