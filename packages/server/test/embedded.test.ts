/** startEmbedded(): a real server in this process, reachable over gRPC, cleaned up on stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { credentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { startEmbedded } from '../src/index.js';

test('startEmbedded serves the etcd API on a free loopback port and removes its data on stop', async () => {
  const embedded = await startEmbedded();
  const client = new etcdserverpb.KVClient(embedded.endpoints[0]!, credentials.createInsecure());
  try {
    assert.match(embedded.endpoints[0]!, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(embedded.endpoints[0], '127.0.0.1:0');
    const put = await new Promise<etcdserverpb.PutResponse>((resolve, reject) =>
      client.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') }), (error, response) => (error ? reject(error) : resolve(response))),
    );
    assert.equal(put.header?.revision, 2n);
    assert.ok(existsSync(embedded.dataDir));
  } finally {
    client.close();
    await embedded.stop();
  }
  assert.ok(!existsSync(embedded.dataDir), 'temporary data directory removed');
});
