/**
 * Small pure parts: gRPC framing, the benchmarks document's sections,
 * option validation, key layout and the split of work over workers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handWrittenBegin, handWrittenEnd, initialDocument, replaceSection } from '../src/benchmarks-doc.js';
import { KeyMaker } from '../src/keys.js';
import { OptionsError, resolveOptions } from '../src/options.js';
import { assignToWorkers } from '../src/run-workload.js';
import { encodeGrpcFrame, GrpcFrameDecoder, grpcTimeoutHeader } from '../src/transport.js';
import { watchersPerKey } from '../src/workloads/watch.js';
import { seconds } from '../src/cli.js';

test('gRPC frames split across chunks and packed together decode to the messages', () => {
  const messages = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
  const stream = Buffer.concat(messages.map((message) => encodeGrpcFrame(message)));
  for (const chunkBytes of [1, 3, 5, 6, 1000, stream.length]) {
    const decoder = new GrpcFrameDecoder();
    const decoded: Buffer[] = [];
    for (let offset = 0; offset < stream.length; offset += chunkBytes) decoded.push(...decoder.push(stream.subarray(offset, offset + chunkBytes)));
    assert.deepEqual(decoded, messages, `chunks of ${chunkBytes} bytes`);
    assert.equal(decoder.bufferedBytes, 0);
  }
  assert.throws(() => new GrpcFrameDecoder(10).push(encodeGrpcFrame(Buffer.alloc(11))), /exceeds/);
  assert.throws(() => new GrpcFrameDecoder().push(Buffer.from([1, 0, 0, 0, 0])), /compressed/);
});

test('grpc-timeout headers fit the spec (at most 8 digits)', () => {
  assert.equal(grpcTimeoutHeader(30_000), '30000m');
  assert.equal(grpcTimeoutHeader(0.2), '1m');
  assert.equal(grpcTimeoutHeader(1e9), '1000000S');
});

test('replacing a generated section keeps the hand-written text and the other section', () => {
  const withResults = replaceSection(initialDocument, 'results', '## Results\n\nfirst');
  assert.ok(withResults.startsWith(handWrittenBegin));
  assert.ok(withResults.includes(handWrittenEnd));
  const handEdited = withResults.replace('# Benchmarks', '# Benchmarks\n\nNotes typed by a person.');
  const withRecovery = replaceSection(handEdited, 'recovery', '## Recovery\n\nr1');
  const rerun = replaceSection(withRecovery, 'results', '## Results\n\nsecond');
  assert.ok(rerun.includes('Notes typed by a person.'));
  assert.ok(rerun.includes('second') && !rerun.includes('first'));
  assert.ok(rerun.includes('r1'));
  assert.equal(replaceSection(rerun, 'results', '## Results\n\nsecond'), rerun, 'idempotent');
  assert.throws(() => replaceSection('<!-- holdfast-bench:results:begin -->\n', 'results', 'x'), /markers/);
});

test('options: defaults per workload, --duration alone means unlimited total, bad values refused', () => {
  const put = resolveOptions('put', {});
  assert.equal(put.total, 10_000);
  assert.equal(put.durationSeconds, undefined);
  const timed = resolveOptions('put', { durationSeconds: 5 });
  assert.equal(timed.total, undefined);
  assert.equal(resolveOptions('watch-latency', {}).rateOpsPerSecond, 100);
  assert.throws(() => resolveOptions('put', { keySpace: 1_000_000_000, keySizeBytes: 8 }), OptionsError);
  assert.throws(() => resolveOptions('put', { conns: 0 }), OptionsError);
  assert.throws(() => resolveOptions('txn-put', { txnOps: 129 }), OptionsError);
  assert.throws(() => resolveOptions('watch', { valueSizeBytes: 4 }), OptionsError);
  assert.throws(() => resolveOptions('put', { endpoints: ['http://x'] }), OptionsError);
  assert.equal(seconds('1.5s'), 1.5);
  assert.equal(seconds('500ms'), 0.5);
  assert.equal(seconds('2m'), 120);
});

test('keys are the prefix and the zero-padded key number', () => {
  assert.equal(new KeyMaker('', 8).key(42).toString(), '00000042');
  assert.equal(new KeyMaker('stm/', 3).key(7).toString(), 'stm/007');
});

test('connections go round-robin to workers, clients and streams follow their connection', () => {
  const options = resolveOptions('watch', { conns: 5, clients: 12, streams: 7 });
  const plans = assignToWorkers(options, 2);
  assert.deepEqual(plans[0]!.connections, [0, 2, 4]);
  assert.deepEqual(plans[1]!.connections, [1, 3]);
  for (const [workerIndex, plan] of plans.entries()) {
    for (const client of plan.clients) assert.equal((client % 5) % 2, workerIndex);
    for (const stream of plan.streams) assert.equal((stream % 5) % 2, workerIndex);
  }
  assert.equal(plans[0]!.clients.length + plans[1]!.clients.length, 12);
  assert.equal(plans[0]!.streams.length + plans[1]!.streams.length, 7);
  assert.deepEqual(watchersPerKey(10, 3), [4, 3, 3]);
});
