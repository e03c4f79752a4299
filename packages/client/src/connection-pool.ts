/**
 * Connections to the endpoints, and the one way every unary call is made:
 * deadline, AbortSignal, authentication token, failover between endpoints,
 * and retries with backoff (p-retry) within the retry policy.
 *
 * One grpc-js Client (one HTTP/2 connection) per endpoint carries every
 * service. The pool prefers one endpoint and stays with it while it answers;
 * when it cannot be reached, or answers UNAVAILABLE, the next one becomes
 * preferred.
 *
 * "Provably never sent": before handing a call to grpc-js the pool waits for
 * the endpoint's channel to be READY. If it does not become READY (connection
 * refused, dial timeout, reconnect backoff) the call was never written to any
 * socket, so even a Put may go to the next endpoint. Once a call was handed
 * over, a failure may come after the server applied it: only calls whose
 * retry policy allows it are sent again. A connection that breaks between
 * the readiness check and the call makes grpc-js fail the call with
 * UNAVAILABLE, which the pool counts as "maybe sent": the safe side.
 */
import { Client as GrpcClient, Metadata, connectivityState as ConnectivityState, credentials, type ClientDuplexStream, type ClientReadableStream, type ChannelOptions } from '@grpc/grpc-js';
import pRetry, { AbortError as RetryAbort } from 'p-retry';
import type { ResolvedClientOptions } from './client-options.js';
import { onAbort } from './abort-listeners.js';
import { ClientClosedError, DeadlineExceededError, EtcdError, InvalidAuthTokenError, UnavailableError, isUnavailable, toEtcdError } from './errors.js';
import { mayRetryAfterSend } from './retry-policy.js';
import { setLongTimeout, type LongTimeout } from './long-timeout.js';

/** A unary method as ts-proto describes it (e.g. etcdserverpb.KVService.range). */
export interface UnaryMethod<Request, Response> {
  readonly path: string;
  readonly requestStream: false;
  readonly responseStream: false;
  readonly requestSerialize: (value: Request) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Response;
}

export interface BidiMethod<Request, Response> {
  readonly path: string;
  readonly requestStream: true;
  readonly responseStream: true;
  readonly requestSerialize: (value: Request) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Response;
}

export interface ServerStreamMethod<Request, Response> {
  readonly path: string;
  readonly requestStream: false;
  readonly responseStream: true;
  readonly requestSerialize: (value: Request) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Response;
}

/** Per-call options every API method accepts. */
export interface RequestOptions {
  /** Deadline of this call, retries included (default: the client's callTimeoutMs). */
  readonly timeoutMs?: number;
  /** Cancels the call; it then rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
}

export interface UnaryCallOptions extends RequestOptions {
  /** Decides 'per-request' retry policies (Txn, Alarm): whether this request only reads. */
  readonly onlyReads?: boolean;
  /** Send to this endpoint only (host:port), no failover: per-member calls such as Status. */
  readonly endpoint?: string;
}

/** An open stream and the endpoint that carries it. */
export interface OpenStream<T> {
  readonly stream: T;
  readonly endpoint: string;
}

/** Calls the authenticator makes; kept out of the pool so that auth.ts owns the Auth service. */
export type Authenticator = (username: string, password: string, pool: ConnectionPool) => Promise<string>;

class Endpoint {
  readonly client: GrpcClient;
  constructor(
    readonly address: string,
    channelOptions: ChannelOptions,
  ) {
    this.client = new GrpcClient(address, credentials.createInsecure(), channelOptions);
  }

  /**
   * Resolves true once the channel is READY, false if it fails to connect
   * (TRANSIENT_FAILURE), by `deadlineMs`, or when `signal` aborts.
   */
  async waitForReady(deadlineMs: number, signal: AbortSignal): Promise<boolean> {
    const channel = this.client.getChannel();
    for (;;) {
      if (signal.aborted) return false;
      let state: ConnectivityState;
      try {
        state = channel.getConnectivityState(true);
      } catch {
        return false; // closed
      }
      if (state === ConnectivityState.READY) return true;
      if (state === ConnectivityState.TRANSIENT_FAILURE || state === ConnectivityState.SHUTDOWN) return false;
      if (Date.now() >= deadlineMs) return false;
      const changed = await new Promise<boolean>((resolve) => {
        const stopWaiting = onAbort(signal, () => resolve(false));
        try {
          channel.watchConnectivityState(state, deadlineMs, (error) => {
            stopWaiting();
            resolve(error === undefined);
          });
        } catch {
          stopWaiting();
          resolve(false);
        }
      });
      if (!changed) return false;
    }
  }

