/**
 * --config-file on real etcd 3.4 and on Holdfast: the same file serves on its
 * client URL under its name on both (command-line flags and ETCD_* variables
 * that contradict it are ignored by both), etcdctl's member list and
 * endpoint status agree once ids, ports, versions and sizes are masked, and
 * bad files stop both with a message naming the problem.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { etcdAvailability, etcdctl, freePort, holdfastBin, removeDirectory, startEtcd, startHoldfast, temporaryDirectory, type RunningServer, type StartOptions } from '../src/support.js';

const availability = await etcdAvailability();
const skip = availability.available ? false : availability.reason;
/** A bad file must stop the server at once; this only bounds a server that wrongly starts. */
const badFileTimeoutMs = 20_000;

interface ConfigFileSetup {
  readonly file: string;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

async function writeConfigFile(directory: string, kind: string): Promise<ConfigFileSetup> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = join(directory, `${kind}-data`);
  const file = join(directory, `${kind}.yml`);
  writeFileSync(
    file,
    [
      '# etcd.conf.yml.sample style',
      "name: 'infra1'",
      `data-dir: ${dataDir}`,
      `listen-client-urls: http://127.0.0.1:${clientPort}`,
      `advertise-client-urls: http://127.0.0.1:${clientPort}`,
      `listen-peer-urls: http://127.0.0.1:${peerPort}`,
      `initial-advertise-peer-urls: http://127.0.0.1:${peerPort}`,
      `initial-cluster: infra1=http://127.0.0.1:${peerPort}`,
      "initial-cluster-token: 'config-file-compare'",
      'initial-cluster-state: new',
      'snapshot-count: 5000',
      'enable-v2: false',
      'log-level: warn',
      'logger: zap',
      'log-outputs: [stderr]',
      'client-transport-security:',
      '  cert-file:',
      '  client-cert-auth: false',
      '  auto-tls: false',
      'max-wals: 5',
    ].join('\n') + '\n',
  );
  return { file, dataDir, clientPort, peerPort };
}

/**
 * etcdctl JSON with what legitimately differs removed: ids, ports, version,
 * sizes, and the raft index (a fresh etcd has applied its 4 bootstrap
 * entries, a fresh Holdfast none, and etcdctl omits a zero index).
 */
function masked(json: string, setup: ConfigFileSetup): unknown {
  const text = json.replaceAll(String(setup.clientPort), 'CLIENT_PORT').replaceAll(String(setup.peerPort), 'PEER_PORT');
  const volatileKeys = new Set(['cluster_id', 'member_id', 'ID', 'leader', 'version', 'dbSize', 'dbSizeInUse', 'raftIndex', 'raftAppliedIndex', 'revision']);
  return JSON.parse(text.replace(/:(\d{6,})/g, ':"$1"'), (key, value: unknown) => (volatileKeys.has(key) ? undefined : value));
}

test('the same config file on etcd and Holdfast: file wins over flags and environment, same member and status', { skip, timeout: 120_000 }, async () => {
  const directory = temporaryDirectory('config-file');
  const servers: RunningServer[] = [];
  try {
    const outputs = await Promise.all(
      (['etcd', 'holdfast'] as const).map(async (kind) => {
        const setup = await writeConfigFile(directory, kind);
        const flagPort = await freePort();
        const options: StartOptions = {
          dataDir: setup.dataDir,
          clientPort: setup.clientPort,
          // Flags after the file's, contradicting it; and variables, one of them malformed: all ignored.
          extraArgs: ['--config-file', setup.file, '--name', 'from-flag', '--listen-client-urls', `http://127.0.0.1:${flagPort}`, '--snapshot-count', '7'],
          env: { ETCD_NAME: 'from-env', ETCD_MAX_TXN_OPS: 'many' },
        };
        const server = kind === 'etcd' ? await startEtcd(options) : await startHoldfast(options);
        servers.push(server);
        const flagUrl = await etcdctl(`127.0.0.1:${flagPort}`, ['--dial-timeout', '1s', '--command-timeout', '2s', 'endpoint', 'health']);
        assert.notEqual(flagUrl.exitCode, 0, `${kind} must not listen on the --listen-client-urls the file overrides`);
        const members = await etcdctl(server.endpoint, ['member', 'list', '-w', 'json']);
        const status = await etcdctl(server.endpoint, ['endpoint', 'status', '-w', 'json']);
        assert.equal(members.exitCode, 0, members.stderr);
        assert.equal(status.exitCode, 0, status.stderr);
        return { members: masked(members.stdout, setup), status: masked(status.stdout, setup), names: members.stdout };
      }),
    );
    const [etcd, holdfast] = outputs;
    assert.match(etcd!.names, /"name":"infra1"/);
    assert.deepEqual(holdfast!.members, etcd!.members);
    assert.deepEqual(holdfast!.status, etcd!.status);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    removeDirectory(directory);
  }
});

