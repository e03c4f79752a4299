/**
 * Server error -> gRPC status -> client error is the identity on the shared
 * etcd error table (@holdfast/proto's etcdErrors): every server class built
 * from an entry comes back, through toServiceError and the client's
 * toEtcdError, as the client class of the same entry with the same code and
 * message. No server needed: the status is what toServiceError hands grpc-js,
 * reduced to what the client reads ({ code, details }).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from '@holdfast/client';
import { etcdErrors, type EtcdErrorEntry } from '@holdfast/proto';
import * as server from '@holdfast/server';

type ZeroArgumentClass = new () => Error;

/** Server exports built from a table entry (they carry `entry`, the very object in the table). */
const serverTableClasses = Object.entries(server).flatMap(([exportName, value]) => {
  if (typeof value !== 'function' || !('entry' in value)) return [];
  const entry = value.entry as EtcdErrorEntry;
  assert.equal(etcdErrors[entry.name as keyof typeof etcdErrors], entry, `${exportName}.entry is an entry of the table`);
  return [{ exportName, errorClass: value as unknown as ZeroArgumentClass, entry }];
});

/** The client's class for an entry: `${name}Error`, an export of @holdfast/client. */
function clientClassOf(entry: EtcdErrorEntry): unknown {
  return (client as Record<string, unknown>)[`${entry.name}Error`];
}

test('errors round trip: every server class from the table becomes the client class of its entry', () => {
  assert.ok(serverTableClasses.length > 0, 'the server builds classes from the table');
  // Where the server's class name is not the entry's, the entry is still the one its name says.
  assert.equal(server.TimeoutError.entry, etcdErrors.RequestTimeout);
  assert.equal(server.CompactedRevisionError.entry, etcdErrors.Compacted);
  assert.equal(server.FutureRevisionRequestError.entry, etcdErrors.FutureRevision);

  for (const { exportName, errorClass, entry } of serverTableClasses) {
    const thrown = new errorClass();
    const { code, details } = server.toServiceError(thrown);
    const received = client.toEtcdError({ code, details });
    assert.equal(received.constructor, clientClassOf(entry), `${exportName} arrives as ${entry.name}Error`);
    assert.equal(received.name, `${entry.name}Error`);
    assert.equal(received.code, entry.code, `${exportName}: code`);
    assert.equal(received.message, entry.message, `${exportName}: message`);
    assert.equal(thrown.message, entry.message);
  }
});

test('errors round trip: the client has a class for every entry, found by its message', () => {
  for (const entry of Object.values(etcdErrors)) {
    const clientClass = clientClassOf(entry);
    assert.equal(typeof clientClass, 'function', `@holdfast/client exports ${entry.name}Error`);
    const received = client.toEtcdError({ code: entry.code, details: entry.message });
    assert.equal(received.constructor, clientClass, entry.name);
    assert.equal(received.code, entry.code, entry.name);
  }
});

test("errors round trip: no other server class writes a table entry's message itself", () => {
  const tableMessages = new Set(Object.values(etcdErrors).map((entry) => entry.message));
  const checked: string[] = [];
  for (const [exportName, value] of Object.entries(server)) {
    if (typeof value !== 'function' || 'entry' in value || value.length !== 0) continue;
    if (!(value.prototype instanceof server.EtcdError)) continue;
    const made = new (value as unknown as ZeroArgumentClass)();
    assert.ok(!tableMessages.has(made.message), `${exportName} says "${made.message}" without its table entry`);
    checked.push(exportName);
  }
  assert.ok(checked.includes('AlarmTypeError'), `checked ${checked.join(', ')}`);
});
