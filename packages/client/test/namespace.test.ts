/**
 * Namespaces against Holdfast and etcd: keys prefixed on the server,
 * stripped in results, ranges kept inside the namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Compare, EmptyKeyError, Op } from '../src/index.js';
import { forEachServer, waitUntil } from './helpers.js';

const timeout = 60_000;

forEachServer('namespace', (suite) => {
  test('keys are prefixed on the server and stripped in results', { timeout }, async () => {
    const client = suite.client();
    const app = client.namespace('/app/');
    const put = await app.put('config', 'on', { prevKv: true });
    assert.equal(put.prevKv, undefined);
    assert.equal((await client.get('/app/config')).kvs[0]?.valueString, 'on', 'stored under the prefix');
    assert.equal((await client.get('config')).count, 0n, 'not outside it');
    const got = await app.get('config');
    assert.equal(got.kvs[0]?.keyString, 'config');
    const again = await app.put('config', 'off', { prevKv: true });
    assert.equal(again.prevKv?.keyString, 'config');
    assert.deepEqual(app.prefix, Buffer.from('/app/'));
  });

  test('prefix and fromKey ranges stop at the edge of the namespace', { timeout }, async () => {
    const client = suite.client();
    // Neighbours just outside '/ns/': '/ns' itself, '/ns0' ('0' = '/' + 1), '/nt'.
    for (const key of ['/ns', '/ns0', '/nt', '/ns/a', '/ns/b/c', '/ns/b/d']) await client.put(key, key);
    const ns = client.namespace('/ns/');
    assert.deepEqual(
      (await ns.get('', { prefix: true })).kvs.map((kv) => kv.keyString),
      ['a', 'b/c', 'b/d'],
    );
    assert.deepEqual(
      (await ns.get('b', { fromKey: true })).kvs.map((kv) => kv.keyString),
      ['b/c', 'b/d'],
    );
    assert.deepEqual(
      (await ns.get('b/', { prefix: true })).kvs.map((kv) => kv.keyString),
      ['b/c', 'b/d'],
    );
    assert.deepEqual(
      (await ns.get('a', { rangeEnd: 'b/d' })).kvs.map((kv) => kv.keyString),
      ['a', 'b/c'],
    );
    const deleted = await ns.delete('', { prefix: true, prevKv: true });
    assert.deepEqual(
      deleted.prevKvs.map((kv) => kv.keyString),
      ['a', 'b/c', 'b/d'],
    );
    assert.deepEqual(
      (await client.get('/n', { prefix: true })).kvs.map((kv) => kv.keyString),
      ['/ns', '/ns0', '/nt'],
      'nothing outside the namespace was touched',
    );
    await assert.rejects(ns.get(''), EmptyKeyError);
    await assert.rejects(ns.put('', 'x'), EmptyKeyError);
  });

  test('txn compares and operations are prefixed, results stripped; namespaces nest', { timeout }, async () => {
    const client = suite.client();
    const team = client.namespace('/org/').namespace('team/');
    await client.put('/org/team/counter', '1');
    await client.put('counter', 'outside');
    const result = await team
      .txn()
      .if(Compare.value('counter', '=', '1'), Compare.version('missing', '=', 0n))
      .then(Op.put('counter', '2'), Op.get('counter'), Op.get('', { prefix: true, keysOnly: true }))
      .commit();
    assert.equal(result.succeeded, true);
    const read = result.responses[1]!;
    assert.ok(read.kind === 'get');
    assert.equal(read.kvs[0]?.keyString, 'counter');
    assert.equal(read.kvs[0]?.valueString, '2');
    const listing = result.responses[2]!;
    assert.ok(listing.kind === 'get');
    assert.deepEqual(
      listing.kvs.map((kv) => kv.keyString),
      ['counter'],
    );
    assert.equal((await client.get('counter')).kvs[0]?.valueString, 'outside');
    assert.equal((await client.get('/org/team/counter')).kvs[0]?.valueString, '2');
  });

  test('watch events carry keys without the prefix, and only from inside the namespace', { timeout }, async () => {
    const client = suite.client();
    const ns = client.namespace('/watched/');
    const watch = ns.watch('', { prefix: true, prevKv: true });
    await watch.created;
    const keys: string[] = [];
    const prevKeys: string[] = [];
    const consumer = (async () => {
      for await (const batch of watch) {
        for (const event of batch.events) {
          keys.push(`${event.type} ${event.kv.keyString}`);
          if (event.prevKv !== undefined) prevKeys.push(event.prevKv.keyString);
        }
      }
    })();
    await client.put('/watched0', 'just outside');
    await client.put('/watched/a', '1');
    await ns.put('a', '2');
    await client.put('/other/a', 'x');
    await ns.delete('a');
    await waitUntil(() => keys.length >= 3, 10_000, 'three events');
    watch.close();
    await consumer;
    assert.deepEqual(keys, ['put a', 'put a', 'delete a']);
    assert.deepEqual(prevKeys, ['a', 'a']);
  });

  test('lease timeToLive lists only the namespace keys, without the prefix', { timeout }, async () => {
    const client = suite.client();
    const ns = client.namespace('/leased/');
    const lease = await ns.lease.grant(30);
    try {
      await ns.put('inside', 'v', { lease: lease.id });
      await client.put('/elsewhere', 'v', { lease: lease.id });
      const ttl = await lease.timeToLive({ keys: true });
      assert.deepEqual(
        ttl.keys.map((key) => key.toString()),
        ['inside'],
      );
    } finally {
      await lease.close();
    }
  });
});
