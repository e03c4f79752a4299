/**
 * Every workload, briefly, against a fresh Holdfast and a fresh real etcd:
 * operations complete, counts add up (puts advance the revision by exactly
 * their number, watch events = puts x watchers per key, stm loses no
 * update), and percentiles are monotone. A server that lacks a service
 * yields a failed result naming UNIMPLEMENTED, not a crash.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { Connection, range } from '../src/connection.js';
import { resolveOptions, type WorkloadName, type WorkloadOptions } from '../src/options.js';
import type { BenchResult } from '../src/result.js';
import { runWorkload } from '../src/run-workload.js';
import { commandAvailable, defaultHoldfastBin, planLaunch, spawnServer, waitUntilServing, type RunningServer, type ServerKind } from '../src/servers.js';
import { rangeRequest } from '../src/workloads/kv.js';

const benchBin = fileURLToPath(new URL('../../bin/holdfast-bench.js', import.meta.url));

/** Runs the command line without blocking this process (which may host the server being called). */
function runCli(args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [benchBin, ...args], { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
    ),
  );
}

function assertMonotone(result: BenchResult): void {
  for (const summary of [result.latencyMs, ...Object.values(result.seriesLatencyMs)]) {
    const chain = [summary.minMs, summary.p50Ms, summary.p90Ms, summary.p99Ms, summary.p999Ms, summary.maxMs];
    for (let i = 1; i < chain.length; i++) assert.ok(chain[i - 1]! <= chain[i]!, `${result.label}: percentiles not monotone: ${chain.join(' ')}`);
  }
}

function assertClean(result: BenchResult): void {
  assert.ok(result.ok, `${result.label} failed: ${result.failure ?? ''}`);
  assert.equal(result.errorCount, 0, `${result.label} errors: ${JSON.stringify(result.errors)}`);
  assert.ok(result.opsPerSecond > 0);
  assertMonotone(result);
  assert.ok(result.generator.workers.length >= 1);
  assert.ok(result.generator.processCpuSeconds > 0);
}

function revisionDelta(result: BenchResult): number {
  assert.ok(result.serverRevisionBefore !== undefined && result.serverRevisionAfter !== undefined, 'revisions read');
  return result.serverRevisionAfter - result.serverRevisionBefore;
}

/** The sum of the stm counters (first 8 bytes, uint64 LE) of every key under prefix. */
async function stmCounterSum(endpoint: string, prefix: string): Promise<number> {
  const connection = new Connection(-1, endpoint);
  try {
    const end = Buffer.from(prefix);
    end[end.length - 1] = end[end.length - 1]! + 1;
    const response = await range(connection, rangeRequest(Buffer.from(prefix), { rangeEnd: end, serializable: false }), 10_000);
    return response.kvs.reduce((sum, kv) => sum + Number(kv.value.readBigUInt64LE(0)), 0);
  } finally {
    connection.close();
  }
}

function options(workload: WorkloadName, endpoint: string, given: Partial<WorkloadOptions>): WorkloadOptions {
  return resolveOptions(workload, { endpoints: [endpoint], quiet: true, valueSizeBytes: 64, requestTimeoutMs: 10_000, ...given });
}

