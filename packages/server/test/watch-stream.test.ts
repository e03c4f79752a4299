/**
 * WatchStream on a real store and hub, with a fake response writer that
 * records every response and flushes only when told: the request/response
 * protocol (etcd 3.4's create/cancel/progress rules, 3.5's deferred progress),
 * progress_notify ticks, the queued-bytes and queued-responses bounds with
 * their fallback to history, and fragments() against etcd's sendFragments.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Backend } from '@holdfast/storage';
import { MvccStore, type Change } from '@holdfast/mvcc';
import { etcdserverpb, mvccpb } from '@holdfast/proto';
import { WatchHub } from '../src/watch/watch-hub.js';
import {
  WatchStream,
  fragments,
  duplicateWatchIdReason,
  emptyWatcherRangeReason,
  type WatchResponseWriter,
  type WatchStreamLimits,
} from '../src/watch/watch-stream.js';

type WatchResponse = etcdserverpb.WatchResponse;

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const text = (data: Uint8Array | undefined): string => (data === undefined ? '<none>' : Buffer.from(data).toString('latin1'));
const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Records responses; `flushed` callbacks run only when flush() is called. */
class FakeWriter implements WatchResponseWriter {
  readonly responses: WatchResponse[] = [];
  private readonly unflushed: Array<() => void> = [];
  pauses = 0;
  resumes = 0;
  paused = false;

  write(response: WatchResponse, flushed: () => void): void {
    // What grpc-js would put on the wire must encode.
    etcdserverpb.WatchResponse.encode(response).finish();
    this.responses.push(response);
    this.unflushed.push(flushed);
  }
  pauseRequests(): void {
    assert.equal(this.paused, false, 'paused twice');
    this.paused = true;
    this.pauses++;
  }
  resumeRequests(): void {
    assert.equal(this.paused, true, 'resumed while not paused');
    this.paused = false;
    this.resumes++;
  }
  get unflushedCount(): number {
    return this.unflushed.length;
  }
  /** Flushes the oldest `count` responses (all by default), in order. */
  flush(count = Infinity): void {
    for (let i = 0; i < count && this.unflushed.length > 0; i++) this.unflushed.shift()!();
  }
  /** Responses since the last take(). */
  take(): WatchResponse[] {
    return this.responses.splice(0, this.responses.length);
  }
}

interface Fixture {
  readonly backend: Backend;
  readonly store: MvccStore;
  readonly hub: WatchHub;
  readonly writer: FakeWriter;
  readonly stream: WatchStream;
  /** One write transaction (one revision), then notify, as the server does. */
  write(ops: Array<[string, string | null]>): Change[];
}

