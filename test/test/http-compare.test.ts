/**
 * The same HTTP requests (what `curl` sends) against real etcd 3.4 and
 * Holdfast on their client ports: same status codes, headers that matter
 * and bodies once ids, raft indexes, versions and sizes are masked (the
 * raft term and revisions are compared).
 *
 * - unary routes: KV, maintenance, cluster, and the lease routes with their
 *   /v3/kv/lease/* aliases (grant with a chosen id and TTL, time-to-live
 *   with keys, leases, revoke, a missing lease, a too large TTL);
 * - streams: /v3/lease/keepalive (several requests in one body) and
 *   /v3/watch, compared line by line (prefix + prev_kv with writes through
 *   /v3/kv/put, a past start revision, a compacted one, an empty range,
 *   several requests in one body), and what an open stream gets when the
 *   server stops;
 * - bad input on every route (malformed JSON, wrong types, bad enums and
 *   base64, numbers out of range, messages over the gRPC limit and over
 *   --max-request-bytes): Holdfast reads these bodies with Go's rules, so
 *   etcd's error text is compared exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { etcdAvailability, removeDirectory, startEtcd, startHoldfast, type RunningServer } from '../src/support.js';

interface HttpStep {
  readonly method: 'GET' | 'POST' | 'PUT' | 'OPTIONS';
  readonly path: string;
  readonly body?: string;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');

const httpSteps: HttpStep[] = [
  { method: 'GET', path: '/health' },
  // CORS preflights (etcd's --cors defaults to "*"): answered on any path.
  ...['/v3/kv/range', '/v3/watch', '/v2/keys/foo', '/health', '/metrics', '/version', '/no/such/path'].map((path): HttpStep => ({ method: 'OPTIONS', path })),
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('foo'), value: b64('bar') }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('foo'), value: b64('baz'), prev_kv: true }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('foo2'), value: b64('two'), prevKv: true }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo') }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), range_end: b64('fop') }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), rangeEnd: b64('fop'), limit: 1, sortOrder: 'DESCEND', sortTarget: 'MOD' }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), range_end: b64('fop'), count_only: true }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), revision: '2' }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), revision: '100' }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('missing') }) },
  { method: 'POST', path: '/v3/kv/range', body: '{}' },
  { method: 'POST', path: '/v3/kv/range', body: '{bad json' },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: '', value: b64('x') }) },
  {
    method: 'POST',
    path: '/v3/kv/txn',
    body: JSON.stringify({
      compare: [{ key: b64('foo'), target: 'VALUE', result: 'EQUAL', value: b64('baz') }],
      success: [{ request_put: { key: b64('txn'), value: b64('yes') } }, { requestRange: { key: b64('foo') } }],
      failure: [{ request_put: { key: b64('txn'), value: b64('no') } }],
    }),
  },
  { method: 'POST', path: '/v3/kv/deleterange', body: JSON.stringify({ key: b64('foo'), range_end: b64('fop'), prev_kv: true }) },
  { method: 'POST', path: '/v3/kv/compaction', body: JSON.stringify({ revision: '3' }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('foo'), revision: '2' }) },
  { method: 'POST', path: '/v3/kv/compaction', body: JSON.stringify({ revision: '3' }) },
  { method: 'POST', path: '/v3/cluster/member/list', body: '{}' },
  { method: 'POST', path: '/v3/maintenance/status', body: '{}' },
  { method: 'GET', path: '/v3/kv/range' },
  { method: 'GET', path: '/no/such/path' },
  { method: 'POST', path: '/v3/no/such/path', body: '{}' },

  // ---- leases ----
  { method: 'POST', path: '/v3/lease/grant', body: JSON.stringify({ ID: 7001, TTL: 600 }) },
  { method: 'POST', path: '/v3/lease/grant', body: JSON.stringify({ ID: '7002', TTL: '300' }) },
  // Server-chosen id (masked) and a TTL under the minimum (raised to it).
  { method: 'POST', path: '/v3/lease/grant', body: JSON.stringify({ TTL: 1 }) },
  { method: 'POST', path: '/v3/lease/grant', body: JSON.stringify({ ID: 7001, TTL: 60 }) },
  { method: 'POST', path: '/v3/lease/grant', body: JSON.stringify({ TTL: 9_000_000_001 }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('lk/1'), value: b64('a'), lease: 7001 }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('lk/0'), value: b64('b'), lease: '7001' }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('lk/2'), value: b64('c'), lease: 7002 }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('lk/3'), value: b64('d'), lease: 9999 }) },
  { method: 'POST', path: '/v3/lease/timetolive', body: JSON.stringify({ ID: 7001, keys: true }) },
  { method: 'POST', path: '/v3/kv/lease/timetolive', body: JSON.stringify({ ID: '7002' }) },
  { method: 'POST', path: '/v3/lease/timetolive', body: JSON.stringify({ ID: 9999, keys: true }) },
  { method: 'POST', path: '/v3/lease/leases', body: '{}' },
  { method: 'POST', path: '/v3/kv/lease/leases', body: '' },
  { method: 'POST', path: '/v3/lease/revoke', body: JSON.stringify({ ID: 7002 }) },
  { method: 'POST', path: '/v3/kv/lease/revoke', body: JSON.stringify({ ID: 7002 }) },
  { method: 'POST', path: '/v3/lease/revoke', body: JSON.stringify({ ID: 9999 }) },
  { method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64('lk/'), range_end: b64('lk0') }) },
  { method: 'POST', path: '/v3/kv/lease/grant', body: JSON.stringify({ TTL: 5 }) },
  { method: 'GET', path: '/v3/lease/leases' },
  // Bad input: malformed JSON and wrong types (Go's words, compared exactly).
  { method: 'POST', path: '/v3/lease/grant', body: '{"TTL":60' },
  { method: 'POST', path: '/v3/lease/grant', body: '{"TTL":true}' },
  { method: 'POST', path: '/v3/lease/grant', body: '{"TTL":1.5}' },
  { method: 'POST', path: '/v3/lease/grant', body: '{"TTL":"x"}' },
  { method: 'POST', path: '/v3/lease/grant', body: '[{"TTL":5}]' },
  { method: 'POST', path: '/v3/lease/revoke', body: '{bad' },
  { method: 'POST', path: '/v3/lease/revoke', body: '{"ID":"0x10"}' },
  { method: 'POST', path: '/v3/kv/lease/revoke', body: '{"ID":18446744073709551616}' },
  { method: 'POST', path: '/v3/lease/timetolive', body: '{"ID":7001,"keys":"yes"}' },
  { method: 'POST', path: '/v3/kv/lease/timetolive', body: '{"ID":{}}' },
  { method: 'POST', path: '/v3/lease/leases', body: '"all"' },
  { method: 'POST', path: '/v3/kv/lease/leases', body: '{]' },
  // ---- bad input on the KV, maintenance and cluster routes ----
  ...[
    '{"key":5}', '{"key":"Zm9v","limit":"x"}', '{"sort_order":"NOPE"}', '{"sort_target":1.5}', '[]', 'null', '{"key":"!!!"}', '{"key":"Zm9v","serializable":"yes"}',
    '{"key":"Zm9v","sortOrder":"DESCEND","sort_order":"NOPE"}', '{"key":"Zm9v","max_create_revision":"-"}',
  ].map((body): HttpStep => ({ method: 'POST', path: '/v3/kv/range', body })),
  ...['{"key":"Zm9v","value":[1,2]}', '{"key":{"a":1}}', '{"key":"Zm9v","lease":"abc"}', '{"key":"Zm9v","lease":1.5}', '"x"', '{"key":"Zm9v","value":"YmFy","ignore_lease":1}'].map(
    (body): HttpStep => ({ method: 'POST', path: '/v3/kv/put', body }),
  ),
  ...['{"range_end":true}', '{bad', '{"key":"Zm9v","prev_kv":null}'].map((body): HttpStep => ({ method: 'POST', path: '/v3/kv/deleterange', body })),
  ...[
    '{"compare":[{"target":"NOPE"}]}', '{"success":[{"request_put":{"key":5}}]}', '{"success":[{"request_txn":{"success":[{"request_put":{"key":"!"}}]}}]}', '{"compare":{}}',
    '{"compare":[{"key":"YQ==","version":"x","range_end":5}]}', '{"compare":[{"key":"Zm9v","target":"MOD","result":"GREATER","mod_revision":"1"}],"success":[{"requestRange":{"key":"Zm9v"}}]}',
    '{"failure":[{"request_delete_range":{"key":"bm9uZQ=="}}],"compare":[{"key":"Zm9v","target":"VALUE","value":"bm8="}]}',
  ].map((body): HttpStep => ({ method: 'POST', path: '/v3/kv/txn', body })),
  ...['{"revision":"x"}', '{"revision":true}', '{"physical":"yes"}'].map((body): HttpStep => ({ method: 'POST', path: '/v3/kv/compaction', body })),
  ...['{"action":"NOPE"}', '{"memberID":-1}', '{"memberID":18446744073709551616}', '{"alarm":"NOSPACE","action":7.5}'].map((body): HttpStep => ({ method: 'POST', path: '/v3/maintenance/alarm', body })),
  { method: 'POST', path: '/v3/maintenance/status', body: '[1]' },
  { method: 'POST', path: '/v3/maintenance/defragment', body: '{bad' },
  { method: 'POST', path: '/v3/maintenance/hash', body: '{"revision":1.5}' },
  { method: 'POST', path: '/v3/maintenance/hash', body: '{' },
  { method: 'POST', path: '/v3/cluster/member/list', body: '{"linearizable":"x"}' },
  { method: 'POST', path: '/v3/cluster/member/list', body: '5' },
  // A message over the gRPC limit (--max-request-bytes + 512 KiB), and one over --max-request-bytes only.
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('big'), value: Buffer.alloc(2_200_000, 'x').toString('base64') }) },
  { method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64('big'), value: Buffer.alloc(1_600_000, 'x').toString('base64') }) },
  { method: 'POST', path: '/v3/kv/txn', body: JSON.stringify({ success: [{ request_put: { key: b64('big'), value: Buffer.alloc(2_200_000, 'y').toString('base64') } }] }) },
  // Trailing data after the first value is never read; null is an empty message.
  { method: 'POST', path: '/v3/lease/timetolive', body: '{"ID":7001} {bad' },
  { method: 'POST', path: '/v3/lease/timetolive', body: 'null' },
  // The corners of Go's JSON decoder and jsonpb, on a route that changes nothing.
  ...[
    '{"ID":-5}', '{"ID":"7001","nope":1}', '5', '"x"', '{"ID":null}', '{"ID":"1e2"}', '{"ID":1e2}', '{"ID":" 7001 "}', '{"ID":""}',
    '{"ID":"\\u0036"}', '{"ID":"\\t7001"}', '{"ID":"\\"5\\""}', '{"ID":"[1]"}', '{"ID":"-"}', '{"ID":"-9223372036854775808"}', '{"ID":9223372036854775808}',
    '{"ID":-0}', '{"ID":[1]}', '{"ID":1.}', '{"ID":01}', '{"ID":5e}', '{"ID":tru}', '{"ID":nul}', '{"ID":6', '{', '   ', "{'ID':1}",
    '{"a":"\x01"}', '{"ID":5,}', '{"ID":5 "keys":true}', '{"ID" 5}', '{"ID":"5"}x', '{"I\\u0044":7001}', '{"ID":7001,"ID":7002}',
    '{"keys":1}', '{"keys":null,"ID":7001}', '{"ID":7001,"keys":true,"keys":false}', '{"ID":7001,"keys":[true]}', '{"keys":true,"ID":"x"}',
  ].map((body): HttpStep => ({ method: 'POST', path: '/v3/lease/timetolive', body })),
];

/** Watch streams: the request body, and how many lines to read before closing. */
interface StreamStep {
  readonly path: string;
  readonly body: string;
  /** Lines expected (one more is waited for briefly, so extra lines show up too). */
  readonly lines: number;
  /** Requests sent while the stream is open, after its first line. */
  readonly during?: readonly HttpStep[];
}

