/**
 * The watch manager against a scripted fake Watch server: exact control of
 * what the server says, so the resume rules, progress handling, fragment
 * reassembly, de-duplication and cancellation are checked precisely.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb, mvccpb } from '@holdfast/proto';
import { Client, CompactedError, type WatchBatch } from '../src/index.js';
import { FakeServer, testClientOptions, waitUntil } from './helpers.js';

type WatchCall = ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

const timeout = 30_000;

/** Records every request and stream; the test answers through `calls`. */
class ScriptedWatchServer {
  readonly calls: WatchCall[] = [];
  readonly creates: etcdserverpb.WatchCreateRequest[] = [];
  readonly cancels: bigint[] = [];
  progressRequests = 0;
  nextWatchId = 0n;
  /** Header revision of created responses. */
  createdRevision = 10n;
  server!: FakeServer;

  async start(): Promise<void> {
    this.server = await FakeServer.start([
      {
        definition: etcdserverpb.WatchService,
        implementation: {
          watch: (call: WatchCall) => {
            this.calls.push(call);
            call.on('data', (request: etcdserverpb.WatchRequest) => {
              if (request.createRequest !== undefined) {
                this.creates.push(request.createRequest);
                call.write(response({ watchId: this.nextWatchId++, created: true }, this.createdRevision));
              } else if (request.cancelRequest !== undefined) {
                this.cancels.push(request.cancelRequest.watchId);
              } else if (request.progressRequest !== undefined) {
                this.progressRequests++;
              }
            });
            call.on('error', () => {});
          },
        },
      },
    ]);
  }

  get current(): WatchCall {
    const call = this.calls.at(-1);
    if (call === undefined) throw new Error('no watch stream yet');
    return call;
  }

  /** Ends the current stream as a server restart would. */
  breakStream(): void {
    this.current.end();
  }
}

function response(fields: Partial<etcdserverpb.WatchResponse>, revision: bigint): etcdserverpb.WatchResponse {
  return etcdserverpb.WatchResponse.fromPartial({ ...fields, header: { clusterId: 1n, memberId: 2n, revision, raftTerm: 3n } });
}

function put(key: string, revision: bigint): mvccpb.Event {
  return { type: mvccpb.Event_EventType.PUT, kv: { key: Buffer.from(key), value: Buffer.from(`v${revision}`), createRevision: revision, modRevision: revision, version: 1n, lease: 0n } };
}

/** Reads batches from an iterator into an array the test can poll. */
function collect(watch: AsyncIterable<WatchBatch>): { batches: WatchBatch[]; ended: Promise<unknown> } {
  const batches: WatchBatch[] = [];
  const ended = (async () => {
    for await (const batch of watch) batches.push(batch);
  })().then(
    () => undefined,
    (error: unknown) => error,
  );
  return { batches, ended };
}

let fake: ScriptedWatchServer;
let client: Client;

beforeEach(async () => {
  fake = new ScriptedWatchServer();
  await fake.start();
  client = new Client({ ...testClientOptions, endpoints: [fake.server.endpoint] });
});

afterEach(() => {
  client.close();
  fake.server.stop();
});

test('resume revisions: created+1, then per-watcher progress+1, then last event+1; stream-wide progress proves nothing', { timeout }, async () => {
  const watch = client.watch('k', { prefix: true });
  const { batches } = collect(watch);
  assert.equal(await watch.created, 10n);
  assert.equal(fake.creates[0]?.startRevision, 0n, 'first create: from now');

  fake.current.write(response({ watchId: -1n }, 50n));
  await waitUntil(() => batches.length === 1, 5_000, 'the stream-wide progress batch');
  assert.equal(batches[0]?.progress, true);
  assert.equal(batches[0]?.header.revision, 50n);
  fake.breakStream();
  await waitUntil(() => fake.creates.length === 2, 5_000, 'the re-create');
  assert.equal(fake.creates[1]?.startRevision, 11n, 'resumes after the creation revision, not after the stream-wide progress');

  fake.current.write(response({ watchId: 1n }, 60n));
  await waitUntil(() => batches.length === 2, 5_000, 'the per-watcher progress batch');
  fake.breakStream();
  await waitUntil(() => fake.creates.length === 3, 5_000, 'the second re-create');
  assert.equal(fake.creates[2]?.startRevision, 61n, 'a per-watcher progress notification proves every revision up to it');

  fake.current.write(response({ watchId: 2n, events: [put('k1', 70n), put('k2', 71n)] }, 71n));
  await waitUntil(() => batches.length === 3, 5_000, 'the events');
  fake.breakStream();
  await waitUntil(() => fake.creates.length === 4, 5_000, 'the third re-create');
  assert.equal(fake.creates[3]?.startRevision, 72n, 'resumes after the last event');

  // A server that resends what was delivered: only the new revision passes.
  fake.current.write(response({ watchId: 3n, events: [put('k2', 71n), put('k3', 72n)] }, 72n));
  await waitUntil(() => batches.length === 4, 5_000, 'the de-duplicated batch');
  assert.deepEqual(
    batches[3]?.events.map((event) => event.kv.modRevision),
    [72n],
  );
  // Same key, options and filters on every incarnation.
  for (const create of fake.creates) {
    assert.equal(create.key.toString(), 'k');
    assert.equal(create.rangeEnd.toString(), 'l');
  }
  watch.close();
});