/** The KV workloads, with counts that must add up; run against both servers. */
async function kvWorkloads(endpoint: string): Promise<void> {
  const put = await runWorkload(options('put', endpoint, { total: 200, conns: 2, clients: 6, keySpace: 50, workers: 2 }));
  assertClean(put);
  assert.equal(put.operations, 200);
  assert.equal(put.generator.workers.length, 2);
  assert.equal(put.generator.workers.reduce((sum, worker) => sum + worker.clients, 0), 6);
  assert.equal(put.latencyMs.count, 200);
  assert.equal(revisionDelta(put), 200, 'each put is one revision');

  for (const consistency of ['l', 's'] as const) {
    const read = await runWorkload(options('range', endpoint, { total: 150, conns: 1, clients: 3, consistency }));
    assertClean(read);
    assert.equal(read.operations, 150);
    assert.equal(revisionDelta(read), 0, 'reads do not write');
  }

  const txnPut = await runWorkload(options('txn-put', endpoint, { total: 100, conns: 2, clients: 4, txnOps: 3, keySpace: 1000, txnCompare: true, sequentialKeys: true }));
  assertClean(txnPut);
  assert.equal(txnPut.operations, 100);
  assert.equal(revisionDelta(txnPut), 100, 'a txn of puts is one revision');

  const mixed = await runWorkload(options('txn-mixed', endpoint, { total: 200, conns: 2, clients: 4, keySpace: 100 }));
  assertClean(mixed);
  const reads = mixed.seriesLatencyMs.read?.count ?? 0;
  const writes = mixed.seriesLatencyMs.write?.count ?? 0;
  assert.equal(reads + writes, 200);
  assert.ok(reads > 0 && writes > 0, `both kinds ran: ${reads} reads, ${writes} writes`);
  assert.equal(revisionDelta(mixed), writes);

  const prefix = `stm-${Date.now()}/`;
  const stm = await runWorkload(options('stm', endpoint, { total: 100, conns: 2, clients: 8, stmKeys: 5, stmKeysPerTxn: 2, stmWritePercent: 50, keyPrefix: prefix }));
  assertClean(stm);
  assert.equal(stm.operations, 100);
  assert.equal(stm.counters.stmWrites, 100, 'one write per transaction');
  assert.equal(revisionDelta(stm), 100, 'conflicting commits write nothing');
  assert.equal(await stmCounterSum(endpoint, prefix), 100, 'no update lost');
}

async function watchAndLeaseWorkloads(endpoint: string): Promise<void> {
  const watch = await runWorkload(options('watch', endpoint, { total: 120, conns: 2, clients: 3, streams: 4, watchersPerStream: 5, watchedKeys: 4 }));
  assertClean(watch);
  // 20 watchers on 4 keys = 5 per key; every put reaches 5 watchers.
  assert.equal(watch.counters.puts, 120);
  assert.equal(watch.counters.eventsDelivered, 600);
  assert.equal(watch.operations, 600);
  assert.equal(watch.latencyMs.count, 600);
  assert.equal(watch.seriesLatencyMs.put?.count, 120);
  assert.equal(revisionDelta(watch), 120);

  const latency = await runWorkload(options('watch-latency', endpoint, { total: 20, rateOpsPerSecond: 200, streams: 3 }));
  assertClean(latency);
  assert.equal(latency.operations, 60);
  assert.ok(latency.elapsedSeconds >= 19 / 200, 'paced at --put-rate');

  const keepalive = await runWorkload(options('lease-keepalive', endpoint, { total: 300, conns: 2, clients: 10 }));
  assertClean(keepalive);
  assert.equal(keepalive.operations, 300);

  const grant = await runWorkload(options('lease-grant', endpoint, { total: 50, conns: 1, clients: 5 }));
  assertClean(grant);
  assert.equal(grant.operations, 50);
  assert.equal(grant.seriesLatencyMs.grant?.count, 50);
  assert.equal(grant.seriesLatencyMs.revoke?.count, 50);
}

