/**
 * One listener per client URL serving gRPC (HTTP/2) and plain HTTP/1.1, as
 * etcd's client port does: the first bytes of each connection decide. An
 * HTTP/2 connection starts with the client preface ("PRI * HTTP/2.0..."), so
 * it goes to grpc-js; anything else goes to the HTTP server.
 *
 * An HTTP/2 connection is handed on once its first request's headers are
 * in (http2-authority.ts): natively when its `:authority` is one nghttp2
 * takes, through a rewriter of `:authority` when it carries a URL scheme
 * (etcdctl's `--cluster` dials).
 *
 * Until a connection is handed on, the listener holds what it read: at most
 * the preface (HTTP/1.1 is handed on at its first byte that is not the
 * preface's) or maxOpeningBytes of an HTTP/2 opening, for at most
 * openingTimeoutMs from the connection's start, whatever the client sends;
 * and all openings together at most maxPendingOpeningBytesTotal.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { Duplex } from 'node:stream';
import { goawayFrame, Http2ConnectionError, http2ErrorCode, Http2Opening, http2ClientPreface, type OpeningDecision, type RequestRewriter, serverSettingsFrame } from './http2-authority.js';

export const http2Preface = http2ClientPreface;
/**
 * How long a connection may take, from its start, to be handed on: to show
 * it is HTTP/1.1 or to complete its HTTP/2 opening. A deadline, not an idle
 * time, so a client that trickles bytes gets no longer. On expiry a
 * connection still without its preface is closed; an HTTP/2 one is handed
 * on as it stands (Http2Opening.expired). Real clients take a round trip.
 */
export const openingTimeoutMs = 10_000;
/** How long a refused HTTP/2 connection is kept after its GOAWAY, so that the client can read it before the reset; nothing more is read. */
export const goawayLingerMs = 1_000;
/**
 * The most the HTTP/2 openings of all the server's listeners may hold
 * together. Each may hold maxOpeningBytes for openingTimeoutMs, so without
 * a total 5,000 slow connections would hold 480 MiB. 32 MiB is 341
 * openings at their own bound, or tens of thousands of real ones (a real
 * opening holds a few hundred bytes for a round trip). Past it, the
 * openings holding the most are refused (GOAWAY ENHANCE_YOUR_CALM) until
 * the total is within it again: the newest opening is not the one refused
 * for being last, so a few connections that filled the total cannot lock
 * out the small openings of real clients.
 */
export const maxPendingOpeningBytesTotal = 32 * 1024 * 1024;

/** An HTTP/2 opening holding bytes, and how to refuse it. */
interface OpeningHolder {
  heldBytes: number;
  readonly refuse: () => void;
}

/** The bytes HTTP/2 openings hold, across connections and listeners, under one bound (maxPendingOpeningBytesTotal). */
export class OpeningBytesBudget {
  private readonly holders = new Set<OpeningHolder>();
  private heldBytes = 0;

  constructor(readonly maxBytes: number = maxPendingOpeningBytesTotal) {}

  /** Bytes held by every opening now. */
  get totalHeldBytes(): number {
    return this.heldBytes;
  }

  /**
   * `holder` now holds `bytes` more. While the total is over the bound, the
   * holder holding the most (maybe this one) is released and refused. The
   * scan for it is linear, and runs only when the bound is passed: each
   * run frees at least the average holding.
   */
  hold(holder: OpeningHolder, bytes: number): void {
    this.holders.add(holder);
    holder.heldBytes += bytes;
    this.heldBytes += bytes;
    while (this.heldBytes > this.maxBytes) {
      let largest = holder;
      for (const candidate of this.holders) if (candidate.heldBytes > largest.heldBytes) largest = candidate;
      this.release(largest);
      largest.refuse();
    }
  }

  /** `holder` holds nothing any more (handed on, refused or closed); idempotent. */
  release(holder: OpeningHolder): void {
    if (!this.holders.delete(holder)) return;
    this.heldBytes -= holder.heldBytes;
    holder.heldBytes = 0;
  }
}

export interface ConnectionSinks {
  readonly grpc: (socket: Socket | Duplex) => void;
  readonly http: HttpServer;
}

export interface ClientListenerOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to HTTP/2 clients (--max-concurrent-streams; 0: left out). */
  readonly maxConcurrentStreams: number;
  /** The budget of bytes held by openings, shared by the server's listeners (default: one of this listener's own). */
  readonly openingBytes?: OpeningBytesBudget;
}

/**
 * The socket as a stream whose incoming bytes pass through `rewriter`
 * (`first`: what was already read, rewritten), for connections whose
 * requests need their `:authority` repaired.
 */
