/**
 * etcd's command-line flags and ETCD_* environment variables, mapped onto
 * ServerConfig. Flags win over environment variables, as in etcd; a flag
 * given both ways is reported, like etcd does.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultServerConfig, holdfastVersion, etcdCompatibleVersion, maxUint32, parseDurationMs, type ServerConfig } from '@holdfast/server';

/**
 * The Go type of a setting in etcd's configuration file (embed.configYAML),
 * which decides what YAML value the file must hold: `url-list` is a string
 * of comma-separated URLs, `duration` an integer of nanoseconds.
 */
export type ConfigFileValueType = 'string' | 'url-list' | 'string-list' | 'bool' | 'uint64' | 'uint' | 'uint32' | 'int64' | 'int' | 'duration';

interface FlagSpec {
  readonly flag: string;
  readonly description: string;
  readonly parse?: (value: string) => unknown;
  /** A boolean: given alone it means true; `--flag=false` turns it off. */
  readonly boolean?: true;
  /** The setting's type in a --config-file. */
  readonly fileType: ConfigFileValueType;
}

const integer = (value: string): number => {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`invalid value "${value}": must be a non-negative integer`);
  return Number(value);
};
/** A Go uint32 flag, with strconv.ParseUint's words for a value out of range. */
const uint32 = (value: string): number => {
  const parsed = integer(value);
  if (parsed > maxUint32) throw new InvalidArgumentError(`invalid value "${value}": value out of range (at most ${maxUint32})`);
  return parsed;
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
  { flag: 'name', description: 'Human-readable name for this member.', fileType: 'string' },
  { flag: 'data-dir', description: 'Path to the data directory.', fileType: 'string' },
  { flag: 'wal-dir', description: 'Path to the dedicated wal directory.', fileType: 'string' },
  { flag: 'listen-client-urls', description: 'List of URLs to listen on for client traffic.', parse: urlList, fileType: 'url-list' },
  { flag: 'advertise-client-urls', description: 'List of this member\'s client URLs to advertise to the public.', parse: urlList, fileType: 'url-list' },
  { flag: 'listen-peer-urls', description: 'List of URLs to listen on for peer traffic.', parse: urlList, fileType: 'url-list' },
  { flag: 'initial-advertise-peer-urls', description: 'List of this member\'s peer URLs to advertise to the rest of the cluster.', parse: urlList, fileType: 'url-list' },
  { flag: 'initial-cluster', description: 'Initial cluster configuration for bootstrapping.', fileType: 'string' },
  { flag: 'initial-cluster-state', description: 'Initial cluster state (\'new\' or \'existing\').', fileType: 'string' },
  { flag: 'initial-cluster-token', description: 'Initial cluster token for the etcd cluster during bootstrap.', fileType: 'string' },
  { flag: 'snapshot-count', description: 'Number of committed transactions to trigger a snapshot to disk.', parse: integer, fileType: 'uint64' },
  { flag: 'quota-backend-bytes', description: 'Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).', parse: integer, fileType: 'int64' },
  { flag: 'max-txn-ops', description: 'Maximum number of operations permitted in a transaction.', parse: integer, fileType: 'uint' },
  { flag: 'max-request-bytes', description: 'Maximum client request size in bytes the server will accept.', parse: integer, fileType: 'uint' },
  { flag: 'max-concurrent-streams', description: 'Maximum concurrent streams that each client can open at a time.', parse: uint32, fileType: 'uint32' },
  { flag: 'auto-compaction-mode', description: 'Interpret \'auto-compaction-retention\' one of: periodic|revision.', fileType: 'string' },
  { flag: 'auto-compaction-retention', description: 'Auto compaction retention for mvcc key value store. 0 means disable auto compaction.', fileType: 'string' },
  { flag: 'heartbeat-interval', description: 'Time (in milliseconds) of a heartbeat interval.', parse: integer, fileType: 'uint' },
  { flag: 'election-timeout', description: 'Time (in milliseconds) for an election to timeout.', parse: integer, fileType: 'uint' },
  { flag: 'experimental-watch-progress-notify-interval', description: 'Duration of periodic watch progress notifications.', parse: duration, fileType: 'duration' },
  { flag: 'enable-v2', description: 'Accept etcd V2 client requests.', parse: goBool, boolean: true, fileType: 'bool' },
  { flag: 'log-level', description: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.', fileType: 'string' },
  { flag: 'logger', description: 'Specify \'zap\' for structured logging or \'capnslog\'. Holdfast always logs structured JSON (pino).', fileType: 'string' },
  { flag: 'log-outputs', description: 'Specify \'stdout\' or \'stderr\' to skip journald logging even when running under systemd, or list of comma separated output targets.', parse: urlList, fileType: 'string-list' },
];

/** The flag naming a YAML configuration file that replaces every other flag and ETCD_* variable, as in etcd. */
export const configFileFlag = 'config-file';
export const configFileEnv = 'ETCD_CONFIG_FILE';

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
  command.addOption(new Option(`--${configFileFlag} <path>`, 'Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.'));
  return command;
}

/** Turns parsed flags plus the environment into a ServerConfig. */
export function configFromFlags(values: Record<string, unknown>, env: NodeJS.ProcessEnv): ServerConfig {
  return configFromSettings(settingsFromFlagsAndEnv(values, env));
}

/** Each flag's value, from the command line or else its ETCD_* variable, keyed by camelCase flag name. */
export function settingsFromFlagsAndEnv(values: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
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
  return merged;
}

/**
 * Parsed settings (camelCase flag name -> value as the flag's parse returns
 * it), from the command line or a config file, checked and turned into a
 * ServerConfig.
 */
export function configFromSettings(merged: Record<string, unknown>): ServerConfig {
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
  copy('maxConcurrentStreams', 'maxConcurrentStreams');
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

export function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}
