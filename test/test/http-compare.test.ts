/**
 * The same HTTP requests (what `curl` sends) against real etcd 3.4 and
 * Holdfast on their client ports: same status codes and bodies once ids,
 * raft indexes, versions and sizes are masked (the raft term is compared). JSON syntax errors are compared by
 * status and code only: Go and JavaScript word them differently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAvailability, removeDirectory, startEtcd, startHoldfast, type RunningServer } from '../src/support.js';

interface HttpStep {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  readonly body?: string;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');

const httpSteps: HttpStep[] = [
  { method: 'GET', path: '/health' },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('foo'), value: b64('bar') }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('foo'), value: b64('baz'), prev_kv: true }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('foo2'), value: b64('two'), prevKv: true }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo') }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), range_end: b64('fop') }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), rangeEnd: b64('fop'), limit: 1, sortOrder: 'DESCEND', sortTarget: 'MOD' }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), range_end: b64('fop'), count_only: true }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), revision: '2' }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), revision: '100' }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('missing') }) },
  { method: 'POST', path: '/v3/kv/range', body: '{}' },
  { method: 'POST', path: '/v3/kv/range', body: '{bad json' },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: '', value: b64('x') }) },
  {
    method: 'POST',
    path: '/v3/kv/txn',
    body: JSON.stringify({
      compare: [{ key: b64('foo'), target: 'VALUE', result: 'EQUAL', value: b64('baz') }],
      success: [{ request_put: { key: b64('txn'), value: b64('yes') } }, { requestRange: { key: b64('foo') } }],
      failure: [{ request_put: { key: b64('txn'), value: b64('no') } }],
    }),
  },
  { method: 'POST', path: '/v3/kv/deleterange', body: JSON.stringify({ key: b64('foo'), range_end: b64('fop'), prev_kv: true }) },
  { method: 'POST', path: '/v3/kv/compaction', body: JSON.stringify({ revision: '3' }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), revision: '2' }) },
  { method: 'POST', path: '/v3/kv/compaction', body: JSON.stringify({ revision: '3' }) },
  { method: 'POST', path: '/v3/cluster/member/list', body: '{}' },
  { method: 'POST', path: '/v3/maintenance/status', body: '{}' },
  { method: 'GET', path: '/v3/kv/range' },
  { method: 'GET', path: '/no/such/path' },
];

function normalize(text: string): string {
  return text
    .replace(/"(cluster_id|member_id|leader|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse|ID)":"\d+"/g, '"$1":"<n>"')
    .replace(/"version":"3\.4\.\d+"/g, '"version":"<version>"')
    .replace(/http:\/\/(localhost|127\.0\.0\.1):\d+/g, 'http://<host>')
    .replace(/\{"error":"(?!etcdserver)[^"]*","message":"[^"]*","code":3\}/g, '{"error":"<json error>","message":"<json error>","code":3}');
}

async function runHttp(server: RunningServer): Promise<string[]> {
  const transcript: string[] = [];
  for (const step of httpSteps) {
    const response = await fetch(`http://${server.endpoint}${step.path}`, { method: step.method, body: step.body });
    const body = await response.text();
    transcript.push(`${step.method} ${step.path} ${step.body ?? ''}\n${response.status} ${response.headers.get('content-type')}\n${normalize(body)}`);
  }
  return transcript;
}

const availability = await etcdAvailability();

test('HTTP gateway answers like etcd 3.4 on the same port as gRPC', { skip: availability.available ? false : availability.reason, timeout: 120_000 }, async () => {
  const transcripts: Record<string, string[]> = {};
  for (const start of [startEtcd, startHoldfast]) {
    const server = await start();
    try {
      transcripts[server.kind] = await runHttp(server);
    } finally {
      await server.stop();
      removeDirectory(server.dataDir);
    }
  }
  const etcd = transcripts.etcd!;
  const holdfast = transcripts.holdfast!;
  const differences = etcd.flatMap((expected, i) => (holdfast[i] === expected ? [] : [`--- etcd\n${expected}\n+++ holdfast\n${holdfast[i]}`]));
  assert.deepEqual(differences, [], `${differences.length} of ${etcd.length} requests differ:\n${differences.join('\n')}`);
});