  unary<Request, Response>(method: UnaryMethod<Request, Response>, request: Request, metadata: Metadata, deadlineMs: number, signal: AbortSignal): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      let stopWaiting = (): void => {};
      const call = this.client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, { deadline: deadlineMs }, (error, response) => {
        stopWaiting();
        if (error !== null) reject(error);
        else if (response === undefined) reject(new EtcdError(`${method.path}: empty response`));
        else resolve(response);
      });
      stopWaiting = onAbort(signal, () => cancelCall(call));
    });
  }

  close(): void {
    this.client.close();
  }
}

export class ConnectionPool {
  private readonly endpoints: Endpoint[];
  /** Index of the endpoint tried first. */
  private preferredIndex = 0;
  private token: string | undefined;
  /** The authentication in progress, shared by every call that needs a token. */
  private authenticating: Promise<string> | undefined;
  private authenticator: Authenticator | undefined;
  private readonly closeController = new AbortController();

  constructor(readonly options: ResolvedClientOptions) {
    const channelOptions: ChannelOptions = {
      'grpc.initial_reconnect_backoff_ms': options.reconnectBackoffInitialMs,
      'grpc.max_reconnect_backoff_ms': options.reconnectBackoffMaxMs,
      'grpc.keepalive_time_ms': options.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs,
      // etcd closes connections that ping without open calls (PermitWithoutStream=false).
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.max_receive_message_length': options.maxReceiveMessageBytes,
      'grpc.max_send_message_length': options.maxSendMessageBytes,
      // Each client owns its connections: closing one never disturbs another.
      'grpc.use_local_subchannel_pool': 1,
    };
    this.endpoints = options.endpoints.map((address) => new Endpoint(address, channelOptions));
  }

  get closed(): boolean {
    return this.closeController.signal.aborted;
  }

  /** Aborts when the client closes; long-lived managers listen to it. */
  get closeSignal(): AbortSignal {
    return this.closeController.signal;
  }

  get endpointAddresses(): readonly string[] {
    return this.endpoints.map((endpoint) => endpoint.address);
  }

  /** The token sent as `token` metadata on every later call (undefined: none). */
  setToken(token: string | undefined): void {
    this.token = token;
  }

  /** Lets the client log in by itself with the configured user (see ClientOptions.auth). */
  setAuthenticator(authenticator: Authenticator): void {
    this.authenticator = authenticator;
  }

  /** Forgets a token the server refused, so that the next call logs in again. */
  invalidateToken(): void {
    this.token = undefined;
  }

  get canAuthenticate(): boolean {
    return this.options.auth !== undefined && this.authenticator !== undefined;
  }

  /**
   * Makes a unary call under the retry policy of its method (see
   * retry-policy.ts). Rejects with an EtcdError subclass, with
   * DeadlineExceededError when the deadline passes, with ClientClosedError
   * when the client closes, or with `options.signal.reason`.
   */
  async unary<Request, Response>(method: UnaryMethod<Request, Response>, request: Request, options: UnaryCallOptions = {}): Promise<Response> {
    this.throwIfClosed();
    options.signal?.throwIfAborted();
    const timeoutMs = options.timeoutMs ?? this.options.callTimeoutMs;
    const deadlineMs = Date.now() + timeoutMs;
    const retryAfterSend = mayRetryAfterSend(method.path, options.onlyReads);
    let lastError: unknown;
    const call = new CallSignal(this.closeController.signal, options.signal, timeoutMs, () => {
      return new DeadlineExceededError(`${method.path}: deadline of ${timeoutMs} ms exceeded`, lastError === undefined ? {} : { cause: lastError });
    });
    let tokenRefreshed = false;
    try {
      return await pRetry(
        async () => {
          let metadata: Metadata;
          try {
            metadata = await this.metadataFor(method.path, call.signal);
          } catch (error) {
            // Logging in failed (its own call was already retried as policy allows): give up.
            lastError = error;
            throw new RetryAbort(error instanceof Error ? error : new Error(String(error)));
          }
          try {
            return await this.attempt(method, request, metadata, deadlineMs, call.signal, options.endpoint, retryAfterSend);
          } catch (error) {
            lastError = error instanceof RetryAbort ? error.originalError : error;
            // A refused token means the request was rejected before it was
            // applied: log in again and resend, once, whatever the method.
            if (lastError instanceof InvalidAuthTokenError && this.canAuthenticate && !tokenRefreshed) {
              tokenRefreshed = true;
              this.invalidateToken();
              throw lastError;
            }
            throw error;
          }
        },
        {
          retries: this.options.retryAttemptsMax,
          factor: 2,
          minTimeout: this.options.retryBackoffInitialMs,
          maxTimeout: this.options.retryBackoffMaxMs,
          randomize: true,
          signal: call.signal,
        },
      );
    } finally {
      call.dispose();
    }
  }

