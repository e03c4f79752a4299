/**
 * A txn nested as deep as etcd 3.4 allows (--max-txn-ops + 1 levels with
 * one op each: 128 here, the innermost a put) is accepted, applied, and
 * decoded again from the WAL after a kill -9: the generated decoders' depth
 * must cover everything the request decoder lets in (packages/proto's
 * generate.sh and strict/strict-decode.ts). One level deeper is refused
 * with etcd's "too many operations". The comparison with etcd itself is in
 * the adversarial suite's semantics attack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { removeDirectory, startHoldfast, temporaryDirectory } from '../src/support.js';
import { TestKvClient } from '../src/kv-client.js';
import { nestedTxnBytes } from '../src/adversarial/attacks/semantics.js';

function txnRaw(endpoint: string, body: Buffer): Promise<ServiceError | null> {
  const client = new Client(endpoint, credentials.createInsecure());
  return new Promise<ServiceError | null>((resolve) =>
    client.makeUnaryRequest('/etcdserverpb.KV/Txn', (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, body, new Metadata(), (error: ServiceError | null) => resolve(error)),
  ).finally(() => client.close());
}

test('the deepest txn etcd accepts survives kill -9 and replays from the WAL; one level more is too many operations', { timeout: 60_000 }, async () => {
  const dataDir = temporaryDirectory('nested-txn');
  try {
    const server = await startHoldfast({ dataDir });
    assert.equal(await txnRaw(server.endpoint, nestedTxnBytes(128, 'nested/128')), null, 'a 128-deep txn is accepted');
    const tooDeep = await txnRaw(server.endpoint, nestedTxnBytes(129, 'nested/129'));
    assert.equal(tooDeep?.code, 3);
    assert.equal(tooDeep?.details, 'etcdserver: too many operations in txn request');
    await server.kill();
    const restarted = await startHoldfast({ dataDir });
    const client = new TestKvClient(restarted.endpoint);
    try {
      const got = await client.range({ key: Buffer.from('nested/'), rangeEnd: Buffer.from('nested0') });
      assert.deepEqual(got.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`), ['nested/128=nested']);
    } finally {
      client.close();
      await restarted.stop();
    }
  } finally {
    removeDirectory(dataDir);
  }
});
