/**
 * Every byte a watch catch-up sends is the byte that was written: several
 * watchers catch up at once over responses of about 1 MiB, written into
 * the response straight from the stored records (StoredPutEvent) and framed
 * in place. A wrong offset or a buffer shared between responses would show
 * as a wrong value, a broken message or a lost event. Compared with etcd 3.4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import { startEtcd, startHoldfast, removeDirectory, type RunningServer } from '../src/support.js';

const keyCount = 6_000;
const valueBytes = 1_500;
const watchers = 3;

/** A value only key `i` has: a hash chain, so no two are alike and each is checkable. */
function valueOf(i: number): Buffer {
  const parts: Buffer[] = [];
  let seed = createHash('sha256').update(`value-${i}`).digest();
  while (parts.length * 32 < valueBytes) {
    parts.push(seed);
    seed = createHash('sha256').update(seed).digest();
  }
  return Buffer.concat(parts).subarray(0, valueBytes);
}

async function load(server: RunningServer): Promise<void> {
  const kv = new etcdserverpb.KVClient(server.endpoint, credentials.createInsecure());
  try {
    for (let from = 0; from < keyCount; from += 100) {
      const success = Array.from({ length: Math.min(100, keyCount - from) }, (_, j) => ({ requestPut: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(`key-${String(from + j).padStart(6, '0')}`), value: valueOf(from + j) }) }));
      await new Promise<void>((resolve, reject) => kv.txn(etcdserverpb.TxnRequest.fromPartial({ success }), (error) => (error ? reject(error) : resolve())));
    }
  } finally {
    kv.close();
  }
}

/** Catches up from revision 1; resolves with every event's key index and whether its value was right. */
function catchUp(server: RunningServer): Promise<{ events: number; wrong: string[] }> {
  const client = new etcdserverpb.WatchClient(server.endpoint, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.use_local_subchannel_pool': 1 });
  const call = client.watch();
  const wrong: string[] = [];
  let events = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`catch-up stalled at ${events} events`)), 60_000);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      call.removeAllListeners('data');
      call.on('error', () => {});
      call.cancel();
      client.close();
      if (error) reject(error);
      else resolve({ events, wrong });
    };
    call.on('data', (response: etcdserverpb.WatchResponse) => {
      for (const event of response.events) {
        const key = event.kv!.key.toString();
        const expected = valueOf(Number(key.slice('key-'.length)));
        if (!expected.equals(event.kv!.value) && wrong.length < 5) wrong.push(key);
        events++;
      }
      if (events >= keyCount) finish();
    });
    call.on('error', (error: Error) => finish(error));
    call.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: Buffer.from('key-'), rangeEnd: Buffer.from('key.'), startRevision: 1n }) });
  });
}

for (const kind of ['holdfast', 'etcd'] as const) {
  test(`${kind}: ${watchers} watchers catching up at once over ${keyCount} events of ${valueBytes} B receive every value intact`, async () => {
    const server = kind === 'etcd' ? await startEtcd() : await startHoldfast();
    try {
      await load(server);
      const results = await Promise.all(Array.from({ length: watchers }, () => catchUp(server)));
      for (const result of results) {
        assert.equal(result.events, keyCount);
        assert.deepEqual(result.wrong, [], 'every value is the one written');
      }
    } finally {
      await server.stop();
      removeDirectory(server.dataDir);
    }
  });
}
