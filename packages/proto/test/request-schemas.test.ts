// Each strict request schema must describe the same fields as the generated
// codec of its message: the same numbers, with the same wire types. The
// codec is probed, not read: a field is known with a wire type when a
// message holding only that field comes back from decode + encode.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { etcdserverpb, healthpb, strict } from '../src/index.js';

interface Codec {
  decode(bytes: Uint8Array): unknown;
  encode(message: never): { finish(): Uint8Array };
}

/** Field numbers probed: past the highest any request uses (Compare.range_end is 64). */
const probedFieldNumbers = 80;

function knownWireTypes(codec: Codec, fieldNumber: number): number[] {
  const tag = (wireType: number): number[] => {
    const out: number[] = [];
    for (let n = (fieldNumber << 3) | wireType; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
    return [...out, ...[((fieldNumber << 3) | wireType) >>> (7 * out.length)]];
  };
  // A non-zero varint; 'a' as bytes or string; an empty nested message; one packed varint.
  const probes: Array<[number, number[][]]> = [
    [0, [[1]]],
    [2, [[1, 0x61], [0], [1, 1]]],
  ];
  const known: number[] = [];
  for (const [wireType, values] of probes) {
    const kept = values.some((value) => {
      try {
        const decoded = codec.decode(Uint8Array.from([...tag(wireType), ...value]));
        return codec.encode(decoded as never).finish().length > 0;
      } catch {
        return false;
      }
    });
    if (kept) known.push(wireType);
  }
  return known;
}

const codecs: Record<string, Codec> = { ...(etcdserverpb as unknown as Record<string, Codec>), HealthCheckRequest: healthpb.HealthCheckRequest as unknown as Codec };

test('request schemas: every served method has one, and it matches the generated codec', () => {
  const schemas = new Set(strict.requestSchemaByPath.values());
  // Nested messages too.
  for (const schema of schemas) for (const field of schema.fieldsByNumber) if (field?.message) schemas.add(field.message());
  assert.ok(schemas.size >= 30, `${schemas.size} schemas`);
  for (const schema of schemas) {
    const name = schema.fullName.slice(schema.fullName.lastIndexOf('.') + 1);
    const codec = codecs[name];
    assert.ok(codec !== undefined, `no codec for ${schema.fullName}`);
    for (let number = 1; number <= probedFieldNumbers; number++) {
      const field = schema.fieldsByNumber[number];
      const expected = field === undefined ? [] : field.kind === 'packable' ? [0, 2] : field.kind === 'varint' ? [0] : [2];
      assert.deepEqual(knownWireTypes(codec, number), expected, `${schema.fullName} field ${number}`);
    }
    assert.equal(schema.fieldsByNumber[schema.fillerFieldNumber], undefined);
  }
});

test('request schemas: every method of the served services is covered', () => {
  for (const service of [etcdserverpb.KVService, etcdserverpb.WatchService, etcdserverpb.LeaseService, etcdserverpb.ClusterService, etcdserverpb.MaintenanceService, healthpb.HealthService]) {
    assert.doesNotThrow(() => strict.withStrictRequests(service));
  }
});
