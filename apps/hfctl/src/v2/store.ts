/**
 * A client of the etcd v2 keys HTTP API (/v2/keys), sending what etcd's Go
 * v2 client (client/keys.go, as `ETCDCTL_API=2 etcdctl` uses it) sends and
 * reading its answers as that client reads them.
 *
 * There is one v2 layout: the server's. Against etcd that is etcd's v2
 * store (`--enable-v2`); against Holdfast (`--enable-v2`) it is Holdfast's
 * emulation on the v3 store under `/_holdfast/v2/` (packages/server
 * README). So `hfctl set /foo bar` and `curl .../v2/keys/foo` see the same
 * key, and a server without the v2 API answers hfctl as it answers etcdctl.
 *
 * Requests, as the Go client builds them:
 *   set     PUT    /v2/keys/<key>  query prevValue, prevIndex, prevExist, dir; form value, ttl
 *   mk      PUT    ... prevExist=false        mk --in-order: POST /v2/keys/<dir>, form value, ttl
 *   update  PUT    ... prevExist=true         mkdir: PUT ?dir=true&prevExist=false
 *   rm      DELETE /v2/keys/<key>  query dir, recursive, prevValue, prevIndex
 *   ls      GET    /v2/keys/<key>?quorum=..&recursive=..&sorted=..
 *   watch   GET    /v2/keys/<key>?recursive=..&wait=true&waitIndex=N, N = last modifiedIndex + 1
 * Paths are cleaned as the Go client cleans them (pathutil.CanonicalURLPath)
 * and escaped as Go's net/url escapes a path; queries and forms are
 * url.Values encodings (sorted keys).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { posix } from 'node:path';

/** A v2 node as the v2 client library represents it (client.Node). */
export interface V2Node {
  readonly key: string;
  readonly dir: boolean;
  readonly value: string;
  /** Children (undefined: not listed, JSON null). */
  readonly nodes: V2Node[] | undefined;
  readonly createdIndex: bigint;
  readonly modifiedIndex: bigint;
  /** Seconds to live, for a key with a TTL. */
  readonly ttl?: number;
  /** When it expires (RFC 3339), for a key with a TTL. */
  readonly expiration?: string;
}

/** A v2 response (client.Response). */
export interface V2Response {
  readonly action: string;
  readonly node: V2Node;
  readonly prevNode: V2Node | undefined;
  /** The store's index (X-Etcd-Index). */
  readonly index: bigint;
}

/** v2 error messages by code (etcdserver/api/v2error), for errors built here. */
const v2Messages: Record<number, string> = {
  100: 'Key not found',
  101: 'Compare failed',
  102: 'Not a file',
  104: 'Not a directory',
  105: 'Key already exists',
  107: 'Root is read only',
  108: 'Directory not empty',
};

/** An error the server answered with (client.Error): "100: Key not found (/foo) [12]". */
export class V2Error extends Error {
  override name = 'V2Error';
  readonly errorMessage: string;
  constructor(
    readonly errorCode: number,
    readonly errorCause: string,
    readonly index: bigint,
    errorMessage?: string,
  ) {
    const text = errorMessage ?? v2Messages[errorCode] ?? 'Unknown error';
    super(`${errorCode}: ${text} (${errorCause}) [${index}]`);
    this.errorMessage = text;
  }
}

/** The Go client's ErrInvalidJSON: an answer that is not a v2 one (a server without the v2 API). */
export class V2InvalidResponseError extends Error {
  override name = 'V2InvalidResponseError';
  constructor() {
    super('client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint');
  }
}

