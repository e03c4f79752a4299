/**
 * Reading request bodies piece by piece (gateway-body.ts) and streams of
 * JSON values (GoJsonStreamDecoder): the same result however a body is cut,
 * and the bounds on pieces and bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, BodyTooManyChunksError, maxBodyChunks, readBody } from '../src/api/http/gateway-body.js';
import { GoJsonStreamDecoder } from '../src/api/http/go-json.js';

/** A request whose body arrives in `pieces`. */
function requestOf(pieces: readonly Buffer[], headers: Record<string, string> = {}): IncomingMessage {
  const stream = new PassThrough();
  Object.assign(stream, { headers, complete: false });
  setImmediate(() => {
    for (const piece of pieces) stream.write(piece);
    stream.end();
  });
  return stream as unknown as IncomingMessage;
}

test('readBody returns the body whole, however it is cut, with or without Content-Length', async () => {
  const body = Buffer.from(JSON.stringify({ key: 'Zm9v', value: 'x'.repeat(100_000) }));
  for (const size of [1, 7, 4096, body.length]) {
    const pieces: Buffer[] = [];
    for (let at = 0; at < body.length; at += size) pieces.push(body.subarray(at, at + size));
    if (pieces.length > maxBodyChunks) continue;
    assert.ok((await readBody(requestOf(pieces), 1 << 20)).equals(body), `chunked in ${size}-byte pieces`);
    assert.ok((await readBody(requestOf(pieces, { 'content-length': String(body.length) }), 1 << 20)).equals(body), `${size}-byte reads`);
  }
});

test('readBody refuses a body in more than maxBodyChunks pieces, and one over its byte bound', async () => {
  const onePieceTooMany = Array.from({ length: maxBodyChunks + 1 }, () => Buffer.from(' '));
  await assert.rejects(readBody(requestOf(onePieceTooMany), 1 << 20), (error) => error instanceof BodyTooManyChunksError && error.closeConnection);
  assert.equal((await readBody(requestOf(onePieceTooMany.slice(1)), 1 << 20)).length, maxBodyChunks);
  await assert.rejects(readBody(requestOf([Buffer.alloc(10)], { 'content-length': '10' }), 9), (error) => error instanceof BodyTooLargeError && !error.closeConnection);
  await assert.rejects(readBody(requestOf([Buffer.alloc(5), Buffer.alloc(5)]), 9), (error) => error instanceof BodyTooLargeError && error.closeConnection);
});

test('GoJsonStreamDecoder decodes the same values however the stream is cut', () => {
  const stream = Buffer.from(` {"a":1} [2, 3]\n"s\\"x" {"big":"${'y'.repeat(70_000)}"} {"b":{"c":[]}} 17 `);
  const whole = new GoJsonStreamDecoder();
  const expected = [...whole.push(stream), ...whole.end()].map((value) => (value.kind === 'value' ? value.raw.toString() : value.kind));
  assert.equal(expected.length, 7, JSON.stringify(expected.map((value) => value.slice(0, 20))));
  for (const size of [1, 2, 3, 64, 1000, 65_536]) {
    const decoder = new GoJsonStreamDecoder();
    const values = [];
    for (let at = 0; at < stream.length; at += size) values.push(...decoder.push(stream.subarray(at, at + size)));
    values.push(...decoder.end());
    assert.deepEqual(
      values.map((value) => (value.kind === 'value' ? value.raw.toString() : value.kind)),
      expected,
      `${size}-byte chunks`,
    );
  }
});
