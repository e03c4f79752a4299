/**
 * The v2 keys API the etcd documents teach with curl, against real etcd 3.4
 * (--enable-v2) and Holdfast: the same requests, the same status codes,
 * headers and bodies, byte for byte once v2 indexes, times and cluster ids
 * are masked.
 *
 * Indexes are masked by order of appearance (the first index seen is <1>,
 * the next new one <2>, ...) in bodies, X-Etcd-Index, error causes and
 * in-order key names, so that a wrong relation between two indexes (a
 * createdIndex that should equal an earlier modifiedIndex, a store index
 * that should have moved) still fails. Raft indexes differ by design (etcd
 * proposes every v2 write, failed ones too, and SYNC entries for TTLs) and
 * are only checked to be there.
 *
 * Covered: set/get, mk (prevExist=false) twice, update of a missing key,
 * compare-and-swap and compare-and-delete with prevValue and prevIndex
 * (success and failure), directories (set, listing, recursive and sorted,
 * hidden keys, not-a-file, not-a-directory, delete non-empty and
 * recursive), the root, in-order POST keys, TTLs (expiry, removal,
 * refresh, a directory's TTL and its children), waits (from history with
 * waitIndex, a long poll woken by a write, by an expiry and by a recursive
 * delete, hidden keys, 401 after more than 1000 writes), and bad input
 * (every parameter error code, bad escapes, a bad content type, a body over
 * 10 MiB, an unknown method, an unclean path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { writeFileSync } from 'node:fs';
import { etcdAvailability, removeDirectory, startEtcd, startHoldfast, type RunningServer } from '../src/support.js';

interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** One HTTP request with the path sent exactly as given (curl style: -d bodies are urlencoded forms). */
function send(server: RunningServer, method: string, path: string, body?: string | Buffer, contentType = 'application/x-www-form-urlencoded'): Promise<Reply> {
  return open(server, method, path, body, contentType).then(async (response) => ({ status: response.statusCode ?? 0, headers: response.headers, body: await readAll(response) }));
}

/** Sends a request and resolves once the response headers are in (a long poll is then waiting). */
function open(server: RunningServer, method: string, path: string, body?: string | Buffer, contentType = 'application/x-www-form-urlencoded'): Promise<IncomingMessage> {
  const [host, port] = server.endpoint.split(':');
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body === undefined ? {} : { 'Content-Type': contentType };
    const request = httpRequest({ host, port: Number(port), method, path, headers, agent: false }, resolve);
    // A server may answer and close before reading a huge body.
    request.on('error', reject);
    if (body !== undefined) request.write(body, () => {});
    request.end();
  });
}