const put = (key: string, value: string, extra: Record<string, unknown> = {}): HttpStep => ({ method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64(key), value: b64(value), ...extra }) });

function streamSteps(firstWatchRevision: number): StreamStep[] {
  const watch = (create: Record<string, unknown>) => JSON.stringify({ create_request: create });
  return [
    // Keepalive: one body, several requests; the stream ends with the body.
    { path: '/v3/lease/keepalive', body: '{"ID":7001}{"ID":9999}\n{"ID":"7001"}', lines: 3 },
    { path: '/v3/lease/keepalive', body: '', lines: 0 },
    { path: '/v3/lease/keepalive', body: '{"ID":7001} {"ID":true} {"ID":7001}', lines: 1 },
    { path: '/v3/lease/keepalive', body: '{"ID":7001} junk', lines: 1 },
    // Bad first request: a plain error, code 2.
    { path: '/v3/lease/keepalive', body: '{bad', lines: 1 },
    { path: '/v3/lease/keepalive', body: '{"ID":true}', lines: 1 },
    { path: '/v3/kv/lease/keepalive', body: '{"ID":7001}', lines: 1 },

    // A prefix with prev_kv; writes inside and outside it.
    {
      path: '/v3/watch',
      body: watch({ key: b64('w/'), range_end: b64('w0'), prev_kv: true }),
      lines: 6,
      during: [
        put('w/a', '1'),
        put('w/a', '2'),
        put('x', 'outside'),
        put('w/b', '1', { lease: 7001 }),
        { method: 'POST', path: '/v3/kv/deleterange', body: JSON.stringify({ key: b64('w/a') }) },
        { method: 'POST', path: '/v3/kv/txn', body: JSON.stringify({ success: [{ request_put: { key: b64('w/c'), value: b64('t') } }, { request_delete_range: { key: b64('w/b') } }] }) },
      ],
    },
    // From a past revision: the history comes in one response.
    { path: '/v3/watch', body: watch({ key: b64('w/'), range_end: b64('w0'), start_revision: String(firstWatchRevision) }), lines: 2 },
    { path: '/v3/watch', body: watch({ key: b64('w/a'), startRevision: firstWatchRevision + 1, prevKv: true, filters: ['NODELETE'] }), lines: 2 },
    // Several requests on one stream: a chosen id, the same id again, cancels, progress; then bad JSON ends the requests quietly.
    {
      path: '/v3/watch',
      body: `${watch({ key: b64('w/a'), watch_id: 7 })}${watch({ key: b64('w/a'), watch_id: 7 })}{"cancel_request":{"watch_id":7}}{"cancel_request":{"watch_id":8}}{"progress_request":{}}{bad`,
      lines: 4,
    },
    // Empty range: created and canceled at once.
    { path: '/v3/watch', body: watch({ key: b64('b'), range_end: b64('a') }), lines: 1 },
    { path: '/v3/watch', body: watch({ key: b64('a'), range_end: b64('a') }), lines: 1 },
    // Bad input: malformed JSON, wrong types: plain errors, code 2.
    { path: '/v3/watch', body: '{"create_request":{"key":"Zm9v"', lines: 1 },
    { path: '/v3/watch', body: '{"create_request":{"key":5}}', lines: 1 },
    { path: '/v3/watch', body: '{"create_request":{"key":"Zm9"}}', lines: 1 },
    { path: '/v3/watch', body: '{"create_request":{"key":"Zm9v","filters":["NOPE"]}}', lines: 1 },
    { path: '/v3/watch', body: '{"create_request":{"key":"Zm9v","start_revision":"1.5"}}', lines: 1 },
    { path: '/v3/watch', body: '{"create_request":[]}', lines: 1 },
    { path: '/v3/watch', body: '[]', lines: 1 },
  ];
}

