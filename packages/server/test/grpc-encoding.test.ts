/**
 * grpc-encoding through a whole server: any encoding but identity is
 * refused as the call starts (12, grpc-go's text), before grpc-js, for
 * unary calls and streams left open alike; what is not a call to a served
 * method is left to the answers for that. The same beside etcd 3.4:
 * test/test/grpc-framing-compare.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { gzipSync } from 'node:zlib';
import { startEmbedded, type EmbeddedServer } from '../src/index.js';
import { encodingRefusal } from '../src/api/grpc/grpc-encoding.js';

let embedded: EmbeddedServer;

before(async () => {
  embedded = await startEmbedded();
});

after(async () => {
  await embedded.stop();
});

/** A RangeRequest for key "k". */
const range = Buffer.from([0x0a, 0x01, 0x6b]);

function framed(flag: number, body: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** One call; the grpc-status and grpc-message (or the HTTP status when there is none), and whether the request was half-closed. */
function call(path: string, payload: Buffer, headers: Record<string, string>, end = true): Promise<{ status: string; message?: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${embedded.endpoints[0]}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let answer: { status: string; message?: string } | undefined;
    const take = (fields: Record<string, unknown>): void => {
      if (fields['grpc-status'] !== undefined) answer = { status: String(fields['grpc-status']), message: decodeURIComponent(String(fields['grpc-message'] ?? '')) };
      else answer ??= { status: `http ${String(fields[':status'])}` };
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('error', () => {});
    stream.resume();
    stream.on('close', () => {
      session.destroy();
      if (answer === undefined) reject(new Error('no answer'));
      else resolve(answer);
    });
    stream.write(payload);
    if (end) stream.end();
  });
}

const gzipRefusal = { status: '12', message: 'grpc: Decompressor is not installed for grpc-encoding "gzip"' };

test('grpc-encoding: gzip is refused as the call starts, with or without a message, on unary calls and open streams', async () => {
  assert.deepEqual(await call('/etcdserverpb.KV/Range', framed(1, gzipSync(range)), { 'grpc-encoding': 'gzip' }), gzipRefusal);
  assert.deepEqual(await call('/etcdserverpb.KV/Range', framed(0, range), { 'grpc-encoding': 'gzip' }), gzipRefusal);
  // Nothing sent and the request left open: only an answer at the call's start can come.
  assert.deepEqual(await call('/etcdserverpb.Watch/Watch', Buffer.alloc(0), { 'grpc-encoding': 'gzip' }, false), gzipRefusal);
  assert.deepEqual(await call('/etcdserverpb.Lease/LeaseKeepAlive', Buffer.alloc(0), { 'grpc-encoding': 'deflate' }, false), {
    status: '12',
    message: 'grpc: Decompressor is not installed for grpc-encoding "deflate"',
  });
});

test('grpc-encoding: identity and an empty value are read; a method not served is answered as such, not for its encoding', async () => {
  assert.equal((await call('/etcdserverpb.KV/Range', framed(0, range), { 'grpc-encoding': 'identity' })).status, '0');
  assert.equal((await call('/etcdserverpb.KV/Range', framed(0, range), { 'grpc-encoding': '' })).status, '0');
  assert.equal((await call('/etcdserverpb.KV/Range', framed(0, range), {})).status, '0');
  const unknown = await call('/etcdserverpb.KV/Nope', framed(0, range), { 'grpc-encoding': 'gzip' });
  assert.equal(unknown.status, '12');
  assert.notEqual(unknown.message, gzipRefusal.message);
});

test('grpc-encoding: repeated fields, the last counts (grpc-go)', () => {
  assert.equal(encodingRefusal({ 'grpc-encoding': ['gzip', 'identity'] }), undefined);
  assert.equal(encodingRefusal({ 'grpc-encoding': ['identity', 'gzip'] })?.message, gzipRefusal.message);
});
