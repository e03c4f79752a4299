/**
 * The v2-style verbs (set, mk, update, rm, ls, mkdir, rmdir, exec-watch).
 * hfctl speaks the server's /v2/keys API as etcdctl 3.4 does in v2 mode
 * (ETCDCTL_API=2), so both tools against etcd --enable-v2 and against
 * Holdfast --enable-v2 must print the same: values, errors (with -o json
 * too) and their exit codes, every output format (-o simple | extended
 * | json), directories, TTLs, compare-and-swap, in-order keys, unreachable
 * endpoints, and the commands exec-watch runs. Against servers without the
 * v2 API both tools fail alike. And what hfctl writes is what curl reads
 * from /v2/keys on Holdfast, and the other way round (one layout).
 *
 * Masked: the v2 indexes of two servers count differently (etcd's v2 store
 * starts after its membership records), so every index prints as <index>
 * (etcdctl's listing order is random without --sort: the steps sort);
 * expirations are timestamps. Help texts and flag errors are not compared:
 * etcdctl's v2 mode uses another command-line library.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSame, compare, runScenario, type Scenario } from './compare.js';
import { etcdMissing, removeDirectory, run, sleep, startServer, temporaryDirectory, type RunningServer, type ServerKind, type Tool } from './support.js';

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
    await step(['-o', 'json', 'mk', '/foo', 'x']);
    await step(['-o', 'json', 'update', '/missing', 'x']);
    // No server on port 1: etcdctl's cluster sync fails first (exit 2).
    await context.run(['--endpoints', context.tool === 'etcdctl' ? 'http://127.0.0.1:1' : '127.0.0.1:1', 'set', '/foo', 'x'], { raw: true, api: '2', label: 'etcdctl --endpoints <closed port> set /foo x' });
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

/** Runs `scenario` with `tool` against a fresh server of `kind` (--enable-v2 when `enableV2`); the masked transcript. */
async function transcriptOf(tool: Tool, kind: ServerKind, enableV2: boolean, scenario: Scenario): Promise<string[]> {
  const server = await startServer(kind, { enableV2 });
  const directory = temporaryDirectory('v2');
  try {
    return (await runScenario(tool, server, directory, scenario)).map(maskIndexes);
  } finally {
    await server.stop();
    removeDirectory(directory);
  }
}

const runs = [
  ['etcdctl', 'etcd'],
  ['etcdctl', 'holdfast'],
  ['hfctl', 'etcd'],
  ['hfctl', 'holdfast'],
] as const satisfies ReadonlyArray<readonly [Tool, ServerKind]>;

test('v2 verbs: etcdctl and hfctl print the same against etcd --enable-v2 and Holdfast --enable-v2', { skip: missing ?? false, timeout: 300_000 }, async () => {
  // Four fresh servers at once: the scenario mostly waits (TTLs, watchers).
  const transcripts = await Promise.all(runs.map(([tool, kind]) => transcriptOf(tool, kind, true, v2Scenario)));
  const reference = transcripts[0]!;
  assert.match(reference.join('\n'), /Error: {2}100: Key not found \(\/missing\)/);
  assert.match(reference.join('\n'), /dial tcp 127\.0\.0\.1:1: connect: connection refused/);
  assert.match(reference.join('\n'), /recursive set \/wd\/b\/c y/);
  runs.slice(1).forEach(([tool, kind], i) => {
    assertSame(`v2 verbs, ${tool} against ${kind} --enable-v2 vs etcdctl against etcd --enable-v2`, compare(reference, transcripts[i + 1]!));
  });
});

/** A server without the v2 API: every verb fails as the Go client fails on a non-v2 answer. */
const noV2Scenario: Scenario = async (context) => {
  const endpoint = context.tool === 'etcdctl' ? `http://${context.server.endpoint}` : context.server.endpoint;
  for (const args of [['set', '/foo', 'bar'], ['ls'], ['-o', 'json', 'mk', '/a', 'b'], ['rm', '/foo'], ['mkdir', '/d']]) {
    await context.run(['--endpoints', endpoint, ...args], { raw: true, api: '2', label: `etcdctl ${args.join(' ')}` });
  }
};

test('v2 verbs against servers without --enable-v2: etcdctl and hfctl fail alike on etcd and Holdfast', { skip: missing ?? false, timeout: 120_000 }, async () => {
  const transcripts = await Promise.all(runs.map(([tool, kind]) => transcriptOf(tool, kind, false, noV2Scenario)));
  const reference = transcripts[0]!;
  assert.equal(reference.length, 5);
  for (const step of reference) assert.match(step, /exit 4\n[^]*response is invalid json/);
  runs.slice(1).forEach(([tool, kind], i) => {
    assertSame(`v2 verbs without the v2 API, ${tool} against ${kind} vs etcdctl against etcd`, compare(reference, transcripts[i + 1]!));
  });
});

/** GET (or PUT) on /v2/keys as curl sends it; the parsed JSON body. */
async function curl(server: RunningServer, method: string, path: string, form?: string): Promise<{ node?: Record<string, unknown>; errorCode?: number }> {
  const response = await fetch(`http://${server.endpoint}${path}`, {
    method,
    ...(form === undefined ? {} : { body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
  });
  return (await response.json()) as { node?: Record<string, unknown> };
}

test('one v2 layout on Holdfast: what hfctl writes curl reads from /v2/keys, and the other way round', { timeout: 60_000 }, async () => {
  const server = await startServer('holdfast', { enableV2: true });
  try {
    const hfctl = async (...args: string[]): Promise<Record<string, unknown>> => {
      const result = await run('hfctl', ['--endpoints', server.endpoint, '-o', 'json', ...args], { api: '2' });
      assert.equal(result.exitCode, 0, result.stderr);
      return (JSON.parse(result.stdout) as { node: Record<string, unknown> }).node;
    };
    const written = [await hfctl('set', '/shared/file', 'from hfctl'), await hfctl('mkdir', '/shared/dir'), await hfctl('set', '--ttl', '100', '/shared/dir/ttl', 'v')];
    for (const node of written) {
      const read = (await curl(server, 'GET', `/v2/keys${String(node.key)}`)).node!;
      assert.deepEqual(
        { key: read.key, value: read.value ?? '', dir: read.dir ?? false, createdIndex: read.createdIndex, modifiedIndex: read.modifiedIndex, ttl: read.ttl === undefined ? undefined : 'set' },
        { key: node.key, value: node.value, dir: node.dir ?? false, createdIndex: node.createdIndex, modifiedIndex: node.modifiedIndex, ttl: node.ttl === undefined ? undefined : 'set' },
        `curl reads ${String(node.key)} as hfctl wrote it`,
      );
    }
    const put = (await curl(server, 'PUT', '/v2/keys/shared/from-curl', 'value=by%20curl')).node!;
    const listed = await hfctl('ls', '--sort', '--recursive', '/shared');
    const names = (listed.nodes as Array<{ key: string; value?: string; modifiedIndex: number }>).map((node) => node.key);
    assert.deepEqual(names, ['/shared/dir', '/shared/file', '/shared/from-curl']);
    const fromCurl = (listed.nodes as Array<{ key: string; value?: string; modifiedIndex: number }>)[2]!;
    assert.deepEqual({ value: fromCurl.value, modifiedIndex: fromCurl.modifiedIndex }, { value: 'by curl', modifiedIndex: put.modifiedIndex });
    // hfctl rm, then curl no longer finds it.
    await hfctl('rm', '/shared/file');
    assert.equal((await curl(server, 'GET', '/v2/keys/shared/file')).errorCode, 100);
  } finally {
    await server.stop();
  }
});