async function withStream(
  options: { limits?: WatchStreamLimits; maxResponseBytes?: number; progressNotifyIntervalMs?: number },
  body: (fixture: Fixture) => Promise<void> | void,
): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-watch-stream-'));
  const backend = Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 });
  const store = MvccStore.open(backend);
  const hub = new WatchHub(store);
  const writer = new FakeWriter();
  const stream = new WatchStream(
    {
      hub,
      store,
      header: (revision) => ({ clusterId: 1n, memberId: 2n, revision: BigInt(revision), raftTerm: 3n }),
      maxResponseBytes: options.maxResponseBytes ?? 1024 * 1024,
      progressNotifyIntervalMs: options.progressNotifyIntervalMs ?? 60_000,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
    },
    writer,
  );
  const write = (ops: Array<[string, string | null]>): Change[] => {
    const changes = backend.write(() => {
      const txn = store.beginWrite();
      for (const [key, value] of ops) {
        if (value === null) txn.deleteRange(bytes(key), undefined);
        else txn.put(bytes(key), bytes(value), 0n);
      }
      txn.end();
      return txn.changes;
    });
    hub.notify(changes);
    return changes;
  };
  try {
    await body({ backend, store, hub, writer, stream, write });
  } finally {
    stream.close();
    await macrotask();
    await store.compactionSettled();
    await backend.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

function create(fields: Partial<Omit<etcdserverpb.WatchCreateRequest, 'key' | 'rangeEnd'>> & { key: string; rangeEnd?: string }): etcdserverpb.WatchRequest {
  const { key, rangeEnd, ...rest } = fields;
  return {
    createRequest: {
      startRevision: 0n,
      progressNotify: false,
      filters: [],
      prevKv: false,
      watchId: 0n,
      fragment: false,
      ...rest,
      key: bytes(key),
      rangeEnd: bytes(rangeEnd ?? ''),
    },
  };
}
const cancel = (watchId: bigint): etcdserverpb.WatchRequest => ({ cancelRequest: { watchId } });
const progress: etcdserverpb.WatchRequest = { progressRequest: {} };

/** A compact view of a response, for deepEqual. */
function view(response: WatchResponse): Record<string, unknown> {
  const out: Record<string, unknown> = { id: Number(response.watchId), rev: Number(response.header?.revision ?? -99) };
  if (response.created) out.created = true;
  if (response.canceled) out.canceled = true;
  if (response.compactRevision !== 0n) out.compactRevision = Number(response.compactRevision);
  if (response.cancelReason !== '') out.reason = response.cancelReason;
  if (response.fragment) out.fragment = true;
  if (response.events.length > 0) out.events = response.events.map(eventView);
  return out;
}
/** Responses of several watchers to one write come in no promised order: sort them by watch id. */
const byId = (responses: WatchResponse[]): WatchResponse[] => [...responses].sort((a, b) => Number(a.watchId - b.watchId));
function eventView(event: mvccpb.Event): string {
  const kind = event.type === mvccpb.Event_EventType.PUT ? 'put' : 'del';
  const kv = event.kv!;
  const prev = event.prevKv === undefined ? '' : ` prev=${text(event.prevKv.value)}`;
  return `${kind} ${text(kv.key)}=${text(kv.value)}@${kv.modRevision}${prev}`;
}

// ---- create ----

test('created responses: automatic ids count up from 0 past client-chosen ones; errors get id -1 and etcd reasons', async () => {
  await withStream({}, ({ stream, writer, write }) => {
    write([['x', '1']]); // revision 2
    stream.receive(create({ key: 'a' }));
    stream.receive(create({ key: 'b' }));
    stream.receive(create({ key: 'c', watchId: 3n }));
    stream.receive(create({ key: 'd' }));
    stream.receive(create({ key: 'e' })); // 3 is taken: 4
    stream.receive(create({ key: 'f', watchId: 3n })); // duplicate
    stream.receive(create({ key: 'b', rangeEnd: 'a' })); // empty range
    stream.receive(create({ key: 'b', rangeEnd: 'b' })); // empty range too
    stream.receive(create({ key: 'g', watchId: 1n })); // duplicate of an automatic id
    assert.deepEqual(writer.take().map(view), [
      { id: 0, rev: 2, created: true },
      { id: 1, rev: 2, created: true },
      { id: 3, rev: 2, created: true },
      { id: 2, rev: 2, created: true },
      { id: 4, rev: 2, created: true },
      { id: -1, rev: 2, created: true, canceled: true, reason: duplicateWatchIdReason },
      { id: -1, rev: 2, created: true, canceled: true, reason: emptyWatcherRangeReason },
      { id: -1, rev: 2, created: true, canceled: true, reason: emptyWatcherRangeReason },
      { id: -1, rev: 2, created: true, canceled: true, reason: duplicateWatchIdReason },
    ]);
    assert.equal(duplicateWatchIdReason, 'mvcc: duplicate watch ID provided on the WatchStream');
    assert.equal(emptyWatcherRangeReason, 'mvcc: watcher range is empty');
    assert.equal(stream.watcherCount, 5);
    // Each created watcher hears its own key only.
    write([['a', 'A'], ['c', 'C'], ['z', 'Z']]);
    assert.deepEqual(byId(writer.take()).map(view), [
      { id: 0, rev: 3, events: ['put a=A@3'] },
      { id: 3, rev: 3, events: ['put c=C@3'] },
    ]);
  });
});

test('an empty key means "\\0": alone the single key "\\0", with range end "\\0" every key', async () => {
  await withStream({}, ({ stream, writer, write }) => {
    stream.receive(create({ key: '' }));
    stream.receive(create({ key: '', rangeEnd: '\x00' }));
    stream.receive(create({ key: 'm', rangeEnd: '\x00' }));
    stream.receive(create({ key: 'a', rangeEnd: 'b' }));
    writer.take();
    write([['\x00', '0'], ['a', '1'], ['a\xff', '2'], ['b', '3'], ['m', '4'], ['\xff', '5']]);
    assert.deepEqual(byId(writer.take()).map(view), [
      { id: 0, rev: 2, events: ['put \x00=0@2'] },
      { id: 1, rev: 2, events: ['put \x00=0@2', 'put a=1@2', 'put a\xff=2@2', 'put b=3@2', 'put m=4@2', 'put \xff=5@2'] },
      { id: 2, rev: 2, events: ['put m=4@2', 'put \xff=5@2'] },
      { id: 3, rev: 2, events: ['put a=1@2', 'put a\xff=2@2'] },
    ]);
  });
});

test('filters and prev_kv: NOPUT/NODELETE drop events; prev_kv is the version before, none for a create', async () => {
  await withStream({}, ({ stream, writer, write }) => {
    stream.receive(create({ key: 'k', filters: [etcdserverpb.WatchCreateRequest_FilterType.NOPUT] }));
    stream.receive(create({ key: 'k', filters: [etcdserverpb.WatchCreateRequest_FilterType.NODELETE], prevKv: true }));
    writer.take();
    write([['k', 'v1']]);
    write([['k', 'v2']]);
    write([['k', null]]);
    assert.deepEqual(writer.take().map(view), [
      { id: 1, rev: 2, events: ['put k=v1@2'] },
      { id: 1, rev: 3, events: ['put k=v2@3 prev=v1'] },
      { id: 0, rev: 4, events: ['del k=@4'] },
    ]);
  });
});

// ---- cancel ----

test('cancel: a known id gets canceled and hears nothing more; an unknown id gets nothing', async () => {
  await withStream({}, ({ stream, writer, write, hub }) => {
    stream.receive(create({ key: 'k' }));
    stream.receive(create({ key: 'k', watchId: 9n }));
    writer.take();
    assert.equal(hub.watcherCount, 2);
    write([['k', '1']]);
    assert.deepEqual(byId(writer.take()).map(view), [
      { id: 0, rev: 2, events: ['put k=1@2'] },
      { id: 9, rev: 2, events: ['put k=1@2'] },
    ]);
    stream.receive(cancel(9n));
    stream.receive(cancel(9n));
    stream.receive(cancel(42n));
    assert.equal(hub.watcherCount, 1);
    write([['k', '2']]);
    assert.deepEqual(writer.take().map(view), [
      { id: 9, rev: 2, canceled: true },
      { id: 0, rev: 3, events: ['put k=2@3'] },
    ]);
    // The id is free again.
    stream.receive(create({ key: 'k', watchId: 9n }));
    assert.deepEqual(writer.take().map(view), [{ id: 9, rev: 3, created: true }]);
    stream.close();
    assert.equal(hub.watcherCount, 0, 'close() cancels every watcher of the stream');
    stream.receive(create({ key: 'k' }));
    assert.deepEqual(writer.take(), [], 'a closed stream answers nothing');
  });
});

// ---- history, compaction ----

test('a past start revision is caught up from history; a compacted one is canceled with compact_revision and header revision 0', async () => {
  await withStream({}, async ({ stream, writer, write, backend, store }) => {
    write([['k', '1']]); // 2
    write([['k', '2']]); // 3
    write([['k', '3']]); // 4
    stream.receive(create({ key: 'k', startRevision: 3n, prevKv: true }));
    assert.deepEqual(writer.take().map(view), [{ id: 0, rev: 4, created: true }]);
    await macrotask();
    assert.deepEqual(writer.take().map(view), [{ id: 0, rev: 4, events: ['put k=2@3 prev=1', 'put k=3@4 prev=2'] }]);
    await backend.write(() => store.compact(3));
    stream.receive(create({ key: 'k', startRevision: 2n }));
    stream.receive(create({ key: 'k', startRevision: 3n }));
    await macrotask();
    assert.deepEqual(writer.take().map(view), [
      { id: 1, rev: 4, created: true },
      { id: 2, rev: 4, created: true },
      { id: 1, rev: 0, canceled: true, compactRevision: 3 },
      // prev_kv at revision 2 is compacted: sent without it, as etcd does.
      { id: 2, rev: 4, events: ['put k=2@3', 'put k=3@4'] },
    ]);
    assert.equal(stream.watcherCount, 2);
  });
});

// ---- progress ----

test('a progress request waits until every watcher of the stream has caught up', async () => {
  await withStream({}, async ({ stream, writer, write }) => {
    write([['k', '1']]); // 2
    write([['k', '2']]); // 3
    stream.receive(create({ key: 'other' }));
    stream.receive(progress);
    // Everyone is synced: answered at once, watch id -1, current revision.
    assert.deepEqual(writer.take().map(view), [{ id: 0, rev: 3, created: true }, { id: -1, rev: 3 }]);

    stream.receive(create({ key: 'k', startRevision: 2n }));
    stream.receive(progress);
    stream.receive(progress);
    assert.deepEqual(writer.take().map(view), [{ id: 1, rev: 3, created: true }], 'deferred while watcher 1 is behind');
    await macrotask();
    assert.deepEqual(writer.take().map(view), [
      { id: 1, rev: 3, events: ['put k=1@2', 'put k=2@3'] },
      // One answer for the requests made while behind, after the events.
      { id: -1, rev: 3 },
    ]);
  });
});

test('a deferred progress request is answered when the watcher behind is canceled or compacted instead', async () => {
  await withStream({}, async ({ stream, writer, write, backend, store }) => {
    write([['k', '1']]);
    write([['k', '2']]);
    write([['k', '3']]); // 4
    stream.receive(create({ key: 'k', startRevision: 2n }));
    stream.receive(progress);
    stream.receive(cancel(0n));
    assert.deepEqual(writer.take().map(view), [{ id: 0, rev: 4, created: true }, { id: 0, rev: 4, canceled: true }, { id: -1, rev: 4 }]);

    await backend.write(() => store.compact(4));
    stream.receive(create({ key: 'k', startRevision: 2n }));
    stream.receive(progress);
    await macrotask();
    assert.deepEqual(writer.take().map(view), [{ id: 1, rev: 4, created: true }, { id: 1, rev: 0, canceled: true, compactRevision: 4 }, { id: -1, rev: 4 }]);
  });
});

test('progress_notify: an idle, caught-up watcher that asked gets an empty response each tick; one that was just sent events skips a tick', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    await withStream({ progressNotifyIntervalMs: 10 }, async ({ stream, writer, write }) => {
      write([['k', '1']]); // 2
      stream.receive(create({ key: 'k', progressNotify: true }));
      stream.receive(create({ key: 'k' }));
      stream.receive(create({ key: 'k', progressNotify: true, startRevision: 1n }));
      writer.take();
      // Watcher 2 is behind until its sync round: no progress for it yet.
      mock.timers.tick(10);
      assert.deepEqual(writer.take().map(view), [{ id: 0, rev: 2 }]);
      await macrotask();
      assert.deepEqual(writer.take().map(view), [{ id: 2, rev: 2, events: ['put k=1@2'] }]);
      // Watcher 2 was just sent events: it skips this tick, and not the next.
      mock.timers.tick(10);
      assert.deepEqual(writer.take().map(view), [{ id: 0, rev: 2 }]);
      mock.timers.tick(10);
      assert.deepEqual(byId(writer.take()).map(view), [{ id: 0, rev: 2 }, { id: 2, rev: 2 }]);
      write([['k', '2']]); // 3
      assert.deepEqual(byId(writer.take()).map(view), [
        { id: 0, rev: 3, events: ['put k=2@3'] },
        { id: 1, rev: 3, events: ['put k=2@3'] },
        { id: 2, rev: 3, events: ['put k=2@3'] },
      ]);
      mock.timers.tick(10);
      assert.deepEqual(writer.take().map(view), [], 'both were just sent events');
      mock.timers.tick(10);
      assert.deepEqual(byId(writer.take()).map(view), [{ id: 0, rev: 3 }, { id: 2, rev: 3 }]);
      stream.close();
      mock.timers.tick(100);
      assert.deepEqual(writer.take(), [], 'no ticks after close');
    });
  } finally {
    mock.timers.reset();
  }
});

