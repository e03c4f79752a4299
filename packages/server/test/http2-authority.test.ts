/**
 * :authority with a URL scheme (etcdctl --cluster): Holdfast answers such
 * requests instead of resetting them, on every request of a connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { etcdserverpb } from '@holdfast/proto';
import { startEmbedded } from '../src/index.js';
import {
  authorityValues,
  emptySettingsFrame,
  Http2Opening,
  http2ClientPreface,
  huffmanDecode,
  huffmanEncode,
  maxOpeningBytes,
  RequestRewriter,
  repairAuthorities,
  type OpeningDecision,
} from '../src/api/client-port/http2-authority.js';
import { frameOf } from './http2-frames.js';

test('HPACK Huffman: RFC 7541 C.4.1, and random strings round-trip', () => {
  assert.equal(huffmanEncode(Buffer.from('www.example.com')).toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff');
  assert.equal(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex'))?.toString(), 'www.example.com');
  for (let i = 0; i < 500; i++) {
    const plain = randomBytes(i % 40);
    assert.deepEqual(huffmanDecode(huffmanEncode(plain)), plain);
  }
  assert.equal(huffmanDecode(Buffer.from([0x00])), undefined, 'padding must be ones');
});

test('a literal :authority with "/" is repaired in place, at the same encoded length', () => {
  const value = huffmanEncode(Buffer.from('http://127.0.0.1:2379'));
  // Literal with incremental indexing, name = static index 1 (:authority), Huffman value; then :method GET (indexed 2).
  const block = Buffer.concat([Buffer.from([0x41, 0x80 | value.length]), value, Buffer.from([0x82])]);
  const before = block.length;
  assert.equal(repairAuthorities(block), true);
  assert.equal(block.length, before);
  const [span] = authorityValues(block)!;
  assert.equal(huffmanDecode(block.subarray(span!.start, span!.end))?.toString(), 'http:__127.0.0.1:2379');
  assert.equal(block[block.length - 1], 0x82, 'what follows is untouched');
  const plain = Buffer.concat([Buffer.from([0x01, 10]), Buffer.from('http://a:1')]);
  assert.equal(repairAuthorities(plain), true);
  assert.equal(plain.subarray(2).toString(), 'http:__a:1');
  const valid = Buffer.concat([Buffer.from([0x41, 0x80 | huffmanEncode(Buffer.from('127.0.0.1:2379')).length]), huffmanEncode(Buffer.from('127.0.0.1:2379'))]);
  assert.equal(repairAuthorities(valid), false);
});

/** Unary Ranges on one HTTP/2 session with the given :authority; the grpc-status of each. */
async function ranges(endpoint: string, authority: string, count: number): Promise<string[]> {
  const session = connect(`http://${endpoint}`);
  try {
    const message = Buffer.from(etcdserverpb.RangeRequest.encode(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('k') })).finish());
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    const statuses: string[] = [];
    for (let i = 0; i < count; i++) {
      // A header that changes every call fills the HPACK table, so :authority is evicted and sent literally again.
      const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', ':authority': authority, 'content-type': 'application/grpc', te: 'trailers', 'x-churn': randomBytes(200).toString('hex') });
      stream.end(frame);
      statuses.push(
        await new Promise<string>((resolve) => {
          let status = 'none';
          const take = (headers: Record<string, unknown>): void => {
            if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
          };
          stream.on('response', take);
          stream.on('trailers', take);
          stream.resume();
          stream.on('close', () => resolve(stream.rstCode === 0 ? status : `reset ${stream.rstCode}`));
          stream.on('error', () => {});
        }),
      );
    }
    return statuses;
  } finally {
    session.destroy();
  }
}

test('requests whose :authority is a URL are answered, however many on one connection', async () => {
  const embedded = await startEmbedded();
  try {
    const endpoint = embedded.endpoints[0]!;
    const count = 60;
    assert.deepEqual(await ranges(endpoint, `http://${endpoint}`, count), new Array<string>(count).fill('0'));
    assert.deepEqual(await ranges(endpoint, endpoint, count), new Array<string>(count).fill('0'), 'plain authorities, natively');
  } finally {
    await embedded.stop();
  }
});

/** A request header block whose :authority (Huffman, literal with incremental indexing) is `authority`, split over HEADERS and a CONTINUATION. */
function requestFrames(streamId: number, authority: string): Buffer {
  const value = huffmanEncode(Buffer.from(authority));
  const block = Buffer.concat([Buffer.from([0x83, 0x86]), Buffer.from([0x41, 0x80 | value.length]), value, Buffer.from([0x84])]);
  const cut = 3;
  return Buffer.concat([frameOf(0x1, 0x20, streamId, Buffer.concat([Buffer.alloc(5), block.subarray(0, cut)])), frameOf(0x9, 0x4, streamId, block.subarray(cut))]);
}

const settingsAck = frameOf(0x4, 0x1, 0, Buffer.alloc(0));
const windowUpdate = frameOf(0x8, 0, 0, Buffer.from([0, 0, 0x10, 0]));

