/**
 * Deadlines a Node timer cannot wait for.
 *
 * grpc-js turns a call's `grpc-timeout` header into `setTimeout((value *
 * unit) | 0)`. From 2^31 ms (24.8 days) on, the `| 0` wraps the delay
 * negative and Node clamps any delay outside [1, 2^31 - 1] ms to 1 ms, so
 * the call ends at once with DEADLINE_EXCEEDED. Go's clients send such
 * timeouts (etcdctl's context.Background() calls through a client with a
 * long --command-timeout, or Go's "no deadline" plus a large default).
 *
 * A deadline that no timer can wait for cannot pass while this process
 * could notice it, so the server treats it as no deadline: the header is
 * removed before grpc-js reads it (grpc-js does the same on its client
 * side: deadline.ts treats such deadlines as infinitely far).
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import { grpcJsHttp2Servers } from './grpc-js-servers.js';

/** The longest delay a Node timer honours; longer ones fire after 1 ms. */
export const maxTimerDelayMs = 2 ** 31 - 1;

const grpcTimeoutHeader = 'grpc-timeout';
/** The gRPC wire format: at most 8 digits and a unit (PROTOCOL-HTTP2.md). */
const grpcTimeoutPattern = /^(\d{1,8})([HMSmun])$/;
const millisecondsPerUnit: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/** The timeout a `grpc-timeout` value asks for, in ms; undefined when malformed. */
export function grpcTimeoutMs(value: string): number | undefined {
  const match = grpcTimeoutPattern.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * millisecondsPerUnit[match[2]!]!;
}

/** Removes a `grpc-timeout` no timer can wait for (see above); malformed ones are left to grpc-js's own error. */
export function dropUnsettableTimeout(headers: IncomingHttpHeaders): void {
  const value = headers[grpcTimeoutHeader];
  if (typeof value !== 'string') return;
  const timeoutMs = grpcTimeoutMs(value);
  if (timeoutMs !== undefined && timeoutMs > maxTimerDelayMs) delete headers[grpcTimeoutHeader];
}

/**
 * Makes every HTTP/2 server of `grpcServer` (the connection injector's)
 * drop unsettable timeouts before grpc-js's own stream handler sees them.
 * Call it after creating the injector.
 */
export function guardGrpcDeadlines(grpcServer: GrpcServer): void {
  for (const http2Server of grpcJsHttp2Servers(grpcServer, 'guarding against unsettable grpc-timeout values')) {
    http2Server.prependListener('stream', (_stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => dropUnsettableTimeout(headers));
  }
}
