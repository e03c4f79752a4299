/**
 * The client port's HTTP/2 sessions after the listener handed them on
 * (grpc-js's, run by nghttp2): what the server checks about them beyond
 * what nghttp2 and grpc-js do.
 *
 * Sessions that stopped reading. nghttp2 (1.61 in Node 20) meets a flood of
 * RST_STREAM frames (CVE-2023-44487, "rapid reset": a burst of 1,000, then
 * 33 a second) with GOAWAY INTERNAL_ERROR, and from then on, having no
 * stream left, wants nothing more from the connection: Node stops reading
 * it, and neither closes the socket nor tells JavaScript (no 'goaway',
 * 'error', 'frameError' or 'close' on the session; measured with plain
 * Node too). The session and socket would stay for ever, with the
 * client's unread bytes in the kernel. Nothing JavaScript sees marks that
 * state, and the resets that cause it need not be on streams Node reports
 * (an RST_STREAM for a stream already closed counts as well), so sessions
 * are checked by what they do instead: every readCheckIntervalMs, a
 * session whose socket has read nothing since the last check is sent a
 * PING, and one whose ACK has not been read pingAckTimeoutMs later is not
 * reading (or its client answers no PING: as dead) and is destroyed. A
 * busy session is never pinged; an idle one gets a PING every other check,
 * which a live client answers at once (HTTP/2 requires it, RFC 7540 6.7).
 * One sweep timer serves every session.
 *
 * Streams per session. --max-concurrent-streams is advertised in the
 * listener's SETTINGS (http2-authority.ts); a stream opened while the
 * session already has that many open is refused here with RST_STREAM
 * REFUSED_STREAM before grpc-js sees it, as grpc-go refuses it (measured
 * against etcd 3.4.23). nghttp2 is not given the limit: past it, it ends
 * the whole connection with PROTOCOL_ERROR.
 */
import { constants, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { gateStreams } from '../grpc/grpc-js-servers.js';

/** How often sessions are checked for having read anything (see the file comment). */
export const sessionReadCheckIntervalMs = 10_000;
/**
 * How long a quiet session has to let its client's PING ACK be read before
 * it is taken for one that stopped reading. Generous against a slow client
 * or a busy server: the ACK is looked for after the I/O of the turn in
 * which the timer fires, so a server that was itself stalled reads a
 * waiting ACK first.
 */
export const pingAckTimeoutMs = 5_000;

export interface Http2SessionGuardOptions {
  /** Streams a session may have open at once (--max-concurrent-streams; 0 or 2^32 - 1: no bound). */
  readonly maxConcurrentStreams?: number;
  readonly readCheckIntervalMs?: number;
  readonly pingAckTimeoutMs?: number;
  /** Told of each session destroyed for not reading (for the log). */
  readonly onStoppedReading?: (session: ServerHttp2Session) => void;
}

interface SessionState {
  /** The socket's bytesRead at the last check; undefined where the socket does not count (a rewriting stream). */
  bytesRead: number | undefined;
  /** A PING is out and its ACK not read yet. */
  probing: boolean;
  /** Streams admitted and not closed yet. */
  openStreams: number;
}


export class Http2SessionGuard {
  private readonly sessions = new Map<ServerHttp2Session, SessionState>();
  private readonly readCheckIntervalMs: number;
  private readonly pingAckTimeoutMs: number;
  private readonly onStoppedReading: (session: ServerHttp2Session) => void;
  private readonly maxConcurrentStreams: number;
  private sweep: NodeJS.Timeout | undefined;

  constructor(options: Http2SessionGuardOptions = {}) {
    // 0 is grpc-go's "no bound", as is the largest uint32.
    this.maxConcurrentStreams = options.maxConcurrentStreams === undefined || options.maxConcurrentStreams === 0 ? Infinity : options.maxConcurrentStreams;
    this.readCheckIntervalMs = options.readCheckIntervalMs ?? sessionReadCheckIntervalMs;
    this.pingAckTimeoutMs = options.pingAckTimeoutMs ?? pingAckTimeoutMs;
    this.onStoppedReading = options.onStoppedReading ?? (() => {});
  }

  /**
   * Guards every session `http2Server` creates from now on. Call it after
   * every 'stream' listener is on: those it finds are handed only the
   * streams admitted.
   */
  attach(http2Server: Http2Server): void {
    http2Server.on('session', (session: ServerHttp2Session) => this.watch(session));
    this.sweep ??= setInterval(() => this.checkReads(), this.readCheckIntervalMs).unref();
    gateStreams(http2Server, (stream) => this.admit(stream));
  }

  /** Sessions being watched (for tests). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  stop(): void {
    clearInterval(this.sweep);
    this.sweep = undefined;
    this.sessions.clear();
  }

  private watch(session: ServerHttp2Session): void {
    this.sessions.set(session, { bytesRead: socketBytesRead(session), probing: false, openStreams: 0 });
    session.once('close', () => this.sessions.delete(session));
  }

  /** Counts `stream` in its session's open streams, or refuses it (REFUSED_STREAM) when the session has its maximum open. */
  private admit(stream: ServerHttp2Stream): boolean {
    const state = this.sessions.get(stream.session as ServerHttp2Session);
    // Already reset by the client (its 'close' is on the way): grpc-js takes it as before.
    if (state === undefined || stream.destroyed) return true;
    if (state.openStreams >= this.maxConcurrentStreams) {
      stream.on('error', () => {});
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return false;
    }
    state.openStreams++;
    stream.once('close', () => state.openStreams--);
    return true;
  }

  private checkReads(): void {
    for (const [session, state] of this.sessions) {
      // A session closing on the server's initiative is grpc-js's to end.
      if (state.probing || session.closed || session.destroyed) continue;
      const bytesRead = socketBytesRead(session);
      if (bytesRead !== undefined && bytesRead !== state.bytesRead) {
        state.bytesRead = bytesRead;
        continue;
      }
      this.probe(session, state);
    }
  }

  private probe(session: ServerHttp2Session, state: SessionState): void {
    let answered = false;
    const deadline = setTimeout(() => {
      // After this turn's I/O: an ACK already in the socket is read first.
      setImmediate(() => {
        if (answered || session.destroyed) return;
        this.onStoppedReading(session);
        session.destroy();
      });
    }, this.pingAckTimeoutMs).unref();
    state.probing = true;
    const settle = (): void => {
      answered = true;
      state.probing = false;
      clearTimeout(deadline);
    };
    try {
      session.ping(settle);
    } catch {
      // Closed meanwhile, or too many PINGs out: nothing to learn this round.
      settle();
    }
  }
}

function socketBytesRead(session: ServerHttp2Session): number | undefined {
  try {
    const bytesRead = (session.socket as { bytesRead?: unknown } | undefined)?.bytesRead;
    return typeof bytesRead === 'number' ? bytesRead : undefined;
  } catch {
    return undefined; // Node's socket proxy throws once the session let go of its socket.
  }
}