function readAll(response: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    response.on('error', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Renames v2 indexes by order of appearance, per server. */
class IndexMask {
  private readonly names = new Map<string, string>();
  name(index: string): string {
    if (index === '0') return '0';
    let name = this.names.get(index);
    if (name === undefined) this.names.set(index, (name = `<i${this.names.size + 1}>`));
    return name;
  }
}

/** Go map order is random: listings not asked sorted are sorted here. */
function sortNodes(node: { nodes?: Array<{ key?: string }> } | undefined): void {
  if (node?.nodes === undefined) return;
  node.nodes.sort((a, b) => ((a.key ?? '') < (b.key ?? '') ? -1 : 1));
  for (const child of node.nodes) sortNodes(child as never);
}

function describe(reply: Reply, mask: IndexMask, sortListing: boolean): string {
  let body = reply.body;
  if (sortListing && body.startsWith('{"action":"get"')) {
    const parsed = JSON.parse(body) as { node?: { nodes?: Array<{ key?: string }> } };
    sortNodes(parsed.node);
    body = `${JSON.stringify(parsed)}\n`;
  }
  const headers = [
    `content-type=${reply.headers['content-type'] ?? '-'}`,
    `x-etcd-index=${reply.headers['x-etcd-index'] === undefined ? '-' : mask.name(String(reply.headers['x-etcd-index']))}`,
    `x-raft-index=${reply.headers['x-raft-index'] === undefined ? '-' : '<present>'}`,
    `x-raft-term=${reply.headers['x-raft-term'] ?? '-'}`,
    `x-etcd-cluster-id=${reply.headers['x-etcd-cluster-id'] === undefined ? '-' : '<present>'}`,
    ...(reply.headers.location === undefined ? [] : [`location=${reply.headers.location}`]),
    ...(reply.headers.allow === undefined ? [] : [`allow=${reply.headers.allow}`]),
  ];
  // The 401's cause names the oldest index kept: say how it relates to the store index.
  const storeIndex = /"index":(\d+)/.exec(body)?.[1];
  body = body.replace(/\[(\d+)\/(\d+)\]/g, (_m, oldest: string, asked: string) => {
    const relation = storeIndex !== undefined && Number(oldest) === Number(storeIndex) - 999 ? '<index-999>' : oldest;
    return `[${relation}/${mask.name(asked)}]`;
  });
  body = body
    .replace(/"(modifiedIndex|createdIndex|index)":(\d+)/g, (_m, field: string, value: string) => `"${field}":${mask.name(value)}`)
    .replace(/\/(\d{20})\b/g, (_m, value: string) => `/<key ${mask.name(String(Number(value)))}>`)
    .replace(/\[(\d+) != (\d+)\]/g, (_m, a: string, b: string) => `[${mask.name(a)} != ${mask.name(b)}]`)
    .replace(/"expiration":"[^"]+"/g, '"expiration":"<time>"');
  return `${reply.status} ${headers.join(' ')}\n${body}`;
}

/** What the sequence remembers between steps (per server). */
interface Context {
  readonly server: RunningServer;
  readonly mask: IndexMask;
  readonly transcript: string[];
  /** The last JSON body. */
  last: { node?: { modifiedIndex?: number; createdIndex?: number; key?: string }; index?: number } | undefined;
  saved: Map<string, number>;
}

async function step(context: Context, method: string, path: string, body?: string, options: { sorted?: boolean; contentType?: string; label?: string } = {}): Promise<Reply> {
  const reply = await send(context.server, method, path, body, options.contentType);
  const shownPath = path.replace(/(prevIndex|waitIndex)=(\d+)(?![\d.])/g, (_m, name: string, value: string) => `${name}=${context.mask.name(value)}`);
  const label = options.label ?? `${method} ${shownPath}${body === undefined ? '' : ` -d ${body}`}`;
  context.transcript.push(`${label}\n${describe(reply, context.mask, !(options.sorted ?? path.includes('sorted=true')))}`);
  try {
    context.last = JSON.parse(reply.body) as Context['last'];
  } catch {
    context.last = undefined;
  }
  return reply;
}

/** A long poll: opened, then `trigger` runs while it waits, then its answer is read. */
async function longPoll(context: Context, path: string, trigger: () => Promise<void>, label?: string): Promise<void> {
  const response = await open(context.server, 'GET', path);
  await trigger();
  let timer: NodeJS.Timeout | undefined;
  const body = await Promise.race([readAll(response), new Promise<string>((resolve) => (timer = setTimeout(() => resolve('(no answer within 15 s)'), 15_000)))]);
  clearTimeout(timer);
  response.destroy();
  const reply: Reply = { status: response.statusCode ?? 0, headers: response.headers, body };
  const shownPath = path.replace(/(prevIndex|waitIndex)=(\d+)(?![\d.])/g, (_m, name: string, value: string) => `${name}=${context.mask.name(value)}`);
  context.transcript.push(`LONG POLL GET ${shownPath}${label === undefined ? '' : ` (${label})`}\n${describe(reply, context.mask, true)}`);
}

const saved = (context: Context, name: string): number => {
  const value = context.saved.get(name);
  assert.ok(value !== undefined, `${name} was saved`);
  return value;
};

async function runSequence(server: RunningServer): Promise<string[]> {
  const context: Context = { server, mask: new IndexMask(), transcript: [], last: undefined, saved: new Map() };
  const remember = (name: string, field: 'modifiedIndex' | 'createdIndex'): void => {
    const value = context.last?.node?.[field];
    assert.ok(value !== undefined, `${name}: the last answer has node.${field}`);
    context.saved.set(name, value);
  };

  // ---- set, get, the root ----
  await step(context, 'GET', '/v2/keys/');
  await step(context, 'PUT', '/v2/keys/message', 'value=Hello');
  remember('message created', 'createdIndex');
  await step(context, 'GET', '/v2/keys/message');
  await step(context, 'PUT', '/v2/keys/message', 'value=Hello+World');
  await step(context, 'GET', '/v2/keys');
  await step(context, 'GET', '/v2/keys/nothing');

  // ---- mk twice, update of a missing key, update, compare-and-swap, compare-and-delete ----
  // (Values are words: numbers in a compare's cause are indexes, masked.)
  await step(context, 'PUT', '/v2/keys/mk?prevExist=false', 'value=one');
  await step(context, 'PUT', '/v2/keys/mk?prevExist=false', 'value=two');
  await step(context, 'PUT', '/v2/keys/missing?prevExist=true', 'value=one');
  await step(context, 'PUT', '/v2/keys/mk?prevExist=true', 'value=three');
  await step(context, 'PUT', '/v2/keys/mk?prevValue=three', 'value=four');
  remember('mk cas', 'modifiedIndex');
  await step(context, 'PUT', '/v2/keys/mk?prevValue=three', 'value=five');
  await step(context, 'PUT', `/v2/keys/mk?prevIndex=${saved(context, 'mk cas')}`, 'value=six');
  await step(context, 'PUT', `/v2/keys/mk?prevIndex=${saved(context, 'mk cas')}`, 'value=seven');
  await step(context, 'PUT', '/v2/keys/mk?prevIndex=999999&prevValue=zz', 'value=eight');
  await step(context, 'PUT', '/v2/keys/mk?prevExist=true&prevValue=six', 'value=nine');
  await step(context, 'PUT', '/v2/keys/missing?prevValue=x', 'value=one');
  await step(context, 'DELETE', '/v2/keys/mk?prevValue=nope');
  await step(context, 'GET', '/v2/keys/mk');
  remember('mk now', 'modifiedIndex');
  await step(context, 'DELETE', `/v2/keys/mk?prevIndex=${saved(context, 'mk now')}`);
  await step(context, 'DELETE', '/v2/keys/mk');
  await step(context, 'PUT', '/v2/keys/message?noValueOnSuccess=true', 'value=quiet');

  // ---- directories ----
  await step(context, 'PUT', '/v2/keys/dir?dir=true');
  remember('dir created', 'createdIndex');
  await step(context, 'PUT', '/v2/keys/dir?dir=true');
  await step(context, 'PUT', '/v2/keys/dir/a', 'value=1');
  await step(context, 'PUT', '/v2/keys/dir/sub/b', 'value=2');
  await step(context, 'PUT', '/v2/keys/dir/sub/c/d', 'value=3');
  await step(context, 'PUT', '/v2/keys/dir/_hidden', 'value=h');
  await step(context, 'GET', '/v2/keys/dir');
  await step(context, 'GET', '/v2/keys/dir?recursive=true');
  await step(context, 'GET', '/v2/keys/dir?recursive=true&sorted=true');
  await step(context, 'GET', '/v2/keys/?recursive=true&sorted=true');
  await step(context, 'GET', '/v2/keys/dir/_hidden');
  await step(context, 'GET', '/v2/keys/dir/sub/c/d?recursive=true');
  await step(context, 'PUT', '/v2/keys/dir', 'value=x');
  await step(context, 'PUT', '/v2/keys/dir?prevExist=true', 'value=x');
  await step(context, 'PUT', '/v2/keys/dir?prevValue=x', 'value=y');
  await step(context, 'PUT', '/v2/keys/dir/a/x', 'value=1');
  await step(context, 'PUT', '/v2/keys/dir/a/x?prevExist=false', 'value=1');
  await step(context, 'GET', '/v2/keys/dir/nope/deeper');
  await step(context, 'GET', '/v2/keys/dir/a/deeper');
  await step(context, 'DELETE', '/v2/keys/dir');
  await step(context, 'DELETE', '/v2/keys/dir?dir=true');
  await step(context, 'DELETE', '/v2/keys/dir/a?dir=true');
  await step(context, 'DELETE', '/v2/keys/dir/sub?prevValue=x');
  await step(context, 'PUT', '/v2/keys/file', 'value=f');
  await step(context, 'PUT', '/v2/keys/file?dir=true');
  await step(context, 'PUT', '/v2/keys/empty?dir=true');
  await step(context, 'DELETE', '/v2/keys/empty?dir=true');
  // Waiting from before the recursive delete: a key below it hears of the delete.
  await step(context, 'DELETE', '/v2/keys/dir?recursive=true');
  remember('dir deleted', 'modifiedIndex');
  await step(context, 'GET', `/v2/keys/dir/sub/b?wait=true&waitIndex=${saved(context, 'dir deleted')}`);
  // etcd matches a directory's delete by string prefix, slash or not.
  await step(context, 'GET', `/v2/keys/dirx?wait=true&waitIndex=${saved(context, 'dir deleted')}`);
  await step(context, 'GET', '/v2/keys/dir');
  await step(context, 'DELETE', '/v2/keys/');
  await step(context, 'PUT', '/v2/keys/', 'value=1');
  await step(context, 'PUT', '/v2/keys/?dir=true');
  await step(context, 'DELETE', '/v2/keys/?prevValue=x');
  await step(context, 'PUT', '/v2/keys/?prevExist=true', 'value=1');

  // ---- in-order keys ----
  await step(context, 'POST', '/v2/keys/queue', 'value=job1');
  await step(context, 'POST', '/v2/keys/queue', 'value=job2');
  await step(context, 'POST', '/v2/keys/queue', 'dir=true');
  await step(context, 'GET', '/v2/keys/queue?sorted=true');
  await step(context, 'POST', '/v2/keys/message', 'value=under+a+file');

  // ---- TTLs ----
  await step(context, 'PUT', '/v2/keys/tmp', 'value=t&ttl=2');
  await step(context, 'GET', '/v2/keys/tmp');
  await longPoll(context, '/v2/keys/tmp?wait=true', async () => {}, 'woken by the expiry');
  await step(context, 'GET', '/v2/keys/tmp');
  await step(context, 'PUT', '/v2/keys/keep', 'value=k&ttl=30');
  await step(context, 'PUT', '/v2/keys/keep?prevExist=true', 'value=k&ttl=');
  await step(context, 'GET', '/v2/keys/keep');
  await step(context, 'PUT', '/v2/keys/refreshed', 'value=r&ttl=30');
  remember('refreshed set', 'modifiedIndex');
  await step(context, 'PUT', '/v2/keys/refreshed?refresh=true&prevExist=true', 'ttl=30');
  // A refresh is not an event: waiting from the set sees the set, and from after it the next real change.
  await step(context, 'GET', `/v2/keys/refreshed?wait=true&waitIndex=${saved(context, 'refreshed set')}`);
  await longPoll(context, `/v2/keys/refreshed?wait=true&waitIndex=${saved(context, 'refreshed set') + 1}`, async () => {
    await send(context.server, 'DELETE', '/v2/keys/refreshed');
  }, 'a delete after the refresh');
  await step(context, 'PUT', '/v2/keys/tdir?dir=true&ttl=2');
  await step(context, 'PUT', '/v2/keys/tdir/in', 'value=1');
  await step(context, 'GET', '/v2/keys/tdir?recursive=true');
  await longPoll(context, '/v2/keys/tdir/in?wait=true', async () => {}, 'woken by the directory expiring');
  await step(context, 'GET', '/v2/keys/tdir/in');
  // A directory's TTL refreshed with the same TTL (etcd's documented way) leaves its children alone.
  await step(context, 'PUT', '/v2/keys/d2?dir=true&ttl=30');
  await step(context, 'PUT', '/v2/keys/d2/child', 'value=c');
  await step(context, 'PUT', '/v2/keys/d2?dir=true&ttl=30&prevExist=true');
  await step(context, 'GET', '/v2/keys/d2');
  await step(context, 'DELETE', '/v2/keys/d2?recursive=true');
  // Another TTL, and none (on a directory without children: see README for one with them).
  await step(context, 'PUT', '/v2/keys/d3?dir=true&ttl=30');
  await step(context, 'PUT', '/v2/keys/d3?dir=true&ttl=60&prevExist=true');
  await step(context, 'GET', '/v2/keys/d3');
  await step(context, 'PUT', '/v2/keys/d3?dir=true&prevExist=true', 'ttl=');
  await step(context, 'GET', '/v2/keys/d3');
  await step(context, 'DELETE', '/v2/keys/d3?dir=true');

  // ---- waits ----
  await step(context, 'GET', `/v2/keys/message?wait=true&waitIndex=${saved(context, 'message created')}`);
  await step(context, 'GET', `/v2/keys/?wait=true&recursive=true&waitIndex=${saved(context, 'dir created')}`);
  await step(context, 'GET', `/v2/keys/dir?wait=true&waitIndex=${saved(context, 'dir created') + 1}`);
  await longPoll(context, '/v2/keys/lp?wait=true', async () => {
    await sleep(200);
    await send(context.server, 'PUT', '/v2/keys/lp', 'value=woken');
  }, 'woken by a write');
  await longPoll(context, '/v2/keys/hw?wait=true&recursive=true', async () => {
    await send(context.server, 'PUT', '/v2/keys/hw/_secret', 'value=s');
    await send(context.server, 'PUT', '/v2/keys/hw/visible', 'value=v');
  }, 'a hidden key is skipped');
  await longPoll(context, '/v2/keys/gone/deep?wait=true', async () => {
    await send(context.server, 'PUT', '/v2/keys/gone/deep', 'value=1');
  }, 'the watched key created');
  await step(context, 'GET', '/v2/keys/quorum?quorum=true');

  // ---- bad input ----
  await step(context, 'PUT', '/v2/keys/bad', 'value=1&ttl=abc');
  await step(context, 'PUT', '/v2/keys/bad', 'value=1&ttl=-1');
  await step(context, 'PUT', '/v2/keys/bad?prevIndex=x', 'value=1');
  await step(context, 'PUT', '/v2/keys/bad?prevIndex=', 'value=1');
  await step(context, 'GET', '/v2/keys/bad?wait=true&waitIndex=1.5');
  await step(context, 'GET', '/v2/keys/bad?recursive=maybe');
  await step(context, 'GET', '/v2/keys/bad?sorted=2');
  await step(context, 'PUT', '/v2/keys/bad?wait=true', 'value=1');
  await step(context, 'PUT', '/v2/keys/bad?prevValue=', 'value=1');
  await step(context, 'PUT', '/v2/keys/bad?prevExist=maybe', 'value=1');
  await step(context, 'PUT', '/v2/keys/bad?refresh=true', 'value=1&ttl=5');
  await step(context, 'PUT', '/v2/keys/bad?refresh=true', 'value=');
  await step(context, 'PUT', '/v2/keys/bad?refresh=maybe', 'ttl=5');
  await step(context, 'PUT', '/v2/keys/bad?noValueOnSuccess=x', 'value=1');
  await step(context, 'PUT', '/v2/keys/bad', 'value=%zz');
  await step(context, 'PUT', '/v2/keys/bad?a=1;b=2', 'value=1');
  await step(context, 'PUT', '/v2/keys/bad', 'value=1', { contentType: ';;' });
  await step(context, 'PUT', '/v2/keys/bad', 'value=1', { contentType: 'text' });
  await step(context, 'PUT', '/v2/keys/bad', '{"value":"json"}', { contentType: 'application/json' });
  await step(context, 'PUT', '/v2/keys/bad', 'value=1', { contentType: 'application/x-www-form-urlencoded; charset' });
  await step(context, 'PUT', '/v2/keys/bad%zz', 'value=1');
  await step(context, 'PATCH', '/v2/keys/bad', 'value=1');
  await step(context, 'GET', '/v2/keys//bad');
  await step(context, 'PUT', '/v2/keys/a/../bad', 'value=1');
  const huge = `value=${'x'.repeat(10 * 1024 * 1024)}`;
  await step(context, 'PUT', '/v2/keys/huge', huge, { label: 'PUT /v2/keys/huge -d value=<10 MiB + 6 bytes>' });
  await step(context, 'GET', '/v2/keys/huge');

  // ---- bytes: escaping, unicode, keys with spaces ----
  await step(context, 'PUT', '/v2/keys/esc', `value=${encodeURIComponent('<a & "b">\n\ttab\u2028é\u0001')}`);
  await step(context, 'PUT', '/v2/keys/with%20space/%C3%A9', 'value=%FF%FE');
  await step(context, 'GET', '/v2/keys/with%20space?recursive=true');

  // ---- the 1000-event window ----
  await step(context, 'PUT', '/v2/keys/window', 'value=start');
  remember('window start', 'modifiedIndex');
  const statuses = new Map<number, number>();
  for (let i = 0; i < 1000; i++) {
    const reply = await send(context.server, 'PUT', `/v2/keys/filler/${i % 10}`, `value=${i}`);
    statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
  }
  context.transcript.push(`1000 PUTs: ${[...statuses].map(([status, count]) => `${count} x ${status}`).join(', ')}`);
  await step(context, 'GET', `/v2/keys/window?wait=true&waitIndex=${saved(context, 'window start')}`);
  await step(context, 'GET', `/v2/keys/filler/9?wait=true&waitIndex=${saved(context, 'window start') + 1}`);
  return context.transcript;
}

const availability = await etcdAvailability();

test('v2 keys API answers like etcd 3.4 --enable-v2', { skip: availability.available ? false : availability.reason, timeout: 300_000 }, async () => {
  const transcripts: Record<string, string[]> = {};
  for (const start of [() => startEtcd({ extraArgs: ['--enable-v2'] }), () => startHoldfast({ extraArgs: ['--enable-v2'] })]) {
    const server = await start();
    try {
      transcripts[server.kind] = await runSequence(server);
    } finally {
      await server.stop();
      removeDirectory(server.dataDir);
    }
  }
  if (process.env.HOLDFAST_V2_COMPARE_DUMP !== undefined) writeFileSync(process.env.HOLDFAST_V2_COMPARE_DUMP, JSON.stringify(transcripts, null, 2));
  const etcd = transcripts.etcd!;
  const holdfast = transcripts.holdfast!;
  assert.equal(holdfast.length, etcd.length, 'same number of exchanges');
  const differences = etcd.flatMap((expected, i) => (holdfast[i] === expected ? [] : [`--- etcd\n${expected}\n+++ holdfast\n${holdfast[i]}`]));
  assert.deepEqual(differences, [], `${differences.length} of ${etcd.length} exchanges differ:\n${differences.join('\n')}`);
  // The sequence reached what it is about (equal empty transcripts would pass too).
  const all = etcd.join('\n');
  for (const expected of ['"action":"expire"', '"action":"compareAndSwap"', '"action":"compareAndDelete"', '"errorCode":401', '"errorCode":108', '"errorCode":105', '"dir":true,"nodes"', '"ttl":30', 'Moved Permanently']) {
    assert.ok(all.includes(expected), `the sequence shows ${expected}`);
  }
});

/** What /v2/keys answers when the v2 API is off: every method, with and without a body. */
async function disabledSequence(server: RunningServer, enabled = false): Promise<string[]> {
  const context: Context = { server, mask: new IndexMask(), transcript: [], last: undefined, saved: new Map() };
  for (const method of ['GET', 'PUT', 'POST', 'DELETE']) await step(context, method, '/v2/keys/foo', method === 'GET' || method === 'DELETE' ? undefined : 'value=bar');
  // With v2 on, the wait below would be a long poll: the first exchanges tell.
  if (enabled) return context.transcript;
  await step(context, 'HEAD', '/v2/keys/foo');
  await step(context, 'GET', '/v2/keys');
  await step(context, 'GET', '/v2/keys/?recursive=true&sorted=true');
  await step(context, 'GET', '/v2/keys/foo?wait=true');
  await step(context, 'PUT', '/v2/keys/dir?dir=true');
  return context.transcript;
}

test('without --enable-v2, /v2/keys answers like etcd 3.4 without it (404); --enable-v2=false and ETCD_ENABLE_V2=true read as etcd reads them', { skip: availability.available ? false : availability.reason, timeout: 120_000 }, async () => {
  const sequences: Record<string, string[]> = {};
  const starts: Record<string, () => Promise<RunningServer>> = {
    etcd: () => startEtcd(),
    holdfast: () => startHoldfast(),
    'holdfast --enable-v2=false': () => startHoldfast({ extraArgs: ['--enable-v2=false'] }),
    'holdfast ETCD_ENABLE_V2=true': () => startHoldfast({ env: { ETCD_ENABLE_V2: 'true' } }),
  };
  await Promise.all(
    Object.entries(starts).map(async ([name, start]) => {
      const server = await start();
      try {
        sequences[name] = await disabledSequence(server, name.includes('ETCD_ENABLE_V2=true'));
      } finally {
        await server.stop();
        removeDirectory(server.dataDir);
      }
    }),
  );
  const etcd = sequences.etcd!;
  assert.equal(etcd.length, 9);
  assert.ok(etcd.every((exchange) => /^404 /.test(exchange.split('\n')[1] ?? '')), `etcd without v2 answers 404:\n${etcd.join('\n')}`);
  assert.deepEqual(sequences.holdfast, etcd);
  assert.deepEqual(sequences['holdfast --enable-v2=false'], etcd);
  const enabled = sequences['holdfast ETCD_ENABLE_V2=true']!;
  assert.match(enabled[1]!, /^201 /m, 'ETCD_ENABLE_V2=true serves v2: the PUT creates the key');
  assert.match(enabled[0]!, /"errorCode":100/);
});
