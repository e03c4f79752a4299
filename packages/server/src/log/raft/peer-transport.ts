/**
 * Raft messages between members over HTTP/2 on the peer port
 * (--listen-peer-urls, http:// here; https:// comes with TLS).
 *
 * Each member keeps one long-lived stream to each peer and writes its
 * messages to it as frames (a u32 length, then message-codec.ts's bytes),
 * batched per turn of the event loop. A stream that fails is opened again
 * with backoff (p-retry); while it is down, messages wait in the peer's
 * queue. The queue is bounded (maxQueuedMessagesPerPeer, etcd's
 * rafthttp streamBufSize, and maxQueuedBytesPerPeer): past either a
 * message is dropped and counted and
 * Raft is told the peer is unreachable, as etcd's rafthttp does. Raft
 * retries what matters, so a dropped message costs time, never safety.
 *
 * The receiving side takes streams on POST /raft/stream/message/<from id>
 * and checks them as etcd's stream handler does, with its words: the
 * cluster id (412 "cluster ID mismatch"), the sender (404 "error sender not
 * found"), the addressee (412 "to field mismatch"). A frame over the bound
 * or one that does not decode ends that stream (RST_STREAM) and is never
 * handed to Raft.
 */
import { connect, constants, createServer, type ClientHttp2Session, type ClientHttp2Stream, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import pRetry, { AbortError } from 'p-retry';
import type { Message } from '@holdfast/raft';
import { decodePeerMessage, encodePeerMessage, maxPeerMessageBytes, PeerMessageError } from './message-codec.js';
import type { PeerSender } from './raft-log.js';

/** Messages waiting for one peer at most (etcd's streamBufSize). */
export const maxQueuedMessagesPerPeer = 4096;
/**
 * Bytes waiting for one peer at most. Raft alone would allow its in-flight
 * window (256 appends of 1 MiB) per follower; a peer that is down costs no
 * more than this.
 */
export const maxQueuedBytesPerPeer = 64 * 1024 * 1024;
/** Backoff between attempts to open a peer's stream. */
export const peerRetryMinMs = 100;
export const peerRetryMaxMs = 2_000;

const streamPathPrefix = '/raft/stream/message/';
const frameHeaderBytes = 4;

export interface PeerTransportOptions {
  readonly localId: bigint;
  readonly clusterId: bigint;
  /** Every other member and the peer URL to reach it at (more with addPeer). */
  readonly peers: ReadonlyMap<bigint, string>;
  /** Messages from peers, decoded and addressed to this member. */
  readonly receive: (message: Message) => void;
  /** A message to `peerId` was dropped (Raft's reportUnreachable). */
  readonly unreachable: (peerId: bigint) => void;
  readonly warn?: (message: string) => void;
  readonly maxQueuedMessagesPerPeer?: number;
  readonly maxQueuedBytesPerPeer?: number;
  readonly maxMessageBytes?: number;
}

/** One peer's outgoing stream and queue. */
class PeerStream {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private session: ClientHttp2Session | undefined;
  private stream: ClientHttp2Stream | undefined;
  private flushScheduled = false;
  private connecting: Promise<void> | undefined;
  private readonly abort = new AbortController();
  droppedMessages = 0;
  sentBytes = 0;

  constructor(
    private readonly transport: PeerTransportOptions,
    private readonly peerId: bigint,
    private readonly url: string,
    private readonly maxQueued: number,
    private readonly maxQueuedBytes: number,
  ) {}

  enqueue(frame: Buffer): void {
    if (this.queue.length >= this.maxQueued || this.queuedBytes + frame.length > this.maxQueuedBytes) {
      this.droppedMessages++;
      this.transport.unreachable(this.peerId);
      return;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    this.scheduleFlush();
  }

  close(): void {
    this.abort.abort();
    this.stream?.close();
    this.session?.destroy();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.abort.signal.aborted || this.queue.length === 0) return;
    const stream = this.stream;
    if (stream === undefined || stream.destroyed) {
      this.connecting ??= this.connectWithBackoff().finally(() => {
        this.connecting = undefined;
        this.scheduleFlush();
      });
      return;
    }
    // One write per turn: the frames queued meanwhile, in order.
    const batch = Buffer.concat(this.queue.splice(0));
    this.queuedBytes = 0;
    this.sentBytes += batch.length;
    if (!stream.write(batch)) stream.once('drain', () => this.scheduleFlush());
  }

  private connectWithBackoff(): Promise<void> {
    return pRetry(() => this.open(), {
      forever: true,
      minTimeout: peerRetryMinMs,
      maxTimeout: peerRetryMaxMs,
      signal: this.abort.signal,
      onFailedAttempt: (error) => this.transport.warn?.(`peer ${this.peerId.toString(16)} at ${this.url}: ${error.message} (attempt ${error.attemptNumber})`),
    }).catch(() => {});
  }

  /** Opens the stream; resolves once the peer accepted it (200). */
  private open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.abort.signal.aborted) return reject(new AbortError('stopped'));
      this.session?.destroy();
      const session = connect(this.url);
      this.session = session;
      session.on('error', () => {});
      const stream = session.request({
        ':method': 'POST',
        ':path': `${streamPathPrefix}${this.transport.localId.toString(16)}`,
        'content-type': 'application/octet-stream',
        'x-etcd-cluster-id': this.transport.clusterId.toString(16),
        'x-server-from': this.transport.localId.toString(16),
        'x-raft-to': this.peerId.toString(16),
      });
      stream.on('error', (error) => reject(error));
      stream.on('close', () => {
        if (this.stream === stream) this.stream = undefined;
        reject(new Error(`stream closed (code ${stream.rstCode})`));
        // Whatever is queued goes out on the next stream.
        if (this.queue.length > 0) this.scheduleFlush();
      });
      stream.on('response', (headers) => {
        const status = Number(headers[':status']);
        if (status === 200) {
          this.stream = stream;
          resolve();
          return;
        }
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => reject(new Error(`refused with ${status} ${body.trim()}`)));
      });
    });
  }
}