/** Feeds `bytes` to a new opening in pieces cut at `cuts`; the first decision that is not 'waiting', and what came after it through its rewriter. */
function feed(bytes: Buffer, cuts: number[]): { decision: OpeningDecision; handedOn: Buffer } {
  const opening = new Http2Opening();
  const points = [0, ...cuts.filter((cut) => cut > 0 && cut < bytes.length).sort((a, b) => a - b), bytes.length];
  for (let i = 0; i + 1 < points.length; i++) {
    const decision = opening.push(Buffer.from(bytes.subarray(points[i], points[i + 1])));
    if (decision.kind === 'waiting') continue;
    if (decision.kind === 'refuse') return { decision, handedOn: Buffer.alloc(0) };
    const after = bytes.subarray(points[i + 1]);
    const rest = decision.kind === 'rewrite' ? decision.rewriter.push(Buffer.from(after)) : after;
    return { decision, handedOn: Buffer.concat([decision.bytes, rest]) };
  }
  return { decision: { kind: 'waiting' }, handedOn: Buffer.alloc(0) };
}

test('an opening decides the same however its bytes are split, and hands on every byte but the ACK', () => {
  for (const [authority, kind, expected] of [
    ['127.0.0.1:2379', 'native', '127.0.0.1:2379'],
    ['http://127.0.0.1:2379', 'rewrite', 'http:__127.0.0.1:2379'],
  ] as const) {
    const before = Buffer.concat([http2ClientPreface, emptySettingsFrame, windowUpdate, settingsAck]);
    const after = Buffer.concat([requestFrames(1, authority), frameOf(0x0, 0x1, 1, Buffer.from('body')), requestFrames(3, authority)]);
    const bytes = Buffer.concat([before, after]);
    for (let round = 0; round < 300; round++) {
      const cuts = round === 0 ? [] : round === 1 ? Array.from({ length: bytes.length }, (_, i) => i) : Array.from({ length: 1 + (round % 12) }, () => Math.floor(Math.random() * bytes.length));
      const { decision, handedOn } = feed(bytes, cuts);
      assert.equal(decision.kind, kind, `cuts ${cuts.join(',')}`);
      // The ACK is gone; every other byte is there, with each '/' of :authority turned into '_'.
      const withoutAck = Buffer.concat([bytes.subarray(0, before.length - settingsAck.length), after]);
      assert.equal(handedOn.length, withoutAck.length);
      const expectedBytes = Buffer.from(withoutAck);
      const original = huffmanEncode(Buffer.from(authority));
      const repaired = huffmanEncode(Buffer.from(expected));
      for (let at = expectedBytes.indexOf(original); at >= 0; at = expectedBytes.indexOf(original, at + 1)) repaired.copy(expectedBytes, at);
      assert.ok(handedOn.equals(expectedBytes), `cuts ${cuts.join(',')}`);
    }
  }
});

test('an opening is refused past maxOpeningBytes without a request, and at the header of a frame over the maximum size', () => {
  const ignorable = frameOf(0xfa, 0, 0, Buffer.alloc(16_384));
  const opening = new Http2Opening();
  let decision = opening.push(Buffer.concat([http2ClientPreface, emptySettingsFrame, settingsAck]));
  let pushed = 0;
  while (decision.kind === 'waiting' && pushed < 100 * maxOpeningBytes) {
    decision = opening.push(ignorable);
    pushed += ignorable.length;
  }
  assert.equal(decision.kind, 'refuse');
  assert.equal(decision.kind === 'refuse' && decision.errorCode, 0xb, 'ENHANCE_YOUR_CALM');
  assert.ok(pushed <= maxOpeningBytes + ignorable.length, `refused after ${pushed} bytes`);

  const oversized = Buffer.alloc(9);
  oversized.writeUIntBE(16_385, 0, 3);
  const refused = new Http2Opening().push(Buffer.concat([http2ClientPreface, oversized]));
  assert.equal(refused.kind === 'refuse' && refused.errorCode, 0x6, 'FRAME_SIZE_ERROR');
  assert.throws(() => new RequestRewriter().push(oversized), /over SETTINGS_MAX_FRAME_SIZE/);
});

test('a refused opening whose client resets the connection while the GOAWAY lingers does not crash the server', async () => {
  const embedded = await startEmbedded();
  try {
    const [host, port] = embedded.endpoints[0]!.split(':') as [string, string];
    for (let round = 0; round < 3; round++) {
      // Half-open allowed: the client keeps its side after the server's FIN, so its reset reaches a server socket that still reads.
      const socket = netConnect({ host, port: Number(port), allowHalfOpen: true });
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      let goaway = false;
      socket.on('data', (chunk: Buffer) => (goaway ||= chunk.includes(Buffer.from([0x07, 0, 0, 0, 0, 0]))));
      // Just past maxOpeningBytes: refused at its last byte, so the server's socket has nothing buffered and still reads.
      const ignorable = frameOf(0xfa, 0, 0, Buffer.alloc(16_384));
      socket.write(Buffer.concat([http2ClientPreface, emptySettingsFrame, ...new Array<Buffer>(Math.floor(maxOpeningBytes / ignorable.length) + 1).fill(ignorable)]));
      const deadline = Date.now() + 5_000;
      while (!goaway && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(goaway, 'GOAWAY');
      socket.resetAndDestroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The server is still there.
    assert.deepEqual(await ranges(embedded.endpoints[0]!, embedded.endpoints[0]!, 1), ['0']);
  } finally {
    await embedded.stop();
  }
});
