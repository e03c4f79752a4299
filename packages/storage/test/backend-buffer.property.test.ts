/**
 * The backend's write buffer against a model: random writes (some of which
 * throw and must leave nothing), commits at random points, reads of every
 * kind (get, getUnsafe, range and rangeReverse with bounds and limits,
 * count) that must always see the model's state, and reopening the files,
 * which must find exactly the state as of the last commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Backend } from '../src/index.js';

type Model = Map<string, string>;

const keyArbitrary = fc.stringMatching(/^[a-d\xff]{0,3}$/).filter((key) => key.length > 0);
const operationArbitrary = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: keyArbitrary, value: fc.string({ maxLength: 4 }) }),
  fc.record({ kind: fc.constant('delete' as const), key: keyArbitrary }),
);
const stepArbitrary = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), operations: fc.array(operationArbitrary, { minLength: 1, maxLength: 5 }), fails: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), start: fc.option(keyArbitrary, { nil: undefined }), end: fc.option(keyArbitrary, { nil: undefined }), limit: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }) }) },
);

const bytes = (key: string) => Buffer.from(key, 'latin1');

function expectedRange(model: Model, start: string | undefined, end: string | undefined, limit: number | undefined, reverse: boolean): Array<[string, string]> {
  let entries = [...model].filter(([key]) => (start === undefined || key >= start) && (end === undefined || key < end)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (reverse) entries = entries.reverse();
  return limit === undefined ? entries : entries.slice(0, limit);
}

function checkReads(backend: Backend, model: Model, start: string | undefined, end: string | undefined, limit: number | undefined): void {
  const table = backend.table('meta');
  for (const key of ['a', 'b', 'ab', 'dd', '\xff']) {
    assert.equal(table.get(bytes(key))?.toString('latin1'), model.get(key));
    assert.equal(table.getUnsafe(bytes(key))?.toString('latin1'), model.get(key));
  }
  const read = (entries: Iterable<{ key: Buffer; value: Buffer }>) => [...entries].map(({ key, value }) => [key.toString('latin1'), value.toString('latin1')]);
  const startBytes = start === undefined ? undefined : bytes(start);
  const endBytes = end === undefined ? undefined : bytes(end);
  assert.deepEqual(read(table.range(startBytes, endBytes, limit)), expectedRange(model, start, end, limit, false), `range ${start}..${end} limit ${limit}`);
  assert.deepEqual(read(table.rangeReverse(startBytes, endBytes, limit)), expectedRange(model, start, end, limit, true), `rangeReverse ${start}..${end} limit ${limit}`);
  assert.equal(table.count(), model.size);
}

test('the write buffer always reads like the model, and a reopen finds the last commit', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(stepArbitrary, { maxLength: 40 }), async (steps) => {
      const directory = mkdtempSync(join(tmpdir(), 'holdfast-backend-buffer-'));
      // A long interval: commits happen only where the test says (or at the op bound).
      let backend = Backend.open({ directory, batchIntervalMs: 60_000, batchLimitOps: 12 });
      const model: Model = new Map();
      let committed: Model = new Map();
      try {
        for (const step of steps) {
          if (step.kind === 'write') {
            const before = new Map(model);
            try {
              backend.write(() => {
                for (const operation of step.operations) {
                  if (operation.kind === 'put') {
                    backend.table('meta').put(bytes(operation.key), bytes(operation.value));
                    model.set(operation.key, operation.value);
                  } else {
                    backend.table('meta').delete(bytes(operation.key));
                    model.delete(operation.key);
                  }
                }
                if (step.fails) throw new Error('write fails');
              });
            } catch {
              // A failed write leaves nothing behind.
              model.clear();
              for (const [key, value] of before) model.set(key, value);
            }
            if (backend.pendingChangeCount === 0) committed = new Map(model);
          } else if (step.kind === 'commit') {
            backend.commit();
            committed = new Map(model);
          } else if (step.kind === 'reopen') {
            // close() commits what is pending (a crash instead is the next test).
            await backend.close();
            committed = new Map(model);
            backend = Backend.open({ directory, batchIntervalMs: 60_000, batchLimitOps: 12 });
            assert.deepEqual(new Map([...backend.table('meta').range()].map(({ key, value }) => [key.toString('latin1'), value.toString('latin1')])), committed);
          } else {
            checkReads(backend, model, step.start, step.end, step.limit);
          }
        }
        checkReads(backend, model, undefined, undefined, undefined);
      } finally {
        await backend.close();
        rmSync(directory, { recursive: true, force: true });
      }
    }),
    { numRuns: 150 },
  );
});

test('what was never committed is gone after a crash; what was committed stays', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-backend-crash-'));
  try {
    const { spawnSync } = await import('node:child_process');
    const script = `
      import { Backend } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};
      const backend = Backend.open({ directory: ${JSON.stringify(directory)}, batchIntervalMs: 60000 });
      backend.write(() => backend.table('meta').put(Buffer.from('committed'), Buffer.from('yes')));
      backend.commit();
      backend.write(() => backend.table('meta').put(Buffer.from('pending'), Buffer.from('lost')));
      process.kill(process.pid, 'SIGKILL');
    `;
    spawnSync(process.execPath, ['--input-type=module', '-e', script]);
    const backend = Backend.open({ directory });
    assert.equal(backend.table('meta').get(Buffer.from('committed'))?.toString(), 'yes');
    assert.equal(backend.table('meta').get(Buffer.from('pending')), undefined);
    await backend.close();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
