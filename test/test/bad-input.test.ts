/**
 * Bad input gets etcd's kind of error and loses nothing: malformed protobuf,
 * oversize requests, invalid flags, and a corrupt WAL on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, status, type ServiceError } from '@grpc/grpc-js';
import { etcdAvailability, holdfastBin, removeDirectory, startHoldfast, temporaryDirectory } from '../src/support.js';
import { TestKvClient } from '../src/kv-client.js';

test('malformed protobuf and oversize requests are refused; the server keeps serving', { timeout: 60_000 }, async () => {
  const server = await startHoldfast();
  const client = new TestKvClient(server.endpoint);
  try {
    await client.put('kept', 'value');
    // A raw client that sends arbitrary bytes as a PutRequest.
    const Raw = makeGenericClientConstructor(
      { put: { path: '/etcdserverpb.KV/Put', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } },
      'KV',
    );
    const raw = new Raw(server.endpoint, credentials.createInsecure()) as unknown as { put(b: Buffer, cb: (e: ServiceError | null) => void): void; close(): void };
    const malformed = await new Promise<ServiceError | null>((resolve) => raw.put(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x01]), resolve));
    raw.close();
    assert.ok(malformed !== null, 'malformed protobuf must be refused');
    assert.equal(malformed.code, status.INTERNAL);

    const justOverLimit = Buffer.alloc(1.5 * 1024 * 1024 + 1, 0x61);
    await assert.rejects(client.put('big', justOverLimit), (error: ServiceError) => error.code === status.INVALID_ARGUMENT && error.details === 'etcdserver: request is too large');
    const farOverLimit = Buffer.alloc(3 * 1024 * 1024, 0x61);
    await assert.rejects(client.put('huge', farOverLimit), (error: ServiceError) => error.code === status.RESOURCE_EXHAUSTED);
    await assert.rejects(client.put('', 'x'), (error: ServiceError) => error.code === status.INVALID_ARGUMENT && error.details === 'etcdserver: key is not provided');
    await assert.rejects(client.range({ key: Buffer.from('kept'), revision: 1000n }), (error: ServiceError) => error.code === status.OUT_OF_RANGE && error.details === 'etcdserver: mvcc: required revision is a future revision');

    const after = await client.range({ key: Buffer.from('kept') });
    assert.equal(after.kvs[0]?.value.toString(), 'value');
    assert.equal((await client.range({ key: Buffer.from('big') })).count, 0n, 'nothing of a refused request is written');
  } finally {
    client.close();
    await server.stop();
    removeDirectory(server.dataDir);
  }
});

test('a corrupt WAL stops the server from starting, naming the file and offset', { timeout: 60_000 }, async () => {
  const dataDir = temporaryDirectory('corrupt');
  try {
    const server = await startHoldfast({ dataDir });
    const client = new TestKvClient(server.endpoint);
    for (let i = 0; i < 20; i++) await client.put(`key-${i}`, `value-${i}`);
    client.close();
    await server.stop();
    const walDir = join(dataDir, 'member', 'wal');
    const segment = join(walDir, readdirSync(walDir).filter((name) => name.endsWith('.wal')).sort()[0]!);
    const bytes = readFileSync(segment);
    // Flip a byte inside a record in the middle of the segment.
    const offset = Math.floor(bytes.length / 2);
    bytes[offset] = bytes[offset]! ^ 0xff;
    writeFileSync(segment, bytes);
    const result = spawnSync(process.execPath, [holdfastBin, '--data-dir', dataDir, '--listen-client-urls', 'http://127.0.0.1:0', '--advertise-client-urls', 'http://127.0.0.1:0'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1, `exit code (stderr: ${result.stderr})`);
    assert.match(result.stderr, /holdfast: cannot start: wal: .* in .*\.wal at offset \d+/);
  } finally {
    removeDirectory(dataDir);
  }
});

test('unknown flags and invalid values are refused like etcd does', () => {
  const unknown = spawnSync(process.execPath, [holdfastBin, '--no-such-flag'], { encoding: 'utf8' });
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /unknown option '--no-such-flag'/);
  const badNumber = spawnSync(process.execPath, [holdfastBin, '--max-txn-ops', 'lots'], { encoding: 'utf8' });
  assert.notEqual(badNumber.status, 0);
  assert.match(badNumber.stderr, /invalid value "lots"/);
  const quotaDataDir = temporaryDirectory('quota');
  try {
    const badQuota = spawnSync(process.execPath, [holdfastBin, '--quota-backend-bytes', String(9 * 1024 ** 3), '--data-dir', quotaDataDir], { encoding: 'utf8' });
    assert.equal(badQuota.status, 2);
    assert.match(badQuota.stderr, /exceeds maximum recommended quota/);
  } finally {
    removeDirectory(quotaDataDir);
  }
});

test('https:// listeners without a certificate are refused as etcd 3.4 refuses them, never served in plain text', async () => {
  const etcd = await etcdAvailability();
  const cases = [
    ['--listen-client-urls', 'https://127.0.0.1:0', /TLS key\/cert \(--cert-file, --key-file\) must be provided for client url https:\/\/127\.0\.0\.1:0 with HTTPS scheme/],
    // etcd listens first, so it names the port it was given (0 here) as the kernel chose it.
    ['--listen-peer-urls', 'https://127.0.0.1:0', /cannot listen on TLS for 127\.0\.0\.1:\d+: KeyFile and CertFile are not presented/],
  ] as const;
  for (const [flag, url, message] of cases) {
    const dataDir = temporaryDirectory('https');
    try {
      const clientUrls: [string, string] = flag === '--listen-client-urls' ? [url, 'http://127.0.0.1:0'] : ['http://127.0.0.1:0', 'http://127.0.0.1:0'];
      const ours = spawnSync(process.execPath, [holdfastBin, '--data-dir', dataDir, '--listen-client-urls', clientUrls[0], '--advertise-client-urls', clientUrls[1], ...(flag === '--listen-peer-urls' ? [flag, url] : [])], { encoding: 'utf8', timeout: 30_000 });
      assert.notEqual(ours.status, 0, `${flag} ${url} is refused (stderr: ${ours.stderr})`);
      assert.match(ours.stderr, message);
      if (!etcd.available) continue;
      const peer = flag === '--listen-peer-urls' ? url : 'http://127.0.0.1:0';
      const theirs = spawnSync('etcd', ['--data-dir', join(dataDir, 'etcd'), '--listen-client-urls', clientUrls[0], '--advertise-client-urls', 'http://127.0.0.1:0', '--listen-peer-urls', peer, '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'], { encoding: 'utf8', timeout: 30_000 });
      assert.notEqual(theirs.status, 0);
      assert.match(theirs.stderr, message, `etcd says the same for ${flag}`);
    } finally {
      removeDirectory(dataDir);
    }
  }
});

test('a multi-member --initial-cluster and --initial-cluster-state existing are refused until members replicate (no split brain)', async () => {
  const dataDir = temporaryDirectory('split-brain');
  try {
    const common = ['--data-dir', dataDir, '--listen-client-urls', 'http://127.0.0.1:0', '--advertise-client-urls', 'http://127.0.0.1:0'];
    const threeMembers = spawnSync(process.execPath, [holdfastBin, ...common, '--name', 'infra1', '--initial-advertise-peer-urls', 'http://127.0.0.1:12380', '--initial-cluster', 'infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380'], { encoding: 'utf8', timeout: 30_000 });
    assert.notEqual(threeMembers.status, 0, 'refused');
    assert.match(threeMembers.stderr, /--initial-cluster names 3 members \(infra1, infra2, infra3\), but this Holdfast runs single-member clusters only/);
    const existing = spawnSync(process.execPath, [holdfastBin, ...common, '--initial-cluster-state', 'existing'], { encoding: 'utf8', timeout: 30_000 });
    assert.notEqual(existing.status, 0, 'refused');
    assert.match(existing.stderr, /--initial-cluster-state existing: joining a running cluster needs the peer transport/);
    assert.deepEqual(readdirSync(dataDir), [], 'nothing was written before the refusal');
  } finally {
    removeDirectory(dataDir);
  }
});

test('a corrupted value in the backend file stops the server from starting', { timeout: 60_000 }, async () => {
  const dataDir = temporaryDirectory('corrupt-backend');
  try {
    const marker = 'holdfast-corruption-marker';
    const server = await startHoldfast({ dataDir });
    const client = new TestKvClient(server.endpoint);
    await client.put('victim', marker);
    for (let i = 0; i < 10; i++) await client.put(`other-${i}`, 'x');
    client.close();
    await server.stop();
    const file = join(dataDir, 'member', 'db', 'data.mdb');
    const bytes = readFileSync(file);
    let flipped = 0;
    for (let at = bytes.indexOf(marker); at !== -1; at = bytes.indexOf(marker, at + 1)) {
      bytes[at + 3] = bytes[at + 3]! ^ 0x20; // one bit, as a failing disk would
      flipped++;
    }
    assert.ok(flipped > 0, 'the value is somewhere in the file');
    writeFileSync(file, bytes);
    // The WAL would replay over a backend that is behind, not one that lies:
    // the backend's records must be checked on their own.
    const result = spawnSync(process.execPath, [holdfastBin, '--data-dir', dataDir, '--listen-client-urls', 'http://127.0.0.1:0', '--advertise-client-urls', 'http://127.0.0.1:0'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1, `exit code (stderr: ${result.stderr})`);
    const reported = /holdfast: cannot start: mvcc: checksum mismatch in .*data\.mdb at offset (\d+), record at revision 2\.0/.exec(result.stderr);
    assert.ok(reported, `names file, offset and record (stderr: ${result.stderr})`);
    // The offset points at the record's revision key (main 2, sub 0) in the file.
    const offset = Number(reported[1]);
    assert.equal(readFileSync(file).subarray(offset, offset + 17).toString('hex'), '00000000000000025f0000000000000000');
  } finally {
    removeDirectory(dataDir);
  }
});

test('damaged lmdb pages stop the server from starting instead of crashing it', { timeout: 60_000 }, async () => {
  const dataDir = temporaryDirectory('corrupt-lmdb');
  try {
    const server = await startHoldfast({ dataDir });
    const client = new TestKvClient(server.endpoint);
    for (let i = 0; i < 5; i++) await client.put(`key-${i}`, 'x');
    client.close();
    await server.stop();
    const file = join(dataDir, 'member', 'db', 'data.mdb');
    const bytes = readFileSync(file);
    // Overwrite the start of both meta pages (lmdb reads these first); lmdb
    // itself would crash on this file.
    bytes.fill(0xff, 16, 80);
    bytes.fill(0xff, 4096 + 16, 4096 + 80);
    writeFileSync(file, bytes);
    const result = spawnSync(process.execPath, [holdfastBin, '--data-dir', dataDir, '--listen-client-urls', 'http://127.0.0.1:0', '--advertise-client-urls', 'http://127.0.0.1:0'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1, `a clean refusal, not a crash (signal ${result.signal}, stderr: ${result.stderr})`);
    assert.match(result.stderr, /holdfast: cannot start: backend: cannot open .*data\.mdb: /);
  } finally {
    removeDirectory(dataDir);
  }
});
