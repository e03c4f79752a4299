/**
 * The MVCC store against a plain reference model: the model keeps the whole
 * key space at every revision as a Map, and every read at every revision must
 * agree with it, through compaction and reopening the backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Backend } from '@holdfast/storage';
import { MvccStore, CompactedError, FutureRevisionError, type KeyValue } from '../src/index.js';

interface ModelValue {
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: bigint;
}
type ModelState = Map<string, ModelValue>;

class Model {
  /** states[r] = key space at revision r; revision 1 is the empty store. */
  readonly states: ModelState[] = [new Map(), new Map()];
  compacted = 0;
  get current(): number {
    return this.states.length - 1;
  }
  apply(ops: Op[]): void {
    const next = new Map(this.states[this.current]);
    const revision = this.current + 1;
    let changed = false;
    for (const op of ops) {
      if (op.kind === 'put') {
        const previous = next.get(op.key);
        next.set(op.key, {
          value: op.value,
          createRevision: previous?.createRevision ?? revision,
          modRevision: revision,
          version: (previous?.version ?? 0) + 1,
          lease: 0n,
        });
        changed = true;
      } else {
        for (const key of [...next.keys()]) {
          if (inRange(key, op.key, op.end)) {
            next.delete(key);
            changed = true;
          }
        }
      }
    }
    if (changed) this.states.push(next);
  }
}

type Op = { kind: 'put'; key: string; value: string } | { kind: 'delete'; key: string; end: string | undefined };

function inRange(key: string, start: string, end: string | undefined): boolean {
  if (end === undefined) return key === start;
  if (end === '\0') return key >= start;
  return key >= start && key < end;
}

const keyArbitrary = fc.constantFrom('a', 'ab', 'b', 'b\0', 'c', '\xff', 'd/1', 'd/2');
const endArbitrary = fc.option(fc.constantFrom('\0', 'b', 'c', 'd0', 'a'), { nil: undefined });
const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArbitrary, value: fc.string({ maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArbitrary, end: endArbitrary }) },
);
type Command =
  | { kind: 'write'; ops: Op[] }
  | { kind: 'compact'; back: number }
  | { kind: 'reopen' };
const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('write' as const), ops: fc.array(opArbitrary, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
);

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const text = (data: Uint8Array): string => Buffer.from(data).toString('latin1');

/** Txn-like write: a put after a delete of the same key would be refused by the server, so keep ops distinct. */
function distinctOps(ops: Op[]): Op[] {
  const seen = new Set<string>();
  return ops.filter((op) => {
    const keys = op.kind === 'put' ? [op.key] : [`range:${op.key}:${op.end}`];
    if (keys.some((k) => seen.has(k))) return false;
    keys.forEach((k) => seen.add(k));
    return true;
  });
}

function checkAllReads(store: MvccStore, model: Model): void {
  assert.equal(store.currentRevision, model.current, 'current revision');
  for (let revision = 1; revision <= model.current + 1; revision++) {
    const starts = ['\0', 'a', 'b', 'd/'];
    for (const start of starts) {
      for (const end of ['\0', undefined, 'c', 'd0']) {
        const read = (): ReturnType<MvccStore['range']> => store.range(bytes(start), end === undefined ? undefined : bytes(end), { revision });
        if (revision > model.current) {
          assert.throws(read, FutureRevisionError);
          continue;
        }
        if (revision < model.compacted) {
          assert.throws(read, CompactedError);
          continue;
        }
        const expected = [...model.states[revision]!.entries()]
          .filter(([key]) => inRange(key, start, end))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        const result = read();
        assert.equal(result.count, expected.length, `count at ${revision} [${start}, ${end})`);
        assert.deepEqual(result.kvs.map(view), expected.map(([key, value]) => ({ key, ...value })), `kvs at ${revision} [${start}, ${end})`);
        if (expected.length > 1) {
          const limited = store.range(bytes(start), end === undefined ? undefined : bytes(end), { revision, limit: 1 });
          assert.equal(limited.kvs.length, 1);
          assert.equal(limited.count, expected.length);
        }
      }
    }
  }
}

function view(kv: KeyValue): { key: string } & ModelValue {
  return { key: text(kv.key), value: text(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
}

test('MVCC store agrees with the reference model through writes, compaction and reopen', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(commandArbitrary, { minLength: 1, maxLength: 25 }), async (commands) => {
      const directory = mkdtempSync(join(tmpdir(), 'holdfast-mvcc-'));
      let backend = Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 });
      let store = MvccStore.open(backend);
      const model = new Model();
      try {
        for (const command of commands) {
          if (command.kind === 'write') {
            const ops = distinctOps(command.ops);
            backend.write(() => {
              const txn = store.beginWrite();
              for (const op of ops) {
                if (op.kind === 'put') txn.put(bytes(op.key), bytes(op.value), 0n);
                else txn.deleteRange(bytes(op.key), op.end === undefined ? undefined : bytes(op.end));
              }
              txn.end();
            });
            model.apply(ops);
          } else if (command.kind === 'compact') {
            const target = Math.max(1, model.current - command.back);
            if (target <= model.compacted) {
              assert.throws(() => backend.write(() => store.compact(target)), CompactedError);
            } else {
              await backend.write(() => store.compact(target));
              model.compacted = target;
            }
          } else {
            await store.compactionSettled();
            await backend.close();
            backend = Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 });
            store = MvccStore.open(backend);
          }
          checkAllReads(store, model);
        }
      } finally {
        await store.compactionSettled();
        await backend.close();
        rmSync(directory, { recursive: true, force: true });
      }
    }),
    { numRuns: 150 },
  );
});

test('two stores with the same history hash the same, before and after compaction', async () => {
  const directories = [mkdtempSync(join(tmpdir(), 'holdfast-hash-')), mkdtempSync(join(tmpdir(), 'holdfast-hash-'))];
  const backends = directories.map((directory) => Backend.open({ directory, mapSizeBytes: 64 * 1024 * 1024 }));
  const stores = backends.map((backend) => MvccStore.open(backend));
  try {
    const history: Array<[string, string | null]> = [['a', '1'], ['b', '2'], ['a', '3'], ['b', null], ['c', '4'], ['a', '5']];
    stores.forEach((store, i) => {
      for (const [key, value] of history) {
        backends[i]!.write(() => {
          const txn = store.beginWrite();
          if (value === null) txn.deleteRange(bytes(key), undefined);
          else txn.put(bytes(key), bytes(value), 0n);
          txn.end();
        });
      }
    });
    const before = stores.map((store) => store.hashByRevision(0).hash);
    assert.equal(before[0], before[1]);
    await backends[0]!.write(() => stores[0]!.compact(4));
    await backends[1]!.write(() => stores[1]!.compact(4));
    const after = stores.map((store) => store.hashByRevision(0));
    assert.equal(after[0]!.hash, after[1]!.hash);
    assert.equal(after[0]!.compactRevision, 4);
    assert.throws(() => stores[0]!.hashByRevision(3), CompactedError);
    // A different history hashes differently.
    backends[1]!.write(() => {
      const txn = stores[1]!.beginWrite();
      txn.put(bytes('z'), bytes('9'), 0n);
      txn.end();
    });
    assert.notEqual(stores[1]!.hashByRevision(0).hash, after[1]!.hash);
  } finally {
    for (const backend of backends) await backend.close();
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  }
});
