/**
 * The peer message codec: every message Raft sends comes back equal, and
 * hostile bytes (random, truncated, oversized, local types, bad ids,
 * trailing bytes) are refused with PeerMessageError, never anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Message } from '@holdfast/raft';
import { PeerMessageError, decodePeerMessage, encodePeerMessage, networkMessageTypes } from '../src/log/raft/message-codec.js';

const nodeId = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });
const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 64 });
const plain = { noNullPrototype: true } as const;
const entry = fc.record({ term: safe, index: safe, type: fc.constantFrom('normal' as const, 'confChange' as const), data: bytes }, plain);
const snapshot = fc.record({
  metadata: fc.record({ index: safe, term: safe, confState: fc.record({ voters: fc.array(nodeId, { maxLength: 5 }), learners: fc.array(nodeId, { maxLength: 2 }) }, plain) }, plain),
  data: bytes,
}, plain);
const message: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...networkMessageTypes),
    from: nodeId,
    to: nodeId,
    term: safe,
    logTerm: safe,
    index: safe,
    entries: fc.array(entry, { maxLength: 4 }),
    commit: safe,
    reject: fc.boolean(),
    rejectHint: safe,
    snapshot: fc.option(snapshot, { nil: undefined }),
    context: fc.option(bytes, { nil: undefined }),
    leaderTransfer: fc.option(fc.constant(true as const), { nil: undefined }),
  })
  // Optional fields absent rather than undefined, as Raft builds them.
  .map((fields) => Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as unknown as Message);

test('every message decodes to what was encoded', () => {
  fc.assert(fc.property(message, (sent) => assert.deepStrictEqual(decodePeerMessage(encodePeerMessage(sent)), sent)), { numRuns: 2000 });
});

test('hostile bytes are refused with PeerMessageError and nothing else', () => {
  const refusedOnly = (input: Uint8Array) => {
    try {
      decodePeerMessage(input);
    } catch (error) {
      assert.ok(error instanceof PeerMessageError, `${String(error)}`);
    }
  };
  // Random bytes, and every truncation and one-byte change of real messages.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), refusedOnly), { numRuns: 2000 });
  fc.assert(
    fc.property(message, fc.nat(), fc.nat(255), (sent, position, value) => {
      const encoded = encodePeerMessage(sent);
      refusedOnly(encoded.subarray(0, position % encoded.length));
      const changed = Buffer.from(encoded);
      changed[position % changed.length] = value;
      refusedOnly(changed);
    }),
    { numRuns: 1000 },
  );
});

test('each refusal says why', () => {
  const sent: Message = { type: 'app', from: 1n, to: 2n, term: 3, logTerm: 2, index: 5, entries: [{ term: 3, index: 6, type: 'normal', data: new Uint8Array([1, 2]) }], commit: 5, reject: false, rejectHint: 0 };
  const encoded = encodePeerMessage(sent);
  const refused = (input: Uint8Array, pattern: RegExp) => assert.throws(() => decodePeerMessage(input), (error: unknown) => error instanceof PeerMessageError && pattern.test(error.message));
  refused(encoded.subarray(0, encoded.length - 1), /truncated: entry data needs 2 bytes/);
  refused(Buffer.concat([encoded, Buffer.from([0])]), /1 bytes after its end/);
  const version = Buffer.from(encoded);
  version[0] = 2;
  refused(version, /format 2 is not 1/);
  const type = Buffer.from(encoded);
  type[1] = 200;
  refused(type, /type 200 is unknown/);
  const noSender = Buffer.from(encoded);
  noSender.fill(0, 2, 10);
  refused(noSender, /from is not a member id/);
  const hugeTerm = Buffer.from(encoded);
  hugeTerm.fill(0xff, 18, 26);
  refused(hugeTerm, /term 18446744073709551615 is out of range/);
  assert.deepStrictEqual(decodePeerMessage(encoded), sent);
  assert.throws(() => decodePeerMessage(encoded, 10), /over the 10-byte bound/);
  assert.throws(() => encodePeerMessage({ ...sent, type: 'hup' }), /local and never sent/);
});