/** Compaction, then a watch from before it: created, then canceled with the compact revision. */
const compactedWatchSteps = (compactRevision: number): StreamStep[] => [
  { path: '/v3/watch', body: JSON.stringify({ create_request: { key: b64('w/'), range_end: b64('w0'), start_revision: 2 } }), lines: 2 },
  { path: '/v3/watch', body: JSON.stringify({ create_request: { key: b64('w/'), range_end: b64('w0'), start_revision: compactRevision } }), lines: 2 },
];

/** Longest the exchanges after a lease grant may take before its remaining TTL stops counting as equal. */
const maxSecondsSinceGrant = 60;

function normalize(text: string): string {
  return text
    .replace(/"(cluster_id|member_id|leader|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse)":"\d+"/g, '"$1":"<n>"')
    // Member ids and server-chosen lease ids; chosen lease ids (short) are compared.
    .replace(/"ID":"\d{10,}"/g, '"ID":"<id>"')
    .replace(/"version":"3\.4\.\d+"/g, '"version":"<version>"')
    .replace(/http:\/\/(localhost|127\.0\.0\.1):\d+/g, 'http://<host>')
    // etcd lists a lease's keys in Go map order: random.
    .replace(/"keys":\[([^\]]*)\]/g, (_match, keys: string) => `"keys":[${keys.split(',').sort().join(',')}]`)
    // The remaining TTL: below the granted one by the time the exchanges took
    // since the grant (a second or two alone, several on a loaded machine,
    // never a minute). Wall time is not what this test compares; a TTL not
    // below the granted one, or far below it (a unit slip), still differs.
    .replace(/"TTL":"(\d+)","grantedTTL":"(\d+)"/g, (match, ttl: string, granted: string) => {
      const behind = Number(granted) - Number(ttl);
      return behind >= 1 && behind <= maxSecondsSinceGrant ? `"TTL":"<granted less the time since>","grantedTTL":"${granted}"` : match;
    })
    // Hash is over each server's own backend file.
    .replace(/"hash":\d+/g, '"hash":<n>');
}

