/**
 * watchConfig against Holdfast and etcd: a typed first version, one version
 * per revision (a multi-key txn is one version, never half of one), parse
 * failures, slow iterators, a resync after the resume history was compacted
 * during a network cut, and updates across a kill -9 and restart of the
 * server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Compare, Op, watchConfig, type ConfigVersion } from '../src/index.js';
import { TcpProxy, forEachServer, sleep, testClientOptions, waitUntil } from './helpers.js';
import { repositoryRoot } from './support/index.js';

const timeout = 60_000;

interface AppConfig {
  readonly host: string;
  readonly port: number;
  readonly features: readonly string[];
}

/** The parser of the tests: throws on a non-numeric port, as a real one would. */
function parseAppConfig(entries: ReadonlyMap<string, string>): AppConfig {
  const port = Number(entries.get('port') ?? '80');
  if (!Number.isInteger(port)) throw new Error(`port is not a number: ${entries.get('port')}`);
  return {
    host: entries.get('host') ?? 'localhost',
    port,
    features: [...entries.keys()].filter((key) => key.startsWith('features/')).map((key) => key.slice('features/'.length)).sort(),
  };
}

/** Collects every version an iterator yields, in the background. */
function collect<T>(iterable: AsyncIterable<ConfigVersion<T>>): { versions: ConfigVersion<T>[]; outcome: Promise<unknown> } {
  const versions: ConfigVersion<T>[] = [];
  const outcome = (async () => {
    for await (const version of iterable) versions.push(version);
  })().then(
    () => 'ended',
    (error: unknown) => error,
  );
  return { versions, outcome };
}

let counter = 0;
const uniquePrefix = (what: string): string => `/config-test/${what}-${process.pid}-${++counter}/`;

