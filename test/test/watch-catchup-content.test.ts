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
import { watchFromRevisionOne } from '../src/large-read.js';

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

/** Catches up from revision 1, checking every value; resolves with the events seen and the keys whose value was wrong. */
async function catchUp(server: RunningServer): Promise<{ events: number; wrong: string[] }> {
  const wrong: string[] = [];
  const { events } = await watchFromRevisionOne(server.endpoint, keyCount, 60_000, (event) => {
    const key = event.kv!.key.toString();
    if (!valueOf(Number(key.slice('key-'.length))).equals(event.kv!.value) && wrong.length < 5) wrong.push(key);
  });
  return { events, wrong };
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
