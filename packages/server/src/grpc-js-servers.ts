/**
 * The HTTP/2 servers grpc-js creates (one per connection injector), which
 * carry every gRPC session and stream of the client port. grpc-js does not
 * expose them, so this reads its private `http2Servers` map, and fails
 * loudly at start if a grpc-js upgrade removed it (grpc-deadline.ts and
 * http/http2-sessions.ts need them; their tests serve through Holdfast, so
 * an upgrade that moves the map fails there).
 */
import type { Http2Server } from 'node:http2';
import type { Server as GrpcServer } from '@grpc/grpc-js';

export function grpcJsHttp2Servers(grpcServer: GrpcServer, neededFor: string): Http2Server[] {
  const http2Servers = (grpcServer as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) {
    throw new Error(`grpc-js internals changed: no http2Servers (needed for ${neededFor}); see packages/server/src/grpc-js-servers.ts`);
  }
  return [...(http2Servers.keys() as IterableIterator<Http2Server>)];
}
