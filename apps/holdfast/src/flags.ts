/**
 * etcd's command-line flags and ETCD_* environment variables, mapped onto
 * ServerConfig. Flags win over environment variables, as in etcd; a flag
 * given both ways is reported, like etcd does.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultServerConfig, holdfastVersion, etcdCompatibleVersion, parseDurationMs, type ServerConfig } from '@holdfast/server';

interface FlagSpec {
  readonly flag: string;
  readonly description: string;
  readonly parse?: (value: string) => unknown;
  /** A boolean: given alone it means true; `--flag=false` turns it off. */
  readonly boolean?: true;
}

const integer = (value: string): number => {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`invalid value "${value}": must be a non-negative integer`);
  return Number(value);
};
const duration = (value: string): number => {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`invalid value "${value}": must be a duration such as 10m or 500ms`);
  return ms;
};
/** Go's strconv.ParseBool, as etcd reads boolean flags (--enable-v2=false) and their ETCD_* variables. */
const goBool = (value: string): boolean => {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new InvalidArgumentError(`invalid value "${value}": must be a boolean such as true or false`);
};
const urlList = (value: string): string[] => value.split(',').map((url) => url.trim()).filter((url) => url.length > 0);

/** Flags that take a value, with etcd's names and descriptions. */
export const flagSpecs: readonly FlagSpec[] = [
  { flag: 'name', description: 'Human-readable name for this member.' },
  { flag: 'data-dir', description: 'Path to the data directory.' },
  { flag: 'wal-dir', description: 'Path to the dedicated wal directory.' },
  { flag: 'listen-client-urls', description: 'List of URLs to listen on for client traffic.', parse: urlList },
  { flag: 'advertise-client-urls', description: 'List of this member\'s client URLs to advertise to the public.', parse: urlList },
  { flag: 'listen-peer-urls', description: 'List of URLs to listen on for peer traffic.', parse: urlList },
  { flag: 'initial-advertise-peer-urls', description: 'List of this member\'s peer URLs to advertise to the rest of the cluster.', parse: urlList },
  { flag: 'initial-cluster', description: 'Initial cluster configuration for bootstrapping.' },
  { flag: 'initial-cluster-state', description: 'Initial cluster state (\'new\' or \'existing\').' },
  { flag: 'initial-cluster-token', description: 'Initial cluster token for the etcd cluster during bootstrap.' },
  { flag: 'snapshot-count', description: 'Number of committed transactions to trigger a snapshot to disk.', parse: integer },
  { flag: 'quota-backend-bytes', description: 'Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).', parse: integer },
  { flag: 'max-txn-ops', description: 'Maximum number of operations permitted in a transaction.', parse: integer },
  { flag: 'max-request-bytes', description: 'Maximum client request size in bytes the server will accept.', parse: integer },
  { flag: 'auto-compaction-mode', description: 'Interpret \'auto-compaction-retention\' one of: periodic|revision.' },
  { flag: 'auto-compaction-retention', description: 'Auto compaction retention for mvcc key value store. 0 means disable auto compaction.' },
  { flag: 'heartbeat-interval', description: 'Time (in milliseconds) of a heartbeat interval.', parse: integer },
  { flag: 'election-timeout', description: 'Time (in milliseconds) for an election to timeout.', parse: integer },
  { flag: 'experimental-watch-progress-notify-interval', description: 'Duration of periodic watch progress notifications.', parse: duration },
  { flag: 'enable-v2', description: 'Accept etcd V2 client requests.', parse: goBool, boolean: true },
  { flag: 'log-level', description: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.' },
  { flag: 'logger', description: 'Specify \'zap\' for structured logging or \'capnslog\'. Holdfast always logs structured JSON (pino).' },
  { flag: 'log-outputs', description: 'Specify \'stdout\' or \'stderr\' to skip journald logging even when running under systemd, or list of comma separated output targets.', parse: urlList },
];

export class FlagError extends Error {
  override name = 'FlagError';
}

export function buildCommand(): Command {
  const command = new Command('holdfast')
    .description('Holdfast: an etcd-compatible coordination service')
    .version(`holdfast Version: ${holdfastVersion}\netcd API version: ${etcdCompatibleVersion}\nNode.js Version: ${process.version}`, '--version', 'Print the version and exit.')
    .helpOption('-h, --help', 'Show this help.')
    .allowExcessArguments(false)
    .exitOverride();
  for (const spec of flagSpecs) {
    const option = new Option(spec.boolean ? `--${spec.flag} [bool]` : `--${spec.flag} <value>`, spec.description);
    if (spec.parse) option.argParser(spec.parse as (value: string) => unknown);
    command.addOption(option);
  }
  return command;
}

/** Turns parsed flags plus the environment into a ServerConfig. */
export function configFromFlags(values: Record<string, unknown>, env: NodeJS.ProcessEnv): ServerConfig {
  const merged: Record<string, unknown> = {};
  for (const spec of flagSpecs) {
    const key = camel(spec.flag);
    const envName = `ETCD_${spec.flag.toUpperCase().replaceAll('-', '_')}`;
    const fromEnv = env[envName];
    if (values[key] !== undefined) {
      merged[key] = values[key];
    } else if (fromEnv !== undefined && fromEnv !== '') {
      try {
        merged[key] = spec.parse ? spec.parse(fromEnv) : fromEnv;
      } catch (error) {
        throw new FlagError(`invalid value "${fromEnv}" for ${envName}: ${(error as Error).message}`);
      }
    }
  }
  const overrides: Record<string, unknown> = {};
  const copy = (from: string, to: keyof ServerConfig): void => {
    if (merged[from] !== undefined) overrides[to] = merged[from];
  };
  copy('name', 'name');
  copy('dataDir', 'dataDir');
  copy('walDir', 'walDir');
  copy('listenClientUrls', 'listenClientUrls');
  copy('advertiseClientUrls', 'advertiseClientUrls');
  copy('listenPeerUrls', 'listenPeerUrls');
  copy('initialAdvertisePeerUrls', 'initialAdvertisePeerUrls');
  copy('initialClusterToken', 'initialClusterToken');
  copy('snapshotCount', 'snapshotCount');
  copy('quotaBackendBytes', 'quotaBackendBytes');
  copy('maxTxnOps', 'maxTxnOps');
  copy('maxRequestBytes', 'maxRequestBytes');
  copy('autoCompactionRetention', 'autoCompactionRetention');
  copy('heartbeatInterval', 'heartbeatIntervalMs');
  copy('electionTimeout', 'electionTimeoutMs');
  copy('logOutputs', 'logOutputs');
  copy('experimentalWatchProgressNotifyInterval', 'watchProgressNotifyIntervalMs');
  copy('enableV2', 'enableV2');
  if (merged.initialCluster !== undefined) overrides.initialCluster = parseInitialCluster(String(merged.initialCluster));
  if (merged.initialClusterState !== undefined) {
    const state = String(merged.initialClusterState);
    if (state !== 'new' && state !== 'existing') throw new FlagError(`invalid value "${state}" for flag -initial-cluster-state: must be 'new' or 'existing'`);
    overrides.initialClusterState = state;
  }
  if (merged.autoCompactionMode !== undefined) {
    const mode = String(merged.autoCompactionMode);
    if (mode !== 'periodic' && mode !== 'revision') throw new FlagError(`unknown auto-compaction-mode "${mode}" (want periodic or revision)`);
    overrides.autoCompactionMode = mode;
  }
  if (merged.logLevel !== undefined) {
    const level = String(merged.logLevel);
    if (!['debug', 'info', 'warn', 'error', 'panic', 'fatal'].includes(level)) throw new FlagError(`unknown log level "${level}"`);
    overrides.logLevel = level;
  }
  if (merged.logger !== undefined && !['zap', 'capnslog'].includes(String(merged.logger))) {
    throw new FlagError(`unknown logger "${String(merged.logger)}" (want zap or capnslog)`);
  }
  return defaultServerConfig(overrides as Partial<ServerConfig>);
}

/** "a=http://x:2380,b=http://y:2380" -> [{name, peerUrl}]. */
export function parseInitialCluster(value: string): Array<{ name: string; peerUrl: string }> {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const at = part.indexOf('=');
      if (at <= 0 || at === part.length - 1) throw new FlagError(`invalid value "${value}" for flag -initial-cluster: "${part}" is not name=peerURL`);
      return { name: part.slice(0, at), peerUrl: part.slice(at + 1) };
    });
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}
