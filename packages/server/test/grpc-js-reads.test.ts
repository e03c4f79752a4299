// grpc-js-reads.ts replaces three internal methods of grpc-js's server
// call. This drives a bare grpc-js server (no Holdfast) through each path
// with hand-made HTTP/2 frames, so a grpc-js upgrade that moves those
// internals fails here, by name. The etcd comparison of the same answers is
// test/test/grpc-framing-compare.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { Server, ServerCredentials, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { etcdserverpb, strict } from '@holdfast/proto';
import { installEtcdMessageReads } from '../src/api/grpc/grpc-js-reads.js';
import { GrpcMessageReader } from '../src/api/grpc/grpc-message-reader.js';

let server: Server;
let port = 0;
/** Requests each handler saw, to prove a refused message never reaches one. */
const grants: etcdserverpb.LeaseGrantRequest[] = [];

before(async () => {
  installEtcdMessageReads();
  server = new Server({ 'grpc.max_receive_message_length': 1024 });
  server.addService(strict.withStrictRequests(etcdserverpb.LeaseService), {
    leaseGrant: (call: ServerUnaryCall<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>, callback: sendUnaryData<etcdserverpb.LeaseGrantResponse>) => {
      grants.push(call.request);
      callback(null, etcdserverpb.LeaseGrantResponse.fromPartial({ ID: call.request.ID, TTL: call.request.TTL }));
    },
    leaseKeepAlive: (call: ServerDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>) => {
      call.on('data', (request: etcdserverpb.LeaseKeepAliveRequest) => call.write({ ID: request.ID, TTL: 1n }));
      call.on('end', () => call.end());
    },
  } as never);
  port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
});

after(() => server.forceShutdown());

function frame(flag: number, body: Buffer | number[], length?: number): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  const bytes = Buffer.from(body);
  prefix.writeUInt32BE(length ?? bytes.length, 1);
  return Buffer.concat([prefix, bytes]);
}

interface Answer {
  code: number | undefined;
  message: string | undefined;
  messages: number;
}

/** One call: sends `payload` (then ends the request unless told not to) and returns the status; undefined code after timeoutMs. */
function call(path: string, payload: Buffer, options: { headers?: Record<string, string>; end?: boolean; timeoutMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...options.headers });
    let status: Record<string, unknown> = {};
    let bytes = 0;
    const finish = () => {
      clearTimeout(timer);
      session.destroy();
      const raw = status['grpc-message'];
      resolve({ code: status['grpc-status'] === undefined ? undefined : Number(status['grpc-status']), message: typeof raw === 'string' ? decodeURIComponent(raw) : undefined, messages: bytes });
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 2000);
    stream.on('response', (headers) => (status = headers));
    stream.on('trailers', (trailers) => (status = trailers));
    stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    stream.on('end', finish);
    stream.on('error', finish);
    stream.write(payload);
    if (options.end !== false) stream.end();
  });
}

const grant = '/etcdserverpb.Lease/LeaseGrant';
const keepAlive = '/etcdserverpb.Lease/LeaseKeepAlive';

test('grpc-js reads: framing errors get etcd answers, and reach no handler', async () => {
  const before = grants.length;
  assert.deepEqual(await call(grant, frame(7, [0x08, 0x05])), { code: 13, message: 'grpc: received unexpected payload format 7', messages: 0 });
  assert.deepEqual(await call(grant, frame(1, [0x08, 0x05])), { code: 13, message: 'grpc: compressed flag set with identity or empty encoding', messages: 0 });
  assert.deepEqual(await call(grant, frame(1, [0x08, 0x05]), { headers: { 'grpc-encoding': 'snappy' } }), {
    code: 12,
    message: 'grpc: Decompressor is not installed for grpc-encoding "snappy"',
    messages: 0,
  });
  assert.deepEqual(await call(grant, frame(0, [0x08], 10)), { code: 2, message: 'unexpected EOF', messages: 0 });
  assert.deepEqual(await call(grant, Buffer.from([0, 0])), { code: 2, message: 'unexpected EOF', messages: 0 });
  assert.deepEqual(await call(grant, Buffer.alloc(0)), { code: 2, message: 'EOF', messages: 0 });
  assert.deepEqual(await call(grant, frame(0, Buffer.alloc(2000))), { code: 8, message: 'grpc: received message larger than max (2000 vs. 1024)', messages: 0 });
  assert.deepEqual(await call(grant, frame(0, Buffer.alloc(1000))), { code: 13, message: 'grpc: error unmarshalling request: proto: LeaseGrantRequest: illegal tag 0 (wire type 0)', messages: 0 });
  assert.equal(grants.length, before);
});