function describeHeaders(response: Response): string {
  const headers = ['content-type', 'grpc-metadata-content-type', 'trailer', 'access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers'].map((name) => `${name}=${response.headers.get(name) ?? '-'}`);
  return `${response.status} ${headers.join(' ')}`;
}

async function request(server: RunningServer, step: HttpStep): Promise<string> {
  const response = await fetch(`http://${server.endpoint}${step.path}`, { method: step.method, body: step.body });
  const body = await response.text();
  const shownBody = (step.body ?? '').length > 200 ? `<${step.body!.length} bytes>` : (step.body ?? '');
  return `${step.method} ${step.path} ${shownBody}\n${describeHeaders(response)}\n${normalize(body)}`;
}

/** Reads a response body line by line; a last unterminated piece (an error chunk) counts as a line. */
class LineReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffered = '';
  private pending: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> | undefined;
  private ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next line; undefined if the body ended or nothing came within `timeoutMs`. */
  async next(timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const newline = this.buffered.indexOf('\n');
      if (newline !== -1) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        return line;
      }
      if (this.ended) {
        const rest = this.buffered;
        this.buffered = '';
        return rest.length > 0 ? rest : undefined;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return undefined;
      this.pending ??= this.reader.read();
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([this.pending, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), remaining)))]);
      clearTimeout(timer);
      if (result === 'timeout') return undefined;
      this.pending = undefined;
      if (result.done) this.ended = true;
      else this.buffered += this.decoder.decode(result.value, { stream: true });
    }
  }

  /** Everything until the body ends. */
  async rest(timeoutMs: number): Promise<string[]> {
    const lines: string[] = [];
    for (let line = await this.next(timeoutMs); line !== undefined; line = await this.next(timeoutMs)) lines.push(line);
    return lines;
  }
}