// ---- bounds ----

test('the queued-responses bound: the stream stops being writable and reading requests, falls back to history, and catches up after flushes', async () => {
  const limits: WatchStreamLimits = { maxQueuedBytesPerStream: 1 << 30, maxQueuedResponsesPerStream: 4 };
  await withStream({ limits }, async ({ stream, writer, write, hub }) => {
    stream.receive(create({ key: 'k' }));
    stream.receive(create({ key: 'other' }));
    assert.equal(stream.writable, true);
    for (let i = 1; i <= 6; i++) write([['k', `${i}`]]); // revisions 2..7
    // created x2 + two deliveries reach the bound; the rest waits in history.
    assert.equal(writer.unflushedCount, 4);
    assert.equal(stream.writable, false);
    assert.equal(writer.paused, true, 'requests paused at the bound');
    assert.equal(hub.unsyncedCount, 1, 'the watcher fell back to history');
    await macrotask();
    assert.equal(writer.unflushedCount, 4, 'nothing sent while full');
    // Flushing below half the bound resumes requests and the hub.
    writer.flush(1);
    assert.equal(stream.writable, true);
    assert.equal(writer.paused, true, 'still above half the bound');
    await macrotask();
    writer.flush(3);
    assert.equal(writer.paused, false);
    for (let turn = 0; turn < 20 && hub.unsyncedCount > 0; turn++) {
      writer.flush();
      await macrotask();
    }
    writer.flush();
    assert.equal(hub.unsyncedCount, 0);
    const events = writer.responses.flatMap((response) => (response.watchId === 0n ? response.events.map(eventView) : []));
    assert.deepEqual(events, ['put k=1@2', 'put k=2@3', 'put k=3@4', 'put k=4@5', 'put k=5@6', 'put k=6@7'], 'every event once, in order');
    assert.ok(writer.pauses >= 1 && writer.pauses === writer.resumes);
    // And it is live again.
    writer.take();
    write([['k', '7']]);
    assert.deepEqual(writer.take().map(view), [{ id: 0, rev: 8, events: ['put k=7@8'] }]);
  });
});