test('fragments are reassembled into one batch', { timeout }, async () => {
  const watch = client.watch('f');
  const { batches } = collect(watch);
  await watch.created;
  assert.equal(fake.creates[0]?.fragment, true, 'fragmenting is asked for by default');
  fake.current.write(response({ watchId: 0n, fragment: true, events: [put('f', 20n), put('f', 21n)] }, 23n));
  fake.current.write(response({ watchId: 0n, fragment: true, events: [put('f', 22n)] }, 23n));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(batches.length, 0, 'nothing is delivered before the last fragment');
  fake.current.write(response({ watchId: 0n, fragment: false, events: [put('f', 23n)] }, 23n));
  await waitUntil(() => batches.length === 1, 5_000, 'the reassembled batch');
  assert.deepEqual(
    batches[0]?.events.map((event) => event.kv.modRevision),
    [20n, 21n, 22n, 23n],
  );
  watch.close();
});

test('a compaction cancel ends the iterator with CompactedError after the batches before it', { timeout }, async () => {
  const watch = client.watch('c', { startRevision: 5n });
  const { batches, ended } = collect(watch);
  await watch.created;
  fake.current.write(response({ watchId: 0n, events: [put('c', 5n)] }, 5n));
  fake.current.write(response({ watchId: 0n, canceled: true, compactRevision: 9n }, 12n));
  const error = await ended;
  assert.ok(error instanceof CompactedError, `got ${String(error)}`);
  assert.equal(error.compactRevision, 9n);
  assert.deepEqual(
    batches.map((batch) => batch.events[0]?.kv.modRevision),
    [5n],
  );
});

test('many watches share one stream; aborting one cancels it on the server and rejects with the reason', { timeout }, async () => {
  const controller = new AbortController();
  const watches = Array.from({ length: 5 }, (_, index) => client.watch(`m${index}`, index === 2 ? { signal: controller.signal } : {}));
  await Promise.all(watches.map((watch) => watch.created));
  assert.equal(fake.calls.length, 1, 'one gRPC stream');
  assert.deepEqual(
    fake.creates.map((create) => create.key.toString()),
    ['m0', 'm1', 'm2', 'm3', 'm4'],
  );
  const reason = new Error('not interested any more');
  const aborted = collect(watches[2]!);
  controller.abort(reason);
  assert.equal(await aborted.ended, reason);
  await waitUntil(() => fake.cancels.includes(2n), 5_000, 'the cancel request');
  assert.equal(watches[0]!.requestProgress(), true);
  await waitUntil(() => fake.progressRequests === 1, 5_000, 'the progress request');
  for (const watch of watches) watch.close();
});

test('a slow consumer: the watch is parked at watchBufferBatchesMax and resumed from the next revision', { timeout }, async () => {
  const slow = new Client({ ...testClientOptions, endpoints: [fake.server.endpoint], watchBufferBatchesMax: 4 });
  try {
    const watch = slow.watch('s', { startRevision: 100n });
    await watch.created;
    for (let revision = 100n; revision < 110n; revision++) fake.current.write(response({ watchId: 0n, events: [put('s', revision)] }, revision));
    await waitUntil(() => fake.cancels.includes(0n), 5_000, 'the cancel of the full watch');
    const seen: bigint[] = [];
    const iterator = watch[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) {
      const next = await iterator.next();
      seen.push(next.value!.events[0]!.kv.modRevision);
    }
    await waitUntil(() => fake.creates.length === 2, 5_000, 're-create after draining');
    assert.equal(fake.creates[1]?.startRevision, 104n, 'resumes after the last buffered batch');
    assert.deepEqual(seen, [100n, 101n, 102n]);
    watch.close();
  } finally {
    slow.close();
  }
});

test('a watch closed before its stream opened leaves no stream and no crash behind', { timeout }, async () => {
  for (let i = 0; i < 5; i++) client.watch(`early/${i}`).close();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const watch = client.watch('later');
  assert.equal(await watch.created, 10n, 'the client still works');
  assert.deepEqual(
    fake.creates.map((create) => create.key.toString()),
    ['later'],
  );
  watch.close();
});