/** The Go client's ClusterError: no endpoint answered; `errors` are per endpoint, in order. */
export class V2ClusterError extends Error {
  override name = 'V2ClusterError';
  constructor(readonly errors: readonly string[]) {
    // Each error ends its line, as ClusterError.Error() writes it.
    super(`client: etcd cluster is unavailable or misconfigured${errors.map((error, i) => `; error #${i}: ${error}\n`).join('')}`);
  }

  /** ClusterError.Detail(): one line per endpoint's error. */
  detail(): string {
    return this.errors.map((error, i) => `error #${i}: ${error}\n`).join('');
  }

  /** Whether every endpoint failed to connect (etcdctl then exits with its bad-connection code). */
  get connectionFailed(): boolean {
    return this.errors.every((error) => error.startsWith('dial tcp '));
  }
}

/** The context deadline passed (--command-timeout). */
export class V2TimeoutError extends Error {
  override name = 'V2TimeoutError';
  constructor() {
    super('context deadline exceeded');
  }
}

export interface SetOptions {
  /** Seconds to live (0 or absent: forever). */
  readonly ttl?: number;
  readonly prevValue?: string;
  readonly prevIndex?: bigint;
  /** 'noexist': create only (mk); 'exist': update only. */
  readonly prevExist?: 'exist' | 'noexist';
  /** Create a directory (mkdir). */
  readonly dir?: boolean;
}

export interface DeleteOptions {
  readonly dir?: boolean;
  readonly recursive?: boolean;
  readonly prevValue?: string;
  readonly prevIndex?: bigint;
}

export interface GetOptions {
  readonly recursive?: boolean;
  readonly sorted?: boolean;
  readonly quorum?: boolean;
}

/** path.Clean(path.Join("/", key)), as the v2 store cleans keys. */
export function cleanKey(key: string): string {
  const cleaned = posix.normalize(`/${key}`);
  return cleaned.length > 1 && cleaned.endsWith('/') ? cleaned.slice(0, -1) : cleaned;
}

/** The Go client's path: "/v2/keys" + key, cleaned by CanonicalURLPath (a trailing slash kept). */
export function v2KeysPath(key: string): string {
  const joined = `/v2/keys${key.startsWith('/') || key === '' ? key : `/${key}`}`;
  const cleaned = posix.normalize(joined);
  const trimmed = cleaned.length > 1 && cleaned.endsWith('/') ? cleaned.slice(0, -1) : cleaned;
  return joined.endsWith('/') && trimmed !== '/' ? `${trimmed}/` : trimmed;
}

/** Go's url.PathEscape-like escaping of a URL path (url.URL.EscapedPath): reserved path characters stay. */
export function goEscapePath(path: string): string {
  return Array.from(Buffer.from(path, 'utf8'))
    .map((byte) => {
      const char = String.fromCharCode(byte);
      return /[A-Za-z0-9\-_.~$&+,/:;=@]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/** url.Values.Encode: keys sorted, QueryEscape (space as '+'). */
export function goEncodeValues(values: ReadonlyArray<readonly [string, string]>): string {
  const escape = (text: string): string =>
    Array.from(Buffer.from(text, 'utf8'))
      .map((byte) => {
        const char = String.fromCharCode(byte);
        if (/[A-Za-z0-9\-_.~]/.test(char)) return char;
        return char === ' ' ? '+' : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      })
      .join('');
  return [...values]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${escape(name)}=${escape(value)}`)
    .join('&');
}

interface V2NodeJson {
  key?: string;
  dir?: boolean;
  value?: string;
  nodes?: V2NodeJson[] | null;
  createdIndex?: number;
  modifiedIndex?: number;
  ttl?: number;
  expiration?: string;
}

function nodeFromJson(json: V2NodeJson | undefined | null): V2Node | undefined {
  if (json === undefined || json === null) return undefined;
  return {
    key: json.key ?? '',
    dir: json.dir ?? false,
    value: json.value ?? '',
    nodes: json.nodes === undefined || json.nodes === null ? undefined : json.nodes.map((child) => nodeFromJson(child)!),
    createdIndex: BigInt(json.createdIndex ?? 0),
    modifiedIndex: BigInt(json.modifiedIndex ?? 0),
    ...(json.ttl === undefined || json.ttl === 0 ? {} : { ttl: json.ttl }),
    ...(json.expiration === undefined ? {} : { expiration: json.expiration }),
  };
}

/** An HTTP answer as the Go client sees it. */
interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** Go's net error text for a failed dial ("dial tcp 127.0.0.1:1: connect: connection refused"). */
function dialError(endpoint: URL, error: NodeJS.ErrnoException): string {
  const reasons: Record<string, string> = { ECONNREFUSED: 'connection refused', ECONNRESET: 'connection reset by peer', EHOSTUNREACH: 'no route to host', ENETUNREACH: 'network is unreachable' };
  const reason = reasons[error.code ?? ''];
  return reason === undefined ? error.message : `dial tcp ${endpoint.host}: connect: ${reason}`;
}

export class V2Store {
  private readonly endpoints: URL[];

  /** `endpoints` as etcdctl takes them ("http://host:port", or "host:port"); `timeoutMs` bounds each call. */
  constructor(
    endpoints: readonly string[],
    private readonly timeoutMs: number,
  ) {
    this.endpoints = endpoints.map((endpoint) => new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`));
  }

  /**
   * httpClusterClient.Do: the endpoints in order until one answers below
   * 500; dial errors and 5xx answers are collected into a V2ClusterError.
   */
  private async send(method: string, key: string, query: Array<[string, string]>, form: Array<[string, string]> | undefined, signal?: AbortSignal): Promise<Answer> {
    const errors: string[] = [];
    const deadline = signal === undefined ? AbortSignal.timeout(Math.max(1, this.timeoutMs)) : signal;
    for (const endpoint of this.endpoints) {
      const queryText = goEncodeValues(query);
      const path = goEscapePath(v2KeysPath(key)) + (queryText === '' ? '' : `?${queryText}`);
      const body = form === undefined ? undefined : goEncodeValues(form);
      try {
        const answer = await new Promise<Answer>((resolve, reject) => {
          const headers: Record<string, string> = method === 'GET' ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' };
          if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
          const call = httpRequest({ host: endpoint.hostname, port: endpoint.port === '' ? 80 : Number(endpoint.port), method, path, headers, agent: false, signal: deadline }, (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
            response.on('error', reject);
          });
          call.on('error', reject);
          call.end(body);
        });
        if (answer.status >= 500) {
          const statusText: Record<number, string> = { 501: 'Not Implemented', 502: 'Bad Gateway', 504: 'Gateway Timeout' };
          errors.push(answer.status === 500 || answer.status === 503 ? `client: etcd member ${endpoint.origin} has no leader` : `client: etcd member ${endpoint.origin} returns server error [${statusText[answer.status] ?? String(answer.status)}]`);
          continue;
        }
        return answer;
      } catch (error) {
        if (deadline.aborted) throw new V2TimeoutError();
        errors.push(dialError(endpoint, error as NodeJS.ErrnoException));
      }
    }
    throw new V2ClusterError(errors);
  }

  /** unmarshalHTTPResponse: 200 and 201 are responses, anything else a v2 error body. */
  private static read(answer: Answer): V2Response | undefined {
    if (answer.status === 200 || answer.status === 201) {
      if (answer.body.length === 0) return undefined; // ErrEmptyBody: a watch's keep-alive
      let parsed: { action?: string; node?: V2NodeJson; prevNode?: V2NodeJson };
      try {
        parsed = JSON.parse(answer.body) as typeof parsed;
      } catch {
        throw new V2InvalidResponseError();
      }
      const index = answer.headers['x-etcd-index'];
      return { action: parsed.action ?? '', node: nodeFromJson(parsed.node) ?? nodeFromJson({})!, prevNode: nodeFromJson(parsed.prevNode), index: BigInt(typeof index === 'string' && /^\d+$/.test(index) ? index : 0) };
    }
    let error: { errorCode?: number; message?: string; cause?: string; index?: number };
    try {
      error = JSON.parse(answer.body) as typeof error;
    } catch {
      throw new V2InvalidResponseError();
    }
    throw new V2Error(error.errorCode ?? 0, error.cause ?? '', BigInt(error.index ?? 0), error.message ?? '');
  }

  private async call(method: string, key: string, query: Array<[string, string]>, form?: Array<[string, string]>): Promise<V2Response> {
    const response = V2Store.read(await this.send(method, key, query, form));
    if (response === undefined) throw new V2InvalidResponseError();
    return response;
  }

  /** setAction: creates, replaces, updates or compares-and-swaps a key or directory (v2 PUT). */
  async set(key: string, value: string, options: SetOptions = {}): Promise<V2Response> {
    const query: Array<[string, string]> = [];
    const form: Array<[string, string]> = [];
    if (options.dir === true) query.push(['dir', 'true']);
    else {
      if ((options.prevValue ?? '') !== '') query.push(['prevValue', options.prevValue!]);
      form.push(['value', value]);
    }
    if ((options.prevIndex ?? 0n) !== 0n) query.push(['prevIndex', options.prevIndex!.toString()]);
    if (options.prevExist !== undefined) query.push(['prevExist', options.prevExist === 'exist' ? 'true' : 'false']);
    if ((options.ttl ?? 0) > 0) form.push(['ttl', String(options.ttl)]);
    return this.call('PUT', key, query, form);
  }

  /** createInOrderAction: a new key under `dir` named by the store's index (v2 POST, mk --in-order). */
  async createInOrder(dir: string, value: string, options: { ttl?: number } = {}): Promise<V2Response> {
    const form: Array<[string, string]> = [['value', value]];
    if ((options.ttl ?? 0) > 0) form.push(['ttl', String(options.ttl)]);
    return this.call('POST', dir, [], form);
  }

  /** deleteAction: a key, or a directory with `dir` (empty) or `recursive` (v2 DELETE). */
  async delete(key: string, options: DeleteOptions = {}): Promise<V2Response> {
    const query: Array<[string, string]> = [];
    if ((options.prevValue ?? '') !== '') query.push(['prevValue', options.prevValue!]);
    if ((options.prevIndex ?? 0n) !== 0n) query.push(['prevIndex', options.prevIndex!.toString()]);
    if (options.dir === true) query.push(['dir', 'true']);
    if (options.recursive === true) query.push(['recursive', 'true']);
    return this.call('DELETE', key, query, []);
  }

  /** getAction: a key, or a directory's listing (v2 GET). */
  async get(key: string, options: GetOptions = {}): Promise<V2Response> {
    return this.call('GET', key, [
      ['recursive', String(options.recursive === true)],
      ['sorted', String(options.sorted === true)],
      ['quorum', String(options.quorum === true)],
    ]);
  }

  /**
   * httpWatcher.Next, repeated: long polls from the index after
   * `afterIndex` (or from now), each next one from the last change's
   * modifiedIndex + 1. Waits have no deadline, as etcdctl's.
   */
  async *watch(key: string, options: { afterIndex?: bigint; recursive?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<V2Response, void, undefined> {
    let waitIndex = (options.afterIndex ?? 0n) > 0n ? options.afterIndex! + 1n : 0n;
    const forever = options.signal ?? new AbortController().signal;
    for (;;) {
      const answer = await this.send('GET', key, [['recursive', String(options.recursive === true)], ['wait', 'true'], ['waitIndex', waitIndex.toString()]], undefined, forever);
      const response = V2Store.read(answer);
      if (response === undefined) continue;
      waitIndex = response.node.modifiedIndex + 1n;
      yield response;
    }
  }
}
