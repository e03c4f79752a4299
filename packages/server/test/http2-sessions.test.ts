/**
 * Http2SessionGuard on a bare Node HTTP/2 server, with short intervals: a
 * session nghttp2 stopped reading after its rapid-reset GOAWAY is
 * destroyed; live sessions, idle or busy, are not. The same through
 * Holdfast, at the real intervals: test/test/http-hostile-http2.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as http2Connect, createServer, type Http2Server } from 'node:http2';
import { Http2SessionGuard } from '../src/api/client-port/http2-sessions.js';
import { frameOf as frame } from './http2-frames.js';

const readCheckIntervalMs = 100;
const pingAckTimeoutMs = 200;
/** Far more than a check and a PING take, so only a session that is never closed fails. */
const closeBoundMs = 20 * (readCheckIntervalMs + pingAckTimeoutMs);

/** A request's header block: literal fields, no indexing, no Huffman. */
const requestBlock = Buffer.concat(
  [[':method', 'POST'], [':scheme', 'http'], [':path', '/x'], [':authority', 'x']].map(([name, value]) =>
    Buffer.concat([Buffer.from([0, name!.length]), Buffer.from(name!), Buffer.from([value!.length]), Buffer.from(value!)]),
  ),
);
const cancel = Buffer.from([0, 0, 0, 8]);

async function serve(guard: Http2SessionGuard): Promise<{ server: Http2Server; port: number }> {
  const server = createServer();
  guard.attach(server);
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Opens streams and resets them at once until the server stops reading (the writes stall) or `pairs` went out. */
async function rapidReset(port: number, pairs: number): Promise<{ socket: Socket; closed: () => boolean; sent: number }> {
  const socket = netConnect({ port, host: '127.0.0.1' });
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  // ACKs the server's PINGs, as a live client does: what closes the connection can only be the server not reading.
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      const length = pending.readUIntBE(0, 3);
      if (pending[3] === 0x6 && (pending[4]! & 0x1) === 0) socket.write(frame(0x6, 0x1, 0, Buffer.from(pending.subarray(9, 9 + length))));
      pending = pending.subarray(9 + length);
    }
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(0x4, 0, 0), frame(0x4, 0x1, 0)]));
  let sent = 0;
  for (let id = 1; sent < pairs && !closed; ) {
    const batch: Buffer[] = [];
    for (let i = 0; i < 100; i++, id += 2, sent++) batch.push(frame(0x1, 0x4, id, requestBlock), frame(0x3, 0, id, cancel));
    if (socket.write(Buffer.concat(batch))) continue;
    const drained = await Promise.race([new Promise((resolve) => socket.once('drain', () => resolve(true))), new Promise((resolve) => setTimeout(() => resolve(false), 1_000))]);
    if (!drained) break;
  }
  return { socket, closed: () => closed, sent };
}

async function within(boundMs: number, condition: () => boolean): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return condition();
}

function get(session: ReturnType<typeof http2Connect>): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/x' });
    let body = '';
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    stream.on('end', () => resolve(body));
    stream.on('error', reject);
    stream.end();
  });
}

test('a session nghttp2 stopped reading after a rapid reset is destroyed; an idle and a busy client are kept', { timeout: 60_000 }, async () => {
  const stopped: unknown[] = [];
  const guard = new Http2SessionGuard({ readCheckIntervalMs, pingAckTimeoutMs, onStoppedReading: (session) => stopped.push(session) });
  const { server, port } = await serve(guard);
  const idle = http2Connect(`http://127.0.0.1:${port}`);
  const busy = http2Connect(`http://127.0.0.1:${port}`);
  let busyRequests = 0;
  let busyRunning = true;
  const busyLoop = (async () => {
    while (busyRunning) {
      await get(busy);
      busyRequests++;
    }
  })();
  let attacker: Awaited<ReturnType<typeof rapidReset>> | undefined;
  try {
    assert.equal(await get(idle), 'ok');
    attacker = await rapidReset(port, 60_000);
    assert.ok(await within(closeBoundMs, attacker.closed), `the attacker's connection is closed (${attacker.sent} streams opened and reset)`);
    assert.equal(stopped.length, 1, 'one session was found not reading');
    // The live clients outlived many checks and PINGs.
    await new Promise((resolve) => setTimeout(resolve, 5 * (readCheckIntervalMs + pingAckTimeoutMs)));
    assert.equal(await get(idle), 'ok');
    assert.equal(idle.closed || idle.destroyed, false);
    assert.ok(busyRequests > 0);
    assert.equal(busy.closed || busy.destroyed, false);
  } finally {
    attacker?.socket.destroy();
    busyRunning = false;
    await busyLoop.catch(() => {});
    idle.destroy();
    busy.destroy();
    guard.stop();
    server.close();
  }
});
