/**
 * The Watch protocol itself, compared with etcd 3.4 message by message on a
 * raw gRPC stream: client-chosen and automatic watch ids, the duplicate-id
 * and empty-range errors, an empty key, filters (NOPUT, NODELETE), prev_kv,
 * ranges and "from key", fragmented responses (both servers run with a small
 * --max-request-bytes), cancel of a known and an unknown id, a stream-wide
 * progress request, and progress_notify (both servers with a 1 s interval).
 * Responses are compared after masking the cluster and member ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { etcdAvailability, removeDirectory, startEtcd, startHoldfast, type RunningServer } from '../src/support.js';
import { TestKvClient } from '../src/kv-client.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const serverFlags = ['--max-request-bytes', '4096', '--experimental-watch-progress-notify-interval', '1s'];
const { NOPUT, NODELETE } = etcdserverpb.WatchCreateRequest_FilterType;

function describe(response: etcdserverpb.WatchResponse): string {
  const json = etcdserverpb.WatchResponse.toJSON(response) as Record<string, unknown>;
  const header = json.header as Record<string, unknown> | undefined;
  if (header !== undefined) {
    delete header.cluster_id;
    delete header.member_id;
  }
  // Long values are summarised, so that a difference reads well.
  return JSON.stringify(json, (key, value: unknown) => (key === 'value' && typeof value === 'string' && value.length > 40 ? `<${value.length} base64 chars>` : value));
}

async function runScenario(server: RunningServer): Promise<{ main: string[]; progress: string[] }> {
  const client = new etcdserverpb.WatchClient(server.endpoint, credentials.createInsecure());
  const kv = new TestKvClient(server.endpoint);
  const main: string[] = [];
  const progress: string[] = [];
  const call = client.watch();
  call.on('data', (response: etcdserverpb.WatchResponse) => main.push(describe(response)));
  call.on('error', () => {});
  const progressCall = client.watch();
  progressCall.on('data', (response: etcdserverpb.WatchResponse) => progress.push(describe(response)));
  progressCall.on('error', () => {});
  const create = (request: Partial<etcdserverpb.WatchCreateRequest>) => call.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial(request) });
  const step = async (action: () => unknown) => {
    await action();
    await sleep(150);
  };
  try {
    await step(() => create({ key: Buffer.from('a'), watchId: 7n }));
    await step(() => create({ key: Buffer.from('a'), watchId: 7n }));
    await step(() => create({ key: Buffer.from('b'), rangeEnd: Buffer.from('a') }));
    await step(() => create({ key: Buffer.from('a'), prevKv: true }));
    await step(() => create({ key: Buffer.from('f'), rangeEnd: Buffer.from('g'), filters: [NOPUT] }));
    await step(() => create({ key: Buffer.from('f'), rangeEnd: Buffer.from('g'), filters: [NODELETE] }));
    await step(() => create({ key: Buffer.from('m'), rangeEnd: Buffer.from([0]) }));
    await step(() => create({ key: Buffer.alloc(0) }));
    await step(() => create({ key: Buffer.from('big/'), rangeEnd: Buffer.from('big0'), fragment: true, prevKv: true }));
    await step(() => create({ key: Buffer.from('big/'), rangeEnd: Buffer.from('big0') }));

    await step(() => kv.put('a', '1'));
    await step(() => kv.put('a', '2'));
    await step(() => kv.put('f1', 'x'));
    await step(() => kv.deleteRange({ key: Buffer.from('f1') }));
    await step(() => kv.put('zebra', 'after m'));
    // 700 keys of 900 bytes, then one delete of them all: with previous
    // values that revision's response passes etcd's fragment threshold
    // (--max-request-bytes + 512 KiB) and is sent in fragments.
    for (let i = 0; i < 700; i += 4) {
      await kv.txn({
        success: Array.from({ length: 4 }, (_, j) => ({ requestPut: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(`big/${String(i + j).padStart(3, '0')}`), value: Buffer.alloc(900, 'v') }) })),
      });
    }
    await step(() => kv.deleteRange({ key: Buffer.from('big/'), rangeEnd: Buffer.from('big0') }));
    await step(() => kv.deleteRange({ key: Buffer.from('a') }));
    await step(() => call.write({ cancelRequest: { watchId: 7n } }));
    await step(() => call.write({ cancelRequest: { watchId: 99n } }));
    await step(() => kv.put('a', '3'));
    await step(() => call.write({ progressRequest: {} }));
    // Idle (the revision stays put) with a progress_notify watcher on a second stream.
    await step(() => progressCall.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: Buffer.from('p'), progressNotify: true }) }));
    await sleep(2500);
  } finally {
    call.cancel();
    progressCall.cancel();
    client.close();
    kv.close();
  }
  return { main, progress };
}

const availability = await etcdAvailability();

test('the Watch protocol answers message by message like etcd 3.4', { skip: availability.available ? false : availability.reason, timeout: 120_000 }, async (t) => {
  const results: Record<string, { main: string[]; progress: string[] }> = {};
  for (const start of [startEtcd, startHoldfast]) {
    const server = await start({ extraArgs: serverFlags });
    try {
      results[server.kind] = await runScenario(server);
    } finally {
      await server.stop();
      removeDirectory(server.dataDir);
    }
  }
  const etcd = results.etcd!;
  const holdfast = results.holdfast!;
  t.diagnostic(`${etcd.main.length} responses on the main stream; ${etcd.progress.length} (etcd) and ${holdfast.progress.length} (holdfast) on the progress_notify stream`);
  // Within one watch id the order must match exactly; across watchers etcd
  // sends one revision's responses in Go map order, so group by watch id.
  const byWatchId = (responses: string[]) => {
    const groups = new Map<string, string[]>();
    for (const response of responses) {
      const id = (JSON.parse(response) as { watch_id?: string }).watch_id ?? '0';
      groups.set(id, [...(groups.get(id) ?? []), response]);
    }
    return [...groups].sort(([a], [b]) => a.localeCompare(b));
  };
  assert.deepEqual(byWatchId(holdfast.main), byWatchId(etcd.main));
  // How many progress ticks fall into the idle time depends on timer phase;
  // their content must be the same, and there must be some.
  assert.ok(holdfast.progress.length >= 2 && etcd.progress.length >= 2);
  assert.deepEqual([...new Set(holdfast.progress)], [...new Set(etcd.progress)]);
  // The scenario reached the interesting cases.
  const joined = holdfast.main.join('\n');
  assert.match(joined, /"fragment":true/);
  assert.match(joined, /duplicate watch ID/);
  assert.match(joined, /watcher range is empty/);
  assert.match(joined, /"watch_id":"-1"}/, "a stream-wide progress response");
});
