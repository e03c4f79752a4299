/**
 * The HTTP/1.1 connections of the client port, for stop(). The HTTP server
 * never listens itself (ClientListener hands it its connections), and Node
 * only tracks connections of a server that listens: its closeIdleConnections
 * and closeAllConnections do nothing here. So the connections are tracked
 * here, with the requests in flight on each.
 *
 * For the same reason Node's headersTimeout (its guard against slow
 * senders) never runs here; headersTimeoutMs takes its place.
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

/**
 * How long a connection may take to send a request's headers, from its
 * start or from the end of its previous answer; then it is answered 408, as
 * Node answers, and closed. Real clients send their headers in one write;
 * slow senders (slowloris) would each hold a connection for ever. Go's
 * server (etcd 3.4) has no such bound.
 */
export const headersTimeoutMs = 10_000;
/** What Node writes when its own headersTimeout expires. */
const requestTimeoutAnswer = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';

export function trackHttpConnections(server: HttpServer): HttpConnections {
  /** Requests in flight, by connection. */
  const inFlight = new Map<Socket, number>();
  /** The headers deadline of each connection with no request in flight. */
  const headerDeadlines = new Map<Socket, NodeJS.Timeout>();
  const waiters: Array<() => void> = [];
  let closing = false;

  const awaitHeaders = (socket: Socket): void => {
    clearTimeout(headerDeadlines.get(socket));
    const deadline = setTimeout(() => {
      headerDeadlines.delete(socket);
      if (inFlight.get(socket) !== 0 || socket.destroyed) return;
      socket.end(requestTimeoutAnswer, () => socket.destroy());
    }, headersTimeoutMs);
    deadline.unref();
    headerDeadlines.set(socket, deadline);
  };
  const headersCame = (socket: Socket): void => {
    clearTimeout(headerDeadlines.get(socket));
    headerDeadlines.delete(socket);
  };
  const forget = (socket: Socket): void => {
    headersCame(socket);
    inFlight.delete(socket);
    if (inFlight.size === 0) for (const resolve of waiters.splice(0)) resolve();
  };
  server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    awaitHeaders(socket);
    socket.once('close', () => forget(socket));
  });
  server.on('request', (request, response) => {
    const socket = request.socket;
    if (!inFlight.has(socket)) return;
    headersCame(socket);
    inFlight.set(socket, inFlight.get(socket)! + 1);
    let done = false;
    const finished = (): void => {
      if (done) return;
      done = true;
      const count = inFlight.get(socket);
      if (count === undefined) return;
      inFlight.set(socket, count - 1);
      if (closing && count === 1) socket.end();
      else if (count === 1 && !socket.destroyed) awaitHeaders(socket);
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
