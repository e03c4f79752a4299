/**
 * encodeV2EventPieces, the streamed form of a large v2 GET (issue 12,
 * finding 4): its pieces joined are exactly encodeV2Event's bytes, for any
 * tree of files and directories (empty directories, missing indexes, TTLs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { countV2Nodes, encodeV2Event, encodeV2EventPieces, type V2Node } from '../src/api/v2/v2-json.js';

const { node } = fc.letrec<{ node: V2Node }>((tie) => ({
  node: fc.record(
    {
      key: fc.oneof(fc.constant(''), fc.string({ maxLength: 8 })),
      value: fc.string({ maxLength: 8 }),
      dir: fc.boolean(),
      expirationMs: fc.integer({ min: 0, max: 2 ** 41 }),
      ttl: fc.integer({ min: 0, max: 100 }),
      nodes: fc.array(tie('node'), { maxLength: 4 }),
      modifiedIndex: fc.nat(50),
      createdIndex: fc.nat(50),
    },
    { requiredKeys: ['key', 'modifiedIndex', 'createdIndex'] },
  ),
}));

test('the pieces of a v2 event are encodeV2Event\'s bytes', () => {
  fc.assert(
    fc.property(fc.constantFrom('get', 'set'), fc.option(node, { nil: undefined }), fc.option(node, { nil: undefined }), (action, eventNode, prevNode) => {
      const event = { action, ...(eventNode === undefined ? {} : { node: eventNode }), ...(prevNode === undefined ? {} : { prevNode }) };
      assert.deepEqual(Buffer.from([...encodeV2EventPieces(event)].join(''), 'latin1'), encodeV2Event(event));
    }),
  );
  assert.equal(countV2Nodes({ key: '/a', dir: true, nodes: [{ key: '/a/b', modifiedIndex: 1, createdIndex: 1 }], modifiedIndex: 1, createdIndex: 1 }), 2);
});
