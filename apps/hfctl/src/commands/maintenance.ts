/**
 * endpoint health | status | hashkv, alarm list | disarm, defrag and
 * snapshot save (etcdctl/ctlv3/command/{ep,alarm,defrag,snapshot}_command.go).
 * Per-member calls go to each endpoint on its own connection; --cluster
 * takes the endpoints from the member list.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { PermissionDeniedError, type StatusResult } from '@holdfast/client';
import { etcdserverpb } from '@holdfast/proto';
import { Command } from '../cli/command.js';
import { CliExit, ExitCode, exitSilently, exitWithError } from '../cli/exit.js';
import { err, errLine, outLine } from '../cli/io.js';
import { etcdctlMessage } from '../errors.js';
import { goDurationFromMs, humanizeBytes } from '../format/go.js';
import type { EndpointHashKv, EndpointHealth, EndpointStatus } from '../format/printer.js';
import { ProgressBar } from '../format/progress.js';
import type { FlagSpec } from '../cli/flags.js';
import type { Session } from '../session.js';
import { fail, noDeadlineMs, withSession } from './common.js';

const clusterFlag = { name: 'cluster', kind: 'bool', usage: 'use all endpoints from the cluster member list' } as const;

/** etcdctl's endpointsFromCluster: --endpoints as given, or every member's client URLs with --cluster. */
async function endpointsFromCluster(session: Session): Promise<string[]> {
  if (!session.flag('cluster').bool) return [...session.flag('endpoints').strings];
  const settings = await session.clientSettings();
  // MemberList needs no authentication: log in only for the real calls.
  const client = await session.connect({ ...settings, auth: undefined });
  try {
    const members = await client.cluster.memberList(session.callOptions);
    return members.members.flatMap((member) => member.clientUrls);
  } catch (error) {
    exitWithError(ExitCode.error, `failed to fetch endpoints from etcd cluster member list: ${etcdctlMessage(error)}`);
  }
}

export function statusResponse(result: StatusResult): etcdserverpb.StatusResponse {
  return {
    header: result.header,
    version: result.version,
    dbSize: result.dbSizeBytes,
    leader: result.leader,
    raftIndex: result.raftIndex,
    raftTerm: result.raftTerm,
    raftAppliedIndex: result.raftAppliedIndex,
    errors: result.errors,
    dbSizeInUse: result.dbSizeInUseBytes,
    isLearner: result.isLearner,
  };
}

function healthCommand(): Command {
  return new Command({
    use: 'health',
    short: 'Checks the healthiness of endpoints specified in `--endpoints` flag',
    run: withSession(async (session) => {
      const settings = await session.clientSettings();
      const endpoints = await endpointsFromCluster(session);
      const results: EndpointHealth[] = [];
      await Promise.all(
        endpoints.map(async (endpoint) => {
          const client = await session.connect(settings, [endpoint]);
          const started = performance.now();
          let error = '';
          try {
            await client.get('health', session.callOptions);
          } catch (failure) {
            // Permission denied still went through consensus: the member is healthy.
            if (!(failure instanceof PermissionDeniedError)) error = etcdctlMessage(failure);
          }
          results.push({ endpoint, health: error === '', took: goDurationFromMs(performance.now() - started), error });
        }),
      );
      session.display.endpointHealth(results);
      if (results.some((result) => result.error !== '')) exitWithError(ExitCode.error, 'unhealthy cluster');
    }),
  });
}

function statusCommand(): Command {
  return new Command({
    use: 'status',
    short: 'Prints out the status of endpoints specified in `--endpoints` flag',
    long: `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.
`,
    run: withSession(async (session) => {
      const settings = await session.clientSettings();
      const endpoints = await endpointsFromCluster(session);
      const list: EndpointStatus[] = [];
      let failed = false;
      for (const endpoint of endpoints) {
        const client = await session.connect(settings, [endpoint]);
        try {
          list.push({ endpoint, response: statusResponse(await client.maintenance.status(session.callOptions)) });
        } catch (error) {
          failed = true;
          errLine(`Failed to get the status of endpoint ${endpoint} (${etcdctlMessage(error)})`);
        }
      }
      session.display.endpointStatus(list);
      if (failed) exitSilently(ExitCode.error);
    }),
  });
}

function hashKvCommand(): Command {
  return new Command({
    use: 'hashkv',
    short: 'Prints the KV history hash for each endpoint in --endpoints',
    persistentFlags: [{ name: 'rev', kind: 'int64', usage: 'maximum revision to hash (default: all revisions)' }],
    run: withSession(async (session) => {
      const settings = await session.clientSettings();
      const revision = session.flag('rev').int;
      const endpoints = await endpointsFromCluster(session);
      const list: EndpointHashKv[] = [];
      let failure: unknown;
      for (const endpoint of endpoints) {
        const client = await session.connect(settings, [endpoint]);
        try {
          const result = await client.maintenance.hashKv(revision, session.callOptions);
          list.push({ endpoint, response: { header: result.header, hash: result.hash, compactRevision: result.compactRevision } });
        } catch (error) {
          failure = error;
          errLine(`Failed to get the hash of endpoint ${endpoint} (${etcdctlMessage(error)})`);
        }
      }
      session.display.endpointHashKv(list);
      if (failure !== undefined) fail(ExitCode.error, failure);
    }),
  });
}

