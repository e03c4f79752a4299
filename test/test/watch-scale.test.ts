/**
 * Watchers at scale, and a client that stops reading:
 * - 100,000 watchers in total, 10,000 of them on one stream, all streams on
 *   one connection: every watcher is created, each write reaches exactly the
 *   watchers of its key, and the server's resident memory is reported;
 * - a stream that never reads while 80 MB of values are written: writers
 *   keep going, the server's memory stays bounded (its queue is bounded and
 *   the watcher falls back to reading history), and once the client reads
 *   again it gets every event, in order, exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb, prefixRangeEnd } from '@holdfast/proto';
import { removeDirectory, startHoldfast, type RunningServer } from '../src/support.js';
import { TestKvClient } from '../src/kv-client.js';

const streamCount = 10;
const watchersPerStream = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function residentMegabytes(server: RunningServer): number {
  const status = readFileSync(`/proc/${server.process.pid}/status`, 'utf8');
  const kilobytes = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kilobytes / 1024;
}

type WatchCall = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

test(`${streamCount * watchersPerStream} watchers (${watchersPerStream} on one stream): all served, memory reported`, { timeout: 180_000 }, async (t) => {
  const server = await startHoldfast();
  const client = new etcdserverpb.WatchClient(server.endpoint, credentials.createInsecure());
  const kv = new TestKvClient(server.endpoint);
  const calls: WatchCall[] = [];
  try {
    await kv.put('warm-up', 'x');
    const baselineMegabytes = residentMegabytes(server);
    let created = 0;
    /** key -> events received for it */
    const received = new Map<string, number>();
    for (let stream = 0; stream < streamCount; stream++) {
      const call = client.watch();
      calls.push(call);
      call.on('data', (response: etcdserverpb.WatchResponse) => {
        if (response.created) created++;
        for (const event of response.events) {
          const key = event.kv!.key.toString();
          received.set(key, (received.get(key) ?? 0) + 1);
        }
      });
      call.on('error', () => {});
      for (let i = 0; i < watchersPerStream; i++) {
        call.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: Buffer.from(`w/${stream}/${i}`) }) });
      }
    }
    const deadline = Date.now() + 120_000;
    while (created < streamCount * watchersPerStream && Date.now() < deadline) await sleep(100);
    assert.equal(created, streamCount * watchersPerStream);
    const withWatchersMegabytes = residentMegabytes(server);
    // One write per stream to a watched key, and one to a key nobody watches.
    const written: string[] = [];
    for (let stream = 0; stream < streamCount; stream++) {
      const key = `w/${stream}/${(stream * 997) % watchersPerStream}`;
      written.push(key);
      await kv.put(key, 'v');
    }
    await kv.put('w/unwatched', 'v');
    while (received.size < written.length && Date.now() < deadline) await sleep(50);
    await sleep(200);
    assert.deepEqual([...received.keys()].sort(), [...written].sort());
    assert.ok([...received.values()].every((count) => count === 1));
    const perWatcherBytes = ((withWatchersMegabytes - baselineMegabytes) * 1024 * 1024) / (streamCount * watchersPerStream);
    t.diagnostic(`RSS: ${baselineMegabytes.toFixed(0)} MB idle, ${withWatchersMegabytes.toFixed(0)} MB with ${created} watchers (${perWatcherBytes.toFixed(0)} bytes per watcher)`);
    // Bounded: a watcher costs a few hundred bytes; 4 KB each would be a leak.
    assert.ok(perWatcherBytes < 4096, `${perWatcherBytes} bytes per watcher`);
  } finally {
    for (const call of calls) call.cancel();
    client.close();
    kv.close();
    await server.stop();
    removeDirectory(server.dataDir);
  }
});

test('a stream that stops reading neither blocks writers nor grows the server; it catches up from history', { timeout: 180_000 }, async (t) => {
  const server = await startHoldfast();
  const client = new etcdserverpb.WatchClient(server.endpoint, credentials.createInsecure());
  const kv = new TestKvClient(server.endpoint);
  const valueBytes = 16 * 1024;
  const writesPerPhase = 5_000;
  const value = Buffer.alloc(valueBytes, 'v');
  /** Writes a phase's worth under `prefix`; returns how much the server's RSS grew and the last revision. */
  const writePhase = async (prefix: string) => {
    const before = residentMegabytes(server);
    let peak = before;
    let lastRevision = 0;
    for (let i = 0; i < writesPerPhase; i += 50) {
      const responses = await Promise.all(Array.from({ length: 50 }, (_, j) => kv.put(`${prefix}${(i + j) % 300}`, value)));
      lastRevision = Math.max(lastRevision, ...responses.map((response) => Number(response.header!.revision)));
      peak = Math.max(peak, residentMegabytes(server));
    }
    return { grewMegabytes: peak - before, lastRevision };
  };
  try {
    // Warm-up, then a control: the same writes with nobody watching (the
    // backend's memory map and the heap grow by themselves).
    await writePhase('warm-up/');
    const control = await writePhase('control/');
    const call = client.watch();
    const revisions: number[] = [];
    call.on('data', (response: etcdserverpb.WatchResponse) => {
      for (const event of response.events) revisions.push(Number(event.kv!.modRevision));
    });
    let streamError: Error | undefined;
    call.on('error', (error: Error) => (streamError = error));
    call.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: Buffer.from('big/'), rangeEnd: Buffer.from(prefixRangeEnd(Buffer.from('big/'))) }) });
    await sleep(300);
    const firstRevision = Number((await kv.put('big/start', 'x')).header!.revision);
    await sleep(300);
    call.pause();
    const stuck = await writePhase('big/');
    const receivedWhilePaused = revisions.length;
    t.diagnostic(
      `${writesPerPhase} writes of ${valueBytes / 1024} KiB per phase: server RSS grew ${control.grewMegabytes.toFixed(0)} MB with no watcher, ${stuck.grewMegabytes.toFixed(0)} MB with a stuck reader (${receivedWhilePaused} events had reached it)`,
    );
    call.resume();
    const deadline = Date.now() + 60_000;
    while (revisions[revisions.length - 1] !== stuck.lastRevision && streamError === undefined && Date.now() < deadline) await sleep(100);
    assert.equal(streamError, undefined);
    assert.equal(revisions[0], firstRevision);
    assert.equal(revisions.length, stuck.lastRevision - firstRevision + 1, 'one event per revision, none lost or repeated');
    revisions.forEach((revision, i) => assert.equal(revision, firstRevision + i));
    // 78 MB went to the stuck reader; with no bound on its queue the server grew by 50 MB more than the control here.
    assert.ok(stuck.grewMegabytes - control.grewMegabytes < 30, `the stuck reader cost ${(stuck.grewMegabytes - control.grewMegabytes).toFixed(0)} MB`);
    call.cancel();
  } finally {
    client.close();
    kv.close();
    await server.stop();
    removeDirectory(server.dataDir);
  }
});
