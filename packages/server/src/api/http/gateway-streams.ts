/**
 * The gateway's streaming routes, POST /v3/watch and /v3/lease/keepalive,
 * as etcd 3.4's grpc-gateway (v1) serves them:
 *
 * - the request body is a stream of JSON requests, read one value at a time
 *   as they arrive (concatenated or whitespace separated), Go's json.Decoder
 *   style. The first request is special: if it cannot be read the answer is
 *   a plain error (status 500, code 2 "Unknown", Go's message); an empty body
 *   opens the stream with no request at all. Any later unreadable request
 *   just ends the requests (the gateway's CloseSend), silently;
 * - each response is a line `{"result":{...}}`, written and flushed as it
 *   comes; the HTTP status and headers go out with the first response, and
 *   not before: a watch that has nothing to say sends nothing at all;
 * - a keepalive stream ends once the body has ended and every request was
 *   answered; a watch stream stays open until the client goes away;
 * - when the server stops, an open stream ends with grpc-gateway's stream
 *   error chunk, `{"error":{"grpc_code":14,"http_code":503,"message":
 *   "transport is closing","http_status":"Service Unavailable"}}` (no newline;
 *   status 503 if nothing was sent yet), or, while the first response is
 *   still awaited, a plain 503 error; exactly what etcd's gateway writes
 *   when its gRPC connection to the server closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, Request, Response } from 'express';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { etcdserverpb } from '@holdfast/proto';
import type { MemberApi, TrackStream } from '../member-api.js';
import { WatchStream, type WatchStreamContext } from '../../watch/watch-stream.js';
import { toEtcdError } from '../../errors.js';
import { renewOrZero } from '../grpc/lease.js';
import { grpcOverheadBytes } from '../../config.js';
import { GoJsonError, GoJsonStreamDecoder, type DecodedValue, type MessageSchema } from './go-json.js';
import { leaseKeepAliveRequestSchema, messageFromValue, watchRequestSchema, type PartialMessageType } from './gateway-requests.js';
import { grpcMetadataHeader, httpStatusOf, httpStatusText, methodNotAllowed, sendError } from './gateway-response.js';

/** What etcd's gateway says when its connection to the gRPC server closes (server stopping). */
export const transportClosingMessage = 'transport is closing';

/** The server side of one stream (what a gRPC handler would do with the call). */
export interface StreamSession<Req> {
  receive(request: Req): void;
  /** The client sent its last request (grpc-gateway's CloseSend). */
  requestsEnded(): void;
  /** The stream is over (client gone, server stopping): release everything. */
  close(): void;
}

/** Where a session writes. */
export interface StreamOutput {
  /** Writes one response (its proto JSON); `flushed` runs once it left the process. */
  send(json: unknown, flushed?: () => void): void;
  /** The server ended the stream with OK. */
  finish(): void;
  /** The server ended the stream with an error. */
  fail(code: number, message: string): void;
  pauseRequests(): void;
  resumeRequests(): void;
}

export interface StreamRoute<Req> {
  readonly schema: MessageSchema;
  readonly type: PartialMessageType<Req>;
  open(output: StreamOutput): StreamSession<Req>;
}

/**
 * Where the gateway's answer stands, which decides how an error is written:
 * - reading: the first request is not read yet (grpc-gateway still decoding);
 * - awaiting: the first request went to the server, no response yet (the
 *   gateway waits for the gRPC response headers): errors are plain errors;
 * - streaming: the response stream has begun (an empty body begins it at
 *   once, without gRPC metadata); errors are stream error chunks;
 * - done: the HTTP response is over.
 */
type Phase = 'reading' | 'awaiting' | 'streaming' | 'done';