  /** One attempt: endpoints in preference order until one takes the call. */
  private async attempt<Request, Response>(
    method: UnaryMethod<Request, Response>,
    request: Request,
    metadata: Metadata,
    deadlineMs: number,
    signal: AbortSignal,
    onlyEndpoint: string | undefined,
    retryAfterSend: boolean,
  ): Promise<Response> {
    const unreachable: string[] = [];
    for (const endpoint of this.candidates(onlyEndpoint)) {
      const dialDeadlineMs = Math.min(deadlineMs, Date.now() + this.options.dialTimeoutMs);
      if (!(await endpoint.waitForReady(dialDeadlineMs, signal))) {
        if (signal.aborted) throw signal.reason;
        unreachable.push(endpoint.address);
        this.demote(endpoint);
        continue;
      }
      try {
        const response = await endpoint.unary(method, request, metadata, deadlineMs, signal);
        this.prefer(endpoint);
        return response;
      } catch (raw) {
        if (signal.aborted) throw signal.reason;
        const error = toEtcdError(raw, endpoint.address);
        if (isUnavailable(error)) {
          this.demote(endpoint);
          if (retryAfterSend) throw error;
        }
        // Not retried: surfaces as it is (p-retry rethrows originalError).
        throw new RetryAbort(error);
      }
    }
    // Nothing was sent anywhere: safe to try again whatever the method.
    throw new UnavailableError(`no endpoint reachable: ${unreachable.join(', ')} (dial timeout ${this.options.dialTimeoutMs} ms)`);
  }

  /**
   * Opens a bidirectional stream on the first endpoint that is READY. The
   * caller handles the stream's errors (toEtcdError with the endpoint) and
   * re-opens it; rejects with UnavailableError when no endpoint is ready.
   */
  async openBidi<Request, Response>(method: BidiMethod<Request, Response>, signal?: AbortSignal): Promise<OpenStream<ClientDuplexStream<Request, Response>>> {
    const endpoint = await this.readyEndpoint(method.path, signal);
    const metadata = await this.metadataFor(method.path, signal ?? this.closeController.signal);
    this.throwIfNotWanted(signal);
    const stream = endpoint.client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, metadata, {});
    return { stream, endpoint: endpoint.address };
  }

  /** Opens a server stream (Snapshot, Observe) on the first endpoint that is READY. */
  async openServerStream<Request, Response>(
    method: ServerStreamMethod<Request, Response>,
    request: Request,
    options: { signal?: AbortSignal; endpoint?: string } = {},
  ): Promise<OpenStream<ClientReadableStream<Response>>> {
    const endpoint = await this.readyEndpoint(method.path, options.signal, options.endpoint);
    const metadata = await this.metadataFor(method.path, options.signal ?? this.closeController.signal);
    this.throwIfNotWanted(options.signal);
    const stream = endpoint.client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, {});
    return { stream, endpoint: endpoint.address };
  }

  /**
   * Before a stream is created: a stream nobody wants any more (the client
   * closed, or the caller gave up while it was dialling) is never opened, so
   * it never has to be cancelled in the moment after its creation (see
   * cancelCall).
   */
  private throwIfNotWanted(signal: AbortSignal | undefined): void {
    this.throwIfClosed();
    signal?.throwIfAborted();
  }

  private async readyEndpoint(path: string, signal: AbortSignal | undefined, onlyEndpoint?: string): Promise<Endpoint> {
    this.throwIfClosed();
    const call = new CallSignal(this.closeController.signal, signal, undefined, () => new DeadlineExceededError(path));
    try {
      for (const endpoint of this.candidates(onlyEndpoint)) {
        if (await endpoint.waitForReady(Date.now() + this.options.dialTimeoutMs, call.signal)) {
          this.prefer(endpoint);
          return endpoint;
        }
        if (call.signal.aborted) throw call.signal.reason;
        this.demote(endpoint);
      }
    } finally {
      call.dispose();
    }
    throw new UnavailableError(`${path}: no endpoint reachable among ${this.endpoints.map((endpoint) => endpoint.address).join(', ')}`);
  }

  /** Metadata for a call: the token, after logging in first when the client has credentials and no token. */
  private async metadataFor(path: string, signal: AbortSignal): Promise<Metadata> {
    const metadata = new Metadata();
    // Authenticate itself must never carry a (possibly stale) token.
    if (path === authenticatePath) return metadata;
    if (this.token === undefined && this.canAuthenticate) await this.authenticate(signal);
    if (this.token !== undefined) metadata.set('token', this.token);
    return metadata;
  }

  private async authenticate(signal: AbortSignal): Promise<void> {
    const auth = this.options.auth;
    const authenticator = this.authenticator;
    if (auth === undefined || authenticator === undefined) return;
    this.authenticating ??= authenticator(auth.username, auth.password, this).finally(() => (this.authenticating = undefined));
    signal.throwIfAborted();
    let stopWaiting = (): void => {};
    try {
      const token = await Promise.race([
        this.authenticating,
        new Promise<never>((_, reject) => {
          stopWaiting = onAbort(signal, () => reject(signal.reason));
        }),
      ]);
      this.token = token;
    } finally {
      stopWaiting();
    }
  }

  /** Endpoints in the order to try them: the preferred one first. */
  private candidates(onlyEndpoint?: string): Endpoint[] {
    if (onlyEndpoint !== undefined) {
      const endpoint = this.endpoints.find((candidate) => candidate.address === onlyEndpoint);
      if (endpoint === undefined) throw new TypeError(`endpoint ${onlyEndpoint} is not one of this client's endpoints`);
      return [endpoint];
    }
    const count = this.endpoints.length;
    return Array.from({ length: count }, (_, offset) => this.endpoints[(this.preferredIndex + offset) % count]!);
  }

  private prefer(endpoint: Endpoint): void {
    this.preferredIndex = this.endpoints.indexOf(endpoint);
  }

  /** Moves preference past an endpoint that failed, if it was the preferred one. */
  private demote(endpoint: Endpoint): void {
    const index = this.endpoints.indexOf(endpoint);
    if (index === this.preferredIndex) this.preferredIndex = (index + 1) % this.endpoints.length;
  }

  throwIfClosed(): void {
    if (this.closed) throw new ClientClosedError();
  }

  close(): void {
    if (this.closed) return;
    this.closeController.abort(new ClientClosedError());
    for (const endpoint of this.endpoints) endpoint.close();
  }
}

