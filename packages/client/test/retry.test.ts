import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { etcdserverpb, healthpb, v3electionpb, v3lockpb } from '@holdfast/proto';
import { Client, ClientClosedError, Compare, DeadlineExceededError, Op, UnavailableError, retryPolicies } from '../src/index.js';
import { txnOnlyReads } from '../src/retry-policy.js';
import { FakeServer, closedPort, sleep, testClientOptions } from './helpers.js';
import { TestServer, etcdSkipReason, type ServerKind } from './support/index.js';

const timeout = 60_000;

/** A KV server that counts every call and answers each with UNAVAILABLE after receiving it. */
async function unavailableKv(): Promise<{ server: FakeServer; calls: Map<string, number> }> {
  const calls = new Map<string, number>();
  const failAfterReceiving =
    (method: string) =>
    (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
      calls.set(method, (calls.get(method) ?? 0) + 1);
      callback({ code: GrpcStatus.UNAVAILABLE, details: 'fake: the request arrived, then the server went away' });
    };
  const implementation = {
    range: failAfterReceiving('range'),
    put: failAfterReceiving('put'),
    deleteRange: failAfterReceiving('deleteRange'),
    txn: failAfterReceiving('txn'),
    compact: failAfterReceiving('compact'),
  };
  const server = await FakeServer.start([{ definition: etcdserverpb.KVService, implementation }]);
  return { server, calls };
}

describe('retry policy with a server that fails after receiving', () => {
  let fake: Awaited<ReturnType<typeof unavailableKv>>;
  let client: Client;
  const retryAttemptsMax = 3;
  before(async () => {
    fake = await unavailableKv();
    client = new Client({ ...testClientOptions, retryAttemptsMax, endpoints: [fake.server.endpoint] });
  });
  after(() => {
    client.close();
    fake.server.stop();
  });

  test('a Put that reached the server is not sent again', { timeout }, async () => {
    await assert.rejects(client.put('k', 'v'), (error: unknown) => {
      assert.ok(error instanceof UnavailableError, `got ${String(error)}`);
      assert.match(error.message, /the request arrived/);
      return true;
    });
    assert.equal(fake.calls.get('put'), 1);
  });

  test('DeleteRange, Compact and a Txn that writes are not sent again either', { timeout }, async () => {
    await assert.rejects(client.delete('k'), UnavailableError);
    await assert.rejects(client.compact(5n), UnavailableError);
    await assert.rejects(client.txn().if(Compare.version('k', '=', 0n)).then(Op.put('k', 'v')).commit(), UnavailableError);
    assert.equal(fake.calls.get('deleteRange'), 1);
    assert.equal(fake.calls.get('compact'), 1);
    assert.equal(fake.calls.get('txn'), 1);
  });

  test('a Range is retried retryAttemptsMax times, then the error surfaces', { timeout }, async () => {
    await assert.rejects(client.get('k'), UnavailableError);
    assert.equal(fake.calls.get('range'), retryAttemptsMax + 1);
  });

  test('a Txn that only reads is retried like a Range', { timeout }, async () => {
    const before = fake.calls.get('txn') ?? 0;
    await assert.rejects(client.txn().if(Compare.version('k', '=', 0n)).then(Op.get('k')).else(Op.get('j')).commit(), UnavailableError);
    assert.equal((fake.calls.get('txn') ?? 0) - before, retryAttemptsMax + 1);
  });
});

