/**
 * Every tunable of the client in one object, with defaults, validated once
 * when the client is created.
 */

export interface ClientOptions {
  /** Servers to use, as "host:port" or "http://host:port"; the first reachable one is preferred. */
  readonly endpoints: readonly string[];
  /** How long to wait for a connection to one endpoint before trying the next. */
  readonly dialTimeoutMs?: number;
  /** Default deadline of one call, retries included; each call may override it. */
  readonly callTimeoutMs?: number;
  /** How many times a failed call is tried again (when the retry policy allows it at all). */
  readonly retryAttemptsMax?: number;
  /** First pause between two attempts of a call, doubled (with jitter) up to retryBackoffMaxMs. */
  readonly retryBackoffInitialMs?: number;
  readonly retryBackoffMaxMs?: number;
  /** Pause before grpc-js reconnects to an endpoint whose connection failed, growing up to reconnectBackoffMaxMs. */
  readonly reconnectBackoffInitialMs?: number;
  readonly reconnectBackoffMaxMs?: number;
  /**
   * HTTP/2 keepalive ping interval while calls are open, so that a silently
   * dead connection is noticed. etcd refuses pings more often than every 5 s.
   */
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** Largest response the client accepts (a large range can exceed gRPC's 4 MiB default). */
  readonly maxReceiveMessageBytes?: number;
  /** Largest request the client sends; etcd's own limit is --max-request-bytes (1.5 MiB). */
  readonly maxSendMessageBytes?: number;
  /** User and password: the client authenticates before its first call and again when the token expires. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** At most this many gRPC streams carry watches. */
  readonly watchStreamsMax?: number;
  /** At most this many watches share one gRPC stream. */
  readonly watchesPerStreamMax?: number;
  /**
   * Batches a watch buffers for a consumer that is not reading. When full the
   * client cancels that watch on the server and re-creates it from the next
   * unbuffered revision once the consumer has caught up: nothing is lost and
   * memory stays bounded.
   */
  readonly watchBufferBatchesMax?: number;
  /** Events of one fragmented watch response the client reassembles before it gives up on the watch. */
  readonly watchFragmentEventsMax?: number;
}

export type ResolvedClientOptions = Required<Omit<ClientOptions, 'auth'>> & Pick<ClientOptions, 'auth'>;

export const defaultClientOptions = {
  dialTimeoutMs: 2_000,
  callTimeoutMs: 10_000,
  retryAttemptsMax: 8,
  retryBackoffInitialMs: 50,
  retryBackoffMaxMs: 2_000,
  reconnectBackoffInitialMs: 100,
  reconnectBackoffMaxMs: 2_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  maxReceiveMessageBytes: 256 * 1024 * 1024,
  maxSendMessageBytes: 2 * 1024 * 1024,
  watchStreamsMax: 8,
  watchesPerStreamMax: 512,
  watchBufferBatchesMax: 1_024,
  watchFragmentEventsMax: 1_000_000,
} as const satisfies Omit<ResolvedClientOptions, 'endpoints' | 'auth'>;

/** An endpoint address as grpc-js wants it ("host:port"). */
export function parseEndpoint(endpoint: string): string {
  const match = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[^/:\s]+):(\d{1,5})\/?$/.exec(endpoint.trim());
  if (match === null) throw new TypeError(`endpoint "${endpoint}" is not host:port or http://host:port`);
  if (match[1] === 'https') throw new TypeError(`endpoint "${endpoint}": TLS is not supported by this client yet; use http://`);
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) throw new TypeError(`endpoint "${endpoint}": port ${port} is out of range`);
  return `${match[2]}:${port}`;
}

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (options.endpoints.length === 0) throw new TypeError('endpoints must name at least one server');
  const resolved: ResolvedClientOptions = {
    ...defaultClientOptions,
    ...withoutUndefined(options),
    endpoints: [...new Set(options.endpoints.map(parseEndpoint))],
  };
  for (const [name, value] of Object.entries(resolved)) {
    // Zero retries is a meaningful choice; zero of anything else is not.
    const smallest = name === 'retryAttemptsMax' ? 0 : 1;
    if (typeof value === 'number' && !(Number.isSafeInteger(value) && value >= smallest)) {
      throw new RangeError(`${name} must be an integer >= ${smallest}, got ${value}`);
    }
  }
  if (resolved.retryBackoffInitialMs > resolved.retryBackoffMaxMs) throw new RangeError('retryBackoffInitialMs must not exceed retryBackoffMaxMs');
  if (resolved.reconnectBackoffInitialMs > resolved.reconnectBackoffMaxMs) {
    throw new RangeError('reconnectBackoffInitialMs must not exceed reconnectBackoffMaxMs');
  }
  if (resolved.watchBufferBatchesMax < 2) throw new RangeError('watchBufferBatchesMax must be at least 2');
  return resolved;
}

function withoutUndefined<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}
