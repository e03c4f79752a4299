/**
 * gRPC over node:http2, with only what a load generator needs: unary calls,
 * bidirectional streams, deadlines, status codes. No retries, no name
 * resolution, no interceptors, no compression. One transport is one HTTP/2
 * session, i.e. one TCP connection.
 */
import { status } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import {
  decodeGrpcMessage,
  encodeGrpcFrame,
  GrpcFrameDecoder,
  GrpcStatusError,
  grpcTimeoutHeader,
  type DuplexCall,
  type MethodDefinition,
  type RpcTransport,
} from './transport.js';

const { NGHTTP2_CANCEL } = http2.constants;

/**
 * Flow-control windows: a watch stream fanning out thousands of events per
 * second must not stall on window updates; 1 MiB per stream and 16 MiB per
 * connection keep the sender going between our reads.
 */
const streamWindowBytes = 1024 * 1024;
const connectionWindowBytes = 16 * 1024 * 1024;
/** Node's per-session memory cap (MB) before it refuses new streams; room for many concurrent streams. */
const sessionMemoryMaxMegabytes = 256;
/**
 * Deadlines travel to the server as grpc-timeout, and the servers enforce
 * them; this sweep only catches a server that ignores one, so a coarse
 * period is enough and costs nothing per request.
 */
const deadlineSweepIntervalMs = 1000;

interface PendingUnary {
  readonly deadlineMs: number;
  readonly stream: ClientHttp2Stream;
  expired: boolean;
}

function statusFromHeaders(headers: IncomingHttpHeaders): { code: number; message: string } | undefined {
  const raw = headers['grpc-status'];
  if (raw === undefined) return undefined;
  return { code: Number(raw), message: decodeGrpcMessage(headers['grpc-message']) };
}

/** The error for a stream that closed without a gRPC status. */
function closedWithoutStatus(stream: ClientHttp2Stream, error: unknown, httpStatus: number | undefined): GrpcStatusError {
  if (httpStatus !== undefined && httpStatus !== 200) return new GrpcStatusError(httpStatusToGrpc(httpStatus), `HTTP status ${httpStatus} received`);
  if (error instanceof Error) return new GrpcStatusError(status.UNAVAILABLE, error.message);
  if (stream.rstCode === NGHTTP2_CANCEL) return new GrpcStatusError(status.CANCELLED, 'call cancelled');
  if (stream.rstCode !== undefined && stream.rstCode !== 0) return new GrpcStatusError(status.INTERNAL, `stream reset with HTTP/2 code ${stream.rstCode}`);
  return new GrpcStatusError(status.UNKNOWN, 'stream closed without a gRPC status');
}

/** The gRPC spec's mapping of HTTP status codes for responses without a gRPC status. */
function httpStatusToGrpc(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return status.INTERNAL;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return status.UNAVAILABLE;
    default:
      return status.UNKNOWN;
  }
}

export class Http2Transport implements RpcTransport {
  private session: ClientHttp2Session | undefined;
  /** Unary calls awaiting an answer; at most one per client on this connection, since each client waits for its answer. */
  private readonly inFlight = new Set<PendingUnary>();
  private readonly sweepTimer: NodeJS.Timeout;
  /** Request headers per path and timeout; node:http2 copies them, so one object serves every call. */
  private readonly headersByPath = new Map<string, OutgoingHttpHeaders>();
  private closed = false;

  constructor(readonly endpoint: string) {
    this.sweepTimer = setInterval(() => this.expireOverdue(), deadlineSweepIntervalMs);
    this.sweepTimer.unref();
  }

  private currentSession(): ClientHttp2Session {
    if (this.closed) throw new GrpcStatusError(status.CANCELLED, 'transport closed');
    const existing = this.session;
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(`http://${this.endpoint}`, {
      settings: { enablePush: false, initialWindowSize: streamWindowBytes },
      maxSessionMemory: sessionMemoryMaxMegabytes,
    });
    // Session errors (refused, reset) also fail every open stream, which is where they are counted.
    session.on('error', () => undefined);
    session.once('connect', () => session.setLocalWindowSize(connectionWindowBytes));
    this.session = session;
    return session;
  }

