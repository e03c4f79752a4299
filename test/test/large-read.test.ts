/**
 * Issue 12, findings 4 and 5, at CI size, against real etcd 3.4 on the same data:
 *
 * - a Range over 60,000 keys of 1 KiB (gRPC, then the JSON gateway): while
 *   it runs, a probe every 250 ms (a new connection: Put + Range with a 1 s
 *   deadline, then GET /health with a 1 s timeout) is answered every time;
 *   the answer is complete and the same as etcd's (count, more, every key
 *   and value and version); with a limit, `more` and `count` as etcd's;
 * - a watch from revision 1 over every key gets every event, in order,
 *   while the same probes are answered.
 *
 * Times, event rates and peak RSS are reported, not asserted. The full size
 * (766,000 keys) is a measurement: test/src/large-read-measure.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { etcdserverpb } from '@holdfast/proto';
import { etcdAvailability, removeDirectory, startEtcd, startHoldfast, type RunningServer } from '../src/support.js';
import { loadKey, loadKeys, loadValue, probeRepeatedly, rangeAll, resetPeakRss, rssMegabytes, summarizeProbes, watchFromRevisionOne } from '../src/large-read.js';

const keyCount = 60_000;
const valueBytes = 1024;
const loaded = { key: Buffer.from('large/'), rangeEnd: Buffer.from('large0') };
const availability = await etcdAvailability();

function hostPort(server: RunningServer): [string, number] {
  const [host, port] = server.endpoint.split(':');
  return [host!, Number(port)];
}

function postJson(server: RunningServer, path: string, body: unknown): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const [host, port] = hostPort(server);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host, port, path, method: 'POST', agent: false, headers: { 'Content-Type': 'application/json' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: Buffer.concat(chunks).toString(), headers: response.headers }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

/** What must be equal between the two servers (revisions differ: concurrent loads commit in different orders). */
function comparable(response: etcdserverpb.RangeResponse) {
  return { count: response.count, more: response.more, kvs: response.kvs.map((kv) => ({ key: kv.key.toString('latin1'), value: kv.value, version: kv.version, lease: kv.lease })) };
}

test(`a ${keyCount}-key range and a watch from revision 1 leave the server answering, with etcd's answers`, { skip: availability.available ? false : availability.reason, timeout: 600_000 }, async (t) => {
  const holdfast = await startHoldfast();
  const etcd = await startEtcd();
  try {
    await loadKeys([holdfast.endpoint, etcd.endpoint], keyCount, valueBytes);
    const answers = new Map<string, etcdserverpb.RangeResponse>();
    for (const server of [holdfast, etcd]) {
      const [host, port] = hostPort(server);
      const pid = server.process.pid!;
      resetPeakRss(pid);
      const probes = probeRepeatedly(host, port);
      const started = performance.now();
      const response = await rangeAll(server.endpoint, loaded);
      const elapsedMs = performance.now() - started;
      const results = await probes.stop();
      const summary = summarizeProbes(results);
      answers.set(server.kind, response);
      t.diagnostic(
        `${server.kind} range: ${response.kvs.length} kvs in ${elapsedMs.toFixed(0)} ms, peak RSS ${rssMegabytes(pid).peakMb.toFixed(0)} MB; ` +
          `${summary.probes} probes, ${summary.failed} failed, worst Put+Range ${summary.worstKvMs.toFixed(0)} ms, worst /health ${summary.worstHealthMs.toFixed(0)} ms`,
      );
      if (server.kind === 'holdfast') {
        assert.ok(summary.probes >= 2, `only ${summary.probes} probe(s) ran during the range`);
        assert.equal(summary.failed, 0, `probes failed during the range: ${summary.firstError}`);
      }
    }
    const fromHoldfast = answers.get('holdfast')!;
    assert.equal(fromHoldfast.count, BigInt(keyCount));
    assert.equal(fromHoldfast.kvs.length, keyCount);
    fromHoldfast.kvs.forEach((kv, i) => {
      assert.deepEqual(kv.key, loadKey(i));
      assert.deepEqual(kv.value, loadValue(i, valueBytes));
    });
    assert.deepEqual(comparable(fromHoldfast), comparable(answers.get('etcd')!));

    // A limit: more and count as etcd's.
    const limited = await Promise.all([holdfast, etcd].map((server) => rangeAll(server.endpoint, { ...loaded, limit: 25_000n })));
    assert.equal(limited[0]!.more, true);
    assert.equal(limited[0]!.kvs.length, 25_000);
    assert.deepEqual(comparable(limited[0]!), comparable(limited[1]!));

    // The JSON gateway: the same answer, streamed, while probes are answered.
    const gateway = new Map<string, { count: string; more?: boolean; kvs: Array<{ key: string; value: string; version: string }> }>();
    for (const server of [holdfast, etcd]) {
      const [host, port] = hostPort(server);
      const probes = probeRepeatedly(host, port);
      const answer = await postJson(server, '/v3/kv/range', { key: loaded.key.toString('base64'), range_end: loaded.rangeEnd.toString('base64') });
      const summary = summarizeProbes(await probes.stop());
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], 'application/json');
      const parsed = JSON.parse(answer.body) as { count: string; more?: boolean; kvs: Array<{ key: string; value: string; version: string; create_revision: string; mod_revision: string }> };
      gateway.set(server.kind, { count: parsed.count, ...(parsed.more === undefined ? {} : { more: parsed.more }), kvs: parsed.kvs.map(({ key, value, version }) => ({ key, value, version })) });
      t.diagnostic(`${server.kind} gateway range: ${answer.body.length} bytes of JSON; ${summary.probes} probes, ${summary.failed} failed, worst Put+Range ${summary.worstKvMs.toFixed(0)} ms`);
      if (server.kind === 'holdfast') assert.equal(summary.failed, 0, `probes failed during the gateway range: ${summary.firstError}`);
    }
    assert.equal(gateway.get('holdfast')!.kvs.length, keyCount);
    assert.deepEqual(gateway.get('holdfast'), gateway.get('etcd'));

    // Watch from revision 1: every event, in order, while probes are answered.
    for (const server of [holdfast, etcd]) {
      const [host, port] = hostPort(server);
      const probes = probeRepeatedly(host, port);
      const result = await watchFromRevisionOne(server.endpoint, keyCount, 120_000);
      const summary = summarizeProbes(await probes.stop());
      t.diagnostic(
        `${server.kind} watch from revision 1: ${result.events} events in ${result.elapsedMs.toFixed(0)} ms (${Math.round(result.events / (result.elapsedMs / 1000))} events/s); ` +
          `${summary.probes} probes, ${summary.failed} failed, worst Put+Range ${summary.worstKvMs.toFixed(0)} ms`,
      );
      assert.ok(result.events >= keyCount, `${server.kind}: ${result.events} of ${keyCount} events`);
      if (server.kind === 'holdfast') assert.equal(summary.failed, 0, `probes failed during the catch-up: ${summary.firstError}`);
    }
  } finally {
    await Promise.all([holdfast.stop(), etcd.stop()]);
    removeDirectory(holdfast.dataDir);
    removeDirectory(etcd.dataDir);
  }
});