/** How long a stream may take for its next expected line. */
const lineTimeoutMs = 5_000;
/** How long to wait for a line beyond those expected. */
const extraLineWaitMs = 300;

async function runStream(server: RunningServer, step: StreamStep): Promise<string> {
  const abort = new AbortController();
  try {
    const response = await fetch(`http://${server.endpoint}${step.path}`, { method: 'POST', body: step.body, signal: abort.signal });
    const reader = new LineReader(response.body!);
    const lines: string[] = [];
    const during: string[] = [];
    for (let i = 0; i < step.lines; i++) {
      const line = await reader.next(lineTimeoutMs);
      if (line === undefined) break;
      lines.push(line);
      if (i === 0) for (const write of step.during ?? []) during.push((await request(server, write)).split('\n')[1]!);
    }
    const extra = await reader.next(extraLineWaitMs);
    if (extra !== undefined) lines.push(`(unexpected) ${extra}`);
    return [`STREAM ${step.path} ${step.body}`, describeHeaders(response), ...during.map((status) => `  write: ${status}`), ...lines.map((line) => normalize(line))].join('\n');
  } finally {
    abort.abort();
  }
}

/**
 * What etcd's gateway writes when the server stops under an open stream
 * depends on which of its connections closes first: "transport is closing"
 * (Unavailable, 503) or "grpc: the client connection is closing" (Canceled,
 * 408). Either is one answer here; Holdfast writes the first.
 */