  private headersFor(path: string, timeoutMs: number | undefined): OutgoingHttpHeaders {
    const cacheKey = timeoutMs === undefined ? path : `${path} ${timeoutMs}`;
    let headers = this.headersByPath.get(cacheKey);
    if (headers === undefined) {
      headers = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'holdfast-bench' };
      if (timeoutMs !== undefined) headers['grpc-timeout'] = grpcTimeoutHeader(timeoutMs);
      this.headersByPath.set(cacheKey, headers);
    }
    return headers;
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.currentSession();
      } catch (error) {
        return reject(error);
      }
      if (!session.connecting) return resolve();
      const timer = setTimeout(() => done(new Error(`cannot connect to ${this.endpoint} within ${timeoutMs} ms`)), timeoutMs);
      const onConnect = (): void => done(undefined);
      const onError = (error: Error): void => done(new Error(`cannot connect to ${this.endpoint}: ${error.message}`));
      function done(error: Error | undefined): void {
        clearTimeout(timer);
        session.off('connect', onConnect);
        session.off('error', onError);
        if (error === undefined) resolve();
        else reject(error);
      }
      session.once('connect', onConnect);
      session.once('error', onError);
    });
  }

  unary<Request, Response>(method: MethodDefinition<Request, Response>, request: Request, timeoutMs: number): Promise<Response> {
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = this.currentSession().request(this.headersFor(method.path, timeoutMs), { endStream: false });
      } catch (error) {
        return reject(error instanceof GrpcStatusError ? error : new GrpcStatusError(status.UNAVAILABLE, error instanceof Error ? error.message : String(error)));
      }
      const pending: PendingUnary = { deadlineMs: Date.now() + timeoutMs, stream, expired: false };
      this.inFlight.add(pending);
      const chunks: Buffer[] = [];
      let grpcStatus: { code: number; message: string } | undefined;
      let httpStatus: number | undefined;
      let streamError: unknown;
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status']);
        // Trailers-Only: an error answered in the response headers.
        grpcStatus = statusFromHeaders(headers) ?? grpcStatus;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('trailers', (trailers) => (grpcStatus = statusFromHeaders(trailers) ?? grpcStatus));
      stream.on('error', (error) => (streamError = error));
      stream.on('close', () => {
        this.inFlight.delete(pending);
        if (pending.expired) return reject(new GrpcStatusError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
        if (grpcStatus === undefined) return reject(closedWithoutStatus(stream, streamError, httpStatus));
        if (grpcStatus.code !== status.OK) return reject(new GrpcStatusError(grpcStatus.code, grpcStatus.message));
        let messages: Buffer[];
        try {
          messages = new GrpcFrameDecoder().push(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
        } catch (error) {
          return reject(error);
        }
        if (messages.length !== 1) return reject(new GrpcStatusError(status.UNIMPLEMENTED, `expected one response message, got ${messages.length}`));
        try {
          resolve(method.responseDeserialize(messages[0]!));
        } catch (error) {
          reject(new GrpcStatusError(status.INTERNAL, `cannot decode the response: ${error instanceof Error ? error.message : String(error)}`));
        }
      });
      stream.end(encodeGrpcFrame(method.requestSerialize(request)));
    });
  }

  duplex<Request, Response>(method: MethodDefinition<Request, Response>): DuplexCall<Request, Response> {
    return new Http2DuplexCall(() => this.currentSession().request(this.headersFor(method.path, undefined), { endStream: false }), method);
  }

  private expireOverdue(): void {
    const nowMs = Date.now();
    for (const pending of this.inFlight) {
      if (pending.deadlineMs > nowMs) continue;
      pending.expired = true;
      this.inFlight.delete(pending);
      pending.stream.close(NGHTTP2_CANCEL);
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    const session = this.session;
    this.session = undefined;
    if (session === undefined) return;
    // Streams still open are abandoned: the run is over.
    session.destroy();
  }
}

class Http2DuplexCall<Request, Response> extends EventEmitter implements DuplexCall<Request, Response> {
  private readonly stream: ClientHttp2Stream | undefined;
  private readonly decoder = new GrpcFrameDecoder();
  private cancelled = false;

  constructor(
    open: () => ClientHttp2Stream,
    private readonly method: MethodDefinition<Request, Response>,
  ) {
    super();
    let stream: ClientHttp2Stream;
    try {
      stream = open();
    } catch (error) {
      // Report asynchronously, as a stream error, after the caller attached its listeners.
      const failure = error instanceof GrpcStatusError ? error : new GrpcStatusError(status.UNAVAILABLE, error instanceof Error ? error.message : String(error));
      setImmediate(() => this.emit('error', failure));
      return;
    }
    this.stream = stream;
    let grpcStatus: { code: number; message: string } | undefined;
    let httpStatus: number | undefined;
    let streamError: unknown;
    stream.on('response', (headers) => {
      httpStatus = Number(headers[':status']);
      grpcStatus = statusFromHeaders(headers) ?? grpcStatus;
    });
    stream.on('data', (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = this.decoder.push(chunk);
      } catch (error) {
        streamError = error;
        stream.close(NGHTTP2_CANCEL);
        return;
      }
      for (const message of messages) this.emit('data', this.method.responseDeserialize(message));
    });
    stream.on('trailers', (trailers) => (grpcStatus = statusFromHeaders(trailers) ?? grpcStatus));
    stream.on('error', (error) => (streamError = error));
    stream.on('close', () => {
      if (streamError instanceof GrpcStatusError) this.emit('error', streamError);
      else if (this.cancelled) this.emit('error', new GrpcStatusError(status.CANCELLED, 'call cancelled'));
      else if (grpcStatus === undefined) this.emit('error', closedWithoutStatus(stream, streamError, httpStatus));
      else if (grpcStatus.code !== status.OK) this.emit('error', new GrpcStatusError(grpcStatus.code, grpcStatus.message));
      else this.emit('end');
    });
  }

  write(request: Request): void {
    if (this.stream === undefined || this.stream.closed || this.stream.destroyed) return;
    this.stream.write(encodeGrpcFrame(this.method.requestSerialize(request)));
  }

  end(): void {
    if (this.stream !== undefined && !this.stream.closed) this.stream.end();
  }

  cancel(): void {
    this.cancelled = true;
    if (this.stream !== undefined && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
  }
}