const authenticatePath = '/etcdserverpb.Auth/Authenticate';

/**
 * The signal of one call: aborts when the client closes, when the caller's
 * signal aborts (with the caller's reason), or when the deadline passes.
 * dispose() removes every listener and the timer.
 */
class CallSignal {
  private readonly controller = new AbortController();
  private readonly timer: LongTimeout | undefined;
  private readonly cleanups: Array<() => void> = [];

  constructor(closeSignal: AbortSignal, callerSignal: AbortSignal | undefined, timeoutMs: number | undefined, deadlineError: () => Error) {
    for (const source of [closeSignal, callerSignal]) {
      if (source === undefined) continue;
      if (source.aborted) {
        this.controller.abort(source.reason);
        continue;
      }
      this.cleanups.push(onAbort(source, () => this.controller.abort(source.reason)));
    }
    if (timeoutMs !== undefined) this.timer = setLongTimeout(() => this.controller.abort(deadlineError()), timeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  dispose(): void {
    this.timer?.clear();
    for (const cleanup of this.cleanups) cleanup();
  }
}

/** What cancelCall needs of a grpc-js call (unary, client, server or bidi stream). */
interface CancellableCall {
  cancel(): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/**
 * Cancels a grpc-js call, also one created a moment ago.
 *
 * grpc-js 1.14 loses a cancel that arrives between a call's creation and the
 * moment it has been handed to a transport (a few microtasks later): the call
 * reports CANCELLED but its HTTP/2 stream is still opened afterwards and never
 * reset, so the session stays referenced and keeps the process alive after
 * client.close() (until the server drops the connection, about 30 s). So the
 * call is cancelled now (its callbacks and events end at once) and again on
 * the next turn of the event loop, after it has reached its transport, where
 * the cancel resets the stream (a cancel of an ended call changes nothing
 * else). The CANCELLED error the cancel causes is expected and swallowed.
 */
export function cancelCall(call: CancellableCall): void {
  call.on('error', () => {});
  call.cancel();
  setImmediate(() => call.cancel());
}

/** Abandons a bidi stream of ours: no more data is handled, the request side is ended, the call cancelled. */
export function abandonStream(call: CancellableCall & { removeAllListeners(event: 'data'): unknown; end(): unknown }): void {
  call.removeAllListeners('data');
  call.end();
  cancelCall(call);
}
