import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseIdHex } from '../src/index.js';
import { childPrefix, unixNanos } from '../src/keys.js';
import { LinkedAbort } from '../src/signals.js';

test('leaseIdHex prints an int64 as Go fmt %x does', () => {
  assert.equal(leaseIdHex(0x694d7e5bd9b1a00an), '694d7e5bd9b1a00a');
  assert.equal(leaseIdHex(255n), 'ff');
  assert.equal(leaseIdHex(0x7fffffffffffffffn), '7fffffffffffffff');
  // Go: fmt.Sprintf("%x", int64(-255)) == "-ff"
  assert.equal(leaseIdHex(-255n), '-ff');
  assert.equal(leaseIdHex(-0x8000000000000000n), '-8000000000000000');
});

test('childPrefix appends a slash to string and byte names', () => {
  assert.equal(childPrefix('lock').toString(), 'lock/');
  assert.deepEqual(childPrefix(new Uint8Array([0xff, 0x00])), Buffer.from([0xff, 0x00, 0x2f]));
});

test('unixNanos is near the wall clock and strictly increasing', () => {
  const values = Array.from({ length: 1000 }, () => unixNanos());
  for (let index = 1; index < values.length; index += 1) assert.ok(values[index]! > values[index - 1]!);
  const drift = Number(values[0]! / 1_000_000n) - Date.now();
  assert.ok(Math.abs(drift) < 1_000, `drift ${drift} ms`);
});

test('LinkedAbort follows any linked signal, keeps the first reason, and unlinks', () => {
  const a = new AbortController();
  const b = new AbortController();
  const linked = new LinkedAbort(a.signal, undefined, b.signal);
  assert.equal(linked.signal.aborted, false);
  b.abort('b');
  a.abort('a');
  assert.equal(linked.signal.reason, 'b');
  const already = new LinkedAbort(AbortSignal.abort('early'));
  assert.equal(already.signal.reason, 'early');
  const own = new LinkedAbort(a.signal);
  assert.equal(own.signal.reason, 'a');
  const fresh = new AbortController();
  const disposed = new LinkedAbort(fresh.signal);
  disposed.dispose();
  fresh.abort('late');
  assert.equal(disposed.signal.aborted, false);
});
