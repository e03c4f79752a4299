import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { etcdserverpb, mvccpb } from '@holdfast/proto';
import { encodeKeyValue } from '@holdfast/mvcc';
import { StoredPutEvent, encodeWatchResponse, encodedEventBytes } from '../src/watch/watch-response-codec.js';

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));

const keyValue: fc.Arbitrary<mvccpb.KeyValue> = fc.record({
  key: bytes(40),
  createRevision: int64,
  modRevision: int64,
  version: int64,
  // Large enough that the length prefix takes several varint bytes.
  value: fc.oneof(bytes(64), bytes(300), fc.constant(Buffer.alloc(70_000, 7))),
  lease: int64,
});

const event: fc.Arbitrary<mvccpb.Event> = fc.record({
  type: fc.constantFrom(mvccpb.Event_EventType.PUT, mvccpb.Event_EventType.DELETE),
  kv: fc.option(keyValue, { nil: undefined }),
  prevKv: fc.option(keyValue, { nil: undefined }),
});

const header: fc.Arbitrary<etcdserverpb.ResponseHeader> = fc.record({ clusterId: uint64, memberId: uint64, revision: int64, raftTerm: uint64 });

/** Responses whose events come from a small shared pool, as a fan-out hands the same event to many watchers. */
const responses = fc.array(event, { minLength: 1, maxLength: 6 }).chain((pool) =>
  fc.array(
    fc.record({
      header: fc.option(header, { nil: undefined }),
      watchId: int64,
      created: fc.boolean(),
      canceled: fc.boolean(),
      compactRevision: int64,
      cancelReason: fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 10 })),
      fragment: fc.boolean(),
      events: fc.array(fc.constantFrom(...pool), { maxLength: 8 }),
    }),
    { minLength: 1, maxLength: 5 },
  ),
);

test('encodeWatchResponse gives the generated encoder\'s bytes, events shared between responses or not', () => {
  fc.assert(
    fc.property(responses, (list) => {
      // Twice: the second pass reads every event's bytes from the cache.
      for (let pass = 0; pass < 2; pass++) {
        for (const response of list) {
          const expected = Buffer.from(etcdserverpb.WatchResponse.encode(response).finish());
          assert.deepEqual(encodeWatchResponse(response), expected);
          assert.deepEqual(etcdserverpb.WatchResponse.decode(encodeWatchResponse(response)), etcdserverpb.WatchResponse.decode(expected));
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('encodedEventBytes is what one event adds to a response', () => {
  fc.assert(
    fc.property(event, (one) => {
      const without = etcdserverpb.WatchResponse.encode(etcdserverpb.WatchResponse.fromPartial({ watchId: 3n })).finish().length;
      const withEvent = etcdserverpb.WatchResponse.encode(etcdserverpb.WatchResponse.fromPartial({ watchId: 3n, events: [one] })).finish().length;
      assert.equal(encodedEventBytes(one), withEvent - without);
    }),
    { numRuns: 200 },
  );
});

test('a PUT encoded from its stored KeyValue bytes (history catch-up) is the generated encoder\'s event', () => {
  const stored = fc.record({
    key: bytes(40),
    createRevision: fc.integer({ min: 0, max: 2 ** 40 }),
    modRevision: fc.integer({ min: 0, max: 2 ** 40 }),
    version: fc.integer({ min: 0, max: 2 ** 40 }),
    value: fc.oneof(bytes(64), bytes(300), fc.constant(Buffer.alloc(70_000, 7))),
    lease: int64,
  });
  fc.assert(
    fc.property(stored, header, (kv, responseHeader) => {
      const protoKv: mvccpb.KeyValue = { key: kv.key, createRevision: BigInt(kv.createRevision), modRevision: BigInt(kv.modRevision), version: BigInt(kv.version), value: kv.value, lease: kv.lease };
      const fromStore = new StoredPutEvent(kv, encodeKeyValue(kv));
      const response = { header: responseHeader, watchId: 1n, created: false, canceled: false, compactRevision: 0n, cancelReason: '', fragment: false };
      const plain: mvccpb.Event = { type: mvccpb.Event_EventType.PUT, kv: protoKv };
      const expected = Buffer.from(etcdserverpb.WatchResponse.encode({ ...response, events: [plain] }).finish());
      // Alone, between other events, and as the decoded form the JSON gateway reads.
      assert.deepEqual(encodeWatchResponse({ ...response, events: [fromStore] }), expected);
      const mixed = [plain, fromStore, plain];
      assert.deepEqual(encodeWatchResponse({ ...response, events: mixed }), Buffer.from(etcdserverpb.WatchResponse.encode({ ...response, events: [plain, plain, plain] }).finish()));
      assert.equal(encodedEventBytes(fromStore), encodedEventBytes(plain));
      assert.deepEqual(fromStore.kv, protoKv);
      assert.equal(fromStore.type, plain.type);
      assert.equal(fromStore.prevKv, undefined);
    }),
  );
});
