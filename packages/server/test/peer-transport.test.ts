/**
 * PeerTransport on loopback: three RaftLogs agree through it; a stream from
 * another cluster, an unknown sender or for another member is refused with
 * etcd's words and codes; a garbled frame ends the stream without reaching
 * Raft, and the sender's next stream goes on; a full queue drops and counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:http2';
import type { Message } from '@holdfast/raft';
import { Wal } from '@holdfast/storage';
import { RaftLog } from '../src/log/raft/raft-log.js';
import { PeerTransport } from '../src/log/raft/peer-transport.js';
import { encodePeerMessage } from '../src/log/raft/message-codec.js';
import type { LogEntry } from '../src/log/replicated-log.js';
import { systemClock } from '../src/node/clock.js';

const ids = [0x8e9e05c52164694dn, 0x91bc3c398fb3c146n, 0xfd422379fda50e48n];
const clusterId = 0xcdf818194e3a8c32n;

async function eventually(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Starts one transport per id on free loopback ports (asked of the OS), then tells each where the others are. */
async function startTransports(receive: (id: bigint, message: Message) => void, options: { maxQueued?: number; maxQueuedBytes?: number } = {}): Promise<PeerTransport[]> {
  const transports: PeerTransport[] = [];
  for (const id of ids) {
    transports.push(await PeerTransport.start([{ host: '127.0.0.1', port: 0 }], { localId: id, clusterId, peers: new Map(), receive: (message) => receive(id, message), unreachable: () => {}, maxQueuedMessagesPerPeer: options.maxQueued, maxQueuedBytesPerPeer: options.maxQueuedBytes }));
  }
  for (const [i] of ids.entries()) for (const [j, other] of ids.entries()) if (i !== j) transports[i]!.addPeer(other, `http://127.0.0.1:${transports[j]!.ports[0]}`);
  return transports;
}

