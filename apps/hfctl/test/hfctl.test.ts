/**
 * What hfctl does on its own (no etcdctl to compare with): a clear error
 * for TLS, which the client package cannot do yet, and for DNS discovery;
 * the snapshot progress bar; --debug; its version; a password prompt; its
 * help listing the v2 verbs. Against Holdfast (and etcd for auth).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { etcdMissing, removeDirectory, run, startServer, temporaryDirectory } from './support.js';

test('hfctl alone: TLS and discovery refused clearly, progress bar, --debug, version, help', { timeout: 120_000 }, async () => {
  const server = await startServer('holdfast');
  const directory = temporaryDirectory('hfctl');
  try {
    const base = ['--endpoints', server.endpoint];
    const caFile = join(directory, 'ca.pem');
    writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    for (const args of [
      [...base, '--cacert', caFile, 'get', 'foo'],
      [...base, '--cert', caFile, '--key', caFile, 'put', 'foo', 'bar'],
      [...base, '--insecure-transport=false', 'get', 'foo'],
      ['--endpoints', `https://${server.endpoint}`, 'get', 'foo'],
    ]) {
      const result = await run('hfctl', args);
      assert.equal(result.exitCode, 4, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^Error: TLS is not supported yet: hfctl's client \(@holdfast\/client\) only dials plain-text http:\/\/ endpoints/);
      assert.equal(result.stdout, '');
    }
    // Accepted without TLS in use, as etcdctl accepts it.
    const skipVerify = await run('hfctl', [...base, '--insecure-skip-tls-verify', 'put', 'foo', 'bar']);
    assert.equal(`${skipVerify.exitCode} ${skipVerify.stdout}`, '0 OK\n');

    const discovery = await run('hfctl', [...base, '-d', 'example.com', 'get', 'foo']);
    assert.equal(discovery.exitCode, 4);
    assert.match(discovery.stderr, /DNS SRV discovery \(--discovery-srv\) is not supported/);

    const version = await run('hfctl', ['version']);
    assert.equal(version.stdout, 'hfctl version: 0.1.0\nAPI version: 3.4\n');

    const debug = await run('hfctl', [...base, '--debug', 'get', 'foo']);
    assert.match(debug.stderr, new RegExp(`^ETCDCTL_ENDPOINTS=\\[${server.endpoint}\\]$`, 'm'));
    assert.match(debug.stderr, /^ETCDCTL_COMMAND_TIMEOUT=5s$/m);
    assert.equal(debug.stdout, 'foo\nbar\n');

    // The progress bar (forced: stderr is not a terminal here).
    for (let i = 0; i < 50; i++) await run('hfctl', [...base, 'put', `k${i}`], { input: 'x'.repeat(10_000) });
    const path = join(directory, 'snap.db');
    const snapshot = await run('hfctl', [...base, 'snapshot', 'save', path], { env: { HFCTL_PROGRESS: '1' } });
    assert.equal(snapshot.exitCode, 0, snapshot.stderr);
    assert.equal(snapshot.stdout, `Snapshot saved at ${path}\n`);
    assert.match(snapshot.stderr, /\rsnapshot 127\.0\.0\.1:\d+ [\d.]+ [kM]?B \/ [\d.]+ [kM]?B 100\.00%/);
    assert.match(snapshot.stderr, /saved [\d.]+ [kM]?B in \S+\n$/);
    assert.ok(existsSync(path) && !existsSync(`${path}.part`));

    const help = await run('hfctl', ['--help']);
    assert.equal(help.exitCode, 0);
    for (const verb of ['set', 'mk', 'update', 'rm', 'ls', 'mkdir', 'rmdir', 'exec-watch', 'lock', 'elect', 'check perf']) assert.match(help.stdout, new RegExp(`^\\t${verb}\\t`, 'm'));
    assert.match(help.stdout, /^\thfctl - A simple command line client for etcd3\.$/m);
  } finally {
    await server.stop();
    removeDirectory(directory);
  }
});

const missing = await etcdMissing();

test('hfctl asks for the password of --user without one (etcd with auth)', { skip: missing ?? false, timeout: 120_000 }, async () => {
  const server = await startServer('etcd');
  try {
    const base = ['--endpoints', server.endpoint];
    for (const args of [['user', 'add', 'root:rootpw'], ['put', 'x', 'secret'], ['auth', 'enable']]) {
      const setup = await run('etcdctl', [...base, ...args]);
      assert.equal(setup.exitCode, 0, setup.stderr);
    }
    const prompted = await run('hfctl', [...base, '--user', 'root', 'get', 'x'], { input: 'rootpw\n' });
    assert.equal(`${prompted.exitCode} ${prompted.stdout}`, '0 Password: x\nsecret\n');
    const wrong = await run('hfctl', [...base, '--user', 'root', 'get', 'x'], { input: 'nope\n' });
    assert.equal(`${wrong.exitCode} ${wrong.stderr}`, '2 Error: etcdserver: authentication failed, invalid user ID or password\n');
  } finally {
    await server.stop();
  }
});