async function startServer(kind: ServerKind, root: string): Promise<RunningServer> {
  const server = spawnServer(await planLaunch(kind, join(root, kind)), { holdfastBin: defaultHoldfastBin, etcdBin: 'etcd' });
  try {
    await waitUntilServing(server);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

describe('against Holdfast', { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'holdfast-bench-test-'));
  let server: RunningServer;
  before(async () => {
    server = await startServer('holdfast', root);
  });
  after(async () => {
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('KV workloads: counts add up', async () => {
    await kvWorkloads(server.endpoint);
  });

  test('watch and lease workloads: results or a clean UNIMPLEMENTED row', async () => {
    for (const workload of ['watch', 'lease-keepalive', 'lease-grant'] as const) {
      const result = await runWorkload(options(workload, server.endpoint, { total: 40, conns: 1, clients: 2, streams: 2, watchersPerStream: 2, watchedKeys: 2 }));
      if (result.ok) {
        assertClean(result);
        // watch: 4 watchers on 2 keys, 2 per key.
        assert.equal(result.operations, workload === 'watch' ? 80 : 40);
      } else assert.match(result.failure ?? '', /UNIMPLEMENTED/, `${workload} failed otherwise: ${result.failure ?? ''}`);
    }
  });

  test('the grpc-js transport counts the same', async () => {
    const put = await runWorkload(options('put', server.endpoint, { total: 100, conns: 2, clients: 4, transport: 'grpc-js' }));
    assertClean(put);
    assert.equal(revisionDelta(put), 100);
    const keepalive = await runWorkload(options('lease-keepalive', server.endpoint, { total: 40, conns: 1, clients: 2, transport: 'grpc-js' }));
    if (keepalive.ok) assert.equal(keepalive.operations, 40);
    else assert.match(keepalive.failure ?? '', /UNIMPLEMENTED/);
  });

  test('the command line prints a JSON result', async () => {
    const run = await runCli(['put', '--endpoints', server.endpoint, '--total', '30', '--clients', '3', '--val-size', '16', '--json']);
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as BenchResult;
    assert.equal(result.workload, 'put');
    assert.equal(result.operations, 30);
    assert.equal(run.stderr, '', 'no progress bar when stderr is not a terminal');
  });
});

describe('against a server without the services', { timeout: 30_000 }, () => {
  let grpcServer: Server;
  let endpoint: string;
  before(async () => {
    // A gRPC server with no service at all answers every call UNIMPLEMENTED.
    grpcServer = new Server();
    const port = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
    endpoint = `127.0.0.1:${port}`;
  });
  after(() => {
    grpcServer.forceShutdown();
  });

  for (const workload of ['put', 'watch', 'lease-keepalive', 'lease-grant', 'stm'] as const) {
    test(`${workload} reports UNIMPLEMENTED as a failed result`, async () => {
      const result = await runWorkload(options(workload, endpoint, { total: 1000, conns: 2, clients: 4, streams: 2, watchersPerStream: 2, watchedKeys: 2 }));
      assert.equal(result.ok, false);
      assert.match(result.failure ?? '', /^UNIMPLEMENTED/);
      // The run stops at once instead of failing all 1,000 operations.
      assert.ok(result.errorCount < 1000, `${result.errorCount} errors`);
    });
  }

  test('the command line exits 1 with the error in its report', async () => {
    const run = await runCli(['lease-keepalive', '--endpoints', endpoint, '--total', '10']);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stdout, /FAILED: UNIMPLEMENTED/);
  });
});

describe('against real etcd', { timeout: 60_000 }, async () => {
  const available = await commandAvailable('etcd');
  const root = mkdtempSync(join(tmpdir(), 'holdfast-bench-etcd-test-'));
  let server: RunningServer | undefined;
  before(async () => {
    if (available) server = await startServer('etcd', root);
  });
  after(async () => {
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('KV workloads: counts add up', { skip: available ? false : 'etcd is not installed' }, async () => {
    await kvWorkloads(server!.endpoint);
  });

  test('watch and lease workloads: counts add up', { skip: available ? false : 'etcd is not installed' }, async () => {
    await watchAndLeaseWorkloads(server!.endpoint);
  });
});

describe('noop-server', () => {
  for (const kind of ['grpc-js', 'http2'] as const) {
    test(`${kind}: answers put, range, txn and status, and reports its calls and CPU per call`, async () => {
      const output: string[] = [];
      const { startNoopServer } = await import('../src/noop-server.js');
      const { freePort } = await import('../src/servers.js');
      const port = await freePort();
      const stop = await startNoopServer(kind, port, { stdout: (text) => output.push(text), stderr: (text) => output.push(text) });
      try {
        const endpoint = `127.0.0.1:${port}`;
        for (const workload of ['put', 'range', 'txn-put'] as const) {
          const result = await runWorkload(options(workload, endpoint, { total: 100, conns: 2, clients: 4, workers: 1 }));
          assertClean(result);
          assert.equal(result.operations, 100);
        }
        if (kind === 'grpc-js') {
          // 4 streams x 3 watchers on 3 keys: each of the 60 puts reaches 4 watchers.
          const watch = await runWorkload(options('watch', endpoint, { total: 60, conns: 2, clients: 2, streams: 4, watchersPerStream: 3, watchedKeys: 3, workers: 1 }));
          assertClean(watch);
          assert.equal(watch.operations, 240);
        }
      } finally {
        await stop();
      }
      const summary = output.join('');
      assert.match(summary, new RegExp(`noop-server \\(${kind}\\) listening on 127\\.0\\.0\\.1:${port}`));
      // 300 workload calls, plus the status and range calls each run makes around them.
      const calls = Number(/(\d+) calls answered/.exec(summary)?.[1]);
      assert.ok(calls >= 300, summary);
      assert.match(summary, /µs per call/);
      if (kind === 'grpc-js') assert.match(summary, /240 watch events sent/);
    });
  }
});
