/**
 * :authority with a URL scheme (etcdctl --cluster): Holdfast answers such
 * requests instead of resetting them, on every request of a connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { randomBytes } from 'node:crypto';
import { etcdserverpb } from '@holdfast/proto';
import { startEmbedded } from '../src/index.js';
import { authorityValues, huffmanDecode, huffmanEncode, repairAuthorities } from '../src/http/http2-authority.js';

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
