// grpc-js-frames.ts replaces grpc-js's response framing so that a message
// built with room in front goes out without a copy. This serves through a
// bare grpc-js server (no Holdfast), so a grpc-js upgrade that moves the
// replaced method fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials, credentials, makeGenericClientConstructor, type ServerUnaryCall, type sendUnaryData, type ServiceError } from '@grpc/grpc-js';
import { grpcMessagePrefixBytes, installZeroCopyFraming, serializeMessage, withFrameRoom } from '../src/api/grpc/grpc-js-frames.js';

/** A message of `length` bytes with `room` bytes in front of it in the same buffer. */
function roomy(length: number, room: number): Buffer {
  const whole = Buffer.alloc(room + length, 0xee);
  for (let i = 0; i < length; i++) whole[room + i] = i & 0xff;
  return whole.subarray(room);
}

test('a message with room in front is framed in place; any other is copied as grpc-js does', () => {
  const inPlace = withFrameRoom(roomy(100_000, 64));
  const framed = serializeMessage.call({ handler: { serialize: () => inPlace }, serializeMessage }, {});
  assert.equal(framed.buffer, inPlace.buffer, 'the same memory');
  assert.equal(framed.byteOffset, inPlace.byteOffset - grpcMessagePrefixBytes);
  assert.deepEqual([...framed.subarray(0, 5)], [0, 0, 1, 0x86, 0xa0], 'flag 0, length 100,000');
  assert.ok(framed.subarray(5).equals(inPlace));
  const plain = roomy(1000, 64); // not marked: its room is not the serializer's to give
  const copied = serializeMessage.call({ handler: { serialize: () => plain }, serializeMessage }, {});
  assert.notEqual(copied.buffer, plain.buffer, 'a copy');
  assert.ok(copied.subarray(5).equals(plain));
  assert.equal(copied.readUInt32BE(1), 1000);
  assert.throws(() => withFrameRoom(roomy(10, 4)), /4 bytes of room, need 5/);
});

test('through a grpc-js server, framed-in-place and copied answers reach the client intact', async () => {
  installZeroCopyFraming();
  const identity = (bytes: Buffer) => bytes;
  const definition = {
    echo: { path: '/test.Frames/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  };
  const server = new Server();
  server.addService(definition, {
    echo: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      const length = call.request.readUInt32BE(0);
      const answer = roomy(length, 64);
      callback(null, call.request[4] === 1 ? withFrameRoom(answer) : answer);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  const Client = makeGenericClientConstructor(definition, 'Frames');
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }) as unknown as {
    echo(request: Buffer, callback: (error: ServiceError | null, response: Buffer) => void): void;
    close(): void;
  };
  try {
    for (const [length, marked] of [[0, 1], [7, 1], [3 * 1024 * 1024, 1], [3 * 1024 * 1024, 0]] as const) {
      const request = Buffer.alloc(5);
      request.writeUInt32BE(length, 0);
      request[4] = marked;
      const response = await new Promise<Buffer>((resolve, reject) => client.echo(request, (error, value) => (error ? reject(error) : resolve(value))));
      assert.ok(response.equals(roomy(length, 64)), `${length} bytes, ${marked ? 'in place' : 'copied'}`);
    }
  } finally {
    client.close();
    server.forceShutdown();
  }
});
