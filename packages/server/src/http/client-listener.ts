/**
 * One listener per client URL serving gRPC (HTTP/2) and plain HTTP/1.1, as
 * etcd's client port does: the first bytes of each connection decide. An
 * HTTP/2 connection starts with the client preface ("PRI * HTTP/2.0..."), so
 * it goes to grpc-js; anything else goes to the HTTP server.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';

export const http2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** How long a new connection may stay silent before it is closed. */
export const sniffTimeoutMs = 10_000;

export interface ConnectionSinks {
  readonly grpc: (socket: Socket) => void;
  readonly http: HttpServer;
}

export class ClientListener {
  private readonly server: NetServer;
  private readonly sockets = new Set<Socket>();

  private constructor(server: NetServer) {
    this.server = server;
  }

  static async listen(host: string, port: number, sinks: ConnectionSinks): Promise<ClientListener> {
    const server = createServer({ pauseOnConnect: false, noDelay: true });
    const listener = new ClientListener(server);
    server.on('connection', (socket) => listener.route(socket, sinks));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return listener;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Closes connections that were never handed on (still sniffing). */
  destroyPending(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private route(socket: Socket, sinks: ConnectionSinks): void {
    this.sockets.add(socket);
    socket.setTimeout(sniffTimeoutMs, () => socket.destroy());
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const compared = Math.min(received.length, http2Preface.length);
      const isHttp2 = received.subarray(0, compared).equals(http2Preface.subarray(0, compared));
      // Wait for more bytes only while they could still be the preface.
      if (isHttp2 && received.length < http2Preface.length) return;
      socket.off('data', onData);
      socket.off('error', onError);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(received);
      this.sockets.delete(socket);
      // Node's HTTP/2 session takes the bytes put back from the socket's
      // buffer and then reads the native handle itself: the socket must stay
      // paused. The HTTP/1.1 server reads through the stream: resume it.
      if (isHttp2) {
        sinks.grpc(socket);
      } else {
        sinks.http.emit('connection', socket);
        socket.resume();
      }
    };
    const onError = (): void => {
      this.sockets.delete(socket);
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.once('close', () => this.sockets.delete(socket));
  }
}
