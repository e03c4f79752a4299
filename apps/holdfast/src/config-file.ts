/**
 * etcd's --config-file (and ETCD_CONFIG_FILE): a YAML file with etcd's flag
 * names as keys. As in etcd 3.4, a config file replaces every other flag and
 * ETCD_* variable (they are still parsed, so a malformed flag still fails).
 *
 * Each value must have the YAML type of etcd's Go field (etcd decodes the
 * file as JSON into typed fields: `snapshot-count: "5"` and `name: 123` are
 * refused there too), then goes through the same parse and validation as the
 * flag. Keys etcd knows that Holdfast has no use for are accepted, except
 * the ones whose loss would change security or bootstrap (TLS, auth tokens,
 * CORS and host restrictions, discovery, proxy mode): set to anything but
 * their default, they stop the start. Keys etcd does not know are ignored,
 * as etcd ignores them, and reported as warnings.
 */
import { readFileSync, statSync } from 'node:fs';
import type { ServerConfig } from '@holdfast/server';
import { camel, configFileEnv, configFileFlag, configFromSettings, flagSpecs, FlagError, type ConfigFileValueType } from './flags.js';
import { parseConfigYaml, YamlSubsetError, type YamlEntry, type YamlNode } from './config-yaml.js';

/** Largest config file read: etcd's sample is 4 KiB, so anything this big is not a config file. */
export const maxConfigFileBytes = 1024 * 1024;

/** A config file that cannot be used; the message names the file and, where known, the line. */
export class ConfigFileError extends Error {
  override name = 'ConfigFileError';
}

export interface IgnoredKey {
  readonly key: string;
  readonly line: number;
}

export interface ConfigFromFile {
  readonly config: ServerConfig;
  /** Keys etcd 3.4 does not know: ignored, as etcd ignores them. */
  readonly unknownKeys: readonly IgnoredKey[];
}

