/**
 * stm: a read-modify-write transaction loop, like etcd's stm benchmark with
 * repeatable-read isolation. One operation:
 *
 *   1. read each of --keys-per-txn distinct random keys (one linearizable
 *      Range per key, as clientv3's STM does);
 *   2. commit one Txn: if every key's mod_revision still equals what was
 *      read (0 for a missing key), put the new values of the first
 *      floor(keys * --txn-wr-percent / 100) keys; else read all keys again;
 *   3. on a conflict, retry the commit with the values the failed Txn read.
 *
 * Values hold a counter in their first 8 bytes (uint64 LE) that each write
 * increments, so the sum of the counters over all keys equals the writes
 * committed (counter stmWrites): a check that no update was lost.
 */
import { etcdserverpb } from '@holdfast/proto';
import { range, txn } from '../connection.js';
import { runClientLoop } from '../load-context.js';
import { putRequest, rangeRequest } from './kv.js';
import type { Workload } from './workload.js';

const emptyBuffer = Buffer.alloc(0);

interface Observed {
  readonly key: Buffer;
  modRevision: bigint;
  counter: bigint;
}

function observe(key: Buffer, response: etcdserverpb.RangeResponse | undefined): Observed {
  const kv = response?.kvs[0];
  const counter = kv !== undefined && kv.value.length >= 8 ? kv.value.readBigUInt64LE(0) : 0n;
  return { key, modRevision: kv?.modRevision ?? 0n, counter };
}

export const stmWorkload: Workload = {
  runClient(context, clientIndex) {
    const connection = context.connectionFor(clientIndex);
    const { stmKeys, stmKeysPerTxn, stmWritePercent, stmMaxRetries, valueSizeBytes, requestTimeoutMs } = context.options;
    const writesPerTxn = Math.floor((stmKeysPerTxn * stmWritePercent) / 100);
    return runClientLoop(context, async () => {
      const keyNumbers = new Set<number>();
      // keysPerTxn <= stmKeys (validated), so this ends.
      while (keyNumbers.size < stmKeysPerTxn) keyNumbers.add(Math.floor(Math.random() * stmKeys));
      const keys = [...keyNumbers].map((n) => context.keys.key(n));
      const observed: Observed[] = [];
      for (const key of keys) observed.push(observe(key, await range(connection, rangeRequest(key, { serializable: false }), requestTimeoutMs)));

      for (let attempt = 0; ; attempt++) {
        const compare: etcdserverpb.Compare[] = observed.map((o) => ({
          result: etcdserverpb.Compare_CompareResult.EQUAL,
          target: etcdserverpb.Compare_CompareTarget.MOD,
          key: o.key,
          modRevision: o.modRevision,
          rangeEnd: emptyBuffer,
        }));
        const success = observed.slice(0, writesPerTxn).map((o) => {
          const value = Buffer.allocUnsafe(valueSizeBytes);
          context.value.copy(value);
          value.writeBigUInt64LE(o.counter + 1n, 0);
          return { requestPut: putRequest(o.key, value) };
        });
        const failure = observed.map((o) => ({ requestRange: rangeRequest(o.key, { serializable: false }) }));
        const response = await txn(connection, { compare, success, failure }, requestTimeoutMs);
        if (response.succeeded) {
          context.addCounter('stmWrites', writesPerTxn);
          return;
        }
        context.addCounter('stmConflicts', 1);
        if (attempt >= stmMaxRetries) throw new Error(`stm: still conflicting after ${stmMaxRetries} retries`);
        response.responses.forEach((op, i) => {
          const fresh = observe(observed[i]!.key, op.responseRange);
          observed[i]!.modRevision = fresh.modRevision;
          observed[i]!.counter = fresh.counter;
        });
      }
    });
  },
};