export class PeerTransport implements PeerSender {
  private readonly options: PeerTransportOptions;
  private readonly outgoing = new Map<bigint, PeerStream>();
  private readonly servers: Http2Server[] = [];
  /** Sessions peers opened to this member, ended by stop() (a server closes only once they are gone). */
  private readonly incomingSessions = new Set<ServerHttp2Session>();
  private readonly maxMessageBytes: number;
  receivedBytes = 0;
  refusedMessages = 0;

  private constructor(options: PeerTransportOptions) {
    this.options = options;
    this.maxMessageBytes = options.maxMessageBytes ?? maxPeerMessageBytes;
    for (const [peerId, url] of options.peers) this.addPeer(peerId, url);
  }

  /** Starts talking to (and taking streams from) member `peerId` at `url`. */
  addPeer(peerId: bigint, url: string): void {
    if (peerId === this.options.localId || this.outgoing.has(peerId)) throw new Error(`peer transport: member ${peerId.toString(16)} is already known`);
    this.outgoing.set(peerId, new PeerStream(this.options, peerId, url, this.options.maxQueuedMessagesPerPeer ?? maxQueuedMessagesPerPeer, this.options.maxQueuedBytesPerPeer ?? maxQueuedBytesPerPeer));
  }

  /** Listens on each of `listen` ({host, port}; port 0 for any) and starts sending. */
  static async start(listen: ReadonlyArray<{ host: string; port: number }>, options: PeerTransportOptions): Promise<PeerTransport> {
    const transport = new PeerTransport(options);
    for (const { host, port } of listen) {
      const server = createServer();
      server.on('stream', (stream, headers) => transport.accept(stream, headers));
      server.on('session', (session) => {
        transport.incomingSessions.add(session);
        session.on('close', () => transport.incomingSessions.delete(session));
      });
      server.on('sessionError', () => {});
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      transport.servers.push(server);
    }
    return transport;
  }

