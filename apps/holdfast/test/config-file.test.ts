/**
 * --config-file's mapping onto ServerConfig: etcd's value types, the flags'
 * own validation, settings Holdfast does not have, and which file is chosen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFilePath, configFromYaml, ConfigFileError, maxConfigFileBytes, readConfigFile } from '../src/config-file.js';

const path = '/etc/holdfast.yml';

function refused(text: string, message: RegExp): void {
  assert.throws(() => configFromYaml(text, path), (error: unknown) => error instanceof ConfigFileError && message.test(error.message), `expected ${message} for ${JSON.stringify(text)}`);
}

test('every flag Holdfast has is read from its etcd key', () => {
  const { config, unknownKeys } = configFromYaml(
    [
      "name: 'infra1'",
      'data-dir: /var/lib/x',
      'wal-dir: /var/lib/wal',
      'listen-client-urls: http://127.0.0.1:1,http://127.0.0.1:2',
      'advertise-client-urls: http://127.0.0.1:1',
      'listen-peer-urls: http://127.0.0.1:3',
      'initial-advertise-peer-urls: http://127.0.0.1:3',
      'initial-cluster: infra1=http://127.0.0.1:3,infra2=http://127.0.0.1:4',
      'initial-cluster-state: existing',
      'initial-cluster-token: tok',
      'snapshot-count: 5000',
      'quota-backend-bytes: 1048576',
      'max-txn-ops: 64',
      'max-request-bytes: 4096',
      'max-concurrent-streams: 16',
      'auto-compaction-mode: revision',
      'auto-compaction-retention: "100"',
      'heartbeat-interval: 50',
      'election-timeout: 500',
      'experimental-watch-progress-notify-interval: 1500000000',
      'enable-v2: yes',
      'log-level: warn',
      'logger: zap',
      'log-outputs: [stdout]',
      'max-wals: 3',
      'client-transport-security:',
      '  cert-file:',
      '  auto-tls: false',
      'no-such-key: 1',
    ].join('\n'),
    path,
  );
  assert.deepEqual(unknownKeys, [{ key: 'no-such-key', line: 29 }]);
  assert.deepEqual(
    { ...config },
    {
      name: 'infra1',
      dataDir: '/var/lib/x',
      walDir: '/var/lib/wal',
      listenClientUrls: ['http://127.0.0.1:1', 'http://127.0.0.1:2'],
      advertiseClientUrls: ['http://127.0.0.1:1'],
      listenPeerUrls: ['http://127.0.0.1:3'],
      initialAdvertisePeerUrls: ['http://127.0.0.1:3'],
      initialCluster: [
        { name: 'infra1', peerUrl: 'http://127.0.0.1:3' },
        { name: 'infra2', peerUrl: 'http://127.0.0.1:4' },
      ],
      initialClusterState: 'existing',
      initialClusterToken: 'tok',
      snapshotCount: 5000,
      quotaBackendBytes: 1048576,
      maxTxnOps: 64,
      maxRequestBytes: 4096,
      maxConcurrentStreams: 16,
      autoCompactionMode: 'revision',
      autoCompactionRetention: '100',
      heartbeatIntervalMs: 50,
      electionTimeoutMs: 500,
      watchProgressNotifyIntervalMs: 1500,
      enableV2: true,
      logLevel: 'warn',
      logOutputs: ['stdout'],
    },
  );
});

test('null, empty and absent keys keep the defaults; an empty file is all defaults', () => {
  const { config } = configFromYaml('# nothing\ndata-dir:\nlisten-client-urls: ""\nname: ~\n', path);
  assert.equal(config.name, 'default');
  assert.equal(config.dataDir, 'default.holdfast');
  assert.deepEqual(config.listenClientUrls, ['http://localhost:2379']);
  assert.deepEqual({ ...configFromYaml('', path).config }, { ...configFromYaml('# only a comment\n', path).config });
  assert.equal(configFromYaml('name: n1\n', path).config.dataDir, 'n1.holdfast');
});

test('values of the wrong YAML type are refused in Go json words, with file and line', () => {
  refused('name: a\nsnapshot-count: abc\n', /^\/etc\/holdfast\.yml: line 2: cannot unmarshal string into snapshot-count of type uint64$/);
  refused('snapshot-count: "5000"\n', /line 1: cannot unmarshal string into snapshot-count of type uint64/);
  refused('snapshot-count: -1\n', /cannot unmarshal number -1 into snapshot-count of type uint64/);
  refused('max-txn-ops: 1.5\n', /cannot unmarshal number 1.5 into max-txn-ops of type uint/);
  refused('snapshot-count: 18446744073709551616\n', /cannot unmarshal number 18446744073709551616/);
  refused('name: yes\n', /cannot unmarshal bool into name of type string/);
  refused('name: 123\n', /cannot unmarshal number 123 into name of type string/);
  refused('auto-compaction-retention: 1\n', /cannot unmarshal number 1 into auto-compaction-retention of type string/);
  refused('enable-v2: "true"\n', /cannot unmarshal string into enable-v2 of type bool/);
  refused('log-outputs: stderr\n', /cannot unmarshal string into log-outputs of type \[\]string/);
  refused('log-outputs: [1]\n', /cannot unmarshal number 1 into log-outputs of type string/);
  refused('experimental-watch-progress-notify-interval: 10m\n', /cannot unmarshal string into experimental-watch-progress-notify-interval of type time.Duration/);
  refused('max-wals: x\n', /cannot unmarshal string into max-wals of type uint/);
  refused('max-concurrent-streams: 4294967296\n', /cannot unmarshal number 4294967296 into max-concurrent-streams of type uint32/);
  refused('client-transport-security: [a]\n', /cannot unmarshal array into client-transport-security/);
  refused('a: [x\n', /^\/etc\/holdfast\.yml: yaml: line 1: did not find expected ',' or '\]'$/);
});

test('values go through the flags\' own validation', () => {
  refused('initial-cluster-state: maybe\n', /invalid value "maybe" for flag -initial-cluster-state/);
  refused('log-level: loud\n', /unknown log level "loud"/);
  refused('auto-compaction-mode: daily\n', /unknown auto-compaction-mode "daily"/);
  refused('experimental-watch-progress-notify-interval: 0\n', /line 1: experimental-watch-progress-notify-interval: invalid value "0.000000ms"/);
  refused('experimental-watch-progress-notify-interval: -5\n', /invalid value "-0.000005ms"/);
  refused('quota-backend-bytes: -1\n', /line 1: quota-backend-bytes: invalid value "-1": must be a non-negative integer/);
  refused('initial-cluster: nonsense\n', /"nonsense" is not name=peerURL/);
});

test('TLS, auth, CORS and discovery settings Holdfast lacks stop the start unless left at their defaults', () => {
  refused('client-transport-security:\n  cert-file: /x.pem\n', /line 2: client-transport-security.cert-file: Holdfast does not support TLS yet/);
  refused('peer-transport-security:\n  client-cert-auth: true\n', /peer-transport-security.client-cert-auth: Holdfast does not support TLS yet/);
  refused('peer-transport-security:\n  auto-tls: yes\n', /auto-tls: Holdfast does not support TLS yet/);
  refused('auth-token: jwt,pub-key=a.pub\n', /auth-token: Holdfast does not support authentication tokens yet/);
  refused('cipher-suites: [TLS_AES_128_GCM_SHA256]\n', /cipher-suites: Holdfast does not support TLS yet/);
  refused('cors: http://example.com\n', /Holdfast does not support CORS origin restrictions yet/);
  refused('host-whitelist: example.com\n', /host name restrictions/);
  refused('discovery: https://discovery.etcd.io/x\n', /discovery/);
  refused('proxy: on\n', /cannot unmarshal bool into proxy of type string/);
  refused("proxy: 'on'\n", /the v2 proxy mode/);
  const defaults = 'auth-token: simple\nbcrypt-cost: 10\ncors: "*"\nproxy: \'off\'\ndiscovery:\ncipher-suites: []\nclient-transport-security:\n  cert-file: ""\n  client-cert-auth: false\n  crl-file: later\n';
  assert.equal(configFromYaml(defaults, path).config.name, 'default');
});

test('the file is --config-file, else a non-empty ETCD_CONFIG_FILE', () => {
  assert.equal(configFilePath({ configFile: '/a.yml' }, { ETCD_CONFIG_FILE: '/b.yml' }), '/a.yml');
  assert.equal(configFilePath({}, { ETCD_CONFIG_FILE: '/b.yml' }), '/b.yml');
  assert.equal(configFilePath({}, { ETCD_CONFIG_FILE: '' }), undefined);
  assert.equal(configFilePath({ name: 'x' }, {}), undefined);
});

test('reading the file: missing, too large, not UTF-8, and a good one', () => {
  const directory = mkdtempSync(join(tmpdir(), 'holdfast-config-file-'));
  try {
    const missing = join(directory, 'missing.yml');
    assert.throws(() => readConfigFile(missing), { name: 'ConfigFileError', message: `open ${missing}: no such file or directory` });
    assert.throws(() => readConfigFile(directory), { name: 'ConfigFileError', message: `open ${directory}: is a directory` });
    const large = join(directory, 'large.yml');
    writeFileSync(large, `# ${'x'.repeat(maxConfigFileBytes)}\n`);
    assert.throws(() => readConfigFile(large), /more than the 1048576 a config file may have/);
    const latin1 = join(directory, 'latin1.yml');
    writeFileSync(latin1, Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xe9, 0x0a]));
    assert.throws(() => readConfigFile(latin1), /invalid UTF-8/);
    const good = join(directory, 'good.yml');
    writeFileSync(good, 'name: from-file\n');
    assert.equal(readConfigFile(good).config.name, 'from-file');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
