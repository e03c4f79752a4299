/**
 * Watches against Holdfast and etcd: events, resume after kill -9 and after
 * a network cut, compaction errors, progress, bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, CompactedError, TooManyWatchesError, type Watch, type WatchBatch, type WatchEvent } from '../src/index.js';
import { TcpProxy, forEachServer, sleep, testClientOptions, waitUntil, type ServerSuite } from './helpers.js';

const timeout = 90_000;

/** Consumes a watch in the background into `events`; `outcome` settles when it ends. */
function consume(watch: Watch): { events: WatchEvent[]; batches: WatchBatch[]; outcome: Promise<unknown> } {
  const events: WatchEvent[] = [];
  const batches: WatchBatch[] = [];
  const outcome = (async () => {
    for await (const batch of watch) {
      batches.push(batch);
      events.push(...batch.events);
    }
  })().then(
    () => 'ended',
    (error: unknown) => error,
  );
  return { events, batches, outcome };
}

forEachServer('watch', (suite: ServerSuite) => {
  test('events in revision order with prevKv, ranges and filters', { timeout }, async () => {
    const client = suite.client();
    const all = client.watch('ev/', { prefix: true, prevKv: true });
    const noDeletes = client.watch('ev/', { prefix: true, filters: ['noDelete'] });
    await Promise.all([all.created, noDeletes.created]);
    const a = consume(all);
    const b = consume(noDeletes);
    const first = await client.put('ev/a', '1');
    await client.put('ev/a', '2');
    await client.put('outside', 'x');
    const deleted = await client.delete('ev/a');
    await waitUntil(() => a.events.length === 3 && b.events.length === 2, 10_000, 'the events');
    assert.deepEqual(
      a.events.map((event) => [event.type, event.kv.keyString, event.kv.valueString, event.prevKv?.valueString]),
      [
        ['put', 'ev/a', '1', undefined],
        ['put', 'ev/a', '2', '1'],
        ['delete', 'ev/a', '', '2'],
      ],
    );
    assert.deepEqual(
      a.events.map((event) => event.kv.modRevision),
      [first.header.revision, first.header.revision + 1n, deleted.header.revision],
    );
    assert.deepEqual(
      b.events.map((event) => event.type),
      ['put', 'put'],
    );
    all.close();
    noDeletes.close();
    assert.equal(await a.outcome, 'ended');
  });

  test('a watch from an old revision replays history', { timeout }, async () => {
    const client = suite.client();
    const revisions: bigint[] = [];
    for (let i = 0; i < 5; i++) revisions.push((await client.put(`hist/${i}`, `${i}`)).header.revision);
    const watch = client.watch('hist/', { prefix: true, startRevision: revisions[1]! });
    const seen = consume(watch);
    await waitUntil(() => seen.events.length === 4, 10_000, 'the history');
    assert.deepEqual(
      seen.events.map((event) => event.kv.modRevision),
      revisions.slice(1),
    );
    watch.close();
  });

  test('kill -9 and restart: the watch resumes and sees every revision exactly once, in order', { timeout }, async () => {
    const client = suite.client();
    const server = suite.server();
    // The watching client goes through a proxy, so that the test decides when
    // it may reconnect: only after writes it could otherwise not know about.
    const proxy = await TcpProxy.start(server.clientPort);
    const watching = new Client({ ...testClientOptions, endpoints: [proxy.endpoint] });
    try {
      const startRevision = (await client.get('crash/')).header.revision + 1n;
      // One watch from an explicit revision with events before the crash, one "from now" with none.
      const busy = watching.watch('crash/', { prefix: true, startRevision });
      const quiet = watching.watch('crash/late/', { prefix: true });
      await Promise.all([busy.created, quiet.created]);
      const busySeen = consume(busy);
      const quietSeen = consume(quiet);

      const written: bigint[] = [];
      for (let i = 0; i < 5; i++) written.push((await client.put(`crash/before/${i}`, `${i}`)).header.revision);
      await waitUntil(() => busySeen.events.length === 5, 10_000, 'the events before the crash');

      await server.kill();
      proxy.cut();
      await server.restart();
      const lateWritten: bigint[] = [];
      for (let i = 0; i < 5; i++) {
        const revision = (await client.put(`crash/late/${i}`, `${i}`)).header.revision;
        written.push(revision);
        lateWritten.push(revision);
      }
      proxy.restore();
      for (let i = 5; i < 7; i++) {
        const revision = (await client.put(`crash/late/${i}`, `${i}`)).header.revision;
        written.push(revision);
        lateWritten.push(revision);
      }
      await waitUntil(() => busySeen.events.length >= 12 && quietSeen.events.length >= 7, 20_000, 'the events after the restart');
      await sleep(200); // anything duplicated would arrive now
      assert.deepEqual(
        busySeen.events.map((event) => event.kv.modRevision),
        written,
      );
      assert.deepEqual(
        quietSeen.events.map((event) => event.kv.modRevision),
        lateWritten,
      );
      busy.close();
      quiet.close();
    } finally {
      watching.close();
      await proxy.close();
    }
  });

  test('a cut connection: writes made meanwhile arrive once after it heals', { timeout }, async () => {
    const client = suite.client();
    const proxy = await TcpProxy.start(suite.server().clientPort);
    const watching = new Client({ ...testClientOptions, endpoints: [proxy.endpoint] });
    try {
      const watch = watching.watch('cut/', { prefix: true });
      await watch.created;
      const seen = consume(watch);
      const written: bigint[] = [];
      written.push((await client.put('cut/0', 'a')).header.revision);
      await waitUntil(() => seen.events.length === 1, 10_000, 'the first event');
      proxy.cut();
      for (let i = 1; i < 6; i++) written.push((await client.put(`cut/${i}`, 'b')).header.revision);
      await sleep(300);
      proxy.restore();
      written.push((await client.put('cut/6', 'c')).header.revision);
      await waitUntil(() => seen.events.length >= 7, 20_000, 'the events after the cut');
      await sleep(200);
      assert.deepEqual(
        seen.events.map((event) => event.kv.modRevision),
        written,
      );
      watch.close();
    } finally {
      watching.close();
      await proxy.close();
    }
  });

  test('a watch that starts below the compaction revision fails with CompactedError and the compact revision', { timeout }, async () => {
    const client = suite.client();
    const first = await client.put('compacted/k', '1');
    const second = await client.put('compacted/k', '2');
    await client.compact(second.header.revision);
    const watch = client.watch('compacted/k', { startRevision: first.header.revision });
    const seen = consume(watch);
    const error = await seen.outcome;
    assert.ok(error instanceof CompactedError, `got ${String(error)}`);
    assert.equal(error.compactRevision, second.header.revision);
    assert.equal(seen.events.length, 0);
  });

  test('a resume below the compaction revision fails with CompactedError after the events before it', { timeout }, async () => {
    const client = suite.client();
    const proxy = await TcpProxy.start(suite.server().clientPort);
    const watching = new Client({ ...testClientOptions, endpoints: [proxy.endpoint] });
    try {
      const watch = watching.watch('resume-compacted/', { prefix: true });
      await watch.created;
      const seen = consume(watch);
      const delivered = await client.put('resume-compacted/a', '1');
      await waitUntil(() => seen.events.length === 1, 10_000, 'the first event');
      proxy.cut();
      await client.put('resume-compacted/b', '2');
      const last = await client.put('resume-compacted/c', '3');
      await client.compact(last.header.revision);
      proxy.restore();
      const error = await seen.outcome;
      assert.ok(error instanceof CompactedError, `got ${String(error)}`);
      assert.equal(error.compactRevision, last.header.revision);
      assert.deepEqual(
        seen.events.map((event) => event.kv.modRevision),
        [delivered.header.revision],
      );
    } finally {
      watching.close();
      await proxy.close();
    }
  });

  test('requestProgress answers with a progress batch at the current revision', { timeout }, async () => {
    const client = suite.client();
    const watch = client.watch('progress/k');
    await watch.created;
    const written = await client.put('elsewhere/k', 'v');
    const seen = consume(watch);
    assert.equal(watch.requestProgress(), true);
    await waitUntil(() => seen.batches.length >= 1, 10_000, 'the progress batch');
    const batch = seen.batches[0]!;
    assert.equal(batch.progress, true);
    assert.equal(batch.events.length, 0);
    assert.ok(batch.header.revision >= written.header.revision);
    watch.close();
  });

  test('watches share streams within bounds; past them TooManyWatchesError', { timeout }, async () => {
    const client = suite.client();
    const bounded = new Client({ ...testClientOptions, endpoints: [suite.server().endpoint], watchStreamsMax: 2, watchesPerStreamMax: 10 });
    try {
      const watches = Array.from({ length: 20 }, (_, index) => bounded.watch(`many/${index}`));
      assert.throws(() => bounded.watch('many/one-too-many'), TooManyWatchesError);
      await Promise.all(watches.map((watch) => watch.created));
      const seen = watches.map(consume);
      for (let index = 0; index < 20; index++) await client.put(`many/${index}`, `${index}`);
      await waitUntil(() => seen.every((one) => one.events.length === 1), 10_000, 'one event per watch');
      seen.forEach((one, index) => assert.equal(one.events[0]?.kv.keyString, `many/${index}`));
      for (const watch of watches) watch.close();
      // Closing frees room again.
      bounded.watch('many/after').close();
    } finally {
      bounded.close();
    }
  });

  test('a consumer slower than watchBufferBatchesMax still gets every revision exactly once', { timeout }, async () => {
    const client = suite.client();
    const slow = new Client({ ...testClientOptions, endpoints: [suite.server().endpoint], watchBufferBatchesMax: 4 });
    try {
      const watch = slow.watch('slow/', { prefix: true, signal: AbortSignal.timeout(30_000) });
      await watch.created;
      const written: bigint[] = [];
      for (let i = 0; i < 30; i++) written.push((await client.put(`slow/${i}`, `${i}`)).header.revision);
      const seen: bigint[] = [];
      for await (const batch of watch) {
        seen.push(...batch.events.map((event) => event.kv.modRevision));
        if (seen.length >= written.length) break;
        await sleep(5);
      }
      assert.deepEqual(seen, written);
    } finally {
      slow.close();
    }
  });

  test('an aborted watch rejects with the signal reason', { timeout }, async () => {
    const client = suite.client();
    const controller = new AbortController();
    const watch = client.watch('abort/', { prefix: true, signal: controller.signal });
    await watch.created;
    const seen = consume(watch);
    controller.abort(new Error('stop'));
    const outcome = await seen.outcome;
    assert.ok(outcome instanceof Error && outcome.message === 'stop');
    const timedOut = client.watch('abort/', { signal: AbortSignal.timeout(100) });
    await assert.rejects(consume(timedOut).outcome.then((error) => Promise.reject(error)), { name: 'TimeoutError' });
  });
});

forEachServer(
  'watch with server progress notifications every 300 ms',
  (suite) => {
    test('progressNotify: an idle watch gets progress batches', { timeout }, async () => {
      const client = suite.client();
      const watch = client.watch('idle/k', { progressNotify: true });
      await watch.created;
      const seen = consume(watch);
      await waitUntil(() => seen.batches.length >= 2, 10_000, 'two progress notifications');
      assert.ok(seen.batches.every((batch) => batch.progress && batch.events.length === 0));
      watch.close();
    });

    test('fragmented responses (a history larger than --max-request-bytes) arrive whole', { timeout }, async () => {
      const client = suite.client();
      const written: bigint[] = [];
      for (let i = 0; i < 40; i++) written.push((await client.put(`frag/${i}`, 'x'.repeat(400))).header.revision);
      const watch = client.watch('frag/', { prefix: true, startRevision: written[0]! });
      const seen = consume(watch);
      await waitUntil(() => seen.events.length >= 40, 10_000, 'the 40 events');
      assert.deepEqual(
        seen.events.map((event) => event.kv.modRevision),
        written,
      );
      watch.close();
    });
  },
  { extraArgs: ['--experimental-watch-progress-notify-interval', '300ms', '--max-request-bytes', '2048'] },
);