test('the queued-bytes bound: large values make the stream unwritable until flushed; events still arrive once, in order', async () => {
  const limits: WatchStreamLimits = { maxQueuedBytesPerStream: 1000, maxQueuedResponsesPerStream: 1000 };
  await withStream({ limits }, async ({ stream, writer, write, hub }) => {
    stream.receive(create({ key: 'k', prevKv: true }));
    const value = (i: number): string => `${i}`.padEnd(300, '.');
    for (let i = 1; i <= 8; i++) write([['k', value(i)]]);
    assert.equal(stream.writable, false, 'bytes over the bound');
    assert.ok(writer.unflushedCount < 6, `only a few responses queued (${writer.unflushedCount})`);
    assert.equal(writer.paused, false, 'the bytes bound does not stop requests');
    for (let turn = 0; turn < 50 && (hub.unsyncedCount > 0 || writer.unflushedCount > 0); turn++) {
      writer.flush();
      await macrotask();
    }
    assert.equal(hub.unsyncedCount, 0);
    const events = writer.responses.flatMap((response) => response.events.map((event) => `${text(event.kv!.value).slice(0, 1)}<${text(event.prevKv?.value).slice(0, 1)}`));
    assert.deepEqual(events, ['1<<', '2<1', '3<2', '4<3', '5<4', '6<5', '7<6', '8<7']);
  });
});