function serveStream<Req>(member: MemberApi, trackStream: TrackStream, request: IncomingMessage, response: ServerResponse, route: StreamRoute<Req>): void {
  const decoder = new GoJsonStreamDecoder();
  const maxRequestBytes = member.config.maxRequestBytes + grpcOverheadBytes;
  const queue: DecodedValue[] = [];
  let phase: Phase = 'reading';
  let session: StreamSession<Req> | undefined;
  let withMetadata = false;
  let requestsOver = false;
  let pausedBySession = false;
  let pausedForDrain = false;

  const untrack = trackStream({
    emit: () => {
      fail(GrpcStatus.UNAVAILABLE, transportClosingMessage);
      return true;
    },
  });

  const startResponse = (status: number): void => {
    response.statusCode = status;
    response.setHeader('Content-Type', 'application/json');
    if (withMetadata) response.setHeader(grpcMetadataHeader.name, grpcMetadataHeader.value);
    if (request.httpVersion !== '1.0') response.setHeader('Transfer-Encoding', 'chunked');
  };

  const end = (): void => {
    if (phase === 'done') return;
    phase = 'done';
    untrack();
    stopReading();
    session?.close();
  };

  const output: StreamOutput = {
    send: (json, flushed) => {
      if (phase === 'done') return;
      if (!response.headersSent) startResponse(200);
      phase = 'streaming';
      const writable = response.write(`${JSON.stringify({ result: json })}\n`, () => flushed?.());
      if (!writable && !pausedForDrain) {
        pausedForDrain = true;
        response.once('drain', () => {
          pausedForDrain = false;
          pump();
        });
      }
    },
    finish: () => {
      if (phase === 'done') return;
      if (!response.headersSent) startResponse(200);
      end();
      response.end();
    },
    fail: (code, message) => fail(code, message),
    pauseRequests: () => {
      pausedBySession = true;
    },
    resumeRequests: () => {
      pausedBySession = false;
      pump();
    },
  };

  function fail(code: number, message: string): void {
    if (phase === 'done') return;
    const streaming = phase === 'streaming';
    end();
    if (!streaming) {
      sendError(response, code, message);
      return;
    }
    const status = httpStatusOf(code);
    if (!response.headersSent) startResponse(status);
    // grpc-gateway's errorChunk: no delimiter after it.
    response.end(JSON.stringify({ error: { grpc_code: code, http_code: status, message, http_status: httpStatusText(status) } }));
  }

  function stopReading(): void {
    requestsOver = true;
    queue.length = 0;
    // Whatever else comes is read and dropped, so the connection stays usable.
    request.resume();
  }

  /** The client sent nothing more that can be used. */
  function requestsEnded(): void {
    requestsOver = true;
    queue.length = 0;
    request.resume();
    session?.requestsEnded();
  }

  function handle(value: DecodedValue): void {
    const first = phase === 'reading';
    if (value.kind === 'eof') {
      if (first) {
        // grpc-gateway begins the response stream without waiting for headers.
        phase = 'streaming';
        session = route.open(output);
      }
      requestsEnded();
      return;
    }
    let decoded: Req;
    try {
      if (value.kind === 'error') throw new GoJsonError(value.message);
      decoded = messageFromValue(value.raw, route.schema, route.type);
    } catch (error) {
      if (!(error instanceof GoJsonError)) {
        const mapped = toEtcdError(error);
        fail(mapped.code, mapped.message);
        return;
      }
      if (first) {
        // The gateway never got a request to the server: a plain error, code Unknown.
        end();
        sendError(response, GrpcStatus.UNKNOWN, error.message);
      } else {
        requestsEnded();
      }
      return;
    }
    if (first) {
      phase = 'awaiting';
      withMetadata = true;
      session = route.open(output);
    }
    try {
      session!.receive(decoded);
    } catch (error) {
      const mapped = toEtcdError(error);
      fail(mapped.code, mapped.message);
    }
  }

  function pump(): void {
    while (!requestsOver && !pausedBySession && !pausedForDrain && queue.length > 0) handle(queue.shift()!);
    if (requestsOver) return;
    if (pausedBySession || pausedForDrain) request.pause();
    else request.resume();
  }

  request.on('data', (chunk: Buffer) => {
    if (requestsOver) return;
    queue.push(...decoder.push(chunk));
    pump();
    // A request larger than the gRPC server takes: it would end the stream.
    if (!requestsOver && decoder.pendingBytes > maxRequestBytes) {
      fail(GrpcStatus.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${decoder.pendingBytes} vs. ${maxRequestBytes})`);
    }
  });
  request.on('end', () => {
    if (requestsOver) return;
    queue.push(...decoder.end());
    pump();
  });
  // The client went away (or the server cut the connection): the stream goes with it.
  response.on('close', () => end());
  request.on('error', () => end());
}

/** Registers POST /v3/watch and /v3/lease/keepalive (before any body parser: they read the body as a stream). */
export function registerStreamingRoutes(app: Express, member: MemberApi, trackStream: TrackStream): void {
  let watchContext: WatchStreamContext | undefined;
  const watchRoute: StreamRoute<etcdserverpb.WatchRequest> = {
    schema: watchRequestSchema,
    type: etcdserverpb.WatchRequest,
    open: (output) => {
      watchContext ??= member.watchStreamContext();
      const stream = new WatchStream(watchContext, {
        write: (response, flushed) => output.send(etcdserverpb.WatchResponse.toJSON(response), flushed),
        pauseRequests: () => output.pauseRequests(),
        resumeRequests: () => output.resumeRequests(),
      });
      // etcd keeps sending after the client's last request; the stream lasts until the client goes.
      return { receive: (request) => stream.receive(request), requestsEnded: () => {}, close: () => stream.close() };
    },
  };
  const keepAliveRoute: StreamRoute<etcdserverpb.LeaseKeepAliveRequest> = {
    schema: leaseKeepAliveRequestSchema,
    type: etcdserverpb.LeaseKeepAliveRequest,
    open: (output) => ({
      receive: (request) => {
        // As the gRPC service: the header is taken before the renewal; a missing lease gets TTL 0.
        const header = member.header();
        const TTL = renewOrZero(member, request.ID);
        output.send(etcdserverpb.LeaseKeepAliveResponse.toJSON({ header, ID: request.ID, TTL: BigInt(TTL) }));
      },
      requestsEnded: () => output.finish(),
      close: () => {},
    }),
  };
  const routes: Array<[string, StreamRoute<never>]> = [
    ['/v3/watch', watchRoute as unknown as StreamRoute<never>],
    ['/v3/lease/keepalive', keepAliveRoute as unknown as StreamRoute<never>],
  ];
  for (const [path, route] of routes) {
    app.post(path, (request: Request, response: Response) => serveStream(member, trackStream, request, response, route));
    app.all(path, methodNotAllowed);
  }
}