describe('deadlines and cancellation', () => {
  let server: FakeServer;
  let client: Client;
  let received = 0;
  before(async () => {
    // Never answers: only the deadline or the signal can end a call.
    const implementation = {
      range: () => {
        received++;
      },
    };
    server = await FakeServer.start([{ definition: etcdserverpb.KVService, implementation }]);
    client = new Client({ ...testClientOptions, endpoints: [server.endpoint] });
  });
  after(() => {
    client.close();
    server.stop();
  });

  test('a call that gets no answer fails with DeadlineExceededError at its deadline', { timeout }, async () => {
    const startedMs = Date.now();
    await assert.rejects(client.get('k', { timeoutMs: 300 }), DeadlineExceededError);
    const elapsedMs = Date.now() - startedMs;
    assert.ok(elapsedMs >= 290 && elapsedMs < 3_000, `took ${elapsedMs} ms`);
  });

  test('an aborted call rejects with the signal reason', { timeout }, async () => {
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const pending = client.get('k', { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 100);
    await assert.rejects(pending, (error: unknown) => error === reason);
    await assert.rejects(client.get('k', { signal: AbortSignal.abort(reason) }), (error: unknown) => error === reason);
    assert.ok(received >= 1);
  });

  test('calls after close() fail with ClientClosedError, calls in flight too', { timeout }, async () => {
    const other = new Client({ ...testClientOptions, endpoints: [server.endpoint] });
    const inFlight = other.get('k');
    setTimeout(() => other.close(), 100);
    await assert.rejects(inFlight, ClientClosedError);
    await assert.rejects(other.get('k'), ClientClosedError);
  });
});

test('only unreachable endpoints: a Put is tried again and again, then fails with UnavailableError', { timeout }, async () => {
  const client = new Client({ ...testClientOptions, retryAttemptsMax: 2, endpoints: [`127.0.0.1:${await closedPort()}`, `127.0.0.1:${await closedPort()}`] });
  try {
    await assert.rejects(client.put('k', 'v'), (error: unknown) => {
      assert.ok(error instanceof UnavailableError);
      assert.match(error.message, /no endpoint reachable/);
      return true;
    });
  } finally {
    client.close();
  }
});

test('the retry policy table covers every unary method of every service, and no stream', () => {
  const services: Record<string, ServiceDefinition> = {
    kv: etcdserverpb.KVService,
    watch: etcdserverpb.WatchService,
    lease: etcdserverpb.LeaseService,
    cluster: etcdserverpb.ClusterService,
    maintenance: etcdserverpb.MaintenanceService,
    auth: etcdserverpb.AuthService,
    lock: v3lockpb.LockService,
    election: v3electionpb.ElectionService,
    health: healthpb.HealthService,
  };
  for (const definition of Object.values(services)) {
    for (const method of Object.values(definition)) {
      const streaming = method.requestStream || method.responseStream;
      assert.equal(retryPolicies.has(method.path), !streaming, method.path);
    }
  }
  const only = (ops: etcdserverpb.RequestOp[]): etcdserverpb.TxnRequest => ({ compare: [], success: ops, failure: [] });
  const range = { requestRange: etcdserverpb.RangeRequest.fromPartial({}) };
  const put = { requestPut: etcdserverpb.PutRequest.fromPartial({}) };
  assert.equal(txnOnlyReads(only([range, range])), true);
  assert.equal(txnOnlyReads(only([range, put])), false);
  assert.equal(txnOnlyReads(only([range, { requestTxn: only([range]) }])), true);
  assert.equal(txnOnlyReads(only([{ requestTxn: { compare: [], success: [], failure: [put] } }])), false);
});

for (const kind of ['holdfast', 'etcd'] as const satisfies readonly ServerKind[]) {
  describe(`failover [${kind}]`, { skip: kind === 'etcd' ? etcdSkipReason : false }, () => {
    let server: TestServer;
    before(async () => {
      server = await TestServer.start(kind);
    });
    after(async () => {
      await server.stop();
    });

    test('with a closed port first, every kind of call reaches the live endpoint', { timeout }, async () => {
      const client = new Client({ ...testClientOptions, endpoints: [`127.0.0.1:${await closedPort()}`, server.endpoint] });
      try {
        const put = await client.put('failover/k', 'v');
        assert.ok(put.header.revision > 1n);
        assert.equal((await client.get('failover/k')).kvs[0]?.valueString, 'v');
        assert.equal((await client.txn().if(Compare.value('failover/k', '=', 'v')).then(Op.delete('failover/k')).commit()).succeeded, true);
        assert.equal((await client.maintenance.status()).header.memberId !== 0n, true);
        const watch = client.watch('failover/w', { signal: AbortSignal.timeout(20_000) });
        await watch.created;
        await client.put('failover/w', 'seen');
        for await (const batch of watch) {
          assert.equal(batch.events[0]?.kv.valueString, 'seen');
          break;
        }
        const lease = await client.lease.grant(5);
        await lease.close();
      } finally {
        client.close();
      }
    });

    test('a server that answers UNAVAILABLE after receiving a Put: the Put is not re-sent to the next endpoint', { timeout }, async () => {
      const fake = await unavailableKv();
      const client = new Client({ ...testClientOptions, endpoints: [fake.server.endpoint, server.endpoint] });
      try {
        await assert.rejects(client.put('failover/never', 'v'), UnavailableError);
        assert.equal(fake.calls.get('put'), 1);
        assert.equal((await client.get('failover/never')).count, 0n, 'the put did not reach the live server');
      } finally {
        client.close();
        fake.server.stop();
      }
    });

    test('a Range that gets UNAVAILABLE fails over to the next endpoint and succeeds', { timeout }, async () => {
      const fake = await unavailableKv();
      const direct = new Client({ ...testClientOptions, endpoints: [server.endpoint] });
      const client = new Client({ ...testClientOptions, endpoints: [fake.server.endpoint, server.endpoint] });
      try {
        await direct.put('failover/read', 'r');
        assert.equal((await client.get('failover/read')).kvs[0]?.valueString, 'r');
        assert.equal(fake.calls.get('range'), 1, 'tried on the fake first, once');
      } finally {
        direct.close();
        client.close();
        fake.server.stop();
      }
    });

    test('calls made while the only server is down succeed once it is back (reconnect with backoff)', { timeout }, async () => {
      const client = new Client({ ...testClientOptions, endpoints: [server.endpoint] });
      try {
        await client.put('reconnect/k', 'before');
        await server.kill();
        // Issued at once: it may meet the dying connection ("Connection dropped"), which a read survives.
        const read = client.get('reconnect/k');
        // Issued once the client has seen the connection go: refused connections
        // prove the Put was never sent, so it too waits for the server. (A Put
        // written to the dying connection would rightly fail: it might have arrived.)
        const write = sleep(300).then(() => client.put('reconnect/k2', 'while down'));
        const [readOutcome, writeOutcome] = await Promise.allSettled([read, write, sleep(600).then(() => server.restart())]);
        assert.equal(readOutcome.status === 'fulfilled' ? readOutcome.value.kvs[0]?.valueString : readOutcome.reason, 'before');
        assert.equal(writeOutcome.status, 'fulfilled', writeOutcome.status === 'rejected' ? String(writeOutcome.reason) : '');
        assert.equal((await client.get('reconnect/k2')).kvs[0]?.valueString, 'while down');
      } finally {
        client.close();
      }
    });
  });
}

// Keeps the unused-type checker honest about the fake implementations' shape.
export type FakeImplementation = UntypedServiceImplementation;