// ---- fragments ----

/** etcd's sendFragments (etcdserver/api/v3rpc/watch.go), sizes from the real encoder. */
function etcdSendFragments(response: WatchResponse, maxRequestBytes: number): WatchResponse[] {
  const size = (r: WatchResponse): number => etcdserverpb.WatchResponse.encode(r).finish().length;
  if (size(response) < maxRequestBytes || response.events.length < 2) return [response];
  const parts: WatchResponse[] = [];
  let index = 0;
  for (;;) {
    const current: WatchResponse = { ...response, events: [], fragment: true };
    for (const event of response.events.slice(index)) {
      current.events.push(event);
      if (current.events.length > 1 && size(current) >= maxRequestBytes) {
        current.events.pop();
        break;
      }
      index++;
    }
    if (index === response.events.length) current.fragment = false;
    parts.push(current);
    if (!current.fragment) return parts;
  }
}

const eventArbitrary: fc.Arbitrary<mvccpb.Event> = fc
  .record({
    put: fc.boolean(),
    key: fc.integer({ min: 1, max: 40 }),
    value: fc.integer({ min: 0, max: 300 }),
    revision: fc.integer({ min: 1, max: 2 ** 40 }),
    prev: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
  })
  .map(({ put, key, value, revision, prev }) => ({
    type: put ? mvccpb.Event_EventType.PUT : mvccpb.Event_EventType.DELETE,
    kv: { key: Buffer.alloc(key, 'k'), createRevision: BigInt(revision), modRevision: BigInt(revision), version: 1n, value: Buffer.alloc(put ? value : 0, 'v'), lease: 0n },
    ...(prev === undefined ? {} : { prevKv: { key: Buffer.alloc(key, 'k'), createRevision: 1n, modRevision: 1n, version: 1n, value: Buffer.alloc(prev, 'p'), lease: 0n } }),
  }));

