/**
 * WatcherIndex against a naive model: a list of (watcher, range) pairs, where
 * a key matches a single-key range when equal, [start, end) when inside, and
 * a from-key range (end null) when >= start. Random adds and deletes of every
 * shape the hub sees (single keys, etcd prefixes, from-key, arbitrary ranges),
 * over a small alphabet that includes 0x00 and 0xff bytes so that prefixes
 * with trailing 0xff and the empty prefix come up often.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WatcherIndex, prefixRangeEndOf, type WatchRange } from '../src/watch/watcher-index.js';

/** A model range, kept next to the watcher it was added with. */
interface Entry {
  readonly watcher: number;
  readonly range: WatchRange;
}

function modelMatches(range: WatchRange, key: string): boolean {
  if (range.end === undefined) return key === range.start;
  if (range.end === null) return key >= range.start;
  return key >= range.start && key < range.end;
}

// Bytes as latin1 chars: the edges (0x00, 0xff) and a few ordinary ones.
const byteArbitrary = fc.constantFrom('\x00', '\x01', 'a', 'b', '\xfe', '\xff');
const stringArbitrary = (minLength: number) => fc.array(byteArbitrary, { minLength, maxLength: 4 }).map((chars) => chars.join(''));
/** Event keys: etcd refuses empty keys, so the index never sees one. */
const keyArbitrary = stringArbitrary(1);

/** The ranges a watch stream can hand the index. */
const rangeArbitrary: fc.Arbitrary<WatchRange> = fc.oneof(
  // One key.
  keyArbitrary.map((start) => ({ start, end: undefined })),
  // A prefix, as `--prefix` sends it (the empty prefix and all-0xff prefixes have no end).
  stringArbitrary(0).map((prefix) => ({ start: prefix, end: prefixRangeEndOf(prefix) })),
  // From a key onwards (range end "\0" on the wire; an empty key is "\0").
  stringArbitrary(0).map((start) => ({ start: start === '' ? '\x00' : start, end: null })),
  // Any non-empty [start, end).
  fc
    .tuple(stringArbitrary(1), stringArbitrary(1))
    .filter(([a, b]) => a !== b)
    .map(([a, b]) => (a < b ? { start: a, end: b } : { start: b, end: a })),
);

type Command = { kind: 'add'; range: WatchRange } | { kind: 'delete'; pick: number } | { kind: 'check'; key: string };

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: rangeArbitrary.map((range) => ({ kind: 'add' as const, range })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'delete' as const, pick })) },
  { weight: 4, arbitrary: keyArbitrary.map((key) => ({ kind: 'check' as const, key })) },
);

function checkKey(index: WatcherIndex<number>, model: readonly Entry[], key: string): void {
  const visited: number[] = [];
  index.forEachMatching(key, (watcher) => visited.push(watcher));
  const expected = model.filter((entry) => modelMatches(entry.range, key)).map((entry) => entry.watcher);
  assert.deepEqual(
    [...visited].sort((a, b) => a - b),
    [...expected].sort((a, b) => a - b),
    `key ${JSON.stringify(key)}: visited ${JSON.stringify(visited)}, want ${JSON.stringify(expected)}; ranges ${JSON.stringify(model)}`,
  );
}

test('WatcherIndex visits exactly the matching watchers, each once', () => {
  fc.assert(
    fc.property(fc.array(commandArbitrary, { minLength: 1, maxLength: 60 }), fc.array(keyArbitrary, { maxLength: 10 }), (commands, probeKeys) => {
      const index = new WatcherIndex<number>();
      let model: Entry[] = [];
      let nextWatcher = 0;
      for (const command of commands) {
        if (command.kind === 'add') {
          const watcher = nextWatcher++;
          index.add(watcher, command.range);
          model.push({ watcher, range: command.range });
        } else if (command.kind === 'delete') {
          if (model.length === 0) continue;
          const victim = model[command.pick % model.length]!;
          index.delete(victim.watcher, victim.range);
          model = model.filter((entry) => entry !== victim);
        } else {
          checkKey(index, model, command.key);
        }
        assert.equal(index.size, model.length, 'size');
      }
      // Every key any range mentions, one byte around it, and some random ones.
      const probes = new Set<string>(probeKeys);
      for (const { range } of model) {
        for (const edge of [range.start, range.end]) {
          if (typeof edge !== 'string' || edge === '') continue;
          probes.add(edge);
          probes.add(edge + '\x00');
          probes.add(edge + '\xff');
          probes.add(edge.slice(0, -1) || '\x00');
        }
      }
      for (const key of probes) checkKey(index, model, key);
    }),
    { numRuns: 1000 },
  );
});

test('deleting a watcher that is not there changes nothing', () => {
  fc.assert(
    fc.property(fc.array(rangeArbitrary, { minLength: 1, maxLength: 10 }), rangeArbitrary, keyArbitrary, (ranges, stranger, key) => {
      const index = new WatcherIndex<number>();
      ranges.forEach((range, watcher) => index.add(watcher, range));
      index.delete(-1, stranger);
      assert.equal(index.size, ranges.length);
      checkKey(
        index,
        ranges.map((range, watcher) => ({ watcher, range })),
        key,
      );
      // Deleting twice is harmless.
      index.delete(0, ranges[0]!);
      index.delete(0, ranges[0]!);
      assert.equal(index.size, ranges.length - 1);
      checkKey(
        index,
        ranges.map((range, watcher) => ({ watcher, range })).filter((entry) => entry.watcher !== 0),
        key,
      );
    }),
    { numRuns: 500 },
  );
});

test('prefixRangeEndOf is etcd GetPrefixRangeEnd, and a prefix range holds exactly the keys with that prefix', () => {
  assert.equal(prefixRangeEndOf('a'), 'b');
  assert.equal(prefixRangeEndOf('a\xff'), 'b');
  assert.equal(prefixRangeEndOf('a\xfe\xff\xff'), 'a\xff');
  assert.equal(prefixRangeEndOf('\xff\xff'), null);
  assert.equal(prefixRangeEndOf(''), null);
  fc.assert(
    fc.property(stringArbitrary(0), keyArbitrary, (prefix, key) => {
      const range = { start: prefix, end: prefixRangeEndOf(prefix) };
      assert.equal(modelMatches(range, key), key.startsWith(prefix), `prefix ${JSON.stringify(prefix)} key ${JSON.stringify(key)}`);
    }),
    { numRuns: 2000 },
  );
});

test('the same watcher set shape at scale: 2,000 prefixes of many lengths', () => {
  const index = new WatcherIndex<number>();
  const model: Entry[] = [];
  for (let watcher = 0; watcher < 2000; watcher++) {
    const prefix = `k/${watcher % 7}/${watcher}`.slice(0, 2 + (watcher % 9));
    const range = { start: prefix, end: prefixRangeEndOf(prefix) };
    index.add(watcher, range);
    model.push({ watcher, range });
  }
  for (const key of ['k/1/1', 'k/3/333', 'k/', 'k', 'k/6/1999', 'k/6/19990']) checkKey(index, model, key);
});
