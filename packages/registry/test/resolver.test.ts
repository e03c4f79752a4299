/**
 * The grpc-js resolver against Holdfast and etcd: two tiny gRPC servers
 * registered in the registry, a client channel on `etcd:///<service>` whose
 * calls spread over both (round_robin), then only over the one left once the
 * other deregisters (while it still runs), and again over both when it comes
 * back; a service without instances fails UNAVAILABLE with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Registry, defaultAuthority, instancesToEndpoints, registerEtcdResolver, targetService, type Instance } from '../src/index.js';
import { forEachServer, uniqueService, waitUntil } from './helpers.js';

const timeout = 60_000;
const method = '/holdfast.test.Who/Name';
const serialize = (value: string): Buffer => Buffer.from(value, 'utf8');
const deserialize = (bytes: Buffer): string => bytes.toString('utf8');

const whoDefinition: grpc.ServiceDefinition = {
  Name: {
    path: method,
    requestStream: false,
    responseStream: false,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
    originalName: 'name',
  },
};

/** A gRPC server on 127.0.0.1 answering Who/Name with its own name. */
async function startWhoServer(name: string): Promise<{ server: grpc.Server; address: string; calls: () => number }> {
  const server = new grpc.Server();
  let calls = 0;
  server.addService(whoDefinition, {
    Name: (_call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) => {
      calls++;
      callback(null, name);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
  );
  return { server, address: `127.0.0.1:${port}`, calls: () => calls };
}

function callWho(client: grpc.Client, options: { deadlineMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(method, serialize, deserialize, 'who', { deadline: Date.now() + (options.deadlineMs ?? 5_000) }, (error, value) =>
      error === null && value !== undefined ? resolve(value) : reject(error ?? new Error('no response')),
    ),
  );
}

async function callMany(client: grpc.Client, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push(await callWho(client));
  return names;
}

const tally = (names: readonly string[]): Record<string, number> => names.reduce<Record<string, number>>((counts, name) => ({ ...counts, [name]: (counts[name] ?? 0) + 1 }), {});

test('targets and addresses', () => {
  assert.equal(targetService({ scheme: 'etcd', authority: '', path: 'svc' }), 'svc');
  assert.equal(targetService({ scheme: 'etcd', path: '/a/b' }), 'a/b');
  assert.equal(defaultAuthority({ scheme: 'etcd', authority: '', path: 'team/echo_v2' }), 'team-echo-v2');
  assert.equal(defaultAuthority({ scheme: 'etcd', authority: 'echo.internal', path: 'team/echo' }), 'echo.internal');
  const instance = (address: string): Instance => ({ service: 's', id: address, key: `s/${address}`, address, metadata: null, leaseId: 0n, revision: 1n, createRevision: 1n });
  assert.deepEqual(instancesToEndpoints([instance('127.0.0.1:1'), instance('127.0.0.1:1'), instance('[::1]:2'), instance('unix:/tmp/s.sock'), instance('no-port')]), [
    { addresses: [{ host: '127.0.0.1', port: 1 }] },
    { addresses: [{ host: '::1', port: 2 }] },
    { addresses: [{ path: '/tmp/s.sock' }] },
  ]);
});

forEachServer('grpc-js resolver etcd:///', (suite) => {
  test('calls spread over the registered instances and follow deregistration', { timeout }, async () => {
    registerEtcdResolver(suite.client());
    const service = uniqueService('grpc');
    const registry = new Registry(suite.client(), { ttlSeconds: 5 });
    const alpha = await startWhoServer('alpha');
    const beta = await startWhoServer('beta');
    const channel = new grpc.Client(`etcd:///${service}`, grpc.credentials.createInsecure());
    try {
      await registry.register(service, { address: alpha.address });
      const betaRegistration = await registry.register(service, { address: beta.address });

      // Until both subchannels are ready the first may take every call; then strict alternation.
      const warmup: string[] = [];
      await waitUntil(async () => {
        warmup.push(await callWho(channel));
        return warmup.includes('alpha') && warmup.includes('beta');
      }, 10_000, 'calls to reach both servers');
      const spread = tally(await callMany(channel, 20));
      assert.deepEqual(spread, { alpha: 10, beta: 10 }, 'round_robin over both instances');

      // beta deregisters but keeps serving: calls must stop going there because of the registry alone.
      await betaRegistration.close();
      const betaCallsAtDeregistration = beta.calls();
      const recent: string[] = [];
      await waitUntil(async () => {
        recent.push(await callWho(channel));
        return recent.slice(-10).length === 10 && recent.slice(-10).every((name) => name === 'alpha');
      }, 10_000, 'calls to go to alpha only');
      assert.deepEqual(tally(await callMany(channel, 20)), { alpha: 20 });
      assert.ok(beta.calls() - betaCallsAtDeregistration <= 2, 'at most the calls already picked went to beta');

      // beta registers again: both again.
      await registry.register(service, { address: beta.address });
      const back: string[] = [];
      await waitUntil(async () => {
        back.push(await callWho(channel));
        return back.includes('beta');
      }, 10_000, 'beta to be used again');
      assert.deepEqual(tally(await callMany(channel, 20)), { alpha: 10, beta: 10 });
    } finally {
      channel.close();
      alpha.server.forceShutdown();
      beta.server.forceShutdown();
      await registry.close();
    }
  });

  test('a service with no instances fails UNAVAILABLE, saying so; an instance registered later is used', { timeout }, async () => {
    registerEtcdResolver(suite.client());
    const service = uniqueService('empty');
    const registry = new Registry(suite.client(), { ttlSeconds: 5 });
    const gamma = await startWhoServer('gamma');
    const channel = new grpc.Client(`etcd:///${service}`, grpc.credentials.createInsecure());
    try {
      await assert.rejects(callWho(channel, { deadlineMs: 3_000 }), (error: grpc.ServiceError) => {
        assert.equal(error.code, grpc.status.UNAVAILABLE);
        assert.match(error.details, /no instances of ".*" are registered/);
        return true;
      });
      await registry.register(service, { address: gamma.address });
      let answer: string | undefined;
      await waitUntil(async () => {
        answer = await callWho(channel, { deadlineMs: 1_000 }).catch(() => undefined);
        return answer !== undefined;
      }, 15_000, 'the channel to use the new instance');
      assert.equal(answer, 'gamma');
    } finally {
      channel.close();
      gamma.server.forceShutdown();
      await registry.close();
    }
  });

  test('a channel that sets its own service config (pick_first) keeps it', { timeout }, async () => {
    registerEtcdResolver(suite.client());
    const service = uniqueService('pick-first');
    const registry = new Registry(suite.client(), { ttlSeconds: 5 });
    const one = await startWhoServer('one');
    const two = await startWhoServer('two');
    const channel = new grpc.Client(`etcd:///${service}`, grpc.credentials.createInsecure(), {
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ pick_first: {} }], methodConfig: [] }),
    });
    try {
      await registry.register(service, { address: one.address });
      await registry.register(service, { address: two.address });
      const names = await callMany(channel, 20);
      assert.equal(Object.keys(tally(names)).length, 1, `pick_first uses one instance, got ${JSON.stringify(tally(names))}`);
    } finally {
      channel.close();
      one.server.forceShutdown();
      two.server.forceShutdown();
      await registry.close();
    }
  });
});