test('ETCD_CONFIG_FILE is read by both when --config-file is absent', { skip, timeout: 120_000 }, async () => {
  const directory = temporaryDirectory('config-file-env');
  const servers: RunningServer[] = [];
  try {
    for (const kind of ['etcd', 'holdfast'] as const) {
      const setup = await writeConfigFile(directory, kind);
      const options: StartOptions = { dataDir: setup.dataDir, clientPort: setup.clientPort, extraArgs: ['--name', 'from-flag'], env: { ETCD_CONFIG_FILE: setup.file } };
      const server = kind === 'etcd' ? await startEtcd(options) : await startHoldfast(options);
      servers.push(server);
      const members = await etcdctl(server.endpoint, ['member', 'list']);
      assert.match(members.stdout, /, started, infra1, /, `${kind}: ${members.stdout}${members.stderr}`);
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    removeDirectory(directory);
  }
});

test('bad config files stop etcd and Holdfast alike', { skip, timeout: 120_000 }, () => {
  const directory = temporaryDirectory('config-file-bad');
  try {
    const dataDir = join(directory, 'data');
    const cases = [
      { name: 'missing', content: undefined, message: /no such file or directory/ },
      { name: 'malformed', content: `data-dir: ${dataDir}\nlisten-client-urls: [http://127.0.0.1:1\n`, message: /yaml: line 2: did not find expected ',' or '\]'/ },
      { name: 'badly-indented', content: `data-dir: ${dataDir}\n  name: x\n`, message: /yaml: line 2: mapping values are not allowed in this context/ },
      { name: 'wrong-type', content: `data-dir: ${dataDir}\nsnapshot-count: abc\n`, message: /cannot unmarshal string into .*snapshot-count of type uint64/ },
      { name: 'quoted-number', content: `data-dir: ${dataDir}\nmax-txn-ops: "64"\n`, message: /cannot unmarshal string into .*max-txn-ops of type uint/ },
      { name: 'bad-state', content: `data-dir: ${dataDir}\ninitial-cluster-state: maybe\n`, message: /maybe/ },
    ];
    for (const { name, content, message } of cases) {
      const file = join(directory, `${name}.yml`);
      if (content !== undefined) writeFileSync(file, content);
      for (const [kind, command, args] of [
        ['etcd', 'etcd', ['--config-file', file]],
        ['holdfast', process.execPath, [holdfastBin, '--config-file', file]],
      ] as const) {
        const result = spawnSync(command, args, { cwd: directory, encoding: 'utf8', timeout: badFileTimeoutMs });
        const output = `${result.stdout}${result.stderr}`;
        assert.notEqual(result.status, 0, `${kind} with the ${name} file must not start:\n${output}`);
        assert.equal(result.signal, null, `${kind} with the ${name} file had to be killed:\n${output}`);
        assert.match(output, message, `${kind} with the ${name} file`);
        assert.match(output, /error verifying flags/, `${kind} with the ${name} file`);
      }
    }
  } finally {
    removeDirectory(directory);
  }
});