export function endpointCommand(): Command {
  return new Command({
    use: 'endpoint <subcommand>',
    short: 'Endpoint related commands',
    persistentFlags: [clusterFlag],
    subcommands: [healthCommand(), statusCommand(), hashKvCommand()],
  });
}

// Alarms.

const alarmGet = { action: etcdserverpb.AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: etcdserverpb.AlarmType.NONE };

function alarmListCommand(): Command {
  return new Command({
    use: 'list',
    short: 'Lists all alarms',
    run: withSession(async (session) => {
      if (session.invocation.args.length !== 0) exitWithError(ExitCode.badArgs, 'alarm list command accepts no arguments');
      const client = await session.client();
      let response: etcdserverpb.AlarmResponse;
      try {
        response = await client.call(etcdserverpb.MaintenanceService.alarm, alarmGet, { ...session.callOptions, onlyReads: true });
      } catch (error) {
        fail(ExitCode.error, error);
      }
      session.display.alarm(response);
    }),
  });
}

function alarmDisarmCommand(): Command {
  return new Command({
    use: 'disarm',
    short: 'Disarms all alarms',
    run: withSession(async (session) => {
      if (session.invocation.args.length !== 0) exitWithError(ExitCode.badArgs, 'alarm disarm command accepts no arguments');
      const client = await session.client();
      // clientv3's AlarmDisarm with no member: list, then deactivate each; the result has no header.
      const response: etcdserverpb.AlarmResponse = { header: undefined, alarms: [] };
      try {
        const raised: etcdserverpb.AlarmResponse = await client.call(etcdserverpb.MaintenanceService.alarm, alarmGet, { ...session.callOptions, onlyReads: true });
        for (const alarm of raised.alarms) {
          const request = { action: etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE, memberID: alarm.memberID, alarm: alarm.alarm };
          const cleared: etcdserverpb.AlarmResponse = await client.call(etcdserverpb.MaintenanceService.alarm, request, { ...session.callOptions, onlyReads: false });
          response.alarms.push(...cleared.alarms);
        }
      } catch (error) {
        fail(ExitCode.error, error);
      }
      session.display.alarm(response);
    }),
  });
}

export function alarmCommand(): Command {
  return new Command({
    use: 'alarm <subcommand>',
    short: 'Alarm related commands',
    subcommands: [alarmDisarmCommand(), alarmListCommand()],
  });
}

export function defragCommand(): Command {
  return new Command({
    use: 'defrag',
    short: 'Defragments the storage of the etcd members with given endpoints',
    persistentFlags: [clusterFlag],
    flags: [{ name: 'data-dir', kind: 'string', usage: 'Optional. If present, defragments a data directory not in use by etcd.' }],
    run: withSession(async (session) => {
      const dataDir = session.flag('data-dir').string;
      if (dataDir.length > 0) {
        errLine(`Failed to defragment etcd data[${dataDir}] (hfctl cannot open a data directory; defragment the running member instead)`);
        exitSilently(ExitCode.error);
      }
      const settings = await session.clientSettings();
      let failures = 0;
      for (const endpoint of await endpointsFromCluster(session)) {
        const client = await session.connect(settings, [endpoint]);
        try {
          await client.maintenance.defragment(session.callOptions);
          outLine(`Finished defragmenting etcd member[${endpoint}]`);
        } catch (error) {
          errLine(`Failed to defragment etcd member[${endpoint}] (${etcdctlMessage(error)})`);
          failures++;
        }
      }
      if (failures !== 0) exitSilently(ExitCode.error);
    }),
  });
}

// Snapshot.

/** A zap-style log line, as etcdctl's snapshot save writes them on stderr (without Go's caller). */
function logInfo(message: string, fields: Record<string, string | number> = {}): void {
  errLine(JSON.stringify({ level: 'info', ts: Date.now() / 1000, msg: message, ...fields }));
}

/** A bbolt snapshot from etcd ends with its sha256: the size is a multiple of 512 plus 32. */
const hasChecksum = (size: number): boolean => size % 512 === 32;