  /** Ports actually listened on, in the order given. */
  get ports(): number[] {
    return this.servers.map((server) => (server.address() as AddressInfo).port);
  }

  /** Messages dropped because a peer's queue was full, by peer. */
  droppedMessages(peerId: bigint): number {
    return this.outgoing.get(peerId)?.droppedMessages ?? 0;
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      const peer = this.outgoing.get(message.to);
      // A message to a member this one does not know (removed, or not yet added) goes nowhere.
      if (peer === undefined) continue;
      const body = encodePeerMessage(message, this.maxMessageBytes);
      const frame = Buffer.allocUnsafe(frameHeaderBytes + body.length);
      frame.writeUInt32BE(body.length, 0);
      body.copy(frame, frameHeaderBytes);
      peer.enqueue(frame);
    }
  }

  async stop(): Promise<void> {
    for (const peer of this.outgoing.values()) peer.close();
    for (const session of this.incomingSessions) session.destroy();
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  private accept(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const refuse = (status: number, text: string) => {
      stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'x-etcd-cluster-id': this.options.clusterId.toString(16) });
      stream.end(`${text}\n`);
    };
    const path = String(headers[':path'] ?? '');
    if (headers[':method'] !== 'POST') return refuse(405, 'Method Not Allowed');
    if (headers['x-etcd-cluster-id'] !== this.options.clusterId.toString(16)) return refuse(412, 'cluster ID mismatch');
    if (!path.startsWith(streamPathPrefix)) return refuse(404, 'invalid path');
    const fromText = path.slice(streamPathPrefix.length);
    if (!/^[0-9a-f]{1,16}$/.test(fromText)) return refuse(404, 'invalid from');
    const from = BigInt(`0x${fromText}`);
    if (!this.outgoing.has(from)) return refuse(404, 'error sender not found');
    if (headers['x-raft-to'] !== this.options.localId.toString(16)) return refuse(412, 'to field mismatch');
    stream.respond({ ':status': 200, 'x-etcd-cluster-id': this.options.clusterId.toString(16) });
    this.readFrames(stream, from);
  }

  /**
   * Decodes frames as they arrive; the first bad one ends the stream.
   * Chunks are kept as they come and joined once per complete frame, so a
   * large frame sent in small pieces costs one copy, not one per piece.
   */
  private readFrames(stream: ServerHttp2Stream, from: bigint): void {
    const chunks: Buffer[] = [];
    let buffered = 0;
    stream.on('data', (chunk: Buffer) => {
      this.receivedBytes += chunk.length;
      chunks.push(chunk);
      buffered += chunk.length;
      while (buffered >= frameHeaderBytes) {
        if (chunks[0]!.length < frameHeaderBytes) chunks.splice(0, chunks.length, Buffer.concat(chunks));
        const length = chunks[0]!.readUInt32BE(0);
        if (length > this.maxMessageBytes) return this.refuseStream(stream, from, new PeerMessageError(`raft message of ${length} bytes is over the ${this.maxMessageBytes}-byte bound`));
        if (buffered < frameHeaderBytes + length) break;
        const joined = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        let message: Message;
        try {
          message = decodePeerMessage(joined.subarray(frameHeaderBytes, frameHeaderBytes + length), this.maxMessageBytes);
          if (message.from !== from || message.to !== this.options.localId) throw new PeerMessageError(`raft message from ${message.from.toString(16)} to ${message.to.toString(16)} on the stream of ${from.toString(16)}`);
        } catch (error) {
          return this.refuseStream(stream, from, error);
        }
        const rest = joined.subarray(frameHeaderBytes + length);
        chunks.length = 0;
        if (rest.length > 0) chunks.push(rest);
        buffered = rest.length;
        this.options.receive(message);
      }
    });
  }

  private refuseStream(stream: ServerHttp2Stream, from: bigint, error: unknown): void {
    this.refusedMessages++;
    this.options.warn?.(`rejected a message from peer ${from.toString(16)}: ${error instanceof Error ? error.message : String(error)}`);
    stream.removeAllListeners('data');
    stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
  }
}
