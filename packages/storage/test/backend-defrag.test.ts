/**
 * Backend.defragment(): issue 12, finding 1 (a crash loop after compact +
 * defragment on a full database).
 *
 * - A file whose freelist lmdb would abort on is refused by the start-up
 *   verification, naming the file (before: it read cleanly, served, and
 *   aborted the process on the first write, on every restart).
 * - Writes committed while the copy runs are not lost (before: they went to
 *   the old file, which the swap then deleted).
 * - A SIGKILL at every step of defragment() leaves a backend that opens
 *   with every record, a sound freelist, and can be defragmented again.
 * - The new file is compact and its freelist sound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backend, BackendCorruptError, backendFileName, verifyBackendReadable, type DefragmentStep } from '../src/index.js';
import { findFreelistDamage } from '../src/backend/freelist-check.js';
import { damageFreelistKey, fillFragmented, fixtureKey, fixtureValue, isKept } from './defrag-fixtures.js';

const childPath = fileURLToPath(new URL('./defrag-crash-child.js', import.meta.url));

function withDirectory(fn: (parent: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const parent = mkdtempSync(join(tmpdir(), 'holdfast-defrag-'));
    try {
      await fn(parent);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  };
}

/** Asserts the backend holds exactly the records fillFragmented kept (plus `extra` keys written later). */
function assertFixture(backend: Backend, records: number): void {
  const table = backend.table('key');
  for (let index = 0; index < records; index++) {
    const value = table.get(fixtureKey(index));
    if (isKept(index)) assert.ok(value?.equals(fixtureValue(index)), `record ${index} is missing or wrong`);
    else assert.equal(value, undefined, `record ${index} was deleted and is back`);
  }
}

test('a backend whose freelist lmdb would abort on is refused at start, naming the file', withDirectory(async (parent) => {
  const directory = join(parent, 'db');
  const backend = Backend.open({ directory });
  await fillFragmented(backend, 4000);
  await backend.close();
  const file = join(directory, backendFileName);
  damageFreelistKey(file);
  const refusal = await verifyBackendReadable(directory).then(() => undefined, (error: unknown) => error);
  assert.ok(refusal instanceof BackendCorruptError, `expected a refusal, got ${String(refusal)}`);
  assert.equal(refusal.path, file);
  assert.match(refusal.message, new RegExp(`cannot open ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*freelist is damaged`));
}));

test('the freelist check finds no damage in files lmdb wrote, before and after defragment', withDirectory(async (parent) => {
  const directory = join(parent, 'db');
  const backend = Backend.open({ directory });
  await fillFragmented(backend, 6000);
  assert.equal(findFreelistDamage(join(directory, backendFileName)), undefined);
  await backend.defragment();
  backend.write(() => {
    for (let index = 0; index < 6000; index += 4) backend.table('key').delete(fixtureKey(index));
  });
  await backend.flushed();
  assert.equal(findFreelistDamage(join(directory, backendFileName)), undefined);
  await backend.close();
  await verifyBackendReadable(directory);
}));

test('defragment shrinks the file to the data and keeps every record', withDirectory(async (parent) => {
  const directory = join(parent, 'db');
  const records = 8000;
  const backend = Backend.open({ directory });
  await fillFragmented(backend, records);
  const before = backend.sizeBytes();
  const inUse = backend.sizeInUseBytes();
  await backend.defragment();
  assert.ok(backend.sizeBytes() < before, `file ${backend.sizeBytes()} bytes after, ${before} before`);
  assert.ok(backend.sizeBytes() <= inUse, `file ${backend.sizeBytes()} bytes after, ${inUse} in use before`);
  assertFixture(backend, records);
  // A second defragment in the same process works on the new file.
  await backend.defragment();
  assertFixture(backend, records);
  await backend.close();
  assert.deepEqual(readdirSync(parent), ['db']);
  const reopened = Backend.open({ directory });
  assertFixture(reopened, records);
  await reopened.close();
}));

