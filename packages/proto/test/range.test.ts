import { test } from 'node:test';
import assert from 'node:assert/strict';

import { prefixRangeEnd } from '../src/index.js';

const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

test('prefixRangeEnd: etcd GetPrefixRangeEnd cases', () => {
  assert.equal(hex(prefixRangeEnd(Buffer.from('a'))), hex(Buffer.from('b')));
  assert.equal(hex(prefixRangeEnd(new Uint8Array([0x61, 0xff]))), '62');
  assert.equal(hex(prefixRangeEnd(new Uint8Array([0xff, 0xff]))), '00');
  assert.equal(hex(prefixRangeEnd(new Uint8Array([]))), '00');
  assert.equal(hex(prefixRangeEnd(Buffer.from('/registry/'))), hex(Buffer.from('/registry0')));
  assert.equal(hex(prefixRangeEnd(new Uint8Array([0x01, 0xfe, 0xff]))), '01ff');
});

test('prefixRangeEnd: does not modify its input (Buffer#slice would alias)', () => {
  const key = Buffer.from([0x61, 0x62, 0xff]);
  const end = prefixRangeEnd(key);
  assert.equal(hex(key), '6162ff');
  assert.equal(hex(end), '6163');
  end[0] = 0;
  assert.equal(hex(key), '6162ff');
});
