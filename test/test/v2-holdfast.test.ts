/**
 * The v2 keys emulation's own guarantees, and where it differs from etcd on
 * purpose (packages/server/README.md, "The v2 keys API"):
 *
 * - atomic: concurrent compare-and-swaps on one index, creates of one key
 *   and in-order POSTs each go through the log as one Txn: one CAS and one
 *   create win, every POST gets its own key, in index order;
 * - visible to v3 clients under /_holdfast/v2/keys, with directory markers
 *   and the event record;
 * - durable: after a restart the keys, their indexes and their TTLs are there,
 *   and a TTL still expires;
 * - stream=true keeps sending events;
 * - a directory TTL changed to another value moves its children to the new
 *   lease (their modifiedIndex changes, they still expire with it);
 * - a value over --max-request-bytes is refused (etcd's v2 store takes it),
 *   and a TTL under the lease minimum is raised to it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdctl, removeDirectory, startHoldfast, type RunningServer } from '../src/support.js';

interface V2Answer {
  readonly status: number;
  readonly index: number;
  readonly body: {
    action?: string;
    errorCode?: number;
    cause?: string;
    node?: { key: string; value?: string; ttl?: number; modifiedIndex: number; createdIndex: number; nodes?: Array<{ key: string; value?: string; modifiedIndex: number; createdIndex: number }> };
  };
}

async function v2(server: RunningServer, method: string, path: string, form?: string): Promise<V2Answer> {
  const response = await fetch(`http://${server.endpoint}${path}`, {
    method,
    ...(form === undefined ? {} : { body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
  });
  return { status: response.status, index: Number(response.headers.get('x-etcd-index')), body: (await response.json()) as V2Answer['body'] };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('v2 keys on Holdfast: atomic writes, the v3 view, durability, streams, documented differences', { timeout: 120_000 }, async () => {
  let server = await startHoldfast({ extraArgs: ['--enable-v2', '--max-request-bytes', String(64 * 1024)] });
  const dataDir = server.dataDir;
  try {
    // ---- compare-and-swap: one winner per index ----
    const base = await v2(server, 'PUT', '/v2/keys/cas', 'value=0');
    const swaps = await Promise.all(Array.from({ length: 20 }, (_, i) => v2(server, 'PUT', `/v2/keys/cas?prevIndex=${base.body.node!.modifiedIndex}`, `value=${i + 1}`)));
    assert.deepEqual(swaps.map((answer) => answer.status).sort(), [200, ...Array(19).fill(412)], 'exactly one CAS succeeds');
    assert.ok(swaps.filter((answer) => answer.status === 412).every((answer) => answer.body.errorCode === 101));

    // ---- create: one winner per key ----
    const creates = await Promise.all(Array.from({ length: 20 }, (_, i) => v2(server, 'PUT', '/v2/keys/once?prevExist=false', `value=${i}`)));
    assert.deepEqual(creates.map((answer) => answer.status).sort(), [201, ...Array(19).fill(412)]);

    // ---- in-order keys: all distinct, named in index order ----
    const posts = await Promise.all(Array.from({ length: 30 }, (_, i) => v2(server, 'POST', '/v2/keys/jobs', `value=job${i}`)));
    assert.ok(posts.every((answer) => answer.status === 201), 'every POST creates');
    const listed = await v2(server, 'GET', '/v2/keys/jobs?sorted=true');
    const jobs = listed.body.node!.nodes!;
    assert.equal(jobs.length, 30);
    for (let i = 1; i < jobs.length; i++) assert.ok(jobs[i]!.createdIndex > jobs[i - 1]!.createdIndex, 'names sort as their indexes');

    // ---- the v3 view ----
    await v2(server, 'PUT', '/v2/keys/dir/leaf', 'value=green');
    const v3 = await etcdctl(server.endpoint, ['get', '--prefix', '/_holdfast/v2/keys/dir']);
    assert.equal(v3.stdout, '/_holdfast/v2/keys/dir/\n\n/_holdfast/v2/keys/dir/leaf\ngreen\n', 'a marker for the directory, the value under the file');
    const record = await etcdctl(server.endpoint, ['get', '/_holdfast/v2/event', '--print-value-only']);
    assert.deepEqual(JSON.parse(record.stdout), { action: 'set', key: '/dir/leaf' });

    // ---- stream=true: one event per write, the stream stays open ----
    const abort = new AbortController();
    const stream = await fetch(`http://${server.endpoint}/v2/keys/streamed?wait=true&stream=true`, { signal: abort.signal });
    const reader = stream.body!.getReader();
    for (const value of ['a', 'b', 'c']) await v2(server, 'PUT', '/v2/keys/streamed', `value=${value}`);
    let received = '';
    while (received.split('\n').length < 4) received += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    assert.deepEqual(received.trim().split('\n').map((line) => (JSON.parse(line) as V2Answer['body']).node!.value), ['a', 'b', 'c']);

    // ---- a directory's TTL changed to another value ----
    await v2(server, 'PUT', '/v2/keys/tdir?dir=true&ttl=30');
    const child = await v2(server, 'PUT', '/v2/keys/tdir/child', 'value=c');
    await v2(server, 'PUT', '/v2/keys/tdir?dir=true&ttl=3&prevExist=true');
    const moved = await v2(server, 'GET', '/v2/keys/tdir/child');
    assert.equal(moved.body.node!.createdIndex, child.body.node!.createdIndex);
    assert.ok(moved.body.node!.modifiedIndex > child.body.node!.modifiedIndex, 'the child was written again with the new lease');
    assert.equal(moved.body.node!.ttl, undefined, 'the child still has no TTL of its own');

    // ---- differences: values over --max-request-bytes; TTLs under the lease minimum ----
    const large = await v2(server, 'PUT', '/v2/keys/large', `value=${'x'.repeat(70 * 1024)}`);
    assert.equal(large.status, 500);
    assert.deepEqual(large.body, { errorCode: 300, message: 'Raft Internal Error', cause: 'etcdserver: request is too large', index: 0 });
    const short = await v2(server, 'PUT', '/v2/keys/short', 'value=s&ttl=1');
    assert.equal(short.body.node!.ttl, 2, 'a 1 s TTL is a lease of the 2 s minimum');

    // ---- durability: restart with a TTL pending ----
    const ttlKey = await v2(server, 'PUT', '/v2/keys/survivor', 'value=s&ttl=4');
    const before = await v2(server, 'GET', '/v2/keys/?recursive=true&sorted=true');
    await server.stop();
    server = await startHoldfast({ dataDir, extraArgs: ['--enable-v2'] });
    const after = await v2(server, 'GET', '/v2/keys/?recursive=true&sorted=true');
    const withoutTtls = (answer: V2Answer): string => JSON.stringify(answer.body).replace(/"expiration":"[^"]+",("ttl":\d+,)?/g, '');
    assert.equal(withoutTtls(after), withoutTtls(before), 'every node and index is back');
    assert.equal(after.index, before.index);
    const survivor = await v2(server, 'GET', '/v2/keys/survivor');
    assert.equal(survivor.body.node!.modifiedIndex, ttlKey.body.node!.modifiedIndex);
    assert.ok((survivor.body.node!.ttl ?? 0) > 0, 'the TTL is still there');
    // The directory whose TTL was changed to 3 s went with its child (etcd restarts give leases a full TTL plus an election timeout).
    await sleep(6_000);
    assert.equal((await v2(server, 'GET', '/v2/keys/survivor')).body.errorCode, 100, 'the TTL expired after the restart');
    assert.equal((await v2(server, 'GET', '/v2/keys/tdir/child')).body.errorCode, 100, 'the child expired with its directory');
  } finally {
    await server.stop();
    removeDirectory(dataDir);
  }
});
