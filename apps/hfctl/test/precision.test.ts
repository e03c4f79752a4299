/**
 * 64-bit numbers print exactly. A lease id above 2^53 (0x7fffffffffffffff,
 * granted through the client) is shown by hfctl exactly as etcdctl shows it
 * against Holdfast and etcd; revisions, versions, member ids and raft
 * indexes near 2^63 and 2^64 (no real server reaches them) come from a fake
 * server, and hfctl and etcdctl must print them the same, digit for digit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { Client } from '@holdfast/client';
import { etcdserverpb } from '@holdfast/proto';
import { etcdMissing, run, startServer, type ServerKind } from './support.js';

const maxInt64 = 0x7fffffffffffffffn;
const maxUint64 = 0xffffffffffffffffn;

const missing = await etcdMissing();

/** Runs both tools; their outputs must be equal (after `mask`, for what changes between two calls). */
async function sameOutput(endpoint: string, args: string[], mask: (text: string) => string = (text) => text): Promise<string> {
  const [etcdctl, hfctl] = [await run('etcdctl', ['--endpoints', endpoint, ...args]), await run('hfctl', ['--endpoints', endpoint, ...args])];
  assert.equal(hfctl.exitCode, etcdctl.exitCode, `${args.join(' ')}: exit codes differ\n${hfctl.stderr}`);
  assert.equal(mask(hfctl.stdout), mask(etcdctl.stdout), `${args.join(' ')}: stdout differs`);
  assert.equal(hfctl.stderr, etcdctl.stderr, `${args.join(' ')}: stderr differs`);
  return hfctl.stdout;
}

for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
  test(`lease id 0x7fffffffffffffff prints exactly (${kind})`, { skip: missing ?? false, timeout: 120_000 }, async () => {
    const server = await startServer(kind);
    const client = new Client({ endpoints: [server.endpoint] });
    try {
      await client.lease.grant(300, { id: maxInt64 });
      // A write happens once (its revision would differ between the tools); the reads are compared.
      const put = await run('hfctl', ['--endpoints', server.endpoint, 'put', 'exact', 'v', '--lease', '7fffffffffffffff']);
      assert.equal(`${put.exitCode} ${put.stdout}${put.stderr}`, '0 OK\n');
      assert.match(await sameOutput(server.endpoint, ['get', 'exact', '-w', 'json']), /"lease":9223372036854775807\b/);
      assert.match(await sameOutput(server.endpoint, ['get', 'exact', '-w', 'fields']), /^"Lease" : 9223372036854775807$/m);
      assert.match(await sameOutput(server.endpoint, ['lease', 'list']), /^7fffffffffffffff$/m);
      assert.match(await sameOutput(server.endpoint, ['lease', 'list', '-w', 'json']), /\{"id":9223372036854775807\}/);
      assert.match(await sameOutput(server.endpoint, ['lease', 'list', '-w', 'fields']), /^"ID" : 9223372036854775807$/m);
      // (The seconds left may tick between the two calls.)
      const ttl = await sameOutput(server.endpoint, ['lease', 'timetolive', '7fffffffffffffff', '--keys', '-w', 'json'], (text) => text.replace(/"ttl":\d+/, '"ttl":<ttl>'));
      assert.match(ttl, /"id":9223372036854775807,"ttl":(29\d|300),"granted-ttl":300,/);
      assert.match(await sameOutput(server.endpoint, ['lease', 'keep-alive', '--once', '7fffffffffffffff', '-w', 'json']), /"ID":9223372036854775807,/);
      const revoke = await run('hfctl', ['--endpoints', server.endpoint, 'lease', 'revoke', '7fffffffffffffff']);
      assert.equal(`${revoke.exitCode} ${revoke.stdout}${revoke.stderr}`, '0 lease 7fffffffffffffff revoked\n');
    } finally {
      client.close();
      await server.stop();
    }
  });
}

/** A fake etcd answering Range, MemberList and Status with numbers no real server reaches yet. */
async function startFakeServer(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const header: etcdserverpb.ResponseHeader = { clusterId: maxUint64, memberId: maxUint64 - 1n, revision: maxInt64, raftTerm: 2n ** 53n + 1n };
  const server = new Server();
  server.addService(etcdserverpb.KVService, {
    range: (_call: ServerUnaryCall<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>, callback: sendUnaryData<etcdserverpb.RangeResponse>) =>
      callback(null, {
        header,
        kvs: [{ key: Buffer.from('big'), value: Buffer.from('numbers'), createRevision: 2n ** 53n + 1n, modRevision: maxInt64 - 1n, version: 2n ** 62n + 3n, lease: maxInt64 }],
        more: false,
        count: 2n ** 60n + 7n,
      }),
  });
  server.addService(etcdserverpb.ClusterService, {
    memberList: (_call: ServerUnaryCall<etcdserverpb.MemberListRequest, etcdserverpb.MemberListResponse>, callback: sendUnaryData<etcdserverpb.MemberListResponse>) =>
      callback(null, { header, members: [{ ID: maxUint64, name: 'big', peerURLs: ['http://127.0.0.1:2'], clientURLs: ['http://127.0.0.1:3'], isLearner: false }] }),
  });
  server.addService(etcdserverpb.MaintenanceService, {
    status: (_call: ServerUnaryCall<etcdserverpb.StatusRequest, etcdserverpb.StatusResponse>, callback: sendUnaryData<etcdserverpb.StatusResponse>) =>
      callback(null, {
        header,
        version: '3.4.23',
        dbSize: maxInt64,
        leader: maxUint64 - 1n,
        raftIndex: maxUint64,
        raftTerm: 2n ** 53n + 1n,
        raftAppliedIndex: maxUint64 - 2n,
        errors: [],
        dbSizeInUse: 2n ** 53n + 3n,
        isLearner: false,
      }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
  );
  return { endpoint: `127.0.0.1:${port}`, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

test('revisions, counts, member ids and raft indexes near 2^63 and 2^64 print exactly (fake server)', { skip: missing ?? false, timeout: 120_000 }, async () => {
  const fake = await startFakeServer();
  try {
    for (const format of ['simple', 'json', 'fields', 'protobuf']) await sameOutput(fake.endpoint, ['get', 'big', '-w', format]);
    for (const format of ['simple', 'json', 'fields', 'table', 'protobuf']) await sameOutput(fake.endpoint, ['member', 'list', '-w', format]);
    for (const format of ['simple', 'json', 'fields', 'table']) await sameOutput(fake.endpoint, ['endpoint', 'status', '-w', format]);
    const json = (await run('hfctl', ['--endpoints', fake.endpoint, 'get', 'big', '-w', 'json'])).stdout;
    assert.match(json, /"revision":9223372036854775807,/);
    assert.match(json, /"cluster_id":18446744073709551615,/);
    assert.match(json, /"create_revision":9007199254740993,/);
    assert.match(json, /"version":4611686018427387907,/);
    assert.match(json, /"count":1152921504606846983\}/);
    const status = (await run('hfctl', ['--endpoints', fake.endpoint, 'endpoint', 'status', '-w', 'fields'])).stdout;
    assert.match(status, /^"RaftIndex" : 18446744073709551615$/m);
    const members = (await run('hfctl', ['--endpoints', fake.endpoint, 'member', 'list'])).stdout;
    assert.match(members, /^ffffffffffffffff, started, big,/m);
  } finally {
    await fake.stop();
  }
});