function rewritingStream(socket: Socket, first: Buffer, rewriter: RequestRewriter): Duplex {
  const stream = new Duplex({
    read: () => socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => socket.write(chunk, callback),
    final: (callback) => socket.end(callback),
    destroy: (error, callback) => {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    let bytes: Buffer;
    try {
      bytes = rewriter.push(chunk);
    } catch (error) {
      if (error instanceof Http2ConnectionError) refuse(socket, error.errorCode);
      stream.destroy(error as Error);
      return;
    }
    if (bytes.length > 0 && !stream.push(bytes)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  socket.once('error', (error) => stream.destroy(error));
  socket.once('close', () => stream.destroy());
  stream.push(first);
  return stream;
}

/** Ends a hostile or broken HTTP/2 connection: a GOAWAY with `errorCode`, no more reading, and the socket destroyed after goawayLingerMs. */
function refuse(socket: Socket, errorCode: number | undefined): void {
  // The listener's own error handler is gone (detached): a reset by the
  // client while the GOAWAY lingers must not be an unhandled 'error'.
  socket.on('error', () => {});
  if (errorCode === undefined || socket.destroyed) {
    socket.destroy();
    return;
  }
  socket.pause();
  socket.end(goawayFrame(errorCode));
  setTimeout(() => socket.destroy(), goawayLingerMs).unref();
}

export class ClientListener {
  private readonly server: NetServer;
  private readonly sockets = new Set<Socket>();
  /** The server's preface: its SETTINGS frame, the same for every connection. */
  private readonly settingsFrame: Buffer;
  private readonly openingBytes: OpeningBytesBudget;

  private constructor(server: NetServer, options: ClientListenerOptions) {
    this.server = server;
    this.settingsFrame = serverSettingsFrame(options.maxConcurrentStreams);
    this.openingBytes = options.openingBytes ?? new OpeningBytesBudget();
  }

  static async listen(host: string, port: number, sinks: ConnectionSinks, options: ClientListenerOptions): Promise<ClientListener> {
    const server = createServer({ pauseOnConnect: false, noDelay: true });
    const listener = new ClientListener(server, options);
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
    let opening: Http2Opening | undefined;
    const deadline = setTimeout(() => {
      if (opening === undefined) socket.destroy();
      else handOnHttp2(opening.expired());
    }, openingTimeoutMs);
    deadline.unref();
    /** The first bytes, while they may still be the preface (at most its length). */
    let received: Buffer = Buffer.alloc(0);
    const detach = (): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      clearTimeout(deadline);
      socket.pause();
      this.sockets.delete(socket);
      this.openingBytes.release(holder);
    };
    /** What this connection's HTTP/2 opening holds, in the budget shared by all. */
    const holder = {
      heldBytes: 0,
      refuse: (): void => {
        detach();
        refuse(socket, http2ErrorCode.enhanceYourCalm);
      },
    };
    /** Takes the opening's decision on `chunk`; while it waits, the chunk is held. */
    const pushToOpening = (chunk: Buffer): void => {
      const decision = opening!.push(chunk);
      handOnHttp2(decision);
      if (decision.kind === 'waiting') this.openingBytes.hold(holder, chunk.length);
    };
    const handOnHttp2 = (decision: OpeningDecision): void => {
      switch (decision.kind) {
        case 'waiting':
          return;
        case 'refuse':
          detach();
          refuse(socket, decision.errorCode);
          return;
        case 'native':
          // Node's HTTP/2 session takes the bytes put back from the socket's
          // buffer and then reads the native handle itself: the socket must
          // stay paused.
          detach();
          socket.unshift(decision.bytes);
          sinks.grpc(socket);
          return;
        case 'rewrite':
          detach();
          sinks.grpc(rewritingStream(socket, decision.bytes, decision.rewriter));
          return;
      }
    };
    const onData = (chunk: Buffer): void => {
      if (opening !== undefined) {
        pushToOpening(chunk);
        return;
      }
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const compared = Math.min(received.length, http2Preface.length);
      const isHttp2 = received.subarray(0, compared).equals(http2Preface.subarray(0, compared));
      // Wait for more bytes only while they could still be the preface.
      if (isHttp2 && received.length < http2Preface.length) return;
      if (isHttp2) {
        // Our SETTINGS now: grpc-go sends no request before the server's.
        opening = new Http2Opening();
        socket.write(this.settingsFrame);
        const first = received;
        received = Buffer.alloc(0);
        pushToOpening(first);
        return;
      }
      // The HTTP/1.1 server reads through the stream: resume it.
      detach();
      socket.unshift(received);
      sinks.http.emit('connection', socket);
      socket.resume();
    };
    const onError = (): void => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
      this.openingBytes.release(holder);
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
      this.openingBytes.release(holder);
    });
  }
}