forEachServer('watchConfig', (suite) => {
  test('first version: every key under the prefix at one revision, parsed', { timeout }, async () => {
    const client = suite.client();
    const prefix = uniquePrefix('first');
    await client.put(`${prefix}host`, 'db.internal');
    await client.put(`${prefix}port`, '5432');
    await client.put(`${prefix}features/a`, '1');
    await client.put(`${prefix.slice(0, -1)}x`, 'outside the prefix');
    const before = await client.get('anything');
    const config = await watchConfig(client, prefix, parseAppConfig);
    try {
      assert.deepEqual(config.value, { host: 'db.internal', port: 5432, features: ['a'] });
      assert.ok(config.revision >= before.header.revision);
      assert.deepEqual([...config.current.entries.keys()].sort(), ['features/a', 'host', 'port']);
      assert.deepEqual(config.current.changed, []);
    } finally {
      config.close();
    }
  });

  test('a txn that changes several keys is one version at its revision; single writes one version each', { timeout }, async () => {
    const client = suite.client();
    const prefix = uniquePrefix('txn');
    await client.put(`${prefix}host`, 'old-host');
    await client.put(`${prefix}port`, '1000');
    await client.put(`${prefix}features/old`, '1');
    const config = await watchConfig(client, prefix, parseAppConfig);
    const seen = collect(config);
    const events: ConfigVersion<AppConfig>[] = [];
    config.on('update', (version) => events.push(version));
    try {
      const txn = await client
        .txn()
        .if(Compare.value(`${prefix}host`, '=', 'old-host'))
        .then(Op.put(`${prefix}host`, 'new-host'), Op.put(`${prefix}port`, '2000'), Op.delete(`${prefix}features/old`), Op.put(`${prefix}features/new`, '1'))
        .commit();
      assert.equal(txn.succeeded, true);
      const single1 = await client.put(`${prefix}port`, '2001');
      const single2 = await client.put(`${prefix}features/more`, '1');
      await waitUntil(() => seen.versions.length >= 3, 10_000, 'three versions');
      await sleep(200);
      assert.equal(seen.versions.length, 3, 'one version per revision, nothing in between');
      const [atomic, second, third] = seen.versions;
      assert.equal(atomic!.revision, txn.header.revision);
      assert.deepEqual(atomic!.value, { host: 'new-host', port: 2000, features: ['new'] });
      assert.deepEqual(atomic!.changed, ['features/new', 'features/old', 'host', 'port']);
      assert.equal(atomic!.coalesced, 1);
      assert.equal(second!.revision, single1.header.revision);
      assert.deepEqual(second!.changed, ['port']);
      assert.equal(second!.value.port, 2001);
      assert.equal(third!.revision, single2.header.revision);
      assert.deepEqual(third!.value.features, ['more', 'new']);
      // Every observer saw the same versions; none saw a half-applied txn.
      assert.deepEqual(
        events.map((version) => version.revision),
        seen.versions.map((version) => version.revision),
      );
      for (const version of [...events, ...seen.versions]) {
        const halfApplied = (version.value.host === 'new-host') !== (version.value.port >= 2000);
        assert.equal(halfApplied, false, `version at ${version.revision} is half of the txn`);
      }
      assert.equal(config.revision, single2.header.revision);
    } finally {
      config.close();
    }
    assert.equal(await seen.outcome, 'ended');
  });

  test('a value parse rejects is skipped, reported, and folded into the next good version', { timeout }, async () => {
    const client = suite.client();
    const prefix = uniquePrefix('invalid');
    await client.put(`${prefix}port`, '10');
    const config = await watchConfig(client, prefix, parseAppConfig);
    const seen = collect(config);
    const invalid: bigint[] = [];
    config.on('invalid', (_error, revision) => invalid.push(revision));
    try {
      const bad = await client.put(`${prefix}port`, 'not a number');
      await waitUntil(() => invalid.length === 1, 10_000, 'the invalid report');
      assert.equal(invalid[0], bad.header.revision);
      assert.equal(config.value.port, 10, 'the last good value stays');
      const host = await client.put(`${prefix}host`, 'h');
      const good = await client.put(`${prefix}port`, '11');
      await waitUntil(() => seen.versions.length === 1, 10_000, 'the good version');
      await sleep(200);
      // The host put is at a revision whose entries still had the bad port: skipped too.
      assert.deepEqual(invalid, [bad.header.revision, host.header.revision]);
      assert.equal(seen.versions.length, 1);
      assert.equal(seen.versions[0]!.revision, good.header.revision);
      assert.deepEqual(seen.versions[0]!.changed, ['host', 'port']);
      assert.deepEqual(seen.versions[0]!.value, { host: 'h', port: 11, features: [] });
    } finally {
      config.close();
    }
    await assert.rejects(watchConfig(client, `${prefix}port`, () => {
      throw new Error('refused at start');
    }), /refused at start/);
  });

  test('a slow iterator gets a bounded queue of consistent versions; current sees every one', { timeout }, async () => {
    const client = suite.client();
    const prefix = uniquePrefix('slow');
    const config = await watchConfig(client, prefix, (entries) => Number(entries.get('n') ?? '0'), { maxPendingUpdates: 2 });
    const updates = config.updates();
    const all: bigint[] = [];
    config.on('update', (version) => all.push(version.revision));
    try {
      let last = 0n;
      for (let n = 1; n <= 10; n++) last = (await client.put(`${prefix}n`, String(n))).header.revision;
      await client.put(`${prefix}other`, 'x');
      await config.waitForRevision(last + 1n);
      assert.equal(all.length, 11);
      const first = await updates.next();
      const second = await updates.next();
      assert.equal(first.done, false);
      assert.equal(second.done, false);
      assert.equal(first.value.value, 1);
      assert.equal(first.value.coalesced, 1);
      // The second absorbed every later version: the latest value, every key changed, 10 revisions.
      assert.equal(second.value.value, 10);
      assert.equal(second.value.revision, last + 1n);
      assert.equal(second.value.coalesced, 10);
      assert.deepEqual(second.value.changed, ['n', 'other']);
      const pending = updates.next();
      config.close();
      assert.deepEqual(await pending, { value: undefined, done: true });
    } finally {
      config.close();
    }
  });

  test('an abort signal ends iterators and done with its reason', { timeout }, async () => {
    const client = suite.client();
    const controller = new AbortController();
    const config = await watchConfig(client, uniquePrefix('abort'), (entries) => entries.size, { signal: controller.signal });
    const seen = collect(config);
    controller.abort(new Error('stop now'));
    assert.match(String(await seen.outcome), /stop now/);
    await assert.rejects(config.done, /stop now/);
    assert.equal(config.closed, true);
  });

  test('history compacted while disconnected: the view is read again and the difference is one version', { timeout }, async () => {
    const direct = suite.client();
    const prefix = uniquePrefix('compact');
    await direct.put(`${prefix}host`, 'a');
    await direct.put(`${prefix}port`, '1');
    const proxy = await TcpProxy.start(suite.server().clientPort);
    const viaProxy = new Client({ ...testClientOptions, endpoints: [proxy.endpoint] });
    try {
      const config = await watchConfig(viaProxy, prefix, parseAppConfig);
      const seen = collect(config);
      const resyncs: bigint[] = [];
      config.on('resync', (revision) => resyncs.push(revision));
      proxy.cut();
      await direct.put(`${prefix}host`, 'b');
      await direct.put(`${prefix}host`, 'c');
      await direct.delete(`${prefix}port`);
      const last = await direct.put(`${prefix}features/x`, '1');
      await direct.compact(last.header.revision);
      proxy.restore();
      await config.waitForRevision(last.header.revision);
      assert.equal(resyncs.length, 1, 'one resync');
      assert.equal(seen.versions.length, 1, 'the difference is one version');
      const version = seen.versions[0]!;
      assert.ok(version.revision >= last.header.revision);
      assert.deepEqual(version.changed, ['features/x', 'host', 'port']);
      assert.deepEqual(version.value, { host: 'c', port: 80, features: ['x'] });
      // And it goes on watching from there.
      const after = await direct.put(`${prefix}port`, '9');
      const next = await config.waitForRevision(after.header.revision);
      assert.equal(next.value.port, 9);
      config.close();
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });

  test('updates survive a kill -9 and restart of the server', { timeout: 90_000 }, async () => {
    const client = suite.client();
    const prefix = uniquePrefix('restart');
    await client.put(`${prefix}host`, 'before');
    const config = await watchConfig(client, prefix, parseAppConfig);
    const seen = collect(config);
    try {
      const beforeKill = await client.put(`${prefix}port`, '1');
      await config.waitForRevision(beforeKill.header.revision);
      await suite.server().restart();
      // The first write after the restart: the watch has to have resumed to see it.
      const txn = await client.txn().then(Op.put(`${prefix}host`, 'after'), Op.put(`${prefix}port`, '2'), Op.put(`${prefix}features/r`, '1')).commit();
      const version = await config.waitForRevision(txn.header.revision, { signal: AbortSignal.timeout(20_000) });
      assert.equal(version.revision, txn.header.revision);
      assert.deepEqual(version.value, { host: 'after', port: 2, features: ['r'] });
      assert.deepEqual(version.changed, ['features/r', 'host', 'port']);
      assert.deepEqual(
        seen.versions.map((v) => v.revision),
        [beforeKill.header.revision, txn.header.revision],
        'each revision once, in order, across the restart',
      );
    } finally {
      config.close();
    }
  });

  test("the README's example runs as written", { timeout }, async () => {
    const readme = readFileSync(join(repositoryRoot, 'packages', 'client', 'README.md'), 'utf8');
    const code = /```js\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('## Config watching')))?.[1];
    assert.ok(code !== undefined, 'the README has the example');
    const script = code
      .replace("'@holdfast/client'", JSON.stringify(pathToFileURL(join(repositoryRoot, 'packages', 'client', 'dist', 'src', 'index.js')).href))
      .replace("['127.0.0.1:2379']", JSON.stringify([suite.server().endpoint]));
    const directory = mkdtempSync(join(tmpdir(), 'holdfast-config-example-'));
    try {
      const file = join(directory, 'example.mjs');
      writeFileSync(file, script);
      const { code: exitCode, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [file], { timeout: 30_000 }, (error, out, err) => resolve({ code: error === null ? 0 : 1, stdout: out, stderr: err })),
      );
      assert.equal(exitCode, 0, stderr);
      assert.match(stdout, /^\{ host: 'localhost', port: 80 \} as of revision \d+n\n\d+n \[ 'host', 'port' \] \{ host: 'db2', port: 5433 \}\n$/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
