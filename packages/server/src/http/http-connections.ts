/**
 * The HTTP/1.1 connections of the client port, for stop(). The HTTP server
 * never listens itself (ClientListener hands it its connections), and Node
 * only tracks connections of a server that listens: its closeIdleConnections
 * and closeAllConnections do nothing here. So the connections are tracked
 * here, with the requests in flight on each.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpConnections {
  /**
   * From now on a connection is ended as soon as it has no request in
   * flight (idle ones at once): responses being written (a watch's last
   * error chunk) still go out.
   */
  closeIdle(): void;
  /** Resolves once every connection is gone. */
  closed(): Promise<void>;
  /** Cuts whatever is left. */
  closeAll(): void;
}

export function trackHttpConnections(server: HttpServer): HttpConnections {
  /** Requests in flight, by connection. */
  const inFlight = new Map<Socket, number>();
  const waiters: Array<() => void> = [];
  let closing = false;

  const forget = (socket: Socket): void => {
    inFlight.delete(socket);
    if (inFlight.size === 0) for (const resolve of waiters.splice(0)) resolve();
  };
  server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once('close', () => forget(socket));
  });
  server.on('request', (request, response) => {
    const socket = request.socket;
    if (!inFlight.has(socket)) return;
    inFlight.set(socket, inFlight.get(socket)! + 1);
    let done = false;
    const finished = (): void => {
      if (done) return;
      done = true;
      const count = inFlight.get(socket);
      if (count === undefined) return;
      inFlight.set(socket, count - 1);
      if (closing && count === 1) socket.end();
    };
    response.once('finish', finished);
    response.once('close', finished);
  });

  return {
    closeIdle: () => {
      closing = true;
      for (const [socket, count] of inFlight) if (count === 0) socket.end();
    },
    closed: () => (inFlight.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    closeAll: () => {
      for (const socket of [...inFlight.keys()]) socket.destroy();
    },
  };
}