test('three RaftLogs agree through PeerTransports on loopback', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-peer-transport-'));
  const logs = new Map<bigint, RaftLog>();
  const applied = new Map<bigint, LogEntry[]>(ids.map((id) => [id, []]));
  const transports = await startTransports((id, message) => logs.get(id)?.receive(message));
  const wals: Wal[] = [];
  try {
    for (const [i, id] of ids.entries()) {
      const wal = await Wal.create(join(directory, id.toString(16)));
      wals.push(wal);
      let seed = i + 11;
      logs.set(id, new RaftLog({
        id, wal, clock: systemClock, heartbeatIntervalMs: 20, electionTimeoutMs: 200, applied: 0,
        storage: await RaftLog.bootstrapStorage(wal, { voters: ids, learners: [] }),
        random: () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648,
        events: { applyCommitted: (entries) => applied.get(id)!.push(...entries), leaderChanged: () => {}, fatal: (error) => assert.fail(String(error)) },
        peers: transports[i]!,
      }));
    }
    const all = [...logs.values()];
    await eventually('a leader', () => all.every((log) => log.leaderId !== 0n && log.leaderId === all[0]!.leaderId));
    const follower = ids.find((id) => id !== all[0]!.leaderId)!;
    for (let i = 0; i < 20; i++) logs.get(follower)!.propose(Buffer.from(`w${i}`));
    const written = (id: bigint) => applied.get(id)!.filter((entry) => entry.type === 'normal' && entry.data.length > 0).map((entry) => Buffer.from(entry.data).toString());
    await eventually('20 entries everywhere', () => ids.every((id) => written(id).length === 20));
    for (const id of ids) assert.deepEqual(written(id), Array.from({ length: 20 }, (_, i) => `w${i}`));
  } finally {
    for (const log of logs.values()) await log.stop();
    for (const transport of transports) await transport.stop();
    for (const wal of wals) await wal.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

/** Opens a raw stream to `port` with `headers`; resolves with the status and body. */
function rawStream(port: number, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; text: string; reset: number | undefined }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': path, ...headers });
    let status = 0;
    let text = '';
    stream.on('response', (responseHeaders) => (status = Number(responseHeaders[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('error', () => {});
    stream.on('close', () => {
      session.close();
      resolve({ status, text: text.trim(), reset: stream.rstCode === 0 ? undefined : stream.rstCode });
    });
    if (body !== undefined) stream.write(body);
    if (status === 0 && body === undefined) stream.end();
  });
}

test('streams that must not be taken are refused with etcd\'s words; a garbled frame never reaches Raft', async () => {
  const received: Message[] = [];
  const transports = await startTransports((_id, message) => received.push(message));
  try {
    const port = transports[0]!.ports[0]!;
    const from = ids[1]!.toString(16);
    const good = { 'x-etcd-cluster-id': clusterId.toString(16), 'x-raft-to': ids[0]!.toString(16), 'x-server-from': from };
    assert.deepEqual(await rawStream(port, `/raft/stream/message/${from}`, { ...good, 'x-etcd-cluster-id': 'deadbeef' }), { status: 412, text: 'cluster ID mismatch', reset: undefined });
    assert.deepEqual(await rawStream(port, '/raft/stream/message/1234', good), { status: 404, text: 'error sender not found', reset: undefined });
    assert.deepEqual(await rawStream(port, `/raft/stream/message/${from}`, { ...good, 'x-raft-to': '99' }), { status: 412, text: 'to field mismatch', reset: undefined });
    assert.deepEqual(await rawStream(port, '/raft/stream/message/zz', good), { status: 404, text: 'invalid from', reset: undefined });
    // Garbage in a frame: the stream is reset, nothing is delivered.
    const garbage = Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('hello')]);
    const garbled = await rawStream(port, `/raft/stream/message/${from}`, good, garbage);
    assert.equal(garbled.status, 200);
    assert.equal(garbled.reset, 1, 'RST_STREAM PROTOCOL_ERROR');
    // A frame claiming more than the bound is refused before it is read.
    const huge = await rawStream(port, `/raft/stream/message/${from}`, good, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    assert.equal(huge.reset, 1);
    // A well-formed message with a forged sender is refused too.
    const forged = encodePeerMessage({ type: 'heartbeat', from: ids[2]!, to: ids[0]!, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 });
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0]), forged]);
    frame.writeUInt32BE(forged.length, 0);
    assert.equal((await rawStream(port, `/raft/stream/message/${from}`, good, frame)).reset, 1);
    assert.equal(received.length, 0);
    assert.equal(transports[0]!.refusedMessages, 3);
    // A real message through the real sender still arrives.
    transports[1]!.send([{ type: 'heartbeat', from: ids[1]!, to: ids[0]!, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }]);
    await eventually('the heartbeat arrives', () => received.length === 1);
    assert.equal(received[0]!.from, ids[1]);
  } finally {
    for (const transport of transports) await transport.stop();
  }
});

test('a peer that cannot be reached costs a bounded queue: past it messages are dropped and counted', async () => {
  const transports = await startTransports(() => {}, { maxQueued: 10 });
  const unreachableTarget = ids[2]!;
  await transports[2]!.stop();
  try {
    const heartbeat = { type: 'heartbeat' as const, from: ids[0]!, to: unreachableTarget, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
    transports[0]!.send(Array.from({ length: 25 }, () => heartbeat));
    assert.equal(transports[0]!.droppedMessages(unreachableTarget), 15);
    // And by bytes: one large append fills what another peer may hold.
    const append = { ...heartbeat, type: 'app' as const, to: ids[1]!, entries: [{ term: 1, index: 1, type: 'normal' as const, data: new Uint8Array(600) }] };
    const small = await startTransports(() => {}, { maxQueuedBytes: 1_000 });
    try {
      await small[1]!.stop();
      small[0]!.send([append, append]);
      assert.equal(small[0]!.droppedMessages(ids[1]!), 1);
    } finally {
      await small[0]!.stop();
      await small[2]!.stop();
    }
  } finally {
    await transports[0]!.stop();
    await transports[1]!.stop();
  }
});
