import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompactedError,
  Compare,
  DuplicateKeyError,
  EmptyKeyError,
  FutureRevisionError,
  KeyNotFoundError,
  Op,
  type TxnResult,
} from '../src/index.js';
import { forEachServer } from './helpers.js';

const timeout = 60_000;

forEachServer('KV', (suite) => {
  test('put and get round trip strings and bytes, with headers and versions', { timeout }, async () => {
    const client = suite.client();
    const first = await client.put('kv/a', 'one');
    assert.ok(first.header.revision > 1n);
    assert.ok(first.header.clusterId !== 0n && first.header.memberId !== 0n);
    const second = await client.put('kv/a', 'two', { prevKv: true });
    assert.equal(second.prevKv?.valueString, 'one');
    assert.equal(second.header.revision, first.header.revision + 1n);

    const binaryKey = new Uint8Array([0x6b, 0x76, 0x2f, 0x00, 0xff, 0x01]);
    const binaryValue = new Uint8Array([0, 1, 2, 254, 255]);
    await client.put(binaryKey, binaryValue);
    const binary = await client.get(binaryKey);
    assert.deepEqual([...binary.kvs[0]!.key], [...binaryKey]);
    assert.deepEqual([...binary.kvs[0]!.value], [...binaryValue]);

    const got = await client.get('kv/a');
    assert.equal(got.count, 1n);
    const kv = got.kvs[0]!;
    assert.equal(kv.keyString, 'kv/a');
    assert.equal(kv.valueString, 'two');
    assert.ok(Buffer.isBuffer(kv.value));
    assert.equal(kv.version, 2n);
    assert.equal(kv.createRevision, first.header.revision);
    assert.equal(kv.modRevision, second.header.revision);
    assert.equal(kv.lease, 0n);
    assert.deepEqual((await client.get('kv/missing')).kvs, []);
  });

  test('ranges: prefix, fromKey, rangeEnd, limit, count, sort, keysOnly, countOnly, revision bounds', { timeout }, async () => {
    const client = suite.client();
    const revisions: bigint[] = [];
    for (const key of ['r/c', 'r/a', 'r/b', 'r/d']) revisions.push((await client.put(key, `value of ${key}`)).header.revision);
    await client.put('s/outside', 'x');

    const prefix = await client.get('r/', { prefix: true });
    assert.deepEqual(prefix.kvs.map((kv) => kv.keyString), ['r/a', 'r/b', 'r/c', 'r/d']);
    assert.equal(prefix.count, 4n);

    const fromKey = await client.get('r/c', { fromKey: true });
    assert.deepEqual(fromKey.kvs.map((kv) => kv.keyString), ['r/c', 'r/d', 's/outside']);

    const bounded = await client.get('r/b', { rangeEnd: 'r/d' });
    assert.deepEqual(bounded.kvs.map((kv) => kv.keyString), ['r/b', 'r/c']);

    const limited = await client.get('r/', { prefix: true, limit: 2 });
    assert.deepEqual(limited.kvs.map((kv) => kv.keyString), ['r/a', 'r/b']);
    assert.equal(limited.more, true);
    assert.equal(limited.count, 4n);

    const byCreate = await client.get('r/', { prefix: true, sort: { target: 'createRevision', order: 'descend' } });
    assert.deepEqual(byCreate.kvs.map((kv) => kv.keyString), ['r/d', 'r/b', 'r/a', 'r/c']);

    const keysOnly = await client.get('r/', { prefix: true, keysOnly: true });
    assert.deepEqual(keysOnly.kvs.map((kv) => kv.value.length), [0, 0, 0, 0]);

    const countOnly = await client.get('r/', { prefix: true, countOnly: true });
    assert.equal(countOnly.kvs.length, 0);
    assert.equal(countOnly.count, 4n);

    const newerThanSecond = await client.get('r/', { prefix: true, minModRevision: revisions[2]! });
    assert.deepEqual(newerThanSecond.kvs.map((kv) => kv.keyString), ['r/b', 'r/d']);

    const serializable = await client.get('r/a', { serializable: true });
    assert.equal(serializable.kvs[0]?.valueString, 'value of r/a');

    await assert.rejects(client.get('r/', { prefix: true, fromKey: true }), TypeError);
  });

  test('get at an old revision, and typed errors for future and compacted revisions', { timeout }, async () => {
    const client = suite.client();
    const old = await client.put('rev/k', 'old');
    await client.put('rev/k', 'new');
    const atOld = await client.get('rev/k', { revision: old.header.revision });
    assert.equal(atOld.kvs[0]?.valueString, 'old');

    const latest = (await client.get('rev/k')).header.revision;
    await assert.rejects(client.get('rev/k', { revision: latest + 100n }), FutureRevisionError);

    await client.compact(latest);
    await assert.rejects(client.get('rev/k', { revision: old.header.revision }), (error: unknown) => {
      assert.ok(error instanceof CompactedError);
      assert.equal(error.name, 'CompactedError');
      assert.equal(error.message, 'etcdserver: mvcc: required revision has been compacted');
      assert.equal(error.endpoint, suite.server().endpoint);
      assert.ok(error.cause !== undefined, 'the gRPC error is kept as cause');
      return true;
    });
  });

  test('delete a key and a prefix, with prevKv', { timeout }, async () => {
    const client = suite.client();
    await client.put('del/a', '1');
    await client.put('del/b', '2');
    await client.put('del/c', '3');
    const single = await client.delete('del/a', { prevKv: true });
    assert.equal(single.deleted, 1n);
    assert.equal(single.prevKvs[0]?.valueString, '1');
    const rest = await client.delete('del/', { prefix: true });
    assert.equal(rest.deleted, 2n);
    assert.equal(rest.prevKvs.length, 0);
    assert.equal((await client.get('del/', { prefix: true })).count, 0n);
  });

  test('put options: ignoreValue on a missing key is refused with KeyNotFoundError; empty keys with EmptyKeyError', { timeout }, async () => {
    const client = suite.client();
    await assert.rejects(client.put('opt/missing', '', { ignoreValue: true }), KeyNotFoundError);
    await client.put('opt/k', 'kept');
    await client.put('opt/k', '', { ignoreValue: true });
    assert.equal((await client.get('opt/k')).kvs[0]?.valueString, 'kept');
    await assert.rejects(client.put('', 'x'), EmptyKeyError);
  });

  test('txn: every compare target, then and else branches, nested txn', { timeout }, async () => {
    const client = suite.client();
    const created = await client.put('txn/k', 'v1');
    await client.put('txn/k', 'v2');
    const current = (await client.get('txn/k')).kvs[0]!;

    const allHold: TxnResult = await client
      .txn()
      .if(
        Compare.value('txn/k', '=', 'v2'),
        Compare.value('txn/k', '!=', 'v1'),
        Compare.version('txn/k', '=', 2n),
        Compare.createRevision('txn/k', '=', created.header.revision),
        Compare.modRevision('txn/k', '=', current.modRevision),
        Compare.modRevision('txn/k', '>', created.header.revision),
        Compare.lease('txn/k', '=', 0n),
        Compare.version('txn/missing', '<', 1n),
      )
      // Every compare, nested ones too, sees the store as it was before the txn; ops then run in order.
      .then(Op.put('txn/then', 'yes'), Op.get('txn/k'), Op.txn([Compare.version('txn/then', '=', 0n)], [Op.get('txn/then')]))
      .else(Op.put('txn/else', 'no'))
      .commit();
    assert.equal(allHold.succeeded, true);
    assert.deepEqual(allHold.responses.map((response) => response.kind), ['put', 'get', 'txn']);
    const read = allHold.responses[1]!;
    assert.ok(read.kind === 'get');
    assert.equal(read.kvs[0]?.valueString, 'v2');
    const nested = allHold.responses[2]!;
    assert.ok(nested.kind === 'txn' && nested.succeeded);
    const nestedRead = nested.responses[0]!;
    assert.ok(nestedRead.kind === 'get');
    assert.equal(nestedRead.kvs[0]?.valueString, 'yes');

    const oneFails = await client.txn().if(Compare.value('txn/k', '=', 'v2'), Compare.version('txn/k', '>', 5n)).then(Op.put('txn/then2', 'x')).else(Op.delete('txn/then', { prevKv: true })).commit();
    assert.equal(oneFails.succeeded, false);
    const deleted = oneFails.responses[0]!;
    assert.ok(deleted.kind === 'delete');
    assert.equal(deleted.deleted, 1n);
    assert.equal(deleted.prevKvs[0]?.valueString, 'yes');
    assert.equal((await client.get('txn/then2')).count, 0n);

    const rangeCompare = await client.txn().if(Compare.version('txn/', '>', 0n, { prefix: true })).then(Op.get('txn/', { prefix: true, countOnly: true })).commit();
    assert.equal(rangeCompare.succeeded, true);

    await assert.rejects(client.txn().then(Op.put('txn/dup', '1'), Op.put('txn/dup', '2')).commit(), DuplicateKeyError);
  });
});