test('fragments() splits exactly like etcd sendFragments', () => {
  fc.assert(
    fc.property(fc.array(eventArbitrary, { maxLength: 30 }), fc.integer({ min: 1, max: 4000 }), fc.bigInt({ min: -1n, max: 1n << 40n }), (events, maxBytes, watchId) => {
      const response: WatchResponse = {
        header: { clusterId: 1n, memberId: 2n, revision: 99n, raftTerm: 3n },
        watchId,
        created: false,
        canceled: false,
        compactRevision: 0n,
        cancelReason: '',
        fragment: false,
        events,
      };
      const parts = fragments(response, maxBytes);
      const size = (r: WatchResponse): number => etcdserverpb.WatchResponse.encode(r).finish().length;
      assert.deepEqual(
        parts.map((part) => [part.events.length, part.fragment]),
        etcdSendFragments(response, maxBytes).map((part) => [part.events.length, part.fragment]),
        'same parts as etcd',
      );
      assert.deepEqual(
        parts.flatMap((part) => part.events),
        events,
        'the parts hold the events, in order',
      );
      if (size(response) < maxBytes || events.length < 2) {
        assert.equal(parts.length, 1);
        assert.equal(parts[0], response, 'small or single-event responses go as they are');
        return;
      }
      parts.forEach((part, i) => {
        assert.equal(part.fragment, i < parts.length - 1, 'all parts but the last are marked fragment');
        assert.ok(part.events.length >= 1, 'no empty part');
        assert.equal(part.watchId, watchId);
        assert.ok(part.events.length === 1 || size(part) < maxBytes, `part ${i} of ${size(part)} bytes with ${part.events.length} events, limit ${maxBytes}`);
      });
    }),
    { numRuns: 2000 },
  );
});

test('a watcher that asked for fragments gets a large revision in parts; one that did not gets it whole', async () => {
  await withStream({ maxResponseBytes: 400 }, ({ stream, writer, write }) => {
    stream.receive(create({ key: 'k', rangeEnd: 'l', fragment: true }));
    stream.receive(create({ key: 'k', rangeEnd: 'l' }));
    writer.take();
    const ops: Array<[string, string]> = Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(100)]);
    write(ops);
    const responses = writer.take();
    const fragmented = responses.filter((response) => response.watchId === 0n);
    const whole = responses.filter((response) => response.watchId === 1n);
    assert.equal(whole.length, 1);
    assert.equal(whole[0]!.events.length, 10);
    assert.ok(fragmented.length > 1, `split in ${fragmented.length}`);
    assert.deepEqual(
      fragmented.map((response) => response.fragment),
      fragmented.map((_, i) => i < fragmented.length - 1),
    );
    assert.deepEqual(
      fragmented.flatMap((response) => response.events.map(eventView)),
      whole[0]!.events.map(eventView),
    );
    for (const part of fragmented) assert.ok(etcdserverpb.WatchResponse.encode(part).finish().length < 400 || part.events.length === 1);
  });
});

// ---- the whole protocol, randomly ----