function snapshotSaveCommand(): Command {
  return new Command({
    use: 'save <filename>',
    short: 'Stores an etcd node backend snapshot to a given file',
    run: withSession(async (session) => {
      const { args } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'snapshot save expects one argument');
      const settings = await session.clientSettings();
      const path = args[0]!;
      // Without an explicit --command-timeout there is no deadline for a snapshot.
      const timeoutMs = session.flag('command-timeout').changed ? session.commandTimeoutMs : noDeadlineMs;
      const interrupted = (message: string): never => {
        throw new CliExit(ExitCode.interrupted, message);
      };
      if (settings.endpoints.length !== 1) {
        interrupted(`snapshot must be requested to one selected node, not multiple [${settings.endpoints.join(' ')}]`);
      }
      const client = await session.connect(settings);
      const partPath = `${path}.part`;
      let fd: number;
      try {
        fd = openSync(partPath, 'w', 0o600);
      } catch (error) {
        return interrupted(`could not open ${partPath} (${goPathError('open', partPath, error)})`);
      }
      const tty = process.stderr.isTTY === true || process.env.HFCTL_PROGRESS === '1';
      if (!tty) logInfo('created temporary db file', { path: partPath });
      const started = performance.now();
      const signal = AbortSignal.timeout(timeoutMs);
      let size = 0;
      let bar: ProgressBar | undefined;
      try {
        const { stream } = await client.pool.openServerStream(etcdserverpb.MaintenanceService.snapshot, {}, { signal });
        signal.addEventListener('abort', () => stream.cancel(), { once: true });
        if (!tty) logInfo('opened snapshot stream; downloading');
        if (!tty) logInfo('fetching snapshot', { endpoint: settings.endpoints[0]! });
        const digest = createHash('sha256');
        for await (const response of stream as AsyncIterable<etcdserverpb.SnapshotResponse>) {
          writeSync(fd, response.blob);
          digest.update(response.blob);
          size += response.blob.length;
          if (tty) {
            bar ??= new ProgressBar(process.stderr, { unit: 'bytes', label: `snapshot ${settings.endpoints[0]!}` });
            bar.update(size, size + Number(response.remainingBytes));
          }
        }
        bar?.finish();
        if (!tty) logInfo('completed snapshot read; closing');
        if (!hasChecksum(size)) interrupted(`sha256 checksum not found [bytes: ${size}]`);
        fsyncSync(fd);
      } catch (error) {
        bar?.finish();
        closeSync(fd);
        rmSync(partPath, { force: true });
        if (error instanceof CliExit) throw error;
        if (signal.aborted) interrupted('context deadline exceeded');
        return interrupted(etcdctlMessage(error));
      }
      closeSync(fd);
      if (!tty) logInfo('fetched snapshot', { endpoint: settings.endpoints[0]!, size: humanizeBytes(BigInt(size)), took: (performance.now() - started) / 1000 });
      try {
        renameSync(partPath, path);
      } catch (error) {
        rmSync(partPath, { force: true });
        interrupted(`could not rename ${partPath} to ${path} (${goPathError('rename', partPath, error)})`);
      }
      if (!tty) logInfo('saved', { path });
      else err(`saved ${humanizeBytes(BigInt(size))} in ${goDurationFromMs(performance.now() - started)}\n`);
      outLine(`Snapshot saved at ${path}`);
    }),
  });
}

/** Go's *os.PathError text: "open /x/y: no such file or directory". */
function goPathError(op: string, path: string, error: unknown): string {
  const code = (error as { code?: string }).code;
  const texts: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    EEXIST: 'file exists',
    ENOSPC: 'no space left on device',
  };
  return `${op} ${path}: ${(code !== undefined ? texts[code] : undefined) ?? (error instanceof Error ? error.message : String(error))}`;
}

/** snapshot status and restore read and write bbolt files, which hfctl cannot do (yet): they say so. */
function snapshotFileCommand(use: string, short: string, argsMessage: string, flags: FlagSpec[] = [], long?: string): Command {
  return new Command({
    use,
    short,
    ...(long === undefined ? {} : { long }),
    flags,
    run: async ({ args }) => {
      if (args.length !== 1) exitWithError(ExitCode.badArgs, argsMessage);
      exitWithError(ExitCode.badFeature, `hfctl cannot read or write bbolt snapshot files yet; use etcdctl ${use.split(' ')[0]!} for ${args[0]!}`);
    },
  });
}

export function snapshotCommand(): Command {
  return new Command({
    use: 'snapshot <subcommand>',
    short: 'Manages etcd node snapshots',
    subcommands: [
      snapshotSaveCommand(),
      snapshotFileCommand(
        'restore <filename> [options]',
        'Restores an etcd member snapshot to an etcd directory',
        'snapshot restore requires exactly one argument',
        [
          { name: 'data-dir', kind: 'string', usage: 'Path to the data directory' },
          { name: 'wal-dir', kind: 'string', usage: 'Path to the WAL directory (use --data-dir if none given)' },
          { name: 'initial-cluster', kind: 'string', defaultText: 'default=http://localhost:2380', usage: 'Initial cluster configuration for restore bootstrap' },
          { name: 'initial-cluster-token', kind: 'string', defaultText: 'etcd-cluster', usage: 'Initial cluster token for the etcd cluster during restore bootstrap' },
          { name: 'initial-advertise-peer-urls', kind: 'string', defaultText: 'http://localhost:2380', usage: "List of this member's peer URLs to advertise to the rest of the cluster" },
          { name: 'name', kind: 'string', defaultText: 'default', usage: 'Human-readable name for this member' },
          { name: 'skip-hash-check', kind: 'bool', usage: 'Ignore snapshot integrity hash value (required if copied from data directory)' },
        ],
      ),
      snapshotFileCommand(
        'status <filename>',
        'Gets backend snapshot status of a given file',
        'snapshot status requires exactly one argument',
        [],
        `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are hash, revision, total keys, total size.
`,
      ),
    ],
  });
}