test('writes committed while defragment copies are kept, in memory and on disk', withDirectory(async (parent) => {
  const directory = join(parent, 'db');
  const records = 20_000;
  const backend = Backend.open({ directory });
  await fillFragmented(backend, records);
  const table = backend.table('key');
  let written = 0;
  let running = true;
  const defragmented = backend.defragment().finally(() => (running = false));
  // A write and a commit at every turn of the event loop while the copy runs
  // (what the compactor's batches do), each to its own key.
  while (running) {
    backend.write(() => table.put(fixtureKey(records + written), fixtureValue(records + written)));
    written++;
    backend.commit();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await defragmented;
  assert.ok(written > 1, `only ${written} writes happened during the copy`);
  const check = (target: Backend) => {
    for (let index = records; index < records + written; index++) {
      assert.ok(target.table('key').get(fixtureKey(index))?.equals(fixtureValue(index)), `write ${index - records} of ${written} made during defragment is lost`);
    }
    assertFixture(target, records);
  };
  check(backend);
  await backend.close();
  const reopened = Backend.open({ directory });
  check(reopened);
  await reopened.close();
}));

test('close() during defragment stops it and leaves the live file', withDirectory(async (parent) => {
  const directory = join(parent, 'db');
  const records = 20_000;
  const backend = Backend.open({ directory });
  await fillFragmented(backend, records);
  const defragmented = backend.defragment().then(() => undefined, (error: unknown) => error);
  await new Promise<void>((resolve) => setImmediate(resolve));
  await backend.close();
  await defragmented;
  assert.deepEqual(readdirSync(parent), ['db']);
  const reopened = Backend.open({ directory });
  assertFixture(reopened, records);
  await reopened.close();
}));

const steps: DefragmentStep[] = ['copying', 'copied', 'ready', 'moved-live-aside', 'moved-copy-in', 'switched'];

for (const step of steps) {
  test(`SIGKILL at defragment step '${step}' leaves a backend that opens with every record`, withDirectory(async (parent) => {
    const directory = join(parent, 'db');
    const records = 3000;
    const { code, signal, stderr } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [childPath, directory, String(records), step], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal, stderr }));
    });
    assert.equal(signal, 'SIGKILL', `child exited with ${code}: ${stderr}`);
    Backend.recoverInterruptedDefragment(directory);
    assert.deepEqual(readdirSync(parent), ['db'], 'recovery leaves only the backend directory');
    await verifyBackendReadable(directory);
    const backend = Backend.open({ directory });
    assertFixture(backend, records);
    // And the recovered backend takes writes and another defragment.
    backend.write(() => backend.table('key').put(fixtureKey(records), fixtureValue(records)));
    await backend.defragment();
    assert.ok(backend.table('key').get(fixtureKey(records))?.equals(fixtureValue(records)));
    await backend.close();
    assert.ok(existsSync(join(directory, backendFileName)) && statSync(join(directory, backendFileName)).size > 0);
  }));
}

test('an empty key is refused when written, not when the batch commits (where lmdb would fail every write in it)', withDirectory(async (parent) => {
  const backend = Backend.open({ directory: join(parent, 'db') });
  backend.write(() => backend.table('key').put(fixtureKey(1), fixtureValue(1)));
  assert.throws(() => backend.write(() => backend.table('meta').put(Buffer.alloc(0), Buffer.from('x'))), /backend: empty key/);
  backend.commit();
  assert.ok(backend.table('key').get(fixtureKey(1))?.equals(fixtureValue(1)));
  await backend.close();
}));

test('a crash while the old file was being deleted leaves no db.old behind', withDirectory(async (parent) => {
  const directory = join(parent, 'db');
  const backend = Backend.open({ directory });
  backend.write(() => backend.table('key').put(fixtureKey(1), fixtureValue(1)));
  await backend.close();
  // What an interrupted recursive delete of <dir>.old leaves: data.mdb already gone, lock.mdb not yet.
  mkdirSync(join(parent, 'db.old'));
  writeFileSync(join(parent, 'db.old', 'lock.mdb'), 'left over');
  Backend.recoverInterruptedDefragment(directory);
  assert.deepEqual(readdirSync(parent).sort(), ['db']);
  const reopened = Backend.open({ directory });
  assert.ok(reopened.table('key').get(fixtureKey(1))?.equals(fixtureValue(1)));
  await reopened.close();
}));