test('random requests, writes, flushes and compactions: every watch id hears its history once, in order; progress never overtakes events', async () => {
  const keys = ['a', 'a/1', 'a/2', 'b', 'c\xff'];
  /** Wire ranges: key and range_end as a client sends them. */
  const ranges: Array<[string, string]> = [
    ['a', ''],
    ['a/', 'a0'],
    ['', '\x00'],
    ['b', '\x00'],
    ['a/2', 'c'],
  ];
  const inWireRange = ([start, end]: [string, string], key: string): boolean => {
    const from = start === '' ? '\x00' : start;
    if (end === '') return key === from;
    if (end === '\x00') return key >= from;
    return key >= from && key < end;
  };
  type Start = { at: 'now' } | { at: 'past'; back: number } | { at: 'future'; ahead: number };
  type Command =
    | { kind: 'write'; ops: Array<[string, number | null]> }
    | { kind: 'create'; range: number; start: Start; id: number; prevKv: boolean; fragment: boolean }
    | { kind: 'cancel'; pick: number }
    | { kind: 'progress' }
    | { kind: 'flush'; count: number }
    | { kind: 'turn' }
    | { kind: 'compact'; back: number };
  const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('write' as const),
        // [key, value length] to put, or [key, null] to delete.
        ops: fc.uniqueArray(fc.tuple(fc.constantFrom(...keys), fc.option(fc.integer({ min: 0, max: 60 }), { nil: null, freq: 3 })), { minLength: 1, maxLength: 3, selector: ([key]) => key }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('create' as const),
        range: fc.nat(ranges.length - 1),
        start: fc.oneof(
          fc.constant<Start>({ at: 'now' }),
          fc.record({ at: fc.constant('past' as const), back: fc.nat(12) }),
          fc.record({ at: fc.constant('future' as const), ahead: fc.integer({ min: 1, max: 3 }) }),
        ),
        // 0 = automatic; the others collide with automatic ids and with each other.
        id: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 4 })),
        prevKv: fc.boolean(),
        fragment: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.constant<Command>({ kind: 'progress' }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('flush' as const), count: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 3, arbitrary: fc.constant<Command>({ kind: 'turn' }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(4) }) },
  );
  const limitsArbitrary = fc.record({ maxQueuedBytesPerStream: fc.integer({ min: 100, max: 1000 }), maxQueuedResponsesPerStream: fc.integer({ min: 2, max: 8 }) });
  const maxResponseBytesArbitrary = fc.integer({ min: 40, max: 400 });

  /** A create request as sent, in order: the stream answers each with exactly one created response. */
  interface CreateRequest {
    readonly range: [string, string];
    readonly startRevision: number;
  }
  /** A watcher as seen in the responses. */
  interface Seen {
    readonly id: number;
    readonly request: CreateRequest;
    /** First revision it must hear about. */
    readonly from: number;
    readonly events: string[];
    ended: 'canceled' | 'compacted' | undefined;
  }
  const revisionOf = (view: string): number => Number(view.slice(view.lastIndexOf('@') + 1));

  await fc.assert(
    fc.asyncProperty(fc.array(commandArbitrary, { minLength: 10, maxLength: 60 }), limitsArbitrary, maxResponseBytesArbitrary, async (commands, limits, maxResponseBytes) => {
      await withStream({ limits, maxResponseBytes }, async ({ stream, writer, write, store, backend, hub }) => {
        const history: Array<{ view: string; key: string; revision: number }> = [];
        const createRequests: CreateRequest[] = [];
        let counter = 0;
        let progressRequests = 0;
        // Requests the client sent while the server was not reading them.
        const inbox: etcdserverpb.WatchRequest[] = [];
        const deliverRequests = (): void => {
          while (!writer.paused && inbox.length > 0) stream.receive(inbox.shift()!);
        };
        const send = (request: etcdserverpb.WatchRequest): void => {
          inbox.push(request);
          deliverRequests();
        };
        for (const command of commands) {
          switch (command.kind) {
            case 'write': {
              const changes = write(command.ops.map(([key, length]) => [key, length === null ? null : `${counter++}`.padEnd(length, '.')]));
              for (const change of changes) {
                const key = text(change.kv.key);
                history.push({ view: `${change.kind === 'put' ? 'put' : 'del'} ${key}=${text(change.kv.value)}@${change.kv.modRevision}`, key, revision: change.kv.modRevision });
              }
              break;
            }
            case 'create': {
              const current = store.currentRevision;
              const start = command.start;
              let startRevision = start.at === 'now' ? 0 : start.at === 'past' ? Math.max(1, current - start.back) : current + start.ahead;
              const range = ranges[command.range]!;
              createRequests.push({ range, startRevision });
              send(create({ key: range[0], rangeEnd: range[1], startRevision: BigInt(startRevision), watchId: BigInt(command.id), prevKv: command.prevKv, fragment: command.fragment }));
              break;
            }
            case 'cancel': {
              // Any id the client has seen created (it may be gone already).
              const ids = [...new Set(writer.responses.filter((response) => response.created && !response.canceled).map((response) => response.watchId))];
              if (ids.length > 0) send(cancel(ids[command.pick % ids.length]!));
              break;
            }
            case 'progress':
              progressRequests++;
              send(progress);
              break;
            case 'flush':
              writer.flush(command.count);
              deliverRequests();
              break;
            case 'turn':
              await macrotask();
              break;
            case 'compact': {
              // After the client read everything, so that nobody is left
              // behind exactly at the compaction revision (the hub property
              // test covers compaction with watchers behind).
              for (let turn = 0; turn < 100 && (hub.unsyncedCount > 0 || writer.unflushedCount > 0); turn++) {
                writer.flush();
                deliverRequests();
                await macrotask();
              }
              const target = store.currentRevision - command.back;
              if (hub.unsyncedCount === 0 && target > store.compactRevision && target >= 1) await backend.write(() => store.compact(target));
              break;
            }
          }
        }
        // The client reads everything.
        for (let turn = 0; turn < 1000 && (hub.unsyncedCount > 0 || writer.unflushedCount > 0 || inbox.length > 0); turn++) {
          writer.flush();
          deliverRequests();
          await macrotask();
        }
        assert.equal(hub.unsyncedCount, 0, 'everyone caught up');
        assert.equal(inbox.length, 0, 'every request was read');
        assert.equal(writer.paused, false);

        const expectedEvents = (watcher: Seen, upTo: number): string[] =>
          history.filter((event) => event.revision >= watcher.from && event.revision <= upTo && inWireRange(watcher.request.range, event.key)).map((event) => event.view);

        // Replay the responses as a client would.
        const live = new Map<number, Seen>();
        const all: Seen[] = [];
        let createIndex = 0;
        let lastProgress = -1;
        let open: { id: number; events: string[] } | undefined;
        writer.responses.forEach((response, index) => {
          const id = Number(response.watchId);
          const revision = Number(response.header!.revision);
          const where = `response ${index} (id ${id})`;
          if (response.created) {
            const request = createRequests[createIndex++];
            assert.ok(request !== undefined, `${where}: created with no create request`);
            if (response.canceled) {
              assert.equal(id, -1, `${where}: a refused create has id -1`);
              return;
            }
            assert.ok(!live.has(id), `${where}: id created twice`);
            const seen: Seen = { id, request, from: request.startRevision === 0 ? revision + 1 : request.startRevision, events: [], ended: undefined };
            live.set(id, seen);
            all.push(seen);
            return;
          }
          if (id === -1) {
            // Progress at R: every live watcher was already sent everything up to R.
            assert.equal(open, undefined, `${where}: progress inside a fragmented response`);
            lastProgress = index;
            for (const watcher of live.values()) {
              assert.deepEqual(watcher.events, expectedEvents(watcher, revision), `${where}: progress at ${revision} before watcher ${watcher.id} had everything`);
            }
            return;
          }
          const watcher = live.get(id);
          assert.ok(watcher !== undefined, `${where}: for an id that is not live`);
          if (response.canceled) {
            assert.equal(open, undefined, `${where}: cancel inside a fragmented response`);
            watcher.ended = response.compactRevision === 0n ? 'canceled' : 'compacted';
            if (watcher.ended === 'compacted') {
              assert.equal(revision, 0, `${where}: compacted responses carry header revision 0`);
              assert.ok(watcher.from < Number(response.compactRevision), `${where}: compacted though it started at ${watcher.from}`);
            }
            live.delete(id);
            return;
          }
          if (open !== undefined) assert.equal(open.id, id, `${where}: fragments of two watchers interleaved`);
          const events = [...(open?.events ?? []), ...response.events.map((event) => eventView(event).replace(/ prev=.*$/, ''))];
          open = response.fragment ? { id, events } : undefined;
          if (response.fragment) return;
          const last = events[events.length - 1];
          if (last !== undefined) assert.ok(revision >= revisionOf(last), `${where}: header revision ${revision} below its last event ${last}`);
          assert.ok(events.every((event) => watcher.events.length === 0 || revisionOf(event) > revisionOf(watcher.events[watcher.events.length - 1]!)), `${where}: a revision again or split`);
          watcher.events.push(...events);
        });
        assert.equal(open, undefined, 'no fragmented response left open');
        assert.equal(createIndex, createRequests.length, 'every create request answered');
        if (progressRequests > 0) assert.ok(lastProgress >= 0, 'progress requests are answered');
        for (const watcher of all) {
          const want = expectedEvents(watcher, store.currentRevision);
          if (watcher.ended === undefined) assert.deepEqual(watcher.events, want, `watcher ${watcher.id} from ${watcher.from}: all of its history`);
          else assert.deepEqual(watcher.events, want.slice(0, watcher.events.length), `watcher ${watcher.id} from ${watcher.from}: a prefix of its history until ${watcher.ended}`);
        }
      });
    }),
    { numRuns: 150 },
  );
});
