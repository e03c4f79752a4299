/**
 * The shared etcd error table: each condition once. A client recognises a
 * server's error by its message, so two entries with one message would make
 * one of them unreachable; two with one name would make two classes of one
 * name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';

import { etcdErrors, type EtcdErrorEntry } from '../src/index.js';

const entries: readonly EtcdErrorEntry[] = Object.values(etcdErrors);

/** The values that occur more than once in a list. */
function repeated(values: readonly string[]): string[] {
  return values.filter((value, index) => values.indexOf(value) !== index);
}

test('etcd errors: no two entries share a message or a name', () => {
  assert.ok(entries.length > 0);
  assert.deepEqual(repeated(entries.map((entry) => entry.message)), []);
  assert.deepEqual(repeated(entries.map((entry) => entry.name)), []);
});

test('etcd errors: each entry is listed under its own name, frozen', () => {
  for (const [key, entry] of Object.entries(etcdErrors)) {
    assert.equal(entry.name, key);
    assert.match(entry.name, /^[A-Z][A-Za-z]+$/, 'a class name follows from it');
    assert.ok(Object.isFrozen(entry), `${key} is frozen`);
  }
  assert.ok(Object.isFrozen(etcdErrors));
});

test('etcd errors: codes are gRPC error codes and messages are etcd-shaped', () => {
  const errorCodes = new Set(Object.values(status).filter((value): value is status => typeof value === 'number' && value !== status.OK));
  for (const entry of entries) {
    assert.ok(errorCodes.has(entry.code), `${entry.name}: code ${entry.code}`);
    assert.equal(entry.message, entry.message.trim(), `${entry.name}: no surrounding blanks`);
    // rpctypes' texts all carry the server's prefix; concurrency's (election) never do.
    assert.equal(entry.message.startsWith('etcdserver: '), entry.source === 'rpctypes', `${entry.name}: ${entry.message}`);
  }
});