test('grpc-js reads: a unary call reads one message and ignores what follows', async () => {
  const answer = await call(grant, Buffer.concat([frame(0, [0x08, 0x05]), frame(7, [0x00]), Buffer.from([0, 0, 0])]));
  assert.equal(answer.code, 0);
  assert.equal(grants.at(-1)?.TTL, 5n);
});

test('grpc-js reads: streams answer bad messages with the stream texts', async () => {
  assert.deepEqual(await call(keepAlive, frame(0, [0x00, 0x00]), { end: false }), {
    code: 13,
    message: 'grpc: failed to unmarshal the received message proto: LeaseKeepAliveRequest: illegal tag 0 (wire type 0)',
    messages: 0,
  });
  assert.deepEqual(await call(keepAlive, frame(9, []), { end: false }), { code: 13, message: 'grpc: received unexpected payload format 9', messages: 0 });
  assert.deepEqual(await call(keepAlive, frame(0, [0x08], 4)), { code: 13, message: 'unexpected EOF', messages: 0 });
  // A good message first is answered, then the bad one ends the stream (both in one write).
  const answer = await call(keepAlive, Buffer.concat([frame(0, [0x08, 0x07]), frame(0, [0x0c])]), { end: false });
  assert.equal(answer.code, 13);
  assert.equal(answer.message, 'grpc: failed to unmarshal the received message proto: LeaseKeepAliveRequest: wiretype end group for non-group');
  assert.ok(answer.messages > 0);
  const framing = await call(keepAlive, Buffer.concat([frame(0, [0x08, 0x07]), frame(3, [])]), { end: false });
  assert.deepEqual([framing.code, framing.message], [13, 'grpc: received unexpected payload format 3']);
  assert.ok(framing.messages > 0, 'the good message before the bad frame is answered');
  // A clean half-close of a stream with no message is no error.
  assert.equal((await call(keepAlive, Buffer.alloc(0))).code, 0);
});

test('grpc-js reads: gzip and deflate requests are refused, not decompressed (etcd 3.4 registers no compressor), and reach no handler', async () => {
  const { deflateSync, gzipSync } = await import('node:zlib');
  const before = grants.length;
  assert.deepEqual(await call(grant, frame(1, gzipSync(Buffer.from([0x08, 0x09]))), { headers: { 'grpc-encoding': 'gzip' } }), {
    code: 12,
    message: 'grpc: Decompressor is not installed for grpc-encoding "gzip"',
    messages: 0,
  });
  assert.deepEqual(await call(grant, frame(1, deflateSync(Buffer.from([0x08, 0x09]))), { headers: { 'grpc-encoding': 'deflate' } }), {
    code: 12,
    message: 'grpc: Decompressor is not installed for grpc-encoding "deflate"',
    messages: 0,
  });
  assert.equal(grants.length, before);
});

test('message reader: a prefix split over chunks, and the bound checked before the body arrives', () => {
  const reader = new GrpcMessageReader({ kind: 'bidi', encoding: 'identity', maxMessageBytes: 16 });
  const message = frame(0, [0x08, 0x01]);
  assert.deepEqual(reader.push(message.subarray(0, 2)), []);
  assert.deepEqual(reader.push(message.subarray(2, 6)), []);
  assert.deepEqual(reader.push(Buffer.concat([message.subarray(6), message])), [message, message]);
  assert.deepEqual(reader.push(Buffer.concat([message, frame(0, [], 17).subarray(0, 5), message])), [message]);
  assert.equal(reader.failure?.message, 'grpc: received message larger than max (17 vs. 16)');
  assert.equal(reader.done, true);
  assert.deepEqual(reader.push(message), []);
});

test('message reader: a unary call takes its first message and reads nothing after it', () => {
  const reader = new GrpcMessageReader({ kind: 'unary', encoding: '', maxMessageBytes: 16 });
  assert.deepEqual(reader.push(Buffer.concat([frame(0, [0x08, 0x01]), frame(9, [])])), [frame(0, [0x08, 0x01])]);
  assert.equal(reader.failure, undefined);
  assert.equal(reader.end(), undefined);
});
