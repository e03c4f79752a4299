// End to end over loopback with @grpc/grpc-js: the generated service
// definitions and client classes work together, and 64-bit values survive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials, credentials, status, type ServiceError } from '@grpc/grpc-js';

import { etcdserverpb } from '../src/index.js';

const header = { clusterId: 18446744073709551615n, memberId: 1n, revision: 9n, raftTerm: 2n };

const kv: etcdserverpb.KVServer = {
  range(call, callback) {
    const key = call.request.key;
    callback(
      null,
      etcdserverpb.RangeResponse.fromPartial({
        header,
        kvs: [{ key, value: Buffer.from('v'), modRevision: 9n, createRevision: 9n, version: 1n }],
        count: 1n,
      }),
    );
  },
  put(_call, callback) {
    callback({ code: status.UNIMPLEMENTED, details: 'not in this test' }, null);
  },
  deleteRange(_call, callback) {
    callback({ code: status.UNIMPLEMENTED }, null);
  },
  txn(_call, callback) {
    callback({ code: status.UNIMPLEMENTED }, null);
  },
  compact(_call, callback) {
    callback({ code: status.UNIMPLEMENTED }, null);
  },
};

const watch: etcdserverpb.WatchServer = {
  watch(call) {
    let next = 1n;
    call.on('data', (req: etcdserverpb.WatchRequest) => {
      if (req.createRequest) {
        call.write(etcdserverpb.WatchResponse.fromPartial({ header, watchId: next++, created: true }));
      }
    });
    call.on('end', () => call.end());
  },
};

async function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });
}

test('grpc: unary Range and bidi Watch over loopback', async () => {
  const server = new Server();
  server.addService(etcdserverpb.KVService, kv);
  server.addService(etcdserverpb.WatchService, watch);
  const port = await listen(server);
  const addr = `127.0.0.1:${port}`;
  const kvClient = new etcdserverpb.KVClient(addr, credentials.createInsecure());
  const watchClient = new etcdserverpb.WatchClient(addr, credentials.createInsecure());
  try {
    const resp = await new Promise<etcdserverpb.RangeResponse>((resolve, reject) =>
      kvClient.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('k') }), (err, r) =>
        err ? reject(err) : resolve(r),
      ),
    );
    assert.equal(resp.header?.clusterId, 18446744073709551615n);
    assert.equal(resp.kvs[0]?.key.toString(), 'k');
    assert.equal(resp.count, 1n);

    const err = await new Promise<ServiceError>((resolve) =>
      kvClient.put(etcdserverpb.PutRequest.fromPartial({}), (e) => resolve(e as ServiceError)),
    );
    assert.equal(err.code, status.UNIMPLEMENTED);

    const stream = watchClient.watch();
    const got: etcdserverpb.WatchResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (r: etcdserverpb.WatchResponse) => {
        got.push(r);
        if (got.length === 2) stream.end();
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from('a') } }));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from('b') } }));
    await done;
    assert.deepEqual(
      got.map((r) => [r.watchId, r.created]),
      [
        [1n, true],
        [2n, true],
      ],
    );
  } finally {
    kvClient.close();
    watchClient.close();
    server.forceShutdown();
  }
});
