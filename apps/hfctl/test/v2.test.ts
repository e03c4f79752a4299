/**
 * The v2-style verbs (set, mk, update, rm, ls, mkdir, rmdir, exec-watch):
 * etcdctl 3.4 in v2 mode (ETCDCTL_API=2) against a real etcd serving the v2
 * API (--enable-v2), and hfctl emulating them over the v3 API against a
 * fresh etcd and a fresh Holdfast, must print the same: values, errors and
 * their codes, exit codes, every output format (-o simple | extended |
 * json), directories, TTLs, compare-and-swap, in-order keys, and the
 * commands exec-watch runs.
 *
 * Masked: v2 indexes and v3 revisions are different counters (the v2 store
 * starts after its membership records), so every index prints as <index>
 * (etcdctl's listing order is random without --sort: the steps sort);
 * expirations are timestamps. Help texts and flag errors are not compared:
 * etcdctl's v2 mode uses another command-line library.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSame, compare, runScenario, type Scenario } from './compare.js';
import { etcdMissing, removeDirectory, sleep, startServer, temporaryDirectory, type ServerKind } from './support.js';

const v2Scenario: Scenario = async (context) => {
  const endpoint = context.tool === 'etcdctl' ? `http://${context.server.endpoint}` : context.server.endpoint;
  const step = (args: string[], input?: string) =>
    context.run(['--endpoints', endpoint, ...args], { raw: true, api: '2', label: `etcdctl ${args.join(' ')}`, ...(input === undefined ? {} : { input }) });
  // (etcdctl 3.4's v2 exec-watch runs nothing unless --recursive is given, so both watchers are recursive.)
  const watcher = context.start(['--endpoints', endpoint, 'exec-watch', '-r', '/w', '--', 'sh', '-c', 'echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'], { raw: true, api: '2' });
  const recursiveWatcher = context.start(['--endpoints', endpoint, 'exec-watch', '--recursive', '/wd', '--', 'sh', '-c', 'echo "recursive $ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'], { raw: true, api: '2' });
  try {
    await step(['set', '/foo', 'bar']);
    await step(['set', 'foo', 'bar2']);
    await step(['-o', 'extended', 'set', '/foo', 'bar3']);
    await step(['-o', 'json', 'set', '/foo', 'bar4']);
    await step(['set', '/from-stdin'], 'value from stdin\n');
    await step(['mk', '/foo', 'x']);
    await step(['mk', '/new', 'x']);
    await step(['-o', 'json', 'mk', '/new2', 'y']);
    await step(['update', '/missing', 'y']);
    await step(['update', '/foo', 'up']);
    await step(['-o', 'extended', 'update', '/foo', 'up2']);
    await step(['mkdir', '/dir']);
    await step(['mkdir', '/dir']);
    await step(['-o', 'extended', 'mkdir', '/dir2']);
    await step(['-o', 'json', 'mkdir', '/dir3']);
    await step(['set', '/dir', 'x']);
    await step(['update', '/dir', 'x']);
    await step(['set', '/dir/a', '1']);
    await step(['set', '/dir/sub/b', '2']);
    await step(['set', '/foo/bar', 'x']);
    await step(['mk', '/foo/bar', 'x']);
    await step(['mkdir', '/foo/d']);
    await step(['ls', '--sort']);
    await step(['ls', '--sort', '/dir']);
    await step(['ls', '--sort', '--recursive']);
    await step(['ls', '--sort', '-p', '/dir']);
    await step(['ls', '--sort', '-r', '-p', '/']);
    await step(['ls', '/foo']);
    await step(['ls', '/nothing']);
    await step(['ls', '/foo/bar']);
    await step(['-o', 'extended', 'ls', '/dir/sub']);
    await step(['-o', 'json', 'ls', '--sort', '/dir']);
    await step(['-o', 'json', 'ls', '--sort', '-r', '/dir']);
    await step(['rm', '/dir']);
    await step(['rmdir', '/dir']);
    await step(['rmdir', '/dir2']);
    await step(['-o', 'json', 'rmdir', '/dir3']);
    await step(['rm', '/foo']);
    await step(['rm', '/foo']);
    await step(['-o', 'extended', 'rm', '/new']);
    await step(['-o', 'json', 'rm', '/new2']);
    await step(['rm', '--dir', '/dir/sub']);
    await step(['rm', '-r', '/dir']);
    await step(['-o', 'json', 'rm', '-r', '/from-stdin']);
    await step(['ls', '/dir']);
    await step(['set']);
    await step(['set', '/k']);
    await step(['mk', '/k']);
    await step(['update', '/k']);
    await step(['rm']);
    await step(['mkdir']);
    await step(['rmdir']);
    await step(['set', '/', 'x']);
    await step(['rm', '-r', '/']);
    await step(['-o', 'json', 'mk', '/dirx/y', 'v']);
    await step(['-o', 'extended', 'ls', '/dirx']);
    await step(['-o', 'json', 'ls', '/dirx']);
    await step(['-o', 'json', 'rmdir', '/dirx/y']);
    await step(['ls', '-p', '/dirx']);
    // Compare-and-swap and compare-and-delete.
    await step(['set', '--swap-with-value', 'nope', '/t', 'x']);
    await step(['set', '/t', 'v']);
    await step(['set', '--swap-with-value', 'nope', '/t', 'x']);
    await step(['-o', 'extended', 'set', '--swap-with-value', 'v', '/t', 'x']);
    await step(['-o', 'json', 'set', '--swap-with-value', 'x', '/t', 'y']);
    await step(['rm', '--with-value', 'zz', '/t']);
    await step(['rm', '--with-value', 'y', '/t']);
    await step(['set', '/t/x', '1']);
    await step(['rm', '--with-value', 'zz', '/t']);
    // TTLs (leases in the emulation).
    await step(['-o', 'extended', 'set', '--ttl', '100', '/ttl', 'v']);
    await step(['set', '--ttl', '2', '/short', 'v']);
    await step(['mkdir', '--ttl', '100', '/ttldir']);
    await step(['update', '--ttl', '100', '/ttl', 'w']);
    await sleep(4_000);
    await step(['ls', '/short']);
    await step(['mk', '/short', 'again']);
    // In-order keys.
    await step(['-o', 'extended', 'mk', '--in-order', '/q', 'job1']);
    await step(['mk', '--in-order', '/q', 'job2']);
    await step(['ls', '--sort', '/q']);
    // exec-watch runs its command for every change.
    await sleep(1_000);
    await step(['set', '/w', '1']);
    await step(['set', '/w', '2']);
    await step(['rm', '/w']);
    await step(['set', '/wd/a', 'x']);
    await step(['set', '/wd/b/c', 'y']);
    await step(['rm', '-r', '/wd']);
    await sleep(1_500);
  } finally {
    const codes = [await watcher.stop('SIGINT'), await recursiveWatcher.stop('SIGINT')];
    context.recordBackground('exec-watch -r /w -- sh -c ...', watcher, codes[0]!);
    context.recordBackground('exec-watch --recursive /wd -- sh -c ...', recursiveWatcher, codes[1]!);
  }
};

/** v2 indexes and v3 revisions count differently: mask them all, as the step texts print them. */
function maskIndexes(step: string): string {
  return step
    .replace(/^(Created-Index|Modified-Index|Index): \d+$/gm, '$1: <index>')
    .replace(/"(createdIndex|modifiedIndex)":\d+/g, '"$1":<index>')
    .replace(/\) \[\d+\]$/gm, ') [<index>]')
    .replace(/\(\[(\d+) != \d+\]\)/g, '([<index> != <index>])')
    .replace(/\/\d{20}\b/g, '/<in-order index>')
    .replace(/"expiration":"[^"]*"/g, '"expiration":"<time>"')
    .replace(/"ttl":(9\d|100)\b/g, '"ttl":<ttl>')
    .replace(/^TTL: (9\d|100)$/gm, 'TTL: <ttl>');
}

const missing = await etcdMissing();

test('v2 verbs: hfctl over v3 prints what etcdctl prints over the v2 API', { skip: missing ?? false, timeout: 300_000 }, async () => {
  const reference = await (async () => {
    const server = await startServer('etcd', { enableV2: true });
    const directory = temporaryDirectory('v2');
    try {
      return (await runScenario('etcdctl', server, directory, v2Scenario)).map(maskIndexes);
    } finally {
      await server.stop();
      removeDirectory(directory);
    }
  })();
  assert.match(reference.join('\n'), /Error: {2}100: Key not found \(\/missing\)/);
  assert.match(reference.join('\n'), /recursive set \/wd\/b\/c y/);
  for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
    const server = await startServer(kind);
    const directory = temporaryDirectory('v2');
    let emulated: string[];
    try {
      emulated = (await runScenario('hfctl', server, directory, v2Scenario)).map(maskIndexes);
    } finally {
      await server.stop();
      removeDirectory(directory);
    }
    assertSame(`v2 verbs, hfctl against ${kind} vs etcdctl against etcd --enable-v2`, compare(reference, emulated));
  }
});
