/**
 * readRange (the sliced, pre-encoded Range of issue 12, finding 4) against
 * applyRange (the object path etcd's semantics were first written in):
 * for random stores and every kind of RangeRequest (limits, sort orders and
 * targets, revision filters, keys_only, count_only, past revisions) the
 * encoded answer decodes to exactly the same RangeResponse, and its bytes
 * are the generated encoder's. Past the byte bound it is refused with
 * grpc-go's ResourceExhausted and the answer's true size, holding nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { Backend } from '@holdfast/storage';
import { MvccStore, rangeSliceKeys } from '@holdfast/mvcc';
import { etcdserverpb } from '@holdfast/proto';
import { applyRange } from '../src/apply/kv-apply.js';
import { readRange } from '../src/apply/range-answer.js';
import { ResponseTooLargeError } from '../src/errors.js';

const header = { clusterId: 11n, memberId: 22n, revision: 33n, raftTerm: 44n };
const bytes = (text: string) => Buffer.from(text, 'latin1');

async function withStore(body: (backend: Backend, store: MvccStore) => Promise<void>): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-range-answer-'));
  const backend = Backend.open({ directory, mapSizeBytes: 256 * 1024 * 1024 });
  try {
    await body(backend, MvccStore.open(backend));
  } finally {
    await backend.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

const SortOrder = etcdserverpb.RangeRequest_SortOrder;
const SortTarget = etcdserverpb.RangeRequest_SortTarget;
const request = fc.record({
  key: fc.constantFrom('', '\0', 'a', 'k/1', 'k/5'),
  rangeEnd: fc.constantFrom('', '\0', 'k/3', 'z', 'k/'),
  limit: fc.constantFrom(0, 1, 2, 7, 40),
  revision: fc.integer({ min: 0, max: 6 }),
  sortOrder: fc.constantFrom(SortOrder.NONE, SortOrder.ASCEND, SortOrder.DESCEND),
  sortTarget: fc.constantFrom(SortTarget.KEY, SortTarget.VERSION, SortTarget.CREATE, SortTarget.MOD, SortTarget.VALUE),
  keysOnly: fc.boolean(),
  countOnly: fc.boolean(),
  minModRevision: fc.constantFrom(0, 2, 4),
  maxModRevision: fc.constantFrom(0, 3, 5),
  minCreateRevision: fc.constantFrom(0, 2),
  maxCreateRevision: fc.constantFrom(0, 4),
});

test('readRange answers exactly what applyRange answers, byte for byte', async () => {
  await withStore(async (backend, store) => {
    // Six revisions over 60 keys: puts, overwrites, deletes, leases, empty values.
    const keys = Array.from({ length: 60 }, (_, i) => `k/${i}`);
    for (let revision = 0; revision < 5; revision++) {
      backend.write(() => {
        const txn = store.beginWrite();
        keys.forEach((key, i) => {
          if ((i + revision) % 3 === 0) txn.put(bytes(key), bytes(revision === 2 ? '' : `v${revision}-${(i * 7) % 11}`), BigInt((i % 4) * 1000));
        });
        if (revision === 3) txn.deleteRange(bytes('k/2'), bytes('k/3'));
        txn.end();
      });
    }
    await fc.assert(
      fc.asyncProperty(request, async (fields) => {
        const rangeRequest = etcdserverpb.RangeRequest.fromPartial({
          ...fields,
          key: bytes(fields.key),
          rangeEnd: bytes(fields.rangeEnd),
          limit: BigInt(fields.limit),
          revision: BigInt(fields.revision),
          minModRevision: BigInt(fields.minModRevision),
          maxModRevision: BigInt(fields.maxModRevision),
          minCreateRevision: BigInt(fields.minCreateRevision),
          maxCreateRevision: BigInt(fields.maxCreateRevision),
        });
        let expected: etcdserverpb.RangeResponse | Error;
        try {
          expected = { ...applyRange(store, rangeRequest), header };
        } catch (error) {
          expected = error as Error;
        }
        let actual: Buffer | Error;
        try {
          const answer = await readRange(store, rangeRequest);
          answer.header = header;
          actual = answer.encode();
          assert.equal(actual.length, answer.encodedLength());
        } catch (error) {
          actual = error as Error;
        }
        if (expected instanceof Error) {
          assert.ok(actual instanceof Error, `applyRange threw ${expected.name}, readRange did not`);
          assert.equal(actual.constructor, expected.constructor);
          return;
        }
        assert.ok(!(actual instanceof Error), String(actual));
        assert.deepEqual(actual, Buffer.from(etcdserverpb.RangeResponse.encode(expected).finish()));
      }),
      { numRuns: 400 },
    );
  });
});

test('a large answer spans many slices and chunks, and decodes to every key in order', async () => {
  await withStore(async (backend, store) => {
    const keyCount = rangeSliceKeys * 3 + 5;
    backend.write(() => {
      const txn = store.beginWrite();
      for (let i = 0; i < keyCount; i++) txn.put(bytes(`key/${String(i).padStart(6, '0')}`), Buffer.alloc(1500, i % 251), 0n);
      txn.end();
    });
    const answer = await readRange(store, etcdserverpb.RangeRequest.fromPartial({ key: bytes('\0'), rangeEnd: bytes('\0') }));
    answer.header = header;
    const objects = answer.kvs;
    const decoded = etcdserverpb.RangeResponse.decode(answer.encode());
    assert.equal(decoded.kvs.length, keyCount);
    assert.equal(decoded.count, BigInt(keyCount));
    decoded.kvs.forEach((kv, i) => {
      assert.equal(kv.key.toString('latin1'), `key/${String(i).padStart(6, '0')}`);
      assert.equal(kv.value.length, 1500);
      assert.equal(kv.value[0], i % 251);
    });
    assert.deepEqual(objects, decoded.kvs);
  });
});

test('past the byte bound: grpc-go\'s ResourceExhausted with the answer\'s full size', async () => {
  await withStore(async (backend, store) => {
    backend.write(() => {
      const txn = store.beginWrite();
      for (let i = 0; i < 500; i++) txn.put(bytes(`key/${i}`), Buffer.alloc(1000, 1), 0n);
      txn.end();
    });
    for (const extra of [{}, { sortOrder: SortOrder.DESCEND }]) {
      const rangeRequest = etcdserverpb.RangeRequest.fromPartial({ key: bytes('\0'), rangeEnd: bytes('\0'), ...extra });
      // applyRange's header is the one readRange gives (the revision only; the server adds the rest).
      const full = etcdserverpb.RangeResponse.encode(applyRange(store, rangeRequest)).finish().length;
      const bound = 100_000;
      await assert.rejects(readRange(store, rangeRequest, bound).then((answer) => answer.assertSendable(bound)), (error: unknown) => {
        assert.ok(error instanceof ResponseTooLargeError);
        assert.equal(error.code, GrpcStatus.RESOURCE_EXHAUSTED);
        const match = /^grpc: trying to send message larger than max \((\d+) vs\. (\d+)\)$/.exec(error.message);
        assert.ok(match, error.message);
        assert.equal(Number(match[2]), bound);
        // A plain range: the exact size etcd names. Sorted: the KeyValues read (count and header are not known yet).
        if (extra.sortOrder === undefined) assert.equal(Number(match[1]), full);
        else assert.ok(Math.abs(Number(match[1]) - full) <= 16, `${match[1]} for an answer of ${full} bytes`);
        return true;
      });
    }
  });
});
