/**
 * Pure parts, no server: error mapping, key spaces and range encoding,
 * option validation, backoff, wire conversions of 64-bit values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdserverpb } from '@holdfast/proto';
import * as api from '../src/index.js';
import {
  CompactedError,
  EtcdError,
  GrpcStatus,
  InvalidAuthTokenError,
  LeaseNotFoundError,
  NoLeaderError,
  UnavailableError,
  UnimplementedError,
  WatchCanceledError,
  PermissionDeniedError,
  toEtcdError,
  watchCancelError,
} from '../src/errors.js';
import { KeySpace } from '../src/key-space.js';
import { serverRange, toRangeRequest, fromRangeResponse } from '../src/operations.js';
import { resolveClientOptions, parseEndpoint } from '../src/client-options.js';
import { Backoff } from '../src/backoff.js';

const serviceError = (code: GrpcStatus, details: string) => Object.assign(new Error(`${code} ${details}`), { code, details, metadata: undefined });

test('server errors map to one class per etcd message, keeping cause and endpoint', () => {
  const raw = serviceError(GrpcStatus.NOT_FOUND, 'etcdserver: requested lease not found');
  const mapped = toEtcdError(raw, '127.0.0.1:2379');
  assert.ok(mapped instanceof LeaseNotFoundError && mapped instanceof EtcdError);
  assert.equal(mapped.name, 'LeaseNotFoundError');
  assert.equal(mapped.message, 'etcdserver: requested lease not found');
  assert.equal(mapped.code, GrpcStatus.NOT_FOUND);
  assert.equal(mapped.cause, raw);
  assert.equal(mapped.endpoint, '127.0.0.1:2379');

  assert.ok(toEtcdError(serviceError(GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted')) instanceof CompactedError);
  assert.ok(toEtcdError(serviceError(GrpcStatus.UNAVAILABLE, 'etcdserver: no leader')) instanceof NoLeaderError);
  assert.ok(toEtcdError(serviceError(GrpcStatus.UNAUTHENTICATED, 'etcdserver: invalid auth token')) instanceof InvalidAuthTokenError);
  assert.ok(toEtcdError(serviceError(GrpcStatus.PERMISSION_DENIED, 'etcdserver: permission denied')) instanceof PermissionDeniedError);
  // Unknown messages fall back to the code.
  assert.ok(toEtcdError(serviceError(GrpcStatus.UNAVAILABLE, 'Connection dropped')) instanceof UnavailableError);
  assert.ok(toEtcdError(serviceError(GrpcStatus.UNIMPLEMENTED, 'no such method')) instanceof UnimplementedError);
  const other = toEtcdError(serviceError(GrpcStatus.INTERNAL, 'something odd'));
  assert.equal(other.constructor, EtcdError);
  assert.equal(other.code, GrpcStatus.INTERNAL);
  // Already mapped: unchanged.
  assert.equal(toEtcdError(mapped), mapped);
});

test('every exported error class names itself after its export', () => {
  const errorExports = Object.entries(api).filter(
    ([name, value]) => typeof value === 'function' && name.endsWith('Error') && value.prototype instanceof Error,
  ) as Array<[string, new (...args: never[]) => Error]>;
  assert.ok(errorExports.length > 40, `only ${errorExports.length} error classes exported`);
  for (const [exportName, ErrorClass] of errorExports) {
    const instance = Reflect.construct(ErrorClass, exportName === 'LeaseLostError' ? [1n, 'expired', 'x'] : exportName === 'TooManyWatchesError' ? [1] : ['reason']);
    assert.equal(instance.name, exportName);
    assert.ok(instance instanceof EtcdError, `${exportName} extends EtcdError`);
  }
});

test('watch cancel reasons map like unary errors; compaction carries its revision', () => {
  const compacted = watchCancelError('mvcc: required revision has been compacted', 7n);
  assert.ok(compacted instanceof CompactedError);
  assert.equal(compacted.compactRevision, 7n);
  const withoutRevision = watchCancelError('etcdserver: mvcc: required revision has been compacted', 0n);
  assert.ok(withoutRevision instanceof CompactedError);
  assert.equal(withoutRevision.compactRevision, undefined);
  assert.ok(watchCancelError('etcdserver: permission denied', 0n) instanceof PermissionDeniedError);
  const unknown = watchCancelError('some other reason', 0n);
  assert.ok(unknown instanceof WatchCanceledError);
  assert.equal(unknown.message, 'some other reason');
});

test('key spaces: prefix keys, map range ends to the namespace edge, strip results', () => {
  const root = KeySpace.root;
  const app = root.extend(Buffer.from('/app/'));
  const wire = (keySpace: KeySpace, key: string, range: api.RangeSelector) => {
    const { key: serverKey, rangeEnd } = serverRange(keySpace, Buffer.from(key), range);
    return [serverKey.toString('latin1'), rangeEnd.toString('latin1')];
  };
  assert.deepEqual(wire(root, 'a', {}), ['a', '']);
  assert.deepEqual(wire(root, 'a', { prefix: true }), ['a', 'b']);
  assert.deepEqual(wire(root, '', { prefix: true }), ['\0', '\0'], 'every key');
  assert.deepEqual(wire(root, 'a', { fromKey: true }), ['a', '\0']);
  assert.deepEqual(wire(app, 'k', {}), ['/app/k', '']);
  assert.deepEqual(wire(app, '', { prefix: true }), ['/app/', '/app0']);
  assert.deepEqual(wire(app, 'k', { fromKey: true }), ['/app/k', '/app0']);
  assert.deepEqual(wire(app, 'k', { prefix: true }), ['/app/k', '/app/l']);
  assert.deepEqual(wire(app, 'a', { rangeEnd: 'c' }), ['/app/a', '/app/c']);
  const allOnes = root.extend(Buffer.from([0xff, 0xff]));
  const { rangeEnd } = serverRange(allOnes, Buffer.alloc(0), { prefix: true });
  assert.deepEqual([...rangeEnd], [0], 'a prefix of 0xff bytes has no upper bound');
  const nested = app.extend(Buffer.from('team/'));
  assert.equal(nested.key(Buffer.from('x')).toString(), '/app/team/x');
  assert.equal(nested.strip(Buffer.from('/app/team/x')).toString(), 'x');
  assert.equal(app.strip(Buffer.from('/other/x')).toString(), '/other/x', 'foreign keys are left alone');
  assert.equal(app.contains(Buffer.from('/app/x')), true);
  assert.equal(app.contains(Buffer.from('/ap')), false);
});

test('64-bit values survive the wire in both directions', () => {
  const big = 0x7fffffffffffffffn;
  const request = toRangeRequest(KeySpace.root, Buffer.from('k'), { revision: big - 1n, minModRevision: big, limit: 5 });
  const decodedRequest = etcdserverpb.RangeRequest.decode(etcdserverpb.RangeRequest.encode(request).finish());
  assert.equal(decodedRequest.revision, big - 1n);
  assert.equal(decodedRequest.minModRevision, big);
  const wire = etcdserverpb.RangeResponse.encode({
    header: { clusterId: 0xffffffffffffffffn, memberId: 0x8000000000000001n, revision: big, raftTerm: 3n },
    kvs: [{ key: Buffer.from('k'), value: Buffer.from('v'), createRevision: big - 2n, modRevision: big, version: 2n ** 62n, lease: big }],
    more: false,
    count: 1n,
  }).finish();
  const result = fromRangeResponse(KeySpace.root, etcdserverpb.RangeResponse.decode(wire));
  assert.equal(result.header.clusterId, 0xffffffffffffffffn);
  assert.equal(result.header.memberId, 0x8000000000000001n);
  assert.equal(result.header.revision, big);
  assert.equal(result.kvs[0]?.lease, big);
  assert.equal(result.kvs[0]?.version, 2n ** 62n);
  assert.throws(() => toRangeRequest(KeySpace.root, Buffer.from('k'), { limit: 2 ** 53 }), RangeError);
});

test('client options: defaults, endpoint forms, validation', () => {
  const resolved = resolveClientOptions({ endpoints: ['http://127.0.0.1:2379', '127.0.0.1:2379', 'localhost:2380'] });
  assert.deepEqual(resolved.endpoints, ['127.0.0.1:2379', 'localhost:2380']);
  assert.equal(resolved.callTimeoutMs, api.defaultClientOptions.callTimeoutMs);
  assert.equal(parseEndpoint('[::1]:2379'), '[::1]:2379');
  assert.throws(() => parseEndpoint('127.0.0.1'), TypeError);
  assert.throws(() => parseEndpoint('https://127.0.0.1:2379'), /TLS/);
  assert.throws(() => resolveClientOptions({ endpoints: [] }), TypeError);
  assert.throws(() => resolveClientOptions({ endpoints: ['a:1'], dialTimeoutMs: 0 }), RangeError);
  assert.throws(() => resolveClientOptions({ endpoints: ['a:1'], retryBackoffInitialMs: 10, retryBackoffMaxMs: 5 }), RangeError);
  assert.equal(resolveClientOptions({ endpoints: ['a:1'], retryAttemptsMax: 0 }).retryAttemptsMax, 0);
});

test('backoff doubles up to its cap with jitter between half and all of it, and resets', () => {
  const always = (value: number) => () => value;
  const top = new Backoff(100, 1_000, always(1));
  assert.deepEqual(
    Array.from({ length: 6 }, () => top.nextDelayMs()),
    [100, 200, 400, 800, 1_000, 1_000],
  );
  top.reset();
  assert.equal(top.nextDelayMs(), 100);
  const bottom = new Backoff(100, 1_000, always(0));
  assert.deepEqual(
    Array.from({ length: 3 }, () => bottom.nextDelayMs()),
    [50, 100, 200],
  );
});
