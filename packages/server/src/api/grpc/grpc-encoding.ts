/**
 * grpc-encoding as etcd 3.4 takes it: identity only.
 *
 * grpc-go decompresses a request only with a registered compressor, and
 * etcd 3.4 registers none. A call to one of its methods whose grpc-encoding
 * is anything but identity (or empty) is refused as it starts, before
 * interceptors, handler or any message are involved: 12 UNIMPLEMENTED
 * "grpc: Decompressor is not installed for grpc-encoding \"gzip\"",
 * measured against etcd 3.4.23 for unary calls and streams alike, with a
 * message, with none, and with the request still open (a Watch answers at
 * once). grpc-js instead decompresses gzip and deflate (a way in for a
 * decompression bomb, and for requests etcd never reads) and answers
 * other encodings only once a message arrives. So such a call is answered
 * here, on its HTTP/2 stream, before grpc-js creates it. As in grpc-go, a
 * request that is not gRPC (content-type) or names no method this server
 * serves is left to the answers for those.
 *
 * GrpcMessageReader refuses the same encodings on its own, for any
 * transport that does not run this check first.
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import { DecompressorMissingError } from '../../errors.js';
import { gateStreams, grpcJsHttp2Servers } from './grpc-js-servers.js';
import { acceptedEncodings } from './grpc-message-reader.js';

/** The refusal a call with these request headers gets as it starts, if any. */
export function encodingRefusal(headers: IncomingHttpHeaders): DecompressorMissingError | undefined {
  const value = headers['grpc-encoding'];
  // grpc-go keeps the last of repeated fields.
  const encoding = Array.isArray(value) ? value.at(-1) : value;
  if (encoding === undefined || acceptedEncodings.has(encoding)) return undefined;
  return new DecompressorMissingError(encoding);
}

/**
 * Answers a call with its status alone (a trailers-only response), then,
 * like grpc-go, resets a request the client has not finished (NO_ERROR):
 * nothing more of it will be read.
 */
function answerStatusOnly(stream: ServerHttp2Stream, error: DecompressorMissingError): void {
  stream.on('error', () => {});
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': String(error.code), 'grpc-message': encodeURI(error.message) },
    { endStream: true },
  );
  if (!stream.readableEnded) stream.close(constants.NGHTTP2_NO_ERROR);
}

/**
 * Makes every HTTP/2 server of `grpcServer` refuse calls to `servedPaths`
 * whose grpc-encoding etcd 3.4 cannot decompress, before grpc-js sees them.
 */
export function guardGrpcEncodings(grpcServer: GrpcServer, servedPaths: ReadonlySet<string>): void {
  for (const http2Server of grpcJsHttp2Servers(grpcServer, 'refusing grpc-encoding as etcd 3.4 does')) {
    gateStreams(http2Server, (stream, headers) => {
      const contentType = headers['content-type'];
      if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) return true;
      if (!servedPaths.has(headers[':path'] ?? '')) return true;
      const refusal = encodingRefusal(headers);
      if (refusal === undefined) return true;
      answerStatusOnly(stream, refusal);
      return false;
    });
  }
}