const stoppingErrors: ReadonlyArray<readonly [RegExp, string]> = [
  [/^\{"error":\{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"\}\}$/, '<stream error chunk: server stopping>'],
  [/^\{"error":\{"grpc_code":1,"http_code":408,"message":"grpc: the client connection is closing","http_status":"Request Timeout"\}\}$/, '<stream error chunk: server stopping>'],
  [/^\{"error":"transport is closing","message":"transport is closing","code":14\}$/, '<plain error: server stopping>'],
  [/^\{"error":"grpc: the client connection is closing","message":"grpc: the client connection is closing","code":1\}$/, '<plain error: server stopping>'],
];

function normalizeStopping(line: string): string {
  for (const [pattern, replacement] of stoppingErrors) if (pattern.test(line)) return replacement;
  return line;
}

/** Streams open when the server stops: what each gets as its last words. */
async function runShutdown(server: RunningServer): Promise<string[]> {
  const bodies = [
    JSON.stringify({ create_request: { key: b64('w/'), range_end: b64('w0') } }),
    // No request at all: nothing is sent until the end.
    '',
    // A request the server never answers: nothing is sent until the end either.
    '{}',
    JSON.stringify({ cancel_request: { watch_id: 3 } }),
  ];
  const opened = bodies.map((body) => ({ body, response: fetch(`http://${server.endpoint}/v3/watch`, { method: 'POST', body }) }));
  const first = new LineReader((await opened[0]!.response).body!);
  const firstLine = await first.next(lineTimeoutMs);
  // Let the other requests reach the server before it stops.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await server.stop();
  const transcript: string[] = [];
  for (const [i, { body, response }] of opened.entries()) {
    const settled = await response.then(
      async (value) => {
        const lines = i === 0 ? [firstLine ?? '(none)', ...(await first.rest(lineTimeoutMs))] : await new LineReader(value.body!).rest(lineTimeoutMs);
        const status = describeHeaders(value).replace(/^(408|503) /, '<408 or 503> ');
        return [status, ...lines.map((line) => normalizeStopping(normalize(line)))];
      },
      (error: unknown) => [`fetch failed: ${String(error)}`],
    );
    transcript.push([`STOP WHILE STREAMING /v3/watch ${body}`, ...settled].join('\n'));
  }
  return transcript;
}

async function runAll(server: RunningServer): Promise<string[]> {
  const transcript: string[] = [];
  for (const step of httpSteps) transcript.push(await request(server, step));
  // The revision the first watched write will get: the current one plus one.
  const status = (await (await fetch(`http://${server.endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64('none') }) })).json()) as { header: { revision: string } };
  const firstWatchRevision = Number(status.header.revision) + 1;
  transcript.push(`first watched revision: ${firstWatchRevision}`);
  for (const step of streamSteps(firstWatchRevision)) transcript.push(await runStream(server, step));
  const compactRevision = firstWatchRevision + 2;
  transcript.push(await request(server, { method: 'POST', path: '/v3/kv/compaction', body: JSON.stringify({ revision: compactRevision }) }));
  for (const step of compactedWatchSteps(compactRevision)) transcript.push(await runStream(server, step));
  transcript.push(...(await runShutdown(server)));
  return transcript;
}

const availability = await etcdAvailability();

test('HTTP gateway answers like etcd 3.4 on the same port as gRPC', { skip: availability.available ? false : availability.reason, timeout: 180_000 }, async () => {
  const transcripts: Record<string, string[]> = {};
  // Both with --enable-v2, as the v2 comparison starts them: the v3 gateway must not care.
  for (const start of [() => startEtcd({ extraArgs: ['--enable-v2'] }), () => startHoldfast({ extraArgs: ['--enable-v2'] })]) {
    const server = await start();
    try {
      transcripts[server.kind] = await runAll(server);
    } finally {
      await server.stop();
      removeDirectory(server.dataDir);
    }
  }
  const etcd = transcripts.etcd!;
  const holdfast = transcripts.holdfast!;
  if (process.env.HOLDFAST_HTTP_COMPARE_DUMP !== undefined) writeFileSync(process.env.HOLDFAST_HTTP_COMPARE_DUMP, JSON.stringify(transcripts, null, 2));
  assert.equal(holdfast.length, etcd.length, 'same number of exchanges');
  const differences = etcd.flatMap((expected, i) => (holdfast[i] === expected ? [] : [`--- etcd\n${expected}\n+++ holdfast\n${holdfast[i]}`]));
  assert.deepEqual(differences, [], `${differences.length} of ${etcd.length} exchanges differ:\n${differences.join('\n')}`);
  // The streams said something: an empty transcript would compare equal too.
  const streamed = etcd.filter((entry) => entry.startsWith('STREAM /v3/watch') && entry.includes('"created":true'));
  assert.ok(streamed.length >= 6, `watch streams answered (${streamed.length})`);
  assert.ok(etcd.some((entry) => entry.includes('"type":"DELETE"') && entry.includes('"prev_kv"')), 'a delete with its previous value was watched');
});
