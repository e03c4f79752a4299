/**
 * A grpc-timeout of 2^31 ms or more is no deadline, not an immediate
 * DEADLINE_EXCEEDED (grpc-js's server turned it into an overflowing timer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { etcdserverpb } from '@holdfast/proto';
import { startEmbedded } from '../src/index.js';
import { dropUnsettableTimeout, grpcTimeoutMs, maxTimerDelayMs } from '../src/api/grpc/grpc-deadline.js';

/** How long an open Watch is watched for an early end. */
const stillOpenAfterMs = 500;

/**
 * A Range, or a Watch stream left open, over raw HTTP/2 with the given
 * grpc-timeout; resolves with the grpc-status, or 'open' when a Watch is
 * still running after stillOpenAfterMs.
 */
async function callWithTimeout(endpoint: string, grpcTimeout: string, kind: 'range' | 'watch' = 'range'): Promise<string> {
  const session = connect(`http://${endpoint}`);
  try {
    const path = kind === 'range' ? '/etcdserverpb.KV/Range' : '/etcdserverpb.Watch/Watch';
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': grpcTimeout });
    if (kind === 'range') {
      const message = Buffer.from(etcdserverpb.RangeRequest.encode(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('k') })).finish());
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      message.copy(frame, 5);
      stream.end(frame);
    }
    return await new Promise<string>((resolve, reject) => {
      let status: string | undefined;
      const take = (headers: Record<string, unknown>): void => {
        if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
      };
      stream.on('response', take);
      stream.on('trailers', take);
      stream.resume();
      stream.on('end', () => (status === undefined ? reject(new Error('no grpc-status')) : resolve(status)));
      stream.on('error', reject);
      if (kind === 'watch') setTimeout(() => resolve(status ?? 'open'), stillOpenAfterMs);
    });
  } finally {
    session.destroy();
  }
}

test('grpc-timeout values: parsed per unit; only those past a timer\'s reach are dropped', () => {
  assert.equal(grpcTimeoutMs('2147484S'), 2_147_484_000);
  assert.equal(grpcTimeoutMs('5m'), 5);
  assert.equal(grpcTimeoutMs('1H'), 3_600_000);
  assert.equal(grpcTimeoutMs('123456789S'), undefined, 'nine digits are not gRPC');
  for (const [value, kept] of [['2147483647m', true /* malformed: grpc-js answers it */], ['2147483m', true], ['2147484S', false], ['99999999H', false], ['596H', true], ['597H', false]] as const) {
    const headers: Record<string, string> = { 'grpc-timeout': value };
    dropUnsettableTimeout(headers);
    assert.equal('grpc-timeout' in headers, kept, value);
  }
  assert.ok(596 * 3_600_000 <= maxTimerDelayMs && 597 * 3_600_000 > maxTimerDelayMs);
});

test('a call with a grpc-timeout of 2^31 ms or more is answered, not DEADLINE_EXCEEDED', async () => {
  const embedded = await startEmbedded();
  try {
    const endpoint = embedded.endpoints[0]!;
    // 2^31 ms as Go and grpc-js encode it (8 digits at most), then the largest timeout gRPC can say.
    assert.equal(await callWithTimeout(endpoint, '2147484S'), '0');
    assert.equal(await callWithTimeout(endpoint, '2147484S', 'watch'), 'open');
    assert.equal(await callWithTimeout(endpoint, '99999999H', 'watch'), 'open');
    // Deadlines a timer can wait for still work both ways.
    assert.equal(await callWithTimeout(endpoint, '10S'), '0');
    assert.equal(await callWithTimeout(endpoint, '200m', 'watch'), '4', 'an open watch ends at a 200 ms deadline');
  } finally {
    await embedded.stop();
  }
});