/** The config file to use: --config-file, else a non-empty ETCD_CONFIG_FILE, as etcd chooses. */
export function configFilePath(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string | undefined {
  const fromFlag = values[camel(configFileFlag)];
  if (typeof fromFlag === 'string' && fromFlag !== '') return fromFlag;
  const fromEnv = env[configFileEnv];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

export function readConfigFile(path: string): ConfigFromFile {
  let sizeBytes: number;
  let bytes: Buffer;
  try {
    sizeBytes = statSync(path).size;
    if (sizeBytes > maxConfigFileBytes) throw new ConfigFileError(`${path}: the file is ${sizeBytes} bytes, more than the ${maxConfigFileBytes} a config file may have`);
    bytes = readFileSync(path);
  } catch (error) {
    if (error instanceof ConfigFileError) throw error;
    throw new ConfigFileError(`open ${path}: ${describeSystemError(error)}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigFileError(`${path}: yaml: invalid UTF-8 in the file`);
  }
  return configFromYaml(text, path);
}

/** Like Go's error texts for a failed open ("no such file or directory"). */
function describeSystemError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const texts: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    ELOOP: 'too many levels of symbolic links',
  };
  return (code !== undefined && texts[code]) || (error as Error).message;
}

/** Maps a config document onto a ServerConfig; `path` only names the file in errors. */
export function configFromYaml(text: string, path: string): ConfigFromFile {
  let entries: YamlEntry[];
  try {
    entries = parseConfigYaml(text);
  } catch (error) {
    if (error instanceof YamlSubsetError) throw new ConfigFileError(`${path}: ${error.message}`);
    throw error;
  }
  const settings: Record<string, unknown> = {};
  const unknownKeys: IgnoredKey[] = [];
  const at = (line: number): string => `${path}: line ${line}`;
  for (const entry of entries) {
    const spec = flagSpecs.find((candidate) => candidate.flag === entry.key);
    if (spec !== undefined) {
      const flagText = flagTextFromYaml(entry.key, spec.fileType, entry.value, at(entry.line));
      if (flagText === undefined) continue;
      try {
        settings[camel(spec.flag)] = spec.parse ? spec.parse(flagText) : flagText;
      } catch (error) {
        throw new ConfigFileError(`${at(entry.line)}: ${entry.key}: ${(error as Error).message}`);
      }
      continue;
    }
    const other = otherEtcdKeys[entry.key];
    if (other === undefined) {
      unknownKeys.push({ key: entry.key, line: entry.line });
      continue;
    }
    if (other.type === 'security') {
      checkSecurityMap(entry, at);
      continue;
    }
    const flagText = flagTextFromYaml(entry.key, other.type, entry.value, at(entry.line));
    if (flagText !== undefined && other.unsupportedUnless !== undefined && !other.unsupportedUnless.includes(flagText)) {
      throw new ConfigFileError(`${at(entry.line)}: ${entry.key}: Holdfast does not support ${other.feature} yet; remove the setting or set it to ${JSON.stringify(other.unsupportedUnless[0])}`);
    }
  }
  try {
    return { config: configFromSettings(settings), unknownKeys };
  } catch (error) {
    if (error instanceof FlagError) throw new ConfigFileError(`${path}: ${error.message}`);
    throw error;
  }
}

/** Go's integer ranges for etcd's numeric fields. */
const integerRanges: Partial<Record<ConfigFileValueType, { min: bigint; max: bigint }>> = {
  uint64: { min: 0n, max: 2n ** 64n - 1n },
  uint: { min: 0n, max: 2n ** 64n - 1n },
  uint32: { min: 0n, max: 2n ** 32n - 1n },
  int64: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  int: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  duration: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
};
const nanosecondsPerMillisecond = 1_000_000n;

/**
 * Checks a YAML value against the Go type etcd decodes it into, in the words
 * of Go's JSON decoder, and returns it as the text the flag would be given;
 * undefined leaves the default (null, and an empty URL list as etcd skips it).
 */
function flagTextFromYaml(key: string, type: ConfigFileValueType, value: YamlNode, where: string): string | undefined {
  if (value.kind === 'null') return undefined;
  const goType = type === 'url-list' ? 'string' : type === 'string-list' ? '[]string' : type === 'duration' ? 'time.Duration' : type;
  const mismatch = (found: YamlNode = value, expected: string = goType): never => {
    const what = found.kind === 'int' || found.kind === 'float' ? `number ${describeNumber(found)}` : found.kind === 'list' ? 'array' : found.kind === 'map' ? 'object' : found.kind;
    throw new ConfigFileError(`${where}: cannot unmarshal ${what} into ${key} of type ${expected}`);
  };
  switch (type) {
    case 'string':
    case 'url-list':
      if (value.kind !== 'string') return mismatch();
      return type === 'url-list' && value.value === '' ? undefined : value.value;
    case 'bool':
      if (value.kind !== 'bool') return mismatch();
      return String(value.value);
    case 'string-list': {
      if (value.kind !== 'list') return mismatch();
      const items = value.items.map((item) => (item.kind === 'string' ? item.value : mismatch(item, 'string')));
      return items.join(',');
    }
    default: {
      const range = integerRanges[type]!;
      if (value.kind !== 'int' || value.value < range.min || value.value > range.max) return mismatch();
      if (type === 'duration') {
        // etcd's durations in the file are nanoseconds; the flag's parser takes Go duration text.
        const magnitude = value.value < 0n ? -value.value : value.value;
        const fraction = (magnitude % nanosecondsPerMillisecond).toString().padStart(6, '0');
        return `${value.value < 0n ? '-' : ''}${magnitude / nanosecondsPerMillisecond}.${fraction}ms`;
      }
      return value.value.toString();
    }
  }
}

function describeNumber(value: YamlNode): string {
  if (value.kind === 'int') return value.value.toString();
  if (value.kind === 'float') return String(value.value);
  return '';
}

interface OtherEtcdKey {
  readonly type: ConfigFileValueType | 'security';
  /** Values Holdfast behaves the same with; any other is refused, since dropping it would change what the server does. */
  readonly unsupportedUnless?: readonly string[];
  readonly feature?: string;
}

/**
 * etcd 3.4's other configuration keys (embed.configYAML and etcdmain's proxy
 * settings) with their types. Most only tune what Holdfast does its own way
 * and are accepted; the ones with unsupportedUnless must keep their default.
 */
const otherEtcdKeys: Readonly<Record<string, OtherEtcdKey>> = {
  'client-transport-security': { type: 'security' },
  'peer-transport-security': { type: 'security' },
  'auth-token': { type: 'string', unsupportedUnless: ['simple'], feature: 'authentication tokens' },
  'bcrypt-cost': { type: 'uint', unsupportedUnless: ['10'], feature: 'authentication' },
  'auth-token-ttl': { type: 'uint', unsupportedUnless: ['300'], feature: 'authentication tokens' },
  'cipher-suites': { type: 'string-list', unsupportedUnless: [''], feature: 'TLS' },
  'tls-min-version': { type: 'string', unsupportedUnless: [''], feature: 'TLS' },
  'tls-max-version': { type: 'string', unsupportedUnless: [''], feature: 'TLS' },
  cors: { type: 'string', unsupportedUnless: ['', '*'], feature: 'CORS origin restrictions' },
  'host-whitelist': { type: 'string', unsupportedUnless: ['', '*'], feature: 'host name restrictions' },
  discovery: { type: 'string', unsupportedUnless: [''], feature: 'discovery' },
  'discovery-srv': { type: 'string', unsupportedUnless: [''], feature: 'DNS discovery' },
  'discovery-srv-name': { type: 'string' },
  'discovery-proxy': { type: 'string' },
  'discovery-fallback': { type: 'string' },
  proxy: { type: 'string', unsupportedUnless: ['off', ''], feature: 'the v2 proxy mode' },
  'proxy-failure-wait': { type: 'uint' },
  'proxy-refresh-interval': { type: 'uint' },
  'proxy-dial-timeout': { type: 'uint' },
  'proxy-write-timeout': { type: 'uint' },
  'proxy-read-timeout': { type: 'uint' },
  'max-snapshots': { type: 'uint' },
  'max-wals': { type: 'uint' },
  'initial-election-tick-advance': { type: 'bool' },
  'backend-batch-interval': { type: 'duration' },
  'backend-batch-limit': { type: 'int' },
  'strict-reconfig-check': { type: 'bool' },
  'grpc-keepalive-min-time': { type: 'duration' },
  'grpc-keepalive-interval': { type: 'duration' },
  'grpc-keepalive-timeout': { type: 'duration' },
  'pre-vote': { type: 'bool' },
  'force-new-cluster': { type: 'bool' },
  'enable-pprof': { type: 'bool' },
  metrics: { type: 'string' },
  'listen-metrics-urls': { type: 'string' },
  'enable-grpc-gateway': { type: 'bool' },
  'log-output': { type: 'string-list' },
  debug: { type: 'bool' },
  'log-package-levels': { type: 'string' },
  'unsafe-no-fsync': { type: 'bool' },
  'experimental-initial-corrupt-check': { type: 'bool' },
  'experimental-corrupt-check-time': { type: 'duration' },
  'experimental-enable-v2v3': { type: 'string' },
  'experimental-backend-bbolt-freelist-type': { type: 'string' },
  'experimental-enable-lease-checkpoint': { type: 'bool' },
  'experimental-enable-lease-checkpoint-persist': { type: 'bool' },
  'experimental-compaction-batch-limit': { type: 'int' },
  'experimental-warning-apply-duration': { type: 'duration' },
};

/** client-/peer-transport-security: etcd's TLS settings; Holdfast has no TLS yet, so only their defaults are accepted. */
const securityKeys: Readonly<Record<string, { type: 'string' | 'bool' }>> = {
  'cert-file': { type: 'string' },
  'key-file': { type: 'string' },
  'trusted-ca-file': { type: 'string' },
  'client-cert-auth': { type: 'bool' },
  'auto-tls': { type: 'bool' },
};

function checkSecurityMap(entry: YamlEntry, at: (line: number) => string): void {
  if (entry.value.kind === 'null') return;
  if (entry.value.kind !== 'map') throw new ConfigFileError(`${at(entry.line)}: cannot unmarshal ${entry.value.kind === 'list' ? 'array' : entry.value.kind} into ${entry.key} of type securityConfig`);
  for (const setting of entry.value.entries) {
    const spec = securityKeys[setting.key];
    if (spec === undefined) continue;
    const text = flagTextFromYaml(`${entry.key}.${setting.key}`, spec.type, setting.value, at(setting.line));
    if (text !== undefined && text !== '' && text !== 'false') {
      throw new ConfigFileError(`${at(setting.line)}: ${entry.key}.${setting.key}: Holdfast does not support TLS yet; remove the setting or leave it empty`);
    }
  }
}
