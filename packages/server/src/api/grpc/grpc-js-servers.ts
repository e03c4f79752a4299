/**
 * The HTTP/2 servers grpc-js creates (one per connection injector), which
 * carry every gRPC session and stream of the client port. grpc-js does not
 * expose them, so this reads its private `http2Servers` map, and fails
 * loudly at start if a grpc-js upgrade removed it (grpc-deadline.ts,
 * grpc-encoding.ts and http/http2-sessions.ts need them; their tests serve
 * through Holdfast, so an upgrade that moves the map fails there).
 */
import type { Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Server as GrpcServer } from '@grpc/grpc-js';

type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

export function grpcJsHttp2Servers(grpcServer: GrpcServer, neededFor: string): Http2Server[] {
  const http2Servers = (grpcServer as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) {
    throw new Error(`grpc-js internals changed: no http2Servers (needed for ${neededFor}); see packages/server/src/grpc-js-servers.ts`);
  }
  return [...(http2Servers.keys() as IterableIterator<Http2Server>)];
}

/**
 * From now on, the 'stream' listeners `http2Server` has (grpc-js's handler
 * among them) see only the streams `admit` lets through; `admit` answers or
 * resets the others itself. Listeners added later see every stream.
 */
export function gateStreams(http2Server: Http2Server, admit: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean): void {
  const listeners = http2Server.listeners('stream') as StreamListener[];
  http2Server.removeAllListeners('stream');
  http2Server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    if (!admit(stream, headers)) return;
    for (const listener of listeners) listener.call(http2Server, stream, headers, flags, rawHeaders);
  });
}
